// feitp storage: quotas. A decorator that charges a user's counter as upload bytes arrive and
// adjusts it on delete, rename and the end of an upload; an in-process counter and ledger; the
// walk that measures a home at first use; the factory decorator that puts them together.
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "feitp/limits.hpp"
#include "storage/quota_words.hpp"

namespace feitp {
namespace {

std::error_code over_quota() { return {EDQUOT, std::generic_category()}; }

constexpr std::string_view kUploadTemporary = ".feitp-upload.";

class LocalCounter final : public QuotaCounter {
 public:
  explicit LocalCounter(QuotaUsage initial) : bytes_(initial.bytes), files_(initial.files) {}
  bool try_add(std::uint64_t bytes, std::uint64_t files, const QuotaLimits& limits) override {
    return storage::try_add_pair(bytes_, files_, bytes, files, limits.bytes, limits.files);
  }
  void adjust(std::int64_t bytes, std::int64_t files) override {
    storage::adjust_word(bytes_, bytes);
    storage::adjust_word(files_, files);
  }
  [[nodiscard]] QuotaUsage usage() const override {
    return {bytes_.load(std::memory_order_relaxed), files_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<std::uint64_t> bytes_, files_;
};

class LocalLedger final : public QuotaLedger {
 public:
  Result<std::shared_ptr<QuotaCounter>> counter(const User& user,
                                                const std::function<QuotaUsage()>& measure) override {
    std::shared_ptr<Slot> slot;
    {
      std::lock_guard lock(mu_);
      auto& s = slots_[quota_key(user)];
      if (!s) s = std::make_shared<Slot>();
      slot = s;
    }
    // Measured once; other first logins of the same user wait here, other users do not.
    std::call_once(slot->once, [&] { slot->counter = make_quota_counter(measure()); });
    return slot->counter;
  }

 private:
  struct Slot {
    std::once_flag once;
    std::shared_ptr<QuotaCounter> counter;
  };
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots_;
};

// What an upload has counted against the quota, relative to the file as it was before it:
// charged while the bytes arrive, settled at the end (from what it wrote when it committed,
// from the file left behind otherwise).
class QuotaWriteFile final : public WriteFile {
 public:
  QuotaWriteFile(std::unique_ptr<WriteFile> inner, Storage& storage, QuotaCounter& counter,
                 QuotaLimits limits, std::string path, bool existed, std::uint64_t old_size,
                 std::uint64_t base, std::int64_t counted_files)
      : inner_(std::move(inner)),
        storage_(storage),
        counter_(counter),
        limits_(limits),
        path_(std::move(path)),
        existed_(existed),
        old_size_(existed ? old_size : 0),
        base_(base),
        counted_files_(counted_files) {}

  // Never ended: the inner writer aborts itself as it goes (abort(false)), then the count
  // follows what it left on disk.
  ~QuotaWriteFile() override {
    inner_.reset();
    if (!settled_) settle_from_disk();
  }
  QuotaWriteFile(const QuotaWriteFile&) = delete;
  QuotaWriteFile& operator=(const QuotaWriteFile&) = delete;

  Result<std::size_t> write(std::span<const std::byte> data) override {
    // Only growth beyond the replaced file is charged.
    const std::uint64_t size_after = base_ + written_ + data.size();
    const auto growth = static_cast<std::int64_t>(size_after) - static_cast<std::int64_t>(old_size_);
    if (growth > counted_bytes_) {
      const auto extra = static_cast<std::uint64_t>(growth - counted_bytes_);
      if (!counter_.try_add(extra, 0, limits_)) return over_quota();
      counted_bytes_ = growth;
    }
    auto r = inner_->write(data);
    if (r) written_ += *r;
    return r;
  }

  Status commit(Commit how) override {
    auto st = inner_->commit(how);
    if (!st) {
      settle_from_disk();
      return st;
    }
    // The file now holds base + written bytes in place of old_size (or of nothing).
    const auto delta = static_cast<std::int64_t>(base_ + written_) - static_cast<std::int64_t>(old_size_);
    counter_.adjust(delta - counted_bytes_, 0);
    counted_bytes_ = delta;
    settled_ = true;
    return st;
  }

  void abort(bool keep_partial) override {
    if (settled_) return;  // after commit(): nothing to do
    inner_->abort(keep_partial);
    settle_from_disk();
  }

  Status revert() override {
    auto st = inner_->revert();
    settle_from_disk();
    return st;
  }

  // None: bytes spliced straight into the file would not be counted.
  [[nodiscard]] int native_handle() const override { return -1; }

 private:
  // Counts what is on disk now, in place of what was counted.
  void settle_from_disk() {
    settled_ = true;
    auto st = storage_.stat(path_);
    const bool exists = st && st->type == FileType::file;
    const std::int64_t bytes =
        (exists ? static_cast<std::int64_t>(st->size) : 0) - static_cast<std::int64_t>(old_size_);
    const std::int64_t files = static_cast<std::int64_t>(exists) - static_cast<std::int64_t>(existed_);
    counter_.adjust(bytes - counted_bytes_, files - counted_files_);
    counted_bytes_ = bytes;
    counted_files_ = files;
  }

  std::unique_ptr<WriteFile> inner_;
  Storage& storage_;
  QuotaCounter& counter_;
  QuotaLimits limits_;
  std::string path_;
  bool existed_;
  std::uint64_t old_size_;
  std::uint64_t base_;  // the file's size before the first new byte
  std::uint64_t written_ = 0;
  std::int64_t counted_bytes_ = 0;
  std::int64_t counted_files_;
  bool settled_ = false;
};

class QuotaStorage final : public Storage {
 public:
  QuotaStorage(std::unique_ptr<Storage> inner, std::shared_ptr<QuotaCounter> counter, QuotaLimits limits)
      : inner_(std::move(inner)), counter_(std::move(counter)), limits_(limits) {}

  [[nodiscard]] bool blocking() const override { return inner_->blocking(); }
  [[nodiscard]] StorageCapabilities capabilities() const override { return inner_->capabilities(); }
  Result<FileInfo> stat(std::string_view path) override { return inner_->stat(path); }
  Result<std::vector<FileInfo>> list(std::string_view path) override { return inner_->list(path); }
  // list() is forwarded untouched, so its versions may be too.
  ListingVersions* listing_versions() override { return inner_->listing_versions(); }
  Result<std::string> real_path(std::string_view path, bool follow_last) override {
    return inner_->real_path(path, follow_last);
  }
  Result<std::unique_ptr<ReadFile>> open_read(std::string_view path, std::uint64_t offset) override {
    return inner_->open_read(path, offset);
  }

  Result<std::unique_ptr<WriteFile>> open_write(std::string_view path, WriteMode mode,
                                                std::uint64_t offset) override {
    auto st = inner_->stat(path);
    const bool existed = st && st->type == FileType::file;
    const std::uint64_t old_size = existed ? st->size : 0;
    std::int64_t files = 0;
    if (!existed && !(st && mode == WriteMode::exclusive)) {
      if (!counter_->try_add(0, 1, limits_)) return over_quota();
      files = 1;
    }
    auto w = inner_->open_write(path, mode, offset);
    if (!w) {
      if (files != 0) counter_->adjust(0, -files);
      return w.error();
    }
    std::uint64_t base = 0;
    if (mode == WriteMode::append) base = old_size;
    if (mode == WriteMode::at_offset) base = offset;
    return std::unique_ptr<WriteFile>(std::make_unique<QuotaWriteFile>(
        std::move(*w), *inner_, *counter_, limits_, std::string(path), existed, old_size, base, files));
  }

  Status mkdir(std::string_view path) override { return inner_->mkdir(path); }
  Status rmdir(std::string_view path) override { return inner_->rmdir(path); }

  Status remove(std::string_view path) override {
    auto st = inner_->stat(path);
    auto r = inner_->remove(path);
    if (r && st && st->type == FileType::file) { counter_->adjust(-static_cast<std::int64_t>(st->size), -1); }
    return r;
  }

  Status rename(std::string_view from, std::string_view to) override {
    // A file renamed over another replaces it: that one no longer counts.
    std::optional<FileInfo> replaced;
    if (from != to) {
      if (auto st = inner_->stat(to); st && st->type == FileType::file) {
        auto src = inner_->stat(from);
        if (!src || src->unique == 0 || src->unique != st->unique) replaced = *st;
      }
    }
    auto r = inner_->rename(from, to);
    if (r && replaced) counter_->adjust(-static_cast<std::int64_t>(replaced->size), -1);
    return r;
  }

  Status set_mtime(std::string_view path, std::int64_t mtime) override {
    return inner_->set_mtime(path, mtime);
  }
  Status chmod(std::string_view path, std::uint32_t mode) override { return inner_->chmod(path, mode); }
  Result<std::string> hash(std::string_view path, HashAlgo algo, std::uint64_t from,
                           std::uint64_t to) override {
    return inner_->hash(path, algo, from, to);
  }
  Result<std::uint64_t> free_space(std::string_view path) override { return inner_->free_space(path); }

  std::optional<QuotaStatus> quota() override { return QuotaStatus{limits_, counter_->usage()}; }

 private:
  std::unique_ptr<Storage> inner_;
  std::shared_ptr<QuotaCounter> counter_;
  QuotaLimits limits_;
};

class QuotaFactory final : public StorageFactory {
 public:
  QuotaFactory(std::shared_ptr<StorageFactory> inner, std::shared_ptr<QuotaLedger> ledger)
      : inner_(std::move(inner)), ledger_(std::move(ledger)) {}

  [[nodiscard]] bool blocking() const override { return inner_->blocking(); }

  Result<std::unique_ptr<Storage>> create(const User& user) override {
    auto made = inner_->create(user);
    if (!made || (user.quota_bytes == 0 && user.quota_files == 0)) return made;
    Storage& s = **made;
    auto counter = ledger_->counter(user, [&s] { return measure_usage(s); });
    if (!counter) return counter.error();
    return make_quota_storage(std::move(*made), std::move(*counter),
                              QuotaLimits{user.quota_bytes, user.quota_files});
  }

 private:
  std::shared_ptr<StorageFactory> inner_;
  std::shared_ptr<QuotaLedger> ledger_;
};

}  // namespace

std::shared_ptr<QuotaCounter> make_quota_counter(QuotaUsage initial) {
  return std::make_shared<LocalCounter>(initial);
}

std::shared_ptr<QuotaLedger> make_quota_ledger() { return std::make_shared<LocalLedger>(); }

std::string quota_key(const User& user) {
  return user.host.empty() ? user.name : user.name + "@" + user.host;
}

QuotaUsage measure_usage(Storage& storage, std::size_t max_entries) {
  QuotaUsage u;
  std::deque<std::string> dirs{"/"};
  std::size_t seen = 0;
  while (!dirs.empty() && seen < max_entries) {
    const std::string dir = std::move(dirs.front());
    dirs.pop_front();
    auto entries = storage.list(dir);
    if (!entries) continue;
    for (const auto& e : *entries) {
      if (++seen > max_entries) break;
      if (e.type == FileType::file) {
        if (e.name.starts_with(kUploadTemporary)) continue;
        u.bytes += e.size;
        ++u.files;
      } else if (e.type == FileType::directory) {
        dirs.push_back(dir == "/" ? "/" + e.name : dir + "/" + e.name);
      }
    }
  }
  return u;
}

std::unique_ptr<Storage> make_quota_storage(std::unique_ptr<Storage> inner,
                                            std::shared_ptr<QuotaCounter> counter, QuotaLimits limits) {
  return std::make_unique<QuotaStorage>(std::move(inner), std::move(counter), limits);
}

std::shared_ptr<StorageFactory> make_quota_storage_factory(std::shared_ptr<StorageFactory> inner,
                                                           std::shared_ptr<QuotaLedger> ledger) {
  return std::make_shared<QuotaFactory>(std::move(inner), std::move(ledger));
}

}  // namespace feitp
