// feitp storage: a decorator that enforces pyftpdlib's permission letters on any storage.
// Refusals are EACCES (the server's 550). Which letter guards which call is listed with
// make_restricted_storage() in include/feitp/storage.hpp; stat() and free_space() are never
// refused, so a client can still navigate and the server can still check sizes, and 'e'
// (change directory) is the session's to check, not the storage's.
#include <memory>
#include <utility>

#include "feitp/auth.hpp"
#include "feitp/storage.hpp"

namespace feitp {
namespace {

class RestrictedStorage final : public Storage {
 public:
  RestrictedStorage(std::unique_ptr<Storage> inner, Permissions perms)
      : inner_(std::move(inner)), perms_(std::move(perms)) {}

  [[nodiscard]] bool blocking() const override { return inner_->blocking(); }
  [[nodiscard]] StorageCapabilities capabilities() const override {
    return inner_->capabilities();
  }

  Result<FileInfo> stat(std::string_view path) override { return inner_->stat(path); }

  Result<std::vector<FileInfo>> list(std::string_view path) override {
    if (!perms_.allows('l', path)) return denied();
    return inner_->list(path);
  }

  // listing_version() is deliberately not forwarded (the default nullopt stays): the server
  // skips list() on a cache hit, and this list() refuses paths without 'l'. Forwarding is only
  // sound together with the same check, and only while list() adds nothing else.

  Result<std::unique_ptr<ReadFile>> open_read(std::string_view path,
                                              std::uint64_t offset) override {
    if (!perms_.allows('r', path)) return denied();
    return inner_->open_read(path, offset);
  }

  Result<std::unique_ptr<WriteFile>> open_write(std::string_view path, WriteMode mode,
                                                std::uint64_t offset) override {
    if (!perms_.allows(mode == WriteMode::append ? 'a' : 'w', path)) return denied();
    return inner_->open_write(path, mode, offset);
  }

  Status mkdir(std::string_view path) override {
    if (!perms_.allows('m', path)) return denied();
    return inner_->mkdir(path);
  }

  Status rmdir(std::string_view path) override {
    if (!perms_.allows('d', path)) return denied();
    return inner_->rmdir(path);
  }

  Status remove(std::string_view path) override {
    if (!perms_.allows('d', path)) return denied();
    return inner_->remove(path);
  }

  Status rename(std::string_view from, std::string_view to) override {
    if (!perms_.allows('f', from) || !perms_.allows('f', to)) return denied();
    return inner_->rename(from, to);
  }

  Status set_mtime(std::string_view path, std::int64_t mtime) override {
    if (!perms_.allows('T', path)) return denied();
    return inner_->set_mtime(path, mtime);
  }

  Status chmod(std::string_view path, std::uint32_t mode) override {
    if (!perms_.allows('M', path)) return denied();
    return inner_->chmod(path, mode);
  }

  Result<std::string> hash(std::string_view path, HashAlgo algo, std::uint64_t from,
                           std::uint64_t to) override {
    if (!perms_.allows('r', path)) return denied();
    return inner_->hash(path, algo, from, to);
  }

  Result<std::uint64_t> free_space(std::string_view path) override {
    return inner_->free_space(path);
  }

 private:
  static std::error_code denied() { return std::make_error_code(std::errc::permission_denied); }

  std::unique_ptr<Storage> inner_;
  Permissions perms_;
};

}  // namespace

std::unique_ptr<Storage> make_restricted_storage(std::unique_ptr<Storage> inner,
                                                 Permissions perms) {
  return std::make_unique<RestrictedStorage>(std::move(inner), std::move(perms));
}

}  // namespace feitp
