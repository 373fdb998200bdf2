// What every session of one event loop shares: options, the user's plug-ins (auth, storage
// factory, hooks, SITE commands), admission, counters, the blocking-call pool and buffers.
// One ServerCore per event loop (per worker process); it is only touched from that loop's
// thread, except the atomics in stats.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <spdlog/logger.h>

#include "feitp/limits.hpp"
#include "feitp/server.hpp"
#include "net/passive_ports.hpp"
#include "net/tls.hpp"
#include "session/hook_chain.hpp"
#include "session/listing_cache.hpp"
#include "session/login_guard.hpp"

namespace feitp::session {

class Session;

struct SiteCommand {
  std::string name;  // upper case
  std::string help;
  SiteHandler handler;
  bool blocking = false;  // runs on the thread pool
};

struct AtomicStats {
  std::atomic<std::uint64_t> sessions_active{0}, sessions_total{0}, logins{0}, login_failures{0}, uploads{0},
      downloads{0}, bytes_in{0}, bytes_out{0};
};

// Counts connections and keeps login records in this process (the default Admission), with
// the same rules as the daemon's SharedAdmission (session/login_guard.hpp).
class LocalAdmission final : public Admission {
 public:
  // Bans are logged to `log`.
  LocalAdmission(const Options& o, std::shared_ptr<spdlog::logger> log);
  bool admit(std::string_view peer) override;
  void release(std::string_view peer) override;
  bool banned(std::string_view peer) override;
  bool login_attempt(std::string_view peer) override;
  void login_succeeded(std::string_view peer, const User& user) override;
  void login_failed(std::string_view peer) override;
  std::chrono::milliseconds failure_delay(std::string_view peer) override;
  bool user_login(std::string_view user, std::uint32_t max) override;
  void user_logout(std::string_view user) override;

  // At most this many login records; beyond it idle ones go, then the ban that ends first,
  // and when every record is live the address is not counted (fails open, like F12's fix).
  static constexpr std::size_t kMaxLoginRecords = 65536;

 private:
  LoginRecord* login_record(const std::string& key, std::int64_t now);

  std::shared_ptr<spdlog::logger> log_;
  std::uint32_t max_total_, max_per_ip_;
  LoginPolicy policy_;
  std::uint32_t total_ = 0;
  std::unordered_map<std::string, std::uint32_t> per_ip_;
  std::unordered_map<std::string, std::uint32_t> per_user_;
  std::unordered_map<std::string, LoginRecord> logins_;
};

// Reusable transfer buffers, so a transfer does not allocate on the hot path.
class BufferPool {
 public:
  explicit BufferPool(std::size_t size) : size_(size) {}
  struct Lease {
    BufferPool* pool = nullptr;
    std::unique_ptr<std::byte[]> buf;
    Lease() = default;
    Lease(BufferPool* p, std::unique_ptr<std::byte[]> b) : pool(p), buf(std::move(b)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) noexcept = default;
    ~Lease() {
      if (pool && buf) pool->give_back(std::move(buf));
    }
    [[nodiscard]] std::byte* data() const { return buf.get(); }
  };
  Lease take();
  [[nodiscard]] std::size_t size() const { return size_; }

 private:
  void give_back(std::unique_ptr<std::byte[]> b);
  std::size_t size_;
  std::vector<std::unique_ptr<std::byte[]>> free_;
};

struct ServerCore {
  explicit ServerCore(Options o);
  ~ServerCore();

  Options opts;
  // Every line of this server goes here: opts.logger, else the library's (obs::default_logger).
  std::shared_ptr<spdlog::logger> log;
  // Before io: coroutines that wait for a port are destroyed with io and leave its queue.
  net::PassivePorts passive_ports{opts.passive_port_min, opts.passive_port_max};
  asio::io_context io{1};
  std::shared_ptr<Authenticator> auth;
  std::shared_ptr<StorageFactory> storage_factory;
  std::shared_ptr<Admission> admission;
  HookChain hooks;                                   // fixed before run()
  std::shared_ptr<Monitor> monitor;                  // nullptr: no timing, no publishing
  std::map<std::string, SiteCommand> site_commands;  // key: upper-case name
  // FTPS: made from opts.tls when it names a certificate; null = no TLS.
  std::shared_ptr<const net::TlsContext> tls;
  std::vector<VirtualHost> hosts;  // RFC 7151 HOST; empty = every HOST accepted as the default
  // Buckets spanning sessions (Options::upload_rate..., User::upload_rate...); made at the first
  // transfer that needs one, so a server without rates never touches them.
  std::shared_ptr<RateStates> rate_states;
  std::shared_ptr<RateLimiter> global_upload, global_download;
  // The limiters a transfer charges, or nullptr when no rate applies (the common case).
  std::unique_ptr<Throttle> make_throttle(const User& user, const VirtualHost* host, bool upload);

  AtomicStats stats;
  BufferPool buffers;
  std::mt19937 rng;
  // A small read buffer shared by all sessions of this loop: idle sessions hold none.
  std::array<char, 4096> control_read_buffer{};

  // Formatted listings of big directories, reused while Storage::listing_versions() says the
  // directory is unchanged.
  ListingCache listings;

  std::unordered_set<Session*> sessions;
  bool stopping = false;
  std::chrono::steady_clock::time_point drain_deadline{};

  // Checks every session's deadline once a second (timeouts have 1 s resolution); one timer
  // for the whole loop instead of one per session.
  asio::awaitable<void> sweep_deadlines();
  // Every monitor->publish_interval(): each session's view to the monitor (when one is set).
  asio::awaitable<void> publish_sessions();

  // Thread pools, each made on first use with opts.blocking_threads threads. Separate pools so
  // that one kind of work never queues behind another (audit F6): a password check must not wait
  // for four HASHes of a huge file, nor for slow hooks.
  // pool(): blocking hooks and blocking storage calls.
  asio::thread_pool& pool();
  // auth_pool(): the authenticator and the storage factory (the steps of a login).
  asio::thread_pool& auth_pool();
  // bulk_pool(): long reads of whole files (HASH, XCRC, XMD5, XSHA*).
  asio::thread_pool& bulk_pool();

 private:
  asio::thread_pool& make(std::unique_ptr<asio::thread_pool>& p);
  std::unique_ptr<asio::thread_pool> pool_, auth_pool_, bulk_pool_;
};

}  // namespace feitp::session
