// feitp: the server. Embed it: fill in Options, make the Server with Server::Builder (which
// refuses to build without an Authenticator and a StorageFactory, or with invalid Options), add
// Hooks, then run() -- or run_until_signal(), which also stops it on SIGINT/SIGTERM. run()
// serves on the calling thread until stop().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "feitp/auth.hpp"
#include "feitp/hooks.hpp"
#include "feitp/monitor.hpp"
#include "feitp/options.hpp"
#include "feitp/storage.hpp"

namespace feitp {

using SiteHandler = std::function<Reply(Connection&, std::string_view args)>;

struct ServerStats {
  std::uint64_t sessions_active = 0;
  std::uint64_t sessions_total = 0;
  std::uint64_t logins = 0;
  std::uint64_t login_failures = 0;
  std::uint64_t uploads = 0;
  std::uint64_t downloads = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

// Admission decisions shared by several worker processes (the daemon's shared memory); the
// default keeps the counts in this process. The server takes what admit() and user_login()
// grant as Admission::Ticket objects, which call release() and user_logout() once each.
class Admission {
 public:
  class Ticket;

  virtual ~Admission() = default;
  // Called on accept; false = refuse with 421 "too many connections, try again later".
  virtual bool admit(std::string_view peer_address) = 0;
  // Once for each admit() that returned true, when that connection ends.
  virtual void release(std::string_view peer_address) = 0;
  // Temporarily banned addresses (repeated login failures): refused at connect with 421.
  virtual bool banned(std::string_view /*peer_address*/) { return false; }
  // Each PASS: login_attempt() before the password is checked; false = answer 530 without
  // asking the Authenticator (or 421 and close when banned()). After a true, exactly one of
  // login_succeeded() / login_failed() follows, so an implementation can count checks in flight.
  virtual bool login_attempt(std::string_view peer_address) { return !banned(peer_address); }
  // `user` tells who logged in (an anonymous login proves nothing about the address).
  virtual void login_succeeded(std::string_view /*peer_address*/, const User& /*user*/) {}
  virtual void login_failed(std::string_view /*peer_address*/) {}
  // Extra delay before the 530 of a failed login, on top of Options::login_failure_delay (a
  // throttle for addresses that must not be banned).
  virtual std::chrono::milliseconds failure_delay(std::string_view /*peer_address*/) {
    return std::chrono::milliseconds{0};
  }
  // Per-user session cap; false = refuse the login.
  virtual bool user_login(std::string_view /*user*/, std::uint32_t /*max*/) { return true; }
  // Once for each user_login() that returned true, when that login ends.
  virtual void user_logout(std::string_view /*user*/) {}
};

// What an Admission granted, given back exactly once: the connection slot of admit() (by
// release()) or the session of user_login() (by user_logout()), when the ticket is reset() or
// destroyed, whichever comes first. Move-only; a moved-from or default ticket holds nothing.
// The ticket keeps its Admission alive. Not thread-safe: one owner at a time.
class Admission::Ticket {
 public:
  // admit(peer_address): its ticket, or an empty one when it refused (or admission is null).
  [[nodiscard]] static Ticket admit(std::shared_ptr<Admission> admission, std::string_view peer_address);
  // user_login(user, max): its ticket, or an empty one when it refused (or admission is null).
  [[nodiscard]] static Ticket user_login(std::shared_ptr<Admission> admission, std::string_view user,
                                         std::uint32_t max);

  Ticket() = default;
  Ticket(Ticket&& other) noexcept;
  // Gives back what this ticket held, then takes other's.
  Ticket& operator=(Ticket&& other) noexcept;
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  ~Ticket() { reset(); }

  // Gives it back now; later calls (and the destructor) do nothing.
  void reset() noexcept;
  // True while it holds something to give back.
  [[nodiscard]] bool held() const { return admission_ != nullptr; }
  explicit operator bool() const { return held(); }

 private:
  enum class Kind : std::uint8_t { connection, user };
  Ticket(std::shared_ptr<Admission> admission, Kind kind, std::string_view key);
  std::shared_ptr<Admission> admission_;
  std::string key_;
  Kind kind_ = Kind::connection;
};

// A virtual host (RFC 7151): a client selects it with HOST before USER. Without any virtual
// host every HOST is accepted (and changes nothing); with some, an unknown name gets 504.
struct VirtualHost {
  std::string name;    // matched without regard to case
  std::string banner;  // the text of the 220 reply to HOST ("" = "Host accepted.")
  // null: the server's own.
  std::shared_ptr<Authenticator> authenticator;
  std::shared_ptr<StorageFactory> storage_factory;
  // Per-session limits for this host's sessions, bytes per second (0 = the server's).
  std::uint64_t session_upload_rate = 0;
  std::uint64_t session_download_rate = 0;
};

class RateStates;

class Server {
 public:
  class Builder;

  // The unchecked way: what Builder::build() does after its checks. Throws std::runtime_error
  // when a certificate cannot be read. Prefer Server::Builder, which says at construction what
  // is missing; run() here throws if the authenticator or the storage factory was never set.
  explicit Server(Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void set_authenticator(std::shared_ptr<Authenticator> auth);
  void set_storage_factory(std::shared_ptr<StorageFactory> storage);
  void set_admission(std::shared_ptr<Admission> admission);
  // Hooks stack in the order added; a veto stops the chain.
  void add_hooks(std::shared_ptr<Hooks> hooks);
  // A live view for metrics and an operator's dashboard (feitp/monitor.hpp); before run().
  void set_monitor(std::shared_ptr<Monitor> monitor);
  // Adds a virtual host (before run()). A user whose User::host is set may log in only on
  // that host (no HOST: the default host, whose name is "").
  void add_virtual_host(VirtualHost host);
  // Where the buckets of Options::upload_rate/download_rate and of users' rates keep their
  // state (feitp/limits.hpp); by default in this process.
  void set_rate_states(std::shared_ptr<RateStates> states);
  // SITE <name> ...; name is matched case-insensitively; help is shown in SITE HELP. The handler
  // runs on the event loop, which it must not hold up; give blocking = true when it may block
  // (a database, the network, a Python callback and its GIL): it then runs on the thread pool
  // and the session waits for it without holding the loop.
  void add_site_command(std::string name, std::string help, SiteHandler handler, bool blocking = false);

  // Binds (throws std::runtime_error naming the address on failure). Called by run() if needed.
  void bind();
  // The bound control ports, in the order of Options::listen (after bind()).
  [[nodiscard]] std::vector<std::uint16_t> ports() const;

  // Serves until stop(). Throws std::invalid_argument when no authenticator or no storage
  // factory was set, std::runtime_error on a bind failure. See also run_until_signal().
  void run();
  // Thread-safe (not async-signal-safe): stop accepting; sessions get `grace` to finish their transfers,
  // then the rest are closed with 421.
  void stop(std::chrono::seconds grace = std::chrono::seconds{0});
  // Thread-safe: stop accepting but keep serving every session, idle ones included, until it ends;
  // after `grace` the rest are closed with 421. run() returns when the last session has gone. For a
  // server being replaced (feitpd's reload): a client between two commands is not turned away. A
  // later stop() still applies.
  void retire(std::chrono::seconds grace);

  [[nodiscard]] ServerStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Validated construction: everything a Server is given, checked once, at build():
//
//   auto server = feitp::Server::Builder(options)
//                     .authenticator(feitp::make_user_table_authenticator(users, std::nullopt))
//                     .storage_factory(feitp::make_local_storage_factory())
//                     .hooks(std::make_shared<MyHooks>())
//                     .build();
//
// build() throws std::invalid_argument with a one-line message naming what is wrong when there
// is no authenticator, no storage factory, or validate(options) finds a problem; it throws
// std::runtime_error when a certificate of Options::tls cannot be read. A setter given what can
// only be a mistake (a null Hooks, a SITE command without a name or handler, a virtual host
// without a name) throws std::invalid_argument at once. build() may be called more than once:
// each Server shares the objects given here (authenticator, storage factory, hooks...).
class Server::Builder {
 public:
  explicit Builder(Options options);

  // Required: who may log in, and where each user's files are.
  Builder& authenticator(std::shared_ptr<Authenticator> auth);
  Builder& storage_factory(std::shared_ptr<StorageFactory> storage);
  // Optional (null: the default).
  Builder& admission(std::shared_ptr<Admission> a);          // default: counts in this process
  Builder& monitor(std::shared_ptr<Monitor> m);              // default: none
  Builder& rate_states(std::shared_ptr<RateStates> states);  // default: in this process
  // Where the server logs (sets Options::logger; default: the library's own, on stderr).
  Builder& logger(std::shared_ptr<spdlog::logger> l);
  // Stackable, in the order given: hooks (a veto stops the chain), virtual hosts, SITE commands
  // (as Server::add_hooks, add_virtual_host, add_site_command).
  Builder& hooks(std::shared_ptr<Hooks> h);
  Builder& virtual_host(VirtualHost host);
  Builder& site_command(std::string name, std::string help, SiteHandler handler, bool blocking = false);

  [[nodiscard]] std::unique_ptr<Server> build() const;

 private:
  struct Site {
    std::string name;
    std::string help;
    SiteHandler handler;
    bool blocking;
  };
  Options options_;
  std::shared_ptr<Authenticator> auth_;
  std::shared_ptr<StorageFactory> storage_;
  std::shared_ptr<Admission> admission_;
  std::shared_ptr<Monitor> monitor_;
  std::shared_ptr<RateStates> rate_states_;
  std::vector<std::shared_ptr<Hooks>> hooks_;
  std::vector<VirtualHost> hosts_;
  std::vector<Site> sites_;
};

// Runs `server` on the calling thread until SIGINT or SIGTERM, then stops it with stop(grace)
// (sessions get `grace` to finish their transfers) and returns once run() has returned.
// Returns the signal number that stopped it (SIGINT or SIGTERM), or 0 when the server stopped
// otherwise (stop() or retire() from another thread); a stop signal that arrives while run()
// is returning for another reason is returned too rather than lost. Exceptions of run() pass
// through (after the clean-up below).
//
// Signals: it blocks SIGINT and SIGTERM in the calling thread (so in every thread the server
// starts from then on) and reads them on a watcher thread of its own (signalfd), never in
// signal context; it installs no signal handler. Before returning it stops the watcher, drops
// any SIGINT/SIGTERM still pending, and restores the calling thread's signal mask. Call it from
// the main thread before any other thread exists (or block SIGINT and SIGTERM in those threads
// yourself): a thread that does not block them would take the signal with its default action.
// Signals sent to the process (kill(1), Ctrl-C, systemd) are seen; one sent to a single other
// thread (pthread_kill) is not. A second signal while the server drains is ignored.
// Calling bind() first (to learn ports()) is fine. Not for use inside a Python interpreter,
// which handles signals itself.
int run_until_signal(Server& server, std::chrono::seconds grace = std::chrono::seconds{10});

}  // namespace feitp
