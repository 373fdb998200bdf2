// Accounts in PostgreSQL through libpq. A small pool of connections, made on demand with a
// bounded connect timeout; every statement is prepared once per connection and sent with the
// asynchronous API, waited for with poll() and a deadline, so a server that is down or hung
// costs a login a 421 after at most the timeout, never a stuck thread. A connection that fails
// is dropped; the next use connects anew, which is how the store recovers after the server
// restarts (one retry on a fresh connection, so the first login after a restart succeeds).
#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "auth/account_codec.hpp"
#include "feitp/auth.hpp"

namespace feitp::auth {

namespace {

constexpr const char* kCreateSchema =
    "CREATE TABLE IF NOT EXISTS feitp_schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS feitp_users ("
    "  name TEXT PRIMARY KEY,"
    "  password_hash TEXT NOT NULL,"
    "  home TEXT NOT NULL,"
    "  permissions TEXT NOT NULL DEFAULT 'elr',"
    "  directories TEXT NOT NULL DEFAULT '',"
    "  enabled BOOLEAN NOT NULL DEFAULT TRUE,"
    "  expires BIGINT NOT NULL DEFAULT 0,"
    "  allowed_networks TEXT NOT NULL DEFAULT '',"
    "  max_sessions BIGINT NOT NULL DEFAULT 0,"
    "  quota_bytes BIGINT NOT NULL DEFAULT 0,"
    "  quota_files BIGINT NOT NULL DEFAULT 0,"
    "  upload_rate BIGINT NOT NULL DEFAULT 0,"
    "  download_rate BIGINT NOT NULL DEFAULT 0,"
    "  require_tls BOOLEAN NOT NULL DEFAULT FALSE,"
    "  host TEXT NOT NULL DEFAULT '',"
    "  updated_at BIGINT NOT NULL DEFAULT 0"
    ");"
    // Every change of an account, by feitpd or by hand, tells the listening workers its name
    // (their account caches drop it). Made again at every start: older schemas get it too.
    "CREATE OR REPLACE FUNCTION feitp_users_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF TG_OP = 'DELETE' THEN PERFORM pg_notify('feitp_users', OLD.name);"
    "  ELSE PERFORM pg_notify('feitp_users', NEW.name);"
    "   IF TG_OP = 'UPDATE' AND OLD.name <> NEW.name THEN PERFORM pg_notify('feitp_users', OLD.name); END IF;"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE OR REPLACE TRIGGER feitp_users_notify AFTER INSERT OR UPDATE OR DELETE ON feitp_users"
    " FOR EACH ROW EXECUTE FUNCTION feitp_users_notify();"
    "CREATE OR REPLACE TRIGGER feitp_users_truncate_notify AFTER TRUNCATE ON feitp_users"
    " FOR EACH STATEMENT EXECUTE FUNCTION feitp_users_notify_all();";

// A TRUNCATE has no rows to name: an empty payload drops every cached account.
constexpr const char* kCreateNotifyAll =
    "CREATE OR REPLACE FUNCTION feitp_users_notify_all() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify('feitp_users', ''); RETURN NULL; END $$;";

// How long a cached account may be used without a notification (a safety net only: every
// change notifies).
constexpr std::chrono::seconds kCacheTtl{30};
constexpr std::size_t kCacheMax = 100000;

struct ConnFree {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnFree>;
struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;

using Clock = std::chrono::steady_clock;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// libpq messages end with a newline and may span lines: the first line is the one that says it.
std::string first_line(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s.empty() ? "unknown error" : s;
}

// "postgresql://user:secret@host/db" -> "postgresql://user@host/db": what the log may show.
std::string without_password(const std::string& conninfo) {
  const auto scheme = conninfo.find("://");
  if (scheme == std::string::npos) return conninfo;
  const auto at = conninfo.find('@', scheme + 3);
  const auto slash = conninfo.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return conninfo;
  const auto colon = conninfo.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return conninfo;
  return conninfo.substr(0, colon) + conninfo.substr(at);
}

std::uint64_t to_u64(const char* v) { return v == nullptr ? 0 : std::strtoull(v, nullptr, 10); }
bool to_bool(const char* v) { return v != nullptr && (v[0] == 't' || v[0] == '1'); }

class PgStore final : public ManagedAccountStore {
 public:
  PgStore(std::string conninfo, unsigned pool_size, unsigned timeout_s)
      : conninfo_(std::move(conninfo)),
        pool_size_(pool_size == 0 ? 1 : pool_size),
        timeout_(std::chrono::seconds{timeout_s == 0 ? 5 : timeout_s}) {}

  [[nodiscard]] std::string describe() const override { return without_password(conninfo_); }

  void prepare_schema() {
    with_connection([&](PGconn* c) {
      run(c, "BEGIN", {});
      run(c, "SELECT pg_advisory_xact_lock(727361)", {});  // one migrator among the nodes
      run(c, kCreateNotifyAll, {});
      run(c, kCreateSchema, {});
      Result r = run(c, "SELECT max(version) FROM feitp_schema_version", {});
      const char* v = PQgetisnull(r.get(), 0, 0) ? nullptr : PQgetvalue(r.get(), 0, 0);
      const int version = v == nullptr ? 0 : std::atoi(v);
      if (version > kSchemaVersion) {
        run(c, "ROLLBACK", {});
        throw StoreUnavailable(describe() + ": schema version " + std::to_string(version) +
                               " is newer than this feitpd knows (" + std::to_string(kSchemaVersion) +
                               "): upgrade feitpd");
      }
      if (v == nullptr) {
        run(c, "INSERT INTO feitp_schema_version (version) VALUES (" + std::to_string(kSchemaVersion) + ")",
            {});
      }
      run(c, "COMMIT", {});
      return 0;
    });
  }

  // The account from memory, without a round trip: only while this process listens for the
  // table's change notifications, after reading those that arrived (PQconsumeInput reads what is
  // there and never blocks), and within kCacheTtl. Runs on the event loop.
  std::optional<UserEntry> find_cached(std::string_view name) override {
    std::lock_guard lock(cache_mu_);
    if (!listen_ || !drain_notifications()) return std::nullopt;
    auto it = cache_.find(std::string(name));
    if (it == cache_.end()) return std::nullopt;
    if (Clock::now() - it->second.at >= kCacheTtl) {
      cache_.erase(it);
      return std::nullopt;
    }
    return it->second.entry;
  }

  std::optional<UserEntry> find(std::string_view name) override {
    const std::string n(name);
    // Cached only what was read while listening: a change committed after the read is then
    // always notified. The listener is made after a read that worked (the database is up), so
    // a database that is down costs a login one connect timeout, not two.
    const auto generation = listening();
    auto found = find_uncached(n);
    if (!generation) {
      start_listening();
    } else if (found) {
      remember(*found, *generation);
    }
    return found;
  }

  std::optional<UserEntry> find_uncached(const std::string& n) {
    return with_connection([&](PGconn* c) -> std::optional<UserEntry> {
      if (!is_prepared(c)) {
        // Per connection, at its first lookup (the schema may be made after it connected).
        Result p =
            send(c, "SELECT " + std::string(kAccountColumns) + " FROM feitp_users WHERE name = $1", {}, true);
        check(c, p, "preparing the account lookup");
        std::lock_guard lock(mu_);
        prepared_.insert(c);
      }
      Result r = run_prepared(c, "feitp_find", {n});
      if (PQntuples(r.get()) == 0) return std::nullopt;
      return read_row(r.get(), 0);
    });
  }

  void add(const UserEntry& e) override {
    const auto params = entry_params(e);
    with_connection([&](PGconn* c) {
      Result r = send(c,
                      "INSERT INTO feitp_users (" + std::string(kAccountColumns) +
                          ", updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                          "$12, $13, $14, $15, $16)",
                      params, false);
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      if (state != nullptr && std::strcmp(state, "23505") == 0) {
        throw std::invalid_argument("user \"" + e.name + "\" exists already");
      }
      check(c, r, "adding the account");
      return 0;
    });
  }

  void update(const UserEntry& e) override {
    const auto params = entry_params(e);
    with_connection([&](PGconn* c) {
      Result r = run(c,
                     "UPDATE feitp_users SET password_hash = $2, home = $3, permissions = $4, "
                     "directories = $5, enabled = $6, expires = $7, allowed_networks = $8, "
                     "max_sessions = $9, quota_bytes = $10, quota_files = $11, upload_rate = $12, "
                     "download_rate = $13, require_tls = $14, host = $15, updated_at = $16 "
                     "WHERE name = $1",
                     params);
      if (std::strcmp(PQcmdTuples(r.get()), "0") == 0) {
        throw std::invalid_argument("no user \"" + e.name + "\"");
      }
      return 0;
    });
  }

  void remove(std::string_view name) override {
    const std::string n(name);
    with_connection([&](PGconn* c) {
      Result r = run(c, "DELETE FROM feitp_users WHERE name = $1", {n});
      if (std::strcmp(PQcmdTuples(r.get()), "0") == 0) throw std::invalid_argument("no user \"" + n + "\"");
      return 0;
    });
  }

  std::vector<UserEntry> list() override {
    return with_connection([&](PGconn* c) {
      Result r = run(c, "SELECT " + std::string(kAccountColumns) + " FROM feitp_users ORDER BY name", {});
      std::vector<UserEntry> out;
      for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(read_row(r.get(), i));
      return out;
    });
  }

 private:
  // --- the account cache ------------------------------------------------------------------

  // The notification count to compare at remember(), or nullopt when not listening.
  std::optional<std::uint64_t> listening() {
    std::lock_guard lock(cache_mu_);
    if (listen_ && drain_notifications()) return events_;
    return std::nullopt;
  }

  // Listens on a connection of its own (on a login-pool thread: it connects). Leaves the cache
  // off when that fails or when the schema has no trigger (made by hand): every login then
  // reads the table.
  void start_listening() {
    std::unique_lock setup(listen_setup_mu_, std::try_to_lock);
    if (!setup.owns_lock() || no_trigger_) return;  // another thread is at it
    try {
      Conn c = connect();
      Result t = run(c.get(),
                     "SELECT 1 FROM pg_trigger WHERE tgname = 'feitp_users_notify' AND NOT tgisinternal", {});
      if (PQntuples(t.get()) == 0) {
        no_trigger_ = true;
        return;
      }
      run(c.get(), "LISTEN feitp_users", {});
      std::lock_guard lock(cache_mu_);
      listen_ = std::move(c);
      cache_.clear();
      ++events_;
    } catch (const StoreUnavailable&) {
      // Not listening: no cache; the next read tries again.
    }
  }

  // Under cache_mu_: reads the notifications that arrived and drops what they name; false (and
  // the cache emptied) when the listening connection broke.
  bool drain_notifications() {
    PGconn* c = listen_.get();
    // Until the socket is empty: a server that stops first sends a FATAL message (which libpq
    // takes as a notice) and then closes, and only the read after the message sees the end.
    for (int reads = 0;; ++reads) {
      char next = 0;
      const auto peeked = ::recv(PQsocket(c), &next, 1, MSG_PEEK | MSG_DONTWAIT);
      const bool ended =
          peeked == 0 || (peeked < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
      if (ended || (peeked > 0 && PQconsumeInput(c) == 0) || PQstatus(c) != CONNECTION_OK || reads == 64) {
        listen_.reset();
        cache_.clear();
        ++events_;
        return false;
      }
      if (peeked < 0) break;
    }
    while (PGnotify* n = PQnotifies(c)) {
      if (n->extra == nullptr || n->extra[0] == '\0') {
        cache_.clear();
      } else {
        cache_.erase(n->extra);
      }
      ++events_;
      PQfreemem(n);
    }
    return true;
  }

  // Keeps what find() read, unless a notification came in since it started (it may be older).
  void remember(const UserEntry& e, std::uint64_t generation) {
    std::lock_guard lock(cache_mu_);
    if (!listen_ || !drain_notifications() || events_ != generation) return;
    if (cache_.size() >= kCacheMax) cache_.clear();
    cache_[e.name] = Cached{e, Clock::now()};
  }

  // Runs f with a pooled connection; a broken connection is dropped and f retried once on a
  // fresh one (the server restarted since the connection was made).
  template <class F>
  auto with_connection(F&& f) -> decltype(f(nullptr)) {
    for (int attempt = 0;; ++attempt) {
      Conn c = acquire();
      const bool fresh = fresh_;
      try {
        auto out = f(c.get());
        release(std::move(c));
        return out;
      } catch (const StoreUnavailable&) {
        const bool broken = PQstatus(c.get()) != CONNECTION_OK;
        if (!broken && PQtransactionStatus(c.get()) == PQTRANS_IDLE) {
          release(std::move(c));
          throw;
        }
        drop(c.get());
        if (!broken || attempt > 0 || fresh) throw;
      } catch (...) {
        if (PQstatus(c.get()) == CONNECTION_OK && PQtransactionStatus(c.get()) == PQTRANS_IDLE) {
          release(std::move(c));
        } else {
          drop(c.get());
        }
        throw;
      }
    }
  }

  Conn acquire() {
    std::unique_lock lock(mu_);
    const auto deadline = Clock::now() + timeout_;
    for (;;) {
      if (!idle_.empty()) {
        Conn c(idle_.back().release());
        idle_.pop_back();
        fresh_ = false;
        return c;
      }
      if (open_ < pool_size_) {
        ++open_;
        lock.unlock();
        try {
          Conn c = connect();
          fresh_ = true;
          return c;
        } catch (...) {
          lock.lock();
          --open_;
          cv_.notify_one();
          throw;
        }
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        throw StoreUnavailable(describe() + ": every connection of the pool is busy");
      }
    }
  }

  void release(Conn c) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
    cv_.notify_one();
  }

  bool is_prepared(PGconn* c) {
    std::lock_guard lock(mu_);
    return prepared_.count(c) != 0;
  }

  void drop(PGconn* c) {
    std::lock_guard lock(mu_);
    prepared_.erase(c);
    --open_;
    cv_.notify_one();
  }

  Conn connect() {
    const std::string timeout = std::to_string(timeout_.count());
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {conninfo_.c_str(), timeout.c_str(), "feitpd", nullptr};
    Conn c(PQconnectdbParams(keys, values, 1));
    if (!c) throw StoreUnavailable(describe() + ": out of memory");
    if (PQstatus(c.get()) != CONNECTION_OK) {
      throw StoreUnavailable(describe() + ": cannot connect: " + first_line(PQerrorMessage(c.get())));
    }
    PQsetNoticeProcessor(
        c.get(), [](void*, const char*) {}, nullptr);  // "already exists, skipping"
    if (PQsetnonblocking(c.get(), 1) != 0) {
      throw StoreUnavailable(describe() + ": " + first_line(PQerrorMessage(c.get())));
    }
    return c;
  }

  // Waits until `c` can read (or write), within the deadline; false on timeout.
  static bool wait(PGconn* c, short events, Clock::time_point deadline) {
    pollfd p{PQsocket(c), events, 0};
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      const int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return true;  // let libpq report the error
    }
  }

  // Sends a statement (or, with `prepare`, prepares "feitp_find") and waits for its last result.
  Result send(PGconn* c, const std::string& sql, const std::vector<std::string>& params, bool prepare,
              const char* prepared_name = nullptr) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    int ok = 0;
    if (prepared_name != nullptr) {
      ok = PQsendQueryPrepared(c, prepared_name, static_cast<int>(values.size()), values.data(), nullptr,
                               nullptr, 0);
    } else if (prepare) {
      ok = PQsendPrepare(c, "feitp_find", sql.c_str(), 1, nullptr);
    } else if (params.empty()) {
      ok = PQsendQuery(c, sql.c_str());
    } else {
      ok = PQsendQueryParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, 0);
    }
    if (ok == 0) throw StoreUnavailable(describe() + ": " + first_line(PQerrorMessage(c)));
    const auto deadline = Clock::now() + timeout_;
    for (;;) {
      const int f = PQflush(c);
      if (f == 0) break;
      if (f < 0 || !wait(c, POLLOUT, deadline)) timed_out(c);
    }
    Result last;
    for (;;) {
      while (PQisBusy(c) != 0) {
        if (!wait(c, POLLIN, deadline)) timed_out(c);
        if (PQconsumeInput(c) == 0) {
          throw StoreUnavailable(describe() + ": " + first_line(PQerrorMessage(c)));
        }
      }
      PGresult* r = PQgetResult(c);
      if (r == nullptr) break;
      last.reset(r);
    }
    if (!last) throw StoreUnavailable(describe() + ": no result: " + first_line(PQerrorMessage(c)));
    return last;
  }

  [[noreturn]] void timed_out(PGconn* c) {
    // The connection is in an unknown state: break it, so libpq marks it bad and the pool
    // drops it.
    ::shutdown(PQsocket(c), SHUT_RDWR);
    PQconsumeInput(c);
    throw StoreUnavailable(describe() + ": no answer within " + std::to_string(timeout_.count()) + " s");
  }

  void check(PGconn* c, const Result& r, const std::string& what) {
    const auto st = PQresultStatus(r.get());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    std::string msg = PQresultErrorMessage(r.get());
    if (msg.empty()) msg = PQerrorMessage(c);
    throw StoreUnavailable(describe() + ": " + what + ": " + first_line(msg.c_str()));
  }

  Result run(PGconn* c, const std::string& sql, const std::vector<std::string>& params) {
    Result r = send(c, sql, params, false);
    check(c, r, "query");
    return r;
  }

  Result run_prepared(PGconn* c, const char* name, const std::vector<std::string>& params) {
    Result r = send(c, {}, params, false, name);
    check(c, r, "reading the account");
    return r;
  }

  static std::vector<std::string> entry_params(const UserEntry& e) {
    return {e.name,
            e.password_hash,
            e.home,
            e.permissions.letters(),
            encode_directories(e.permissions),
            e.enabled ? "true" : "false",
            std::to_string(e.expires),
            encode_networks(e.allowed_networks),
            std::to_string(e.max_sessions),
            std::to_string(e.quota_bytes),
            std::to_string(e.quota_files),
            std::to_string(e.upload_rate),
            std::to_string(e.download_rate),
            e.require_tls ? "true" : "false",
            e.host,
            std::to_string(unix_now())};
  }

  UserEntry read_row(PGresult* r, int row) {
    auto text = [&](int col) { return std::string(PQgetvalue(r, row, col)); };
    auto u64 = [&](int col) { return to_u64(PQgetvalue(r, row, col)); };
    UserEntry e;
    e.name = text(0);
    e.password_hash = text(1);
    e.home = text(2);
    try {
      e.permissions = decode_permissions(text(3), text(4));
    } catch (const std::invalid_argument& ex) {
      throw StoreUnavailable(describe() + ": account \"" + e.name + "\": " + ex.what());
    }
    e.enabled = to_bool(PQgetvalue(r, row, 5));
    e.expires = std::strtoll(PQgetvalue(r, row, 6), nullptr, 10);
    e.allowed_networks = decode_networks(text(7));
    e.max_sessions = static_cast<std::uint32_t>(u64(8));
    e.quota_bytes = u64(9);
    e.quota_files = u64(10);
    e.upload_rate = u64(11);
    e.download_rate = u64(12);
    e.require_tls = to_bool(PQgetvalue(r, row, 13));
    e.host = text(14);
    return e;
  }

  std::string conninfo_;
  unsigned pool_size_;
  std::chrono::seconds timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Conn> idle_;
  unsigned open_ = 0;
  std::unordered_set<PGconn*> prepared_;
  static thread_local bool fresh_;

  struct Cached {
    UserEntry entry;
    Clock::time_point at;
  };
  std::mutex cache_mu_;         // held briefly; find_cached() takes it on the event loop
  std::mutex listen_setup_mu_;  // one thread connects the listener at a time
  Conn listen_;                 // LISTEN feitp_users; null: not listening, no cache
  bool no_trigger_ = false;     // (under listen_setup_mu_)
  std::uint64_t events_ = 0;    // notifications read, and listener changes
  std::unordered_map<std::string, Cached> cache_;
};

thread_local bool PgStore::fresh_ = false;

}  // namespace

}  // namespace feitp::auth

namespace feitp {

std::shared_ptr<ManagedAccountStore> open_postgresql_store(const std::string& conninfo, unsigned pool_size,
                                                           unsigned connect_timeout_s, bool prepare_schema) {
  auto store = std::make_shared<auth::PgStore>(conninfo, pool_size, connect_timeout_s);
  if (prepare_schema) store->prepare_schema();
  return store;
}

}  // namespace feitp
