// feitp::Server: the listeners, the accept loop and admission, on one event loop.
#include <random>
#include <stdexcept>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "net/endpoint.hpp"
#include "net/proxy_protocol.hpp"
#include "obs/log.hpp"
#include "session/options_check.hpp"
#include "proto/reply.hpp"
#include "session/core.hpp"
#include "session/session.hpp"

namespace feitp {

namespace session {

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LocalAdmission::LocalAdmission(const Options& o, std::shared_ptr<spdlog::logger> log)
    : log_(obs::logger_or_default(std::move(log))),
      max_total_(o.max_connections),
      max_per_ip_(o.max_per_ip),
      policy_(login_policy(o)) {}

LoginRecord* LocalAdmission::login_record(const std::string& key, std::int64_t now) {
  if (auto it = logins_.find(key); it != logins_.end()) return &it->second;
  if (logins_.size() >= kMaxLoginRecords) {
    std::erase_if(logins_, [&](const auto& kv) { return login_idle(kv.second, now); });
  }
  if (logins_.size() >= kMaxLoginRecords) {
    // Evict the ban that ends first; trusted records are what keeps a shared address usable.
    auto victim = logins_.end();
    for (auto it = logins_.begin(); it != logins_.end(); ++it) {
      if (it->second.trusted_until > now) continue;
      if (victim == logins_.end() || it->second.ban_until < victim->second.ban_until) victim = it;
    }
    if (victim == logins_.end()) return nullptr;
    logins_.erase(victim);
  }
  return &logins_[key];
}

bool LocalAdmission::banned(std::string_view peer) {
  if (policy_.after_failures == 0) return false;
  auto it = logins_.find(login_key(peer));
  return it != logins_.end() && login_banned(it->second, steady_ms());
}

bool LocalAdmission::login_attempt(std::string_view peer) {
  if (policy_.after_failures == 0) return true;
  const std::int64_t now = steady_ms();
  LoginRecord* r = login_record(login_key(peer), now);
  return r == nullptr || session::login_attempt(*r, policy_, now);
}

void LocalAdmission::login_succeeded(std::string_view peer, const User& user) {
  if (policy_.after_failures == 0) return;
  const std::int64_t now = steady_ms();
  if (LoginRecord* r = login_record(login_key(peer), now)) {
    session::login_succeeded(*r, policy_, now, !user.anonymous);
  }
}

void LocalAdmission::login_failed(std::string_view peer) {
  if (policy_.after_failures == 0) return;
  const std::int64_t now = steady_ms();
  const std::string key = login_key(peer);
  LoginRecord* r = login_record(key, now);
  if (r == nullptr) return;
  if (const std::int64_t ban = session::login_failed(*r, policy_, now); ban > 0) {
    log_->warn("banning {} for {} s after {} failed logins", key, (ban + 999) / 1000, policy_.after_failures);
  }
}

std::chrono::milliseconds LocalAdmission::failure_delay(std::string_view peer) {
  if (policy_.after_failures == 0) return std::chrono::milliseconds{0};
  auto it = logins_.find(login_key(peer));
  if (it == logins_.end()) return std::chrono::milliseconds{0};
  return std::chrono::milliseconds{login_throttle_ms(it->second, policy_, steady_ms())};
}

bool LocalAdmission::admit(std::string_view peer) {
  if (max_total_ && total_ >= max_total_) return false;
  auto& n = per_ip_[std::string(peer)];
  if (max_per_ip_ && n >= max_per_ip_) {
    if (n == 0) per_ip_.erase(std::string(peer));
    return false;
  }
  ++n;
  ++total_;
  return true;
}

void LocalAdmission::release(std::string_view peer) {
  auto it = per_ip_.find(std::string(peer));
  if (it == per_ip_.end()) return;
  if (--it->second == 0) per_ip_.erase(it);
  if (total_) --total_;
}

bool LocalAdmission::user_login(std::string_view user, std::uint32_t max) {
  auto& n = per_user_[std::string(user)];
  if (max && n >= max) {
    if (n == 0) per_user_.erase(std::string(user));
    return false;
  }
  ++n;
  return true;
}

void LocalAdmission::user_logout(std::string_view user) {
  auto it = per_user_.find(std::string(user));
  if (it == per_user_.end()) return;
  if (--it->second == 0) per_user_.erase(it);
}

BufferPool::Lease BufferPool::take() {
  if (free_.empty()) return Lease(this, std::make_unique_for_overwrite<std::byte[]>(size_));
  auto b = std::move(free_.back());
  free_.pop_back();
  return Lease(this, std::move(b));
}

void BufferPool::give_back(std::unique_ptr<std::byte[]> b) {
  if (free_.size() < 16) free_.push_back(std::move(b));  // keep a few, not a past peak's worth
}

ServerCore::ServerCore(Options o)
    : opts(std::move(o)),
      log(obs::logger_or_default(opts.logger)),
      buffers(opts.transfer_buffer ? opts.transfer_buffer : 256 * 1024),
      rng(std::random_device{}()) {}

ServerCore::~ServerCore() {
  for (auto* p : {&bulk_pool_, &auth_pool_, &pool_}) {
    if (*p) (*p)->join();
  }
}

namespace {
// Credit a bucket may save while idle: a transfer far below its limit then never waits (no timer
// per chunk), and over a few seconds the limit still holds within a per cent or so.
constexpr std::chrono::milliseconds kRateBurst{20};
}  // namespace

std::unique_ptr<Throttle> ServerCore::make_throttle(const User& user, const VirtualHost* host, bool upload) {
  const std::uint64_t global = upload ? opts.upload_rate : opts.download_rate;
  std::uint64_t session = upload ? opts.session_upload_rate : opts.session_download_rate;
  if (host != nullptr) {
    if (auto r = upload ? host->session_upload_rate : host->session_download_rate; r != 0) session = r;
  }
  const std::uint64_t own = upload ? user.upload_rate : user.download_rate;
  if (global == 0 && session == 0 && own == 0) return nullptr;
  auto t = std::make_unique<Throttle>();
  if (session != 0) t->add(std::make_shared<RateLimiter>(session, nullptr, kRateBurst));
  if ((own != 0 || global != 0) && !rate_states) rate_states = make_rate_states();
  if (own != 0) {
    // The user's word is shared by all the user's sessions (feitpd: on every worker).
    if (auto* word = rate_states->state(quota_key(user), upload)) {
      t->add(std::make_shared<RateLimiter>(own, word, kRateBurst));
    }
  }
  if (global != 0) {
    auto& g = upload ? global_upload : global_download;
    if (!g) {
      if (auto* word = rate_states->state("", upload))
        g = std::make_shared<RateLimiter>(global, word, kRateBurst);
    }
    if (g) t->add(g);
  }
  if (t->empty()) return nullptr;
  return t;
}

asio::awaitable<void> ServerCore::sweep_deadlines() {
  asio::steady_timer tick(io);
  std::vector<Session*> due;
  while (!(stopping && sessions.empty())) {
    tick.expires_after(std::chrono::seconds(1));
    std::error_code ec;
    co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    const auto now = std::chrono::steady_clock::now();
    // Copy first: expiring a session may end it, which changes the set.
    due.assign(sessions.begin(), sessions.end());
    for (auto* s : due) {
      if (sessions.count(s)) s->check_deadline(now);
    }
    passive_ports.sweep(now);
  }
}

asio::awaitable<void> ServerCore::publish_sessions() {
  asio::steady_timer tick(io);
  std::vector<Session*> all;
  std::vector<Session*> kicked;
  const auto interval = monitor->publish_interval();
  while (!(stopping && sessions.empty())) {
    tick.expires_after(interval);
    std::error_code ec;
    co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    all.assign(sessions.begin(), sessions.end());
    std::size_t transfers = 0;
    for (auto* s : all) transfers += s->transferring() ? 1 : 0;
    monitor->begin_publish(all.size(), transfers);
    kicked.clear();
    for (auto* s : all) {
      if (s->publish(*monitor)) kicked.push_back(s);
    }
    monitor->end_publish();
    // Closing may end a session, which changes the set: only the ones still there.
    for (auto* s : kicked) {
      if (sessions.count(s)) s->kick();
    }
  }
  monitor->begin_publish(0, 0);
  monitor->end_publish();
}

asio::thread_pool& ServerCore::make(std::unique_ptr<asio::thread_pool>& p) {
  if (!p) p = std::make_unique<asio::thread_pool>(opts.blocking_threads ? opts.blocking_threads : 4);
  return *p;
}

asio::thread_pool& ServerCore::pool() { return make(pool_); }
asio::thread_pool& ServerCore::auth_pool() { return make(auth_pool_); }
asio::thread_pool& ServerCore::bulk_pool() { return make(bulk_pool_); }

}  // namespace session

struct Server::Impl {
  explicit Impl(Options o) : core(std::move(o)), proxy(core.opts.proxy_protocol_from) {}
  session::ServerCore core;
  net::ProxyTrust proxy;  // who must send a PROXY header (empty: nobody may)
  std::vector<asio::ip::tcp::acceptor> acceptors;
  std::unique_ptr<asio::steady_timer> grace_timer;
  std::uint64_t next_id = 1;
  bool bound = false;

  asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acc, bool implicit_tls);
  std::vector<bool> implicit;  // per acceptor: implicit FTPS
  // Admission (bans, caps) for the client at `peer`, then the session.
  void start_session(asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer,
                     const asio::ip::tcp::endpoint& local, std::string local_text, bool implicit_tls);
  // A connection from a load balancer: its PROXY header names the client, then start_session.
  asio::awaitable<void> accept_proxied(asio::ip::tcp::socket sock, asio::ip::tcp::endpoint peer,
                                       asio::ip::tcp::endpoint local, std::string local_text,
                                       bool implicit_tls);
  // Per listener, once: what every accepted control connection needs.
  static void prepare_listener(asio::ip::tcp::acceptor& acc);
  void refuse(asio::ip::tcp::socket& s, std::string_view text);
  bool retiring = false;  // retire(): accepting stopped, sessions still served
  void shutdown(std::chrono::seconds grace);
  void retire(std::chrono::seconds grace);
  void close_all_after(std::chrono::seconds grace);
};

void Server::Impl::refuse(asio::ip::tcp::socket& s, std::string_view text) {
  // One best-effort write; the socket is fresh, so it never blocks in practice.
  auto msg = proto::format_reply(proto::code::unavailable, text);
  std::error_code ec;
  s.non_blocking(true, ec);
  s.write_some(asio::buffer(msg), ec);
  s.shutdown(asio::socket_base::shutdown_both, ec);
  s.close(ec);
}

void Server::Impl::prepare_listener(asio::ip::tcp::acceptor& acc) {
  // Accepted sockets inherit these from the listener, which saves two system calls per
  // connection: replies go out at once (no Nagle delay between 150 and 226), and urgent data
  // (the Telnet "synch" sent with ABOR) arrives in-band.
  const int on = 1;
  ::setsockopt(acc.native_handle(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  ::setsockopt(acc.native_handle(), SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
}

asio::awaitable<void> Server::Impl::accept_loop(asio::ip::tcp::acceptor& acc, bool implicit_tls) {
  // A listener bound to one address gives every connection that local address; only a
  // wildcard listener needs getsockname() per connection.
  std::error_code lec;
  const auto listen_ep = acc.local_endpoint(lec);
  const bool local_known = !lec && !listen_ep.address().is_unspecified();
  const std::string listen_text = local_known ? net::address_text(listen_ep.address()) : std::string();
  for (;;) {
    std::error_code ec;
    asio::ip::tcp::socket sock(core.io);
    asio::ip::tcp::endpoint peer;  // filled by accept() itself: no getpeername()
    co_await acc.async_accept(sock, peer, asio::redirect_error(asio::use_awaitable, ec));
    if (core.stopping || !acc.is_open()) {
      if (!ec) refuse(sock, "Service closing, try again later.");
      co_return;
    }
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or similar: back off briefly instead of spinning.
      core.log->warn("accept failed: {}", ec.message());
      asio::steady_timer pause(core.io, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    const auto local = local_known ? listen_ep : sock.local_endpoint(ec);
    if (ec) continue;  // already gone
    std::string local_text = local_known ? listen_text : net::address_text(local.address());
    if (!proxy.empty() && proxy.trusted(net::address_text(peer.address()))) {
      // Read off the loop's accept path: a slow or silent proxy holds only its own connection.
      asio::co_spawn(core.io,
                     accept_proxied(std::move(sock), peer, local, std::move(local_text), implicit_tls),
                     asio::detached);
      continue;
    }
    start_session(std::move(sock), peer, local, std::move(local_text), implicit_tls);
  }
}

void Server::Impl::start_session(asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer,
                                 const asio::ip::tcp::endpoint& local, std::string local_text,
                                 bool implicit_tls) {
  std::string ip = net::address_text(peer.address());
  if (core.admission->banned(ip)) {
    refuse(sock, "Too many failed logins from your address, try again later.");
    return;
  }
  auto admitted = Admission::Ticket::admit(core.admission, ip);
  if (!admitted) {
    refuse(sock, "Too many connections, try again later.");
    return;
  }
  auto s = std::make_shared<session::Session>(core, std::move(sock), next_id++, peer, local, std::move(ip),
                                              std::move(local_text), implicit_tls, std::move(admitted));
  asio::co_spawn(
      core.io,
      [s, log = core.log]() -> asio::awaitable<void> {
        try {
          co_await s->run();
        } catch (const std::exception& e) {
          log->error("session {}: ended by an error: {}", s->id(), e.what());
        }
      },
      asio::detached);
}

asio::awaitable<void> Server::Impl::accept_proxied(asio::ip::tcp::socket sock, asio::ip::tcp::endpoint peer,
                                                   asio::ip::tcp::endpoint local, std::string local_text,
                                                   bool implicit_tls) {
  auto got = co_await net::read_proxy_header(sock, peer, core.opts.proxy_protocol_timeout);
  std::error_code ec;
  if (!got.client) {
    // No greeting: whatever sent this is not a client we can answer for.
    core.log->log(got.silent ? spdlog::level::debug : spdlog::level::info,
                  "PROXY: closing connection from {}: {}", net::address_text(peer.address()), got.error);
    sock.close(ec);
    co_return;
  }
  if (core.stopping) {
    refuse(sock, "Service closing, try again later.");
    co_return;
  }
  core.log->debug("PROXY v{}: connection from {} is client {} port {}{}", got.version,
                  net::address_text(peer.address()), net::address_text(got.client->address()),
                  got.client->port(), got.local ? " (LOCAL: the proxy itself)" : "");
  start_session(std::move(sock), *got.client, local, std::move(local_text), implicit_tls);
}

void Server::Impl::shutdown(std::chrono::seconds grace) {
  // A stop after retire() still hangs up the idle sessions retire() kept.
  if (core.stopping && !retiring) return;
  core.stopping = true;
  retiring = false;
  std::error_code ec;
  for (auto& a : acceptors) a.close(ec);
  if (core.sessions.empty()) {
    core.io.stop();
    return;
  }
  const bool wait = grace.count() > 0;
  // Copy: drain() may end sessions.
  std::vector<session::Session*> all(core.sessions.begin(), core.sessions.end());
  for (auto* s : all) s->drain(wait);
  if (wait) close_all_after(grace);
}

void Server::Impl::retire(std::chrono::seconds grace) {
  if (core.stopping) return;
  // core.stopping ends the accept loops, and run() once the last session has gone (Session's
  // end checks it); the sessions themselves are left alone until the grace is over.
  core.stopping = true;
  retiring = true;
  std::error_code ec;
  for (auto& a : acceptors) a.close(ec);
  if (core.sessions.empty()) {
    core.io.stop();
    return;
  }
  close_all_after(grace);
}

void Server::Impl::close_all_after(std::chrono::seconds grace) {
  // Replacing the timer cancels an earlier one (its handler sees the error and does nothing).
  grace_timer = std::make_unique<asio::steady_timer>(core.io, grace);
  grace_timer->async_wait([this](std::error_code e) {
    if (e) return;
    std::vector<session::Session*> left(core.sessions.begin(), core.sessions.end());
    for (auto* s : left) s->drain(false);
  });
}

Server::Server(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {
  auto& o = impl_->core.opts;
  impl_->core.admission = std::make_shared<session::LocalAdmission>(o, impl_->core.log);
  // Certificates are read here, before any client: a bad one is an error at start.
  if (o.tls.enabled()) impl_->core.tls = std::make_shared<net::TlsContext>(o.tls);
  if (!o.tls.enabled() && !o.tls.implicit_listen.empty()) {
    throw std::runtime_error("tls.implicit_listen needs a certificate (tls.cert and tls.key)");
  }
}

Server::~Server() = default;

void Server::set_authenticator(std::shared_ptr<Authenticator> auth) { impl_->core.auth = std::move(auth); }

void Server::set_storage_factory(std::shared_ptr<StorageFactory> storage) {
  impl_->core.storage_factory = std::move(storage);
}

void Server::set_admission(std::shared_ptr<Admission> admission) {
  impl_->core.admission = std::move(admission);
}

void Server::add_hooks(std::shared_ptr<Hooks> hooks) { impl_->core.hooks.add(std::move(hooks)); }

void Server::set_monitor(std::shared_ptr<Monitor> monitor) { impl_->core.monitor = std::move(monitor); }
void Server::add_virtual_host(VirtualHost host) { impl_->core.hosts.push_back(std::move(host)); }

void Server::set_rate_states(std::shared_ptr<RateStates> states) {
  impl_->core.rate_states = std::move(states);
}

void Server::add_site_command(std::string name, std::string help, SiteHandler handler, bool blocking) {
  for (auto& c : name) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  impl_->core.site_commands[name] = session::SiteCommand{name, std::move(help), std::move(handler), blocking};
}

void Server::bind() {
  if (impl_->bound) return;
  auto& core = impl_->core;
  if (!core.opts.listen_fds.empty()) {
    // The first listen.size() are control listeners, the rest implicit FTPS ones.
    std::size_t index = 0;
    for (int fd : core.opts.listen_fds) {
      impl_->implicit.push_back(index++ >= core.opts.listen.size() && core.tls != nullptr);
      asio::ip::tcp::acceptor acc(core.io);
      std::error_code ec;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      acc.assign(ss.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd, ec);
      if (ec) throw std::system_error(ec, "cannot adopt listening socket " + std::to_string(fd));
      acc.non_blocking(true, ec);
      impl_->acceptors.push_back(std::move(acc));
    }
  } else {
    for (const auto& text : core.opts.listen) {
      auto ep = net::parse_listen_address(text);
      if (!ep)
        throw std::runtime_error("invalid listen address '" + text +
                                 "' (expected ADDR:PORT or [V6ADDR]:PORT)");
      impl_->acceptors.push_back(net::open_listener(core.io, *ep, false));
      impl_->implicit.push_back(false);
    }
    for (const auto& text : core.opts.tls.implicit_listen) {
      auto ep = net::parse_listen_address(text);
      if (!ep)
        throw std::runtime_error("invalid implicit TLS listen address '" + text +
                                 "' (expected ADDR:PORT or [V6ADDR]:PORT)");
      impl_->acceptors.push_back(net::open_listener(core.io, *ep, false));
      impl_->implicit.push_back(true);
    }
  }
  impl_->bound = true;
}

std::vector<std::uint16_t> Server::ports() const {
  std::vector<std::uint16_t> out;
  for (const auto& a : impl_->acceptors) {
    std::error_code ec;
    out.push_back(a.local_endpoint(ec).port());
  }
  return out;
}

void Server::run() {
  auto& core = impl_->core;
  // Without these the server would accept connections and then refuse every login, with
  // nothing to say why: say it now.
  if (!core.auth) {
    throw std::invalid_argument(
        "feitp::Server::run: no authenticator: call set_authenticator() (or build with Server::Builder) first");
  }
  if (!core.storage_factory) {
    throw std::invalid_argument(
        "feitp::Server::run: no storage: call set_storage_factory() (or build with Server::Builder) first");
  }
  // A server made with the constructor (the daemon, the Python package) is checked as the
  // builder checks: a bad value is named here rather than misbehaving later.
  session::throw_if_invalid(core.opts, "feitp::Server::run");
  bind();
  if (!core.admission) { core.admission = std::make_shared<session::LocalAdmission>(core.opts, core.log); }
  for (std::size_t i = 0; i < impl_->acceptors.size(); ++i) {
    auto& acc = impl_->acceptors[i];
    Impl::prepare_listener(acc);
    asio::co_spawn(core.io, impl_->accept_loop(acc, impl_->implicit[i]), asio::detached);
  }
  asio::co_spawn(core.io, core.sweep_deadlines(), asio::detached);
  if (core.monitor && core.monitor->publish_interval().count() > 0) {
    asio::co_spawn(core.io, core.publish_sessions(), asio::detached);
  }
  core.io.run();
  // Let a later run() (after stop()) be an error-free no-op rather than a hang.
  core.io.restart();
}

void Server::stop(std::chrono::seconds grace) {
  asio::post(impl_->core.io, [this, grace] { impl_->shutdown(grace); });
}

void Server::retire(std::chrono::seconds grace) {
  asio::post(impl_->core.io, [this, grace] { impl_->retire(grace); });
}

ServerStats Server::stats() const {
  const auto& s = impl_->core.stats;
  ServerStats out;
  out.sessions_active = s.sessions_active.load(std::memory_order_relaxed);
  out.sessions_total = s.sessions_total.load(std::memory_order_relaxed);
  out.logins = s.logins.load(std::memory_order_relaxed);
  out.login_failures = s.login_failures.load(std::memory_order_relaxed);
  out.uploads = s.uploads.load(std::memory_order_relaxed);
  out.downloads = s.downloads.load(std::memory_order_relaxed);
  out.bytes_in = s.bytes_in.load(std::memory_order_relaxed);
  out.bytes_out = s.bytes_out.load(std::memory_order_relaxed);
  return out;
}

}  // namespace feitp
