// Accounts in an SQLite file. One connection per store, opened on first use (after the workers
// fork), guarded by a mutex; every lookup is a prepared statement on the primary key in its own
// read transaction, so it sees what `feitpd user` committed a moment ago. The server opens the
// file read-only (rollback journal, not WAL: readers need no write access to anything, which
// suits unprivileged, Landlock-confined workers); `feitpd user` opens it read-write.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <unordered_map>

#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "auth/account_codec.hpp"
#include "feitp/auth.hpp"

namespace feitp::auth {

namespace {

constexpr int kBusyTimeoutMs = 2000;  // a writer holds the lock for milliseconds; bounded wait

// Schema of each version, applied in order from the file's version to kSchemaVersion.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    "CREATE TABLE feitp_schema_version (version INTEGER NOT NULL);"
    "INSERT INTO feitp_schema_version (version) VALUES (0);"
    "CREATE TABLE feitp_users ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  password_hash TEXT NOT NULL,"
    "  home TEXT NOT NULL,"
    "  permissions TEXT NOT NULL DEFAULT 'elr',"
    "  directories TEXT NOT NULL DEFAULT '',"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  expires INTEGER NOT NULL DEFAULT 0,"
    "  allowed_networks TEXT NOT NULL DEFAULT '',"
    "  max_sessions INTEGER NOT NULL DEFAULT 0,"
    "  quota_bytes INTEGER NOT NULL DEFAULT 0,"
    "  quota_files INTEGER NOT NULL DEFAULT 0,"
    "  upload_rate INTEGER NOT NULL DEFAULT 0,"
    "  download_rate INTEGER NOT NULL DEFAULT 0,"
    "  require_tls INTEGER NOT NULL DEFAULT 0,"
    "  host TEXT NOT NULL DEFAULT '',"
    "  updated_at INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

struct StmtFree {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFree>;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* t = sqlite3_column_text(s, i);
  return t == nullptr ? std::string{}
                      : std::string(reinterpret_cast<const char*>(t),
                                    static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

std::uint64_t column_u64(sqlite3_stmt* s, int i) {
  const auto v = sqlite3_column_int64(s, i);
  return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}

class SqliteStore final : public ManagedAccountStore {
 public:
  SqliteStore(std::string path, bool create, bool read_only)
      : path_(std::move(path)), create_(create), read_only_(read_only) {}
  ~SqliteStore() override {
    close();
    if (stamp_fd_ >= 0) ::close(stamp_fd_);
  }

  [[nodiscard]] std::string describe() const override { return "sqlite:" + path_; }

  // Opens now and checks (and unless read-only, creates or migrates) the schema.
  void open_now() {
    std::lock_guard lock(mu_);
    ensure_open();
  }

  std::optional<UserEntry> find(std::string_view name) override {
    // The file's stamp before the read: a commit after it changes the stamp, so an entry
    // remembered with this stamp can only be older than what the file holds, never newer.
    const auto stamp = read_stamp();
    auto out = find_uncached(name);
    if (out && stamp) remember(*out, *stamp);
    return out;
  }

  std::optional<UserEntry> find_cached(std::string_view name) override {
    const auto stamp = read_stamp();
    if (!stamp) return std::nullopt;
    std::lock_guard lock(cache_mu_);
    if (!(*stamp == cache_stamp_)) {
      cache_.clear();
      return std::nullopt;
    }
    auto it = cache_.find(std::string(name));
    if (it == cache_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<UserEntry> find_uncached(std::string_view name) {
    std::lock_guard lock(mu_);
    ensure_open();
    sqlite3_stmt* s = find_.get();
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s);
      return std::nullopt;
    }
    if (rc != SQLITE_ROW) fail_and_close("reading the account");
    std::optional<UserEntry> out;
    try {
      out = read_row(s);
    } catch (const std::invalid_argument& e) {
      sqlite3_reset(s);
      throw StoreUnavailable(describe() + ": account \"" + std::string(name) + "\": " + e.what());
    }
    sqlite3_reset(s);
    return out;
  }

  void add(const UserEntry& e) override {
    std::lock_guard lock(mu_);
    ensure_open();
    Stmt s = prepare("INSERT INTO feitp_users (" + std::string(kAccountColumns) +
                     ", updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                     "?14, ?15, ?16)");
    bind_entry(s.get(), e);
    const int rc = sqlite3_step(s.get());
    if (rc == SQLITE_CONSTRAINT) throw std::invalid_argument("user \"" + e.name + "\" exists already");
    if (rc != SQLITE_DONE) fail("adding the account");
  }

  void update(const UserEntry& e) override {
    std::lock_guard lock(mu_);
    ensure_open();
    Stmt s = prepare(
        "UPDATE feitp_users SET password_hash = ?2, home = ?3, permissions = ?4, directories = ?5, "
        "enabled = ?6, expires = ?7, allowed_networks = ?8, max_sessions = ?9, quota_bytes = ?10, "
        "quota_files = ?11, upload_rate = ?12, download_rate = ?13, require_tls = ?14, host = ?15, "
        "updated_at = ?16 WHERE name = ?1");
    bind_entry(s.get(), e);
    if (sqlite3_step(s.get()) != SQLITE_DONE) fail("updating the account");
    if (sqlite3_changes(db_) == 0) throw std::invalid_argument("no user \"" + e.name + "\"");
  }

  void remove(std::string_view name) override {
    std::lock_guard lock(mu_);
    ensure_open();
    Stmt s = prepare("DELETE FROM feitp_users WHERE name = ?1");
    sqlite3_bind_text(s.get(), 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(s.get()) != SQLITE_DONE) fail("deleting the account");
    if (sqlite3_changes(db_) == 0) throw std::invalid_argument("no user \"" + std::string(name) + "\"");
  }

  std::vector<UserEntry> list() override {
    std::lock_guard lock(mu_);
    ensure_open();
    Stmt s = prepare("SELECT " + std::string(kAccountColumns) + " FROM feitp_users ORDER BY name");
    std::vector<UserEntry> out;
    for (;;) {
      const int rc = sqlite3_step(s.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) fail("listing the accounts");
      try {
        out.push_back(read_row(s.get()));
      } catch (const std::invalid_argument& e) {
        throw StoreUnavailable(describe() + ": account \"" + column_text(s.get(), 0) + "\": " + e.what());
      }
    }
    return out;
  }

 private:
  // What proves the file unchanged: SQLite's file change counter (header bytes 24..27, bumped
  // by every commit in rollback-journal mode, which is how SQLite itself validates its page
  // cache), with the inode, size and modification time for a file replaced as a whole.
  struct Stamp {
    std::uint32_t counter = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };

  // Two system calls on a local file (fstat and a 4-byte pread of the page-cached header): the
  // event loop can afford them. nullopt when the file cannot be read or is in WAL mode (where
  // the counter is not kept up to date).
  std::optional<Stamp> read_stamp() {
    std::lock_guard lock(stamp_mu_);
    struct stat by_path {};
    if (::stat(path_.c_str(), &by_path) != 0) return std::nullopt;
    if (stamp_fd_ >= 0) {
      struct stat by_fd {};
      if (::fstat(stamp_fd_, &by_fd) != 0 || by_fd.st_ino != by_path.st_ino ||
          by_fd.st_dev != by_path.st_dev) {
        ::close(stamp_fd_);
        stamp_fd_ = -1;
      }
    }
    if (stamp_fd_ < 0) stamp_fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (stamp_fd_ < 0) return std::nullopt;
    unsigned char h[100];
    if (::pread(stamp_fd_, h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) return std::nullopt;
    if (std::memcmp(h, "SQLite format 3", 16) != 0 || h[18] == 2 || h[19] == 2) return std::nullopt;
    Stamp s;
    s.counter =
        (std::uint32_t{h[24]} << 24) | (std::uint32_t{h[25]} << 16) | (std::uint32_t{h[26]} << 8) | h[27];
    s.ino = by_path.st_ino;
    s.size = by_path.st_size;
    s.mtime_ns = std::int64_t{by_path.st_mtim.tv_sec} * 1000000000 + by_path.st_mtim.tv_nsec;
    return s;
  }

  void remember(const UserEntry& e, const Stamp& stamp) {
    std::lock_guard lock(cache_mu_);
    if (!(stamp == cache_stamp_)) {
      cache_.clear();
      cache_stamp_ = stamp;
    }
    if (cache_.size() >= kCacheEntries) cache_.clear();
    cache_.insert_or_assign(e.name, e);
  }

  [[noreturn]] void fail(const std::string& what) {
    throw StoreUnavailable(describe() + ": " + what + ": " + sqlite3_errmsg(db_));
  }
  // A read error may be a replaced or repaired file: the next login opens it anew.
  [[noreturn]] void fail_and_close(const std::string& what) {
    std::string msg = describe() + ": " + what + ": " + sqlite3_errmsg(db_);
    close();
    throw StoreUnavailable(msg);
  }

  void close() {
    find_.reset();
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  Stmt prepare(const std::string& sql, const char* what = "reading the accounts") {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s,
                           nullptr) != SQLITE_OK) {
      fail_and_close(what);
    }
    return Stmt(s);
  }

  void exec(const char* sql, const std::string& what) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = describe() + ": " + what + ": " + (err != nullptr ? err : sqlite3_errmsg(db_));
      sqlite3_free(err);
      close();
      throw StoreUnavailable(msg);
    }
  }

  void ensure_open() {
    if (db_ != nullptr) return;
    if (create_ && !read_only_) {
      // The file holds password hashes: only its owner reads it (give the workers' run_as
      // group read access by hand). An empty file is an empty database to SQLite.
      const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
    }
    int flags = read_only_ ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (create_ && !read_only_) flags |= SQLITE_OPEN_CREATE;
    flags |= SQLITE_OPEN_NOMUTEX;  // our own mutex serialises every use
    const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg =
          describe() + ": cannot open: " + (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
      close();
      throw StoreUnavailable(msg);
    }
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    sqlite3_extended_result_codes(db_, 0);
    check_schema();
    find_ = prepare("SELECT " + std::string(kAccountColumns) + " FROM feitp_users WHERE name = ?1");
  }

  int read_version() {
    Stmt has = prepare(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
        "'feitp_schema_version'");
    if (sqlite3_step(has.get()) != SQLITE_ROW) fail_and_close("reading the schema");
    if (sqlite3_column_int(has.get(), 0) == 0) return 0;
    Stmt v = prepare("SELECT max(version) FROM feitp_schema_version");
    if (sqlite3_step(v.get()) != SQLITE_ROW) fail_and_close("reading the schema version");
    return sqlite3_column_int(v.get(), 0);
  }

  void check_schema() {
    int version = read_version();
    if (version > kSchemaVersion) {
      std::string msg = describe() + ": schema version " + std::to_string(version) +
                        " is newer than this feitpd knows (" + std::to_string(kSchemaVersion) +
                        "): upgrade feitpd";
      close();
      throw StoreUnavailable(msg);
    }
    if (version == kSchemaVersion) return;
    if (read_only_) {
      std::string msg = describe() + (version == 0 ? ": no account tables (feitpd creates them at start "
                                                     "or with `feitpd user add`)"
                                                   : ": schema version " + std::to_string(version) +
                                                         " needs migrating (start feitpd once as root)");
      close();
      throw StoreUnavailable(msg);
    }
    exec("BEGIN IMMEDIATE", "starting the schema migration");
    version = read_version();  // another process may have migrated meanwhile
    for (int v = version; v < kSchemaVersion; ++v) {
      exec(kMigrations[v], "migrating the schema to version " + std::to_string(v + 1));
    }
    const std::string set = "UPDATE feitp_schema_version SET version = " + std::to_string(kSchemaVersion);
    exec(set.c_str(), "recording the schema version");
    exec("COMMIT", "committing the schema migration");
  }

  static void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }

  static void bind_entry(sqlite3_stmt* s, const UserEntry& e) {
    bind_text(s, 1, e.name);
    bind_text(s, 2, e.password_hash);
    bind_text(s, 3, e.home);
    bind_text(s, 4, e.permissions.letters());
    bind_text(s, 5, encode_directories(e.permissions));
    sqlite3_bind_int(s, 6, e.enabled ? 1 : 0);
    sqlite3_bind_int64(s, 7, e.expires);
    bind_text(s, 8, encode_networks(e.allowed_networks));
    sqlite3_bind_int64(s, 9, e.max_sessions);
    sqlite3_bind_int64(s, 10, static_cast<sqlite3_int64>(e.quota_bytes));
    sqlite3_bind_int64(s, 11, static_cast<sqlite3_int64>(e.quota_files));
    sqlite3_bind_int64(s, 12, static_cast<sqlite3_int64>(e.upload_rate));
    sqlite3_bind_int64(s, 13, static_cast<sqlite3_int64>(e.download_rate));
    sqlite3_bind_int(s, 14, e.require_tls ? 1 : 0);
    bind_text(s, 15, e.host);
    sqlite3_bind_int64(s, 16, unix_now());
  }

  static UserEntry read_row(sqlite3_stmt* s) {
    UserEntry e;
    e.name = column_text(s, 0);
    e.password_hash = column_text(s, 1);
    e.home = column_text(s, 2);
    e.permissions = decode_permissions(column_text(s, 3), column_text(s, 4));
    e.enabled = sqlite3_column_int(s, 5) != 0;
    e.expires = sqlite3_column_int64(s, 6);
    e.allowed_networks = decode_networks(column_text(s, 7));
    e.max_sessions = static_cast<std::uint32_t>(column_u64(s, 8));
    e.quota_bytes = column_u64(s, 9);
    e.quota_files = column_u64(s, 10);
    e.upload_rate = column_u64(s, 11);
    e.download_rate = column_u64(s, 12);
    e.require_tls = sqlite3_column_int(s, 13) != 0;
    e.host = column_text(s, 14);
    return e;
  }

  std::string path_;
  bool create_;
  bool read_only_;
  std::mutex mu_;
  sqlite3* db_ = nullptr;
  Stmt find_;
  static constexpr std::size_t kCacheEntries = 16384;
  std::mutex stamp_mu_;
  int stamp_fd_ = -1;
  std::mutex cache_mu_;
  Stamp cache_stamp_;
  std::unordered_map<std::string, UserEntry> cache_;
};

}  // namespace

}  // namespace feitp::auth

namespace feitp {

std::shared_ptr<ManagedAccountStore> open_sqlite_store(const std::string& path, bool create, bool read_only,
                                                       bool lazy) {
  auto store = std::make_shared<auth::SqliteStore>(path, create, read_only);
  if (!lazy) store->open_now();
  return store;
}

}  // namespace feitp
