// feitp storage: a decorator that enforces pyftpdlib's permission letters on any storage.
// Refusals are EACCES (the server's 550). Which letter guards which call is listed with
// make_restricted_storage() in include/feitp/storage.hpp; stat() and free_space() are never
// refused, so a client can still navigate and the server can still check sizes, and 'e'
// (change directory) is the session's to check, not the storage's. Rules are matched on the
// typed path and on where it really leads (Storage::real_path), see check().
#include <memory>
#include <utility>

#include "feitp/auth.hpp"
#include "feitp/storage.hpp"

namespace feitp {
namespace {

class RestrictedStorage final : public Storage, private ListingVersions {
 public:
  RestrictedStorage(std::unique_ptr<Storage> inner, Permissions perms)
      : inner_(std::move(inner)), perms_(std::move(perms)) {}

  [[nodiscard]] bool blocking() const override { return inner_->blocking(); }
  [[nodiscard]] StorageCapabilities capabilities() const override { return inner_->capabilities(); }

  Result<FileInfo> stat(std::string_view path) override { return inner_->stat(path); }

  Result<std::vector<FileInfo>> list(std::string_view path) override {
    if (auto ec = check('l', path, Reach::follow)) return ec;
    return inner_->list(path);
  }

  // The server skips list() on a cache hit, so a version is only given where list() would
  // answer: the same check, and nothing else (list() adds no filter of its own).
  ListingVersions* listing_versions() override {
    return inner_->listing_versions() != nullptr ? this : nullptr;
  }
  std::optional<std::uint64_t> listing_version(std::string_view path) override {
    ListingVersions* inner = inner_->listing_versions();
    if (inner == nullptr || check('l', path, Reach::follow)) return std::nullopt;
    return inner->listing_version(path);
  }

  Result<std::unique_ptr<ReadFile>> open_read(std::string_view path, std::uint64_t offset) override {
    if (auto ec = check('r', path, Reach::follow)) return ec;
    return inner_->open_read(path, offset);
  }

  Result<std::unique_ptr<WriteFile>> open_write(std::string_view path, WriteMode mode,
                                                std::uint64_t offset) override {
    if (auto ec = check(mode == WriteMode::append ? 'a' : 'w', path, Reach::follow)) return ec;
    return inner_->open_write(path, mode, offset);
  }

  Status mkdir(std::string_view path) override {
    if (auto ec = check('m', path, Reach::name)) return ec;
    return inner_->mkdir(path);
  }

  Status rmdir(std::string_view path) override {
    if (auto ec = check('d', path, Reach::tree)) return ec;
    return inner_->rmdir(path);
  }

  Status remove(std::string_view path) override {
    if (auto ec = check('d', path, Reach::name)) return ec;
    return inner_->remove(path);
  }

  Status rename(std::string_view from, std::string_view to) override {
    if (auto ec = check('f', from, Reach::tree)) return ec;
    if (auto ec = check('f', to, Reach::tree)) return ec;
    return inner_->rename(from, to);
  }

  Status set_mtime(std::string_view path, std::int64_t mtime) override {
    if (auto ec = check('T', path, Reach::name)) return ec;
    return inner_->set_mtime(path, mtime);
  }

  Status chmod(std::string_view path, std::uint32_t mode) override {
    if (auto ec = check('M', path, Reach::name)) return ec;
    return inner_->chmod(path, mode);
  }

  Result<std::string> hash(std::string_view path, HashAlgo algo, std::uint64_t from,
                           std::uint64_t to) override {
    if (auto ec = check('r', path, Reach::follow)) return ec;
    return inner_->hash(path, algo, from, to);
  }

  Result<std::string> real_path(std::string_view path, bool follow_last) override {
    return inner_->real_path(path, follow_last);
  }

  Result<std::uint64_t> free_space(std::string_view path) override { return inner_->free_space(path); }

  std::optional<QuotaStatus> quota() override { return inner_->quota(); }

 private:
  static std::error_code denied() { return std::make_error_code(std::errc::permission_denied); }

  // follow: the call follows a final symlink; name: it acts on the name itself; tree: on the
  // name and everything below it (a directory removed or moved carries its areas along).
  enum class Reach : unsigned char { follow, name, tree };

  // The letter on the typed path and, when there are per-directory rules, on the real one
  // (a symlink into a restricted directory carries its rules). Without rules: no lookup.
  // Returns the refusal (EACCES, or why the real path could not be found), or no error.
  std::error_code check(char letter, std::string_view path, Reach reach) {
    const auto ok = [&](std::string_view p) {
      return reach == Reach::tree ? perms_.allows_tree(letter, p) : perms_.allows(letter, p);
    };
    if (!ok(path)) return denied();
    if (!perms_.has_overrides()) return {};
    auto real = inner_->real_path(path, reach == Reach::follow);
    if (!real) return real.error();
    if (*real != path && !ok(*real)) return denied();
    return {};
  }

  std::unique_ptr<Storage> inner_;
  Permissions perms_;
};

class RestrictedFactory final : public StorageFactory {
 public:
  explicit RestrictedFactory(std::shared_ptr<StorageFactory> inner) : inner_(std::move(inner)) {}

  [[nodiscard]] bool blocking() const override { return inner_->blocking(); }

  Result<std::unique_ptr<Storage>> create(const User& user) override {
    auto made = inner_->create(user);
    if (!made) return made;
    return make_restricted_storage(std::move(*made), user.permissions);
  }

 private:
  std::shared_ptr<StorageFactory> inner_;
};

}  // namespace

std::unique_ptr<Storage> make_restricted_storage(std::unique_ptr<Storage> inner, Permissions perms) {
  return std::make_unique<RestrictedStorage>(std::move(inner), std::move(perms));
}

std::shared_ptr<StorageFactory> make_restricted_storage_factory(std::shared_ptr<StorageFactory> inner) {
  return std::make_shared<RestrictedFactory>(std::move(inner));
}

}  // namespace feitp
