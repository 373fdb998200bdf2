// One epoll loop drives every client. Each client is a small state machine over a
// non-blocking control connection and, during a transfer, a non-blocking data connection.
// Nothing on the per-transaction path allocates: commands are built in stack buffers,
// payloads are pre-built, replies are parsed in place.
#include "engine.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "procmem.hpp"
#include "reply.hpp"

namespace feitp_bench {

const char* scenario_name(Scenario s) noexcept {
  switch (s) {
    case Scenario::seed: return "seed";
    case Scenario::session: return "session";
    case Scenario::login: return "login";
    case Scenario::list: return "list";
    case Scenario::retr: return "retr";
    case Scenario::stor: return "stor";
    case Scenario::idle: return "idle";
    case Scenario::mixed: return "mixed";
  }
  return "?";
}

const char* fail_name(Fail f) noexcept {
  switch (f) {
    case Fail::connect: return "connect";
    case Fail::ctrl_closed: return "ctrl_closed";
    case Fail::ctrl_error: return "ctrl_error";
    case Fail::reply_greeting: return "reply_greeting";
    case Fail::reply_user: return "reply_user";
    case Fail::reply_pass: return "reply_pass";
    case Fail::reply_type: return "reply_type";
    case Fail::reply_pasv: return "reply_pasv";
    case Fail::reply_transfer_start: return "reply_transfer_start";
    case Fail::reply_transfer_end: return "reply_transfer_end";
    case Fail::reply_quit: return "reply_quit";
    case Fail::reply_malformed: return "reply_malformed";
    case Fail::data_connect: return "data_connect";
    case Fail::data_error: return "data_error";
    case Fail::timeout: return "timeout";
    case Fail::verify_missing: return "verify_missing";
    case Fail::verify_size: return "verify_size";
    case Fail::reply_auth: return "reply_auth";
    case Fail::reply_pbsz: return "reply_pbsz";
    case Fail::reply_prot: return "reply_prot";
    case Fail::tls_handshake: return "tls_handshake";
    case Fail::tls_data_handshake: return "tls_data_handshake";
    case Fail::tls_error: return "tls_error";
    case Fail::tls_not_resumed: return "tls_not_resumed";
    case Fail::count_: break;
  }
  return "?";
}

namespace {

constexpr std::uint64_t kMs = 1'000'000ULL;
constexpr std::uint64_t kSec = 1'000'000'000ULL;
constexpr std::uint64_t kRetryDelay = 50 * kMs;
constexpr std::size_t kRxBuf = 256 * 1024;
constexpr std::size_t kSamples = 8;

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * kSec + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t to_ns(double seconds) noexcept {
  return seconds <= 0 ? 0 : static_cast<std::uint64_t>(seconds * 1e9);
}

// The reason of a failed TLS call, in words (and the OpenSSL error queue emptied).
std::string tls_error_text(SSL* ssl, int ret) {
  const int e = SSL_get_error(ssl, ret);
  const int saved_errno = errno;
  std::string out;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (out.empty()) out = buf;
  }
  if (!out.empty()) return out;
  if (e == SSL_ERROR_SYSCALL) return saved_errno != 0 ? std::strerror(saved_errno) : "connection closed";
  if (e == SSL_ERROR_ZERO_RETURN) return "close_notify received";
  return fmt::format("SSL error {}", e);
}

SSL_CTX* make_tls_context(const Options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) throw std::runtime_error("SSL_CTX_new failed");
  const int v = o.tls_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(ctx, v);
  SSL_CTX_set_max_proto_version(ctx, v);
  // Partial writes: SSL_write behaves like send() on a non-blocking socket. The payload
  // buffer never moves, but a retry may come from another offset computation.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Sessions are kept by hand (per client), not in the context's cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (!o.tls_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, o.tls_ca.c_str(), nullptr) != 1) {
      SSL_CTX_free(ctx);
      throw std::runtime_error("cannot load --tls-ca " + o.tls_ca);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // loopback, self-signed certificates
  }
  return ctx;
}

enum class St : std::uint8_t {
  off,
  sleeping,  // waiting to retry after a failure
  connecting,
  w220,
  wauth,  // --tls: sent AUTH TLS, waiting for 234
  ctls,   // --tls: control connection's TLS handshake running
  wuser,
  wpass,
  wpbsz,
  wprot,
  wtype,
  wpasv,
  wprelim,  // sent STOR/LIST/RETR, waiting for 150/125
  wfinal,   // transfer running, waiting for 226
  wquit,
  held,  // idle: logged in, holding
  done
};

struct Client {
  int ctrl = -1;
  int data = -1;
  SSL* ssl = nullptr;                // --tls: the control connection's TLS, from 234 on
  SSL* dssl = nullptr;               // --tls: the data connection's TLS
  SSL_SESSION* last = nullptr;       // --tls-reconnect resume: the previous control session
  std::uint64_t ctrl_tls_count = 0;  // control connections that completed a TLS handshake
  std::uint32_t id = 0;
  std::uint32_t gen = 0;  // bumped per descriptor: tags epoll events so stale ones are ignored
  std::uint32_t ctrl_gen = 0;
  std::uint32_t data_gen = 0;
  Scenario kind = Scenario::seed;
  St st = St::off;
  bool logged_in = false;
  bool data_connected = false;
  bool got_prelim = false;
  bool got_final = false;
  bool data_eof = false;
  bool upload = false;
  bool skip_line = false;  // dropping the rest of an over-long continuation line
  bool counted_idle = false;
  bool dtls_up = false;       // data TLS handshake done
  bool data_closing = false;  // upload sent: close_notify + FIN out, waiting for the server's EOF
  bool close_notify_sent = false;
  bool data_offer = false;     // the data handshake offered the control session
  bool seed_uploaded = false;  // seed: this connection's upload is done
  std::uint16_t rlen = 0;
  std::uint64_t seq = 0;
  std::uint64_t to_send = 0;
  std::uint64_t sent = 0;
  std::uint64_t xfer_size = 0;
  std::uint64_t t_start = 0;
  std::uint64_t deadline = 0;
  std::uint64_t wake_at = 0;
  ReplyAssembler replies;
  char rbuf[1024];
};

struct Upload {
  std::uint32_t client;
  std::uint32_t size;
  std::uint64_t seq;
};

class Engine {
 public:
  explicit Engine(const Options& o) : o_(o) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::runtime_error("epoll_create1 failed");
    if (o.tls) tls_ = make_tls_context(o);
    rng_ = o.rng_seed != 0 ? o.rng_seed : (now_ns() ^ (static_cast<std::uint64_t>(getpid()) << 32));
    if (rng_ == 0) rng_ = 0x9e3779b97f4a7c15ULL;
    run_id_ = fmt::format("{:06x}", next_rand() & 0xffffff);
    std::size_t psize = std::max<std::size_t>(o.max_size, 1 << 20);
    payload_.resize(psize);
    for (std::size_t i = 0; i + 8 <= psize; i += 8) {
      const std::uint64_t v = next_rand();
      std::memcpy(payload_.data() + i, &v, 8);
    }
    rx_.resize(kRxBuf);
    user_cmd_ = "USER " + o.user + "\r\n";
    pass_cmd_ = "PASS " + o.password + "\r\n";
    list_cmd_ = o.path.empty() ? std::string("LIST\r\n") : "LIST " + o.path + "\r\n";
    retr_cmd_ = "RETR " + o.path + "\r\n";
    pasv_cmd_ = o.pasv ? "PASV\r\n" : "EPSV\r\n";
    cl_.resize(o.clients);
    std::vector<Scenario> rotation;
    if (o.scenario == Scenario::mixed) {
      rotation = {Scenario::seed, Scenario::session, Scenario::login};
      if (!o.path.empty()) rotation.push_back(Scenario::list);
    } else {
      rotation = {o.scenario};
    }
    for (std::uint32_t i = 0; i < o.clients; ++i) {
      cl_[i].id = i;
      cl_[i].kind = rotation[i % rotation.size()];
    }
    if (!o.verify_dir.empty()) uploads_.reserve(1 << 16);
    sleepers_.reserve(o.clients);
    wake_scratch_.reserve(o.clients);
  }
  ~Engine() {
    for (auto& c : cl_) {
      close_fds(c);
      if (c.last != nullptr) SSL_SESSION_free(c.last);
      c.last = nullptr;
    }
    if (tls_ != nullptr) SSL_CTX_free(tls_);
    if (ep_ >= 0) ::close(ep_);
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Results run();

 private:
  std::uint64_t next_rand() noexcept {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
  }

  static std::uint64_t tag(std::uint32_t gen, std::uint32_t id, bool data) noexcept {
    return (static_cast<std::uint64_t>(gen) << 32) | (static_cast<std::uint64_t>(id) << 1) | (data ? 1U : 0U);
  }

  int open_socket(std::uint16_t port, std::uint64_t tagv) {
    const int fd = ::socket(o_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_storage sa = o_.addr;
    if (sa.ss_family == AF_INET)
      reinterpret_cast<sockaddr_in*>(&sa)->sin_port = htons(port);
    else
      reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), o_.addr_len) != 0 && errno != EINPROGRESS) {
      ::close(fd);
      return -1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = tagv;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  void close_fds(Client& c) noexcept {
    close_data(c);
    if (c.ssl != nullptr) SSL_free(c.ssl);
    c.ssl = nullptr;
    if (c.ctrl >= 0) ::close(c.ctrl);
    c.ctrl = -1;
  }

  void close_data(Client& c) noexcept {
    if (c.dssl != nullptr) SSL_free(c.dssl);
    c.dssl = nullptr;
    if (c.data >= 0) ::close(c.data);
    c.data = -1;
  }

  // --- lifecycle -------------------------------------------------------------------------
  void begin_connect(Client& c) {
    if (stopping_) {
      finish_client(c);
      return;
    }
    c.rlen = 0;
    c.skip_line = false;
    c.replies.reset();
    c.logged_in = false;
    c.seed_uploaded = false;
    c.ctrl_gen = ++c.gen;
    c.ctrl = open_socket(o_.port, tag(c.ctrl_gen, c.id, false));
    c.t_start = now_;
    c.deadline = now_ + timeout_;
    if (c.kind == Scenario::idle) ++idle_inflight_;
    if (c.ctrl < 0) {
      fail(c, Fail::connect, "socket/connect failed");
      return;
    }
    c.st = St::connecting;
  }

  void finish_client(Client& c) {
    close_fds(c);
    if (c.st != St::done) {
      c.st = St::done;
      ++done_;
    }
  }

  void fail(Client& c, Fail why, std::string_view detail = {}) {
    ++r_.failures[static_cast<std::size_t>(why)];
    if (r_.failure_samples.size() < kSamples)
      r_.failure_samples.push_back(fmt::format("client {} ({}): {}{}{}", c.id, scenario_name(c.kind),
                                               fail_name(why), detail.empty() ? "" : ": ", detail));
    close_fds(c);
    if (c.kind == Scenario::idle) {
      if (c.st == St::held) {
        --held_;
      } else if (idle_inflight_ > 0) {
        --idle_inflight_;
      }
    }
    c.logged_in = false;
    if (stopping_) {
      finish_client(c);
      return;
    }
    c.st = St::sleeping;
    c.wake_at = now_ + kRetryDelay;
    sleepers_.push_back(c.id);
  }

  bool send_cmd(Client& c, const char* p, std::size_t n) {
    if (c.ssl != nullptr) return send_cmd_tls(c, p, n);
    const ssize_t w = ::send(c.ctrl, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w != static_cast<ssize_t>(n)) {
      // Commands are tiny and the socket buffer is empty between commands: a short write
      // means the connection is gone.
      fail(c, Fail::ctrl_error, w < 0 ? std::strerror(errno) : "short write");
      return false;
    }
    c.deadline = now_ + timeout_;
    return true;
  }
  bool send_cmd(Client& c, const std::string& s) { return send_cmd(c, s.data(), s.size()); }

  bool send_cmd_tls(Client& c, const char* p, std::size_t n) {
    ERR_clear_error();
    const int w = SSL_write(c.ssl, p, static_cast<int>(n));
    if (w != static_cast<int>(n)) {
      // As in the clear: one small record into an empty socket buffer; anything less is an error.
      fail(c, Fail::tls_error, w <= 0 ? tls_error_text(c.ssl, w) : "short write");
      return false;
    }
    c.deadline = now_ + timeout_;
    return true;
  }

  // --- TLS on the control connection -------------------------------------------------------
  void start_ctrl_tls(Client& c) {
    c.ssl = SSL_new(tls_);
    if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.ctrl) != 1) {
      fail(c, Fail::tls_handshake, "SSL_new failed");
      return;
    }
    if (!o_.tls_sni.empty()) SSL_set_tlsext_host_name(c.ssl, o_.tls_sni.c_str());
    if (o_.tls_reconnect_resume && c.ctrl_tls_count > 0) {
      ++r_.tls.ctrl_resume_wanted;
      if (c.last != nullptr && SSL_SESSION_is_resumable(c.last) == 1) {
        SSL_set_session(c.ssl, c.last);
        ++r_.tls.ctrl_resume_offered;
      }
    }
    c.st = St::ctls;
    ctrl_handshake(c);
  }

  void ctrl_handshake(Client& c) {
    ERR_clear_error();
    const int rc = SSL_connect(c.ssl);
    if (rc != 1) {
      const int e = SSL_get_error(c.ssl, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      fail(c, Fail::tls_handshake, tls_error_text(c.ssl, rc));
      return;
    }
    ++c.ctrl_tls_count;
    ++r_.tls.ctrl_handshakes;
    if (SSL_session_reused(c.ssl) == 1) ++r_.tls.ctrl_resumed;
    if (r_.tls.version.empty()) {
      r_.tls.version = SSL_get_version(c.ssl);
      r_.tls.cipher = SSL_get_cipher_name(c.ssl);
    }
    c.deadline = now_ + timeout_;
    if (send_cmd(c, user_cmd_)) c.st = St::wuser;
  }

  // After 221: close_notify, and the session kept for the next connection to resume.
  void end_ctrl_tls(Client& c) {
    if (c.ssl == nullptr) return;
    if (o_.tls_reconnect_resume) {
      SSL_SESSION* s = SSL_get1_session(c.ssl);
      if (s != nullptr) {
        if (c.last != nullptr) SSL_SESSION_free(c.last);
        c.last = s;
      }
    }
    ERR_clear_error();
    SSL_shutdown(c.ssl);  // one try: the server closes after 221 anyway
    ERR_clear_error();
  }

  void quit(Client& c) {
    if (c.ctrl >= 0 && send_cmd(c, "QUIT\r\n", 6)) c.st = St::wquit;
  }

  void count(Client& c) {
    ++r_.all_transactions;
    if (!measuring_) return;
    ++r_.transactions;
    ++r_.per_scenario[static_cast<std::size_t>(c.kind)];
    r_.latency.record((now_ - c.t_start) / 1000);
  }

  void logged_in(Client& c) {
    c.logged_in = true;
    switch (c.kind) {
      case Scenario::login: quit(c); return;
      case Scenario::idle:
        c.st = St::held;
        ++held_;
        if (idle_inflight_ > 0) --idle_inflight_;
        if (!c.counted_idle) {
          c.counted_idle = true;
          ++r_.transactions;
          ++r_.all_transactions;
          r_.latency.record((now_ - c.t_start) / 1000);
        }
        start_more_idle();
        return;
      default:
        if (tls_ != nullptr) {
          if (send_cmd(c, "PBSZ 0\r\n", 8)) c.st = St::wpbsz;
        } else if (send_cmd(c, "TYPE I\r\n", 8)) {
          c.st = St::wtype;
        }
        return;
    }
  }

  void begin_xfer(Client& c) {
    if (stopping_) {
      quit(c);
      return;
    }
    if (c.kind != Scenario::seed) c.t_start = now_;
    ++c.seq;
    c.got_prelim = c.got_final = c.data_eof = c.data_connected = false;
    c.dtls_up = c.data_closing = c.close_notify_sent = c.data_offer = false;
    c.sent = 0;
    switch (c.kind) {
      case Scenario::seed:
      case Scenario::session: {
        c.upload = true;
        const std::uint32_t span = o_.max_size - o_.min_size + 1;
        c.xfer_size = o_.min_size + static_cast<std::uint32_t>(next_rand() % span);
        break;
      }
      case Scenario::stor:
        c.upload = true;
        c.xfer_size = o_.size;
        break;
      default:
        c.upload = false;
        c.xfer_size = 0;
        break;
    }
    c.to_send = c.upload ? c.xfer_size : 0;
    if (send_cmd(c, pasv_cmd_)) c.st = St::wpasv;
  }

  void send_transfer_command(Client& c) {
    if (c.kind == Scenario::list) {
      send_cmd(c, list_cmd_);
      return;
    }
    if (c.kind == Scenario::retr) {
      send_cmd(c, retr_cmd_);
      return;
    }
    char buf[96];
    const auto res = c.kind == Scenario::stor
                         ? fmt::format_to_n(buf, sizeof buf, "STOR fb{}_big_{}\r\n", run_id_, c.id)
                         : fmt::format_to_n(buf, sizeof buf, "STOR fb{}_{}_{}\r\n", run_id_, c.id, c.seq);
    send_cmd(c, buf, std::min(res.size, sizeof buf));
  }

  void finish_xfer(Client& c) {
    if (c.upload && !o_.verify_dir.empty()) {
      if (c.kind == Scenario::stor) {
        if (stor_last_.empty()) stor_last_.assign(cl_.size(), 0);
        stor_last_[c.id] = c.xfer_size;
      } else {
        uploads_.push_back({c.id, static_cast<std::uint32_t>(c.xfer_size), c.seq});
      }
    }
    if (c.kind == Scenario::seed) {
      c.seed_uploaded = true;
      quit(c);
      return;
    }
    count(c);
    begin_xfer(c);
  }

  // --- control connection ----------------------------------------------------------------
  void on_reply(Client& c, int code, std::string_view line) {
    switch (c.st) {
      case St::w220:
        if (code == 220) {
          if (tls_ != nullptr) {
            if (send_cmd(c, "AUTH TLS\r\n", 10)) c.st = St::wauth;
          } else if (send_cmd(c, user_cmd_)) {
            c.st = St::wuser;
          }
        } else if (code != 120) {
          fail(c, Fail::reply_greeting, line);
        }
        return;
      case St::wauth:
        if (code == 234)
          start_ctrl_tls(c);
        else
          fail(c, Fail::reply_auth, line);
        return;
      case St::wpbsz:
        if (code == 200) {
          if (send_cmd(c, "PROT P\r\n", 8)) c.st = St::wprot;
        } else {
          fail(c, Fail::reply_pbsz, line);
        }
        return;
      case St::wprot:
        if (code == 200) {
          if (send_cmd(c, "TYPE I\r\n", 8)) c.st = St::wtype;
        } else {
          fail(c, Fail::reply_prot, line);
        }
        return;
      case St::wuser:
        if (code == 331) {
          if (send_cmd(c, pass_cmd_)) c.st = St::wpass;
        } else if (code == 230) {
          logged_in(c);
        } else {
          fail(c, Fail::reply_user, line);
        }
        return;
      case St::wpass:
        if (code == 230)
          logged_in(c);
        else
          fail(c, Fail::reply_pass, line);
        return;
      case St::wtype:
        if (code == 200)
          begin_xfer(c);
        else
          fail(c, Fail::reply_type, line);
        return;
      case St::wpasv: {
        if (code != (o_.pasv ? 227 : 229)) {
          fail(c, Fail::reply_pasv, line);
          return;
        }
        const auto port = o_.pasv ? parse_pasv(line) : parse_epsv(line);
        if (!port) {
          fail(c, Fail::reply_malformed, line);
          return;
        }
        c.data_gen = ++c.gen;
        c.data = open_socket(*port, tag(c.data_gen, c.id, true));
        if (c.data < 0) {
          fail(c, Fail::data_connect, "socket/connect failed");
          return;
        }
        c.st = St::wprelim;
        send_transfer_command(c);
        return;
      }
      case St::wprelim:
        if (code == 150 || code == 125) {
          c.got_prelim = true;
          c.st = St::wfinal;
          if (tls_ != nullptr) {
            if (c.data_connected && c.data >= 0) data_tls(c);
          } else if (c.upload && c.data_connected) {
            pump(c);
          }
        } else {
          fail(c, Fail::reply_transfer_start, line);
        }
        return;
      case St::wfinal:
        if (code == 226 || code == 250) {
          if (c.upload && c.data_closing) {
            // TLS: the upload and its close_notify are out; the server's end of the data
            // connection may still be on its way.
            c.got_final = true;
            if (c.data_eof) finish_xfer(c);
          } else if (c.upload) {
            if (c.to_send != 0 || c.data >= 0) {
              fail(c, Fail::reply_transfer_end, "final reply before the upload was sent");
              return;
            }
            finish_xfer(c);
          } else {
            c.got_final = true;
            if (c.data_eof) finish_xfer(c);
          }
        } else {
          fail(c, Fail::reply_transfer_end, line);
        }
        return;
      case St::wquit:
        if (code == 221) {
          end_ctrl_tls(c);
          close_fds(c);
          c.logged_in = false;
          // A seed transaction is one upload: a client that the end of the run sent from login
          // straight to QUIT did none.
          if ((c.kind == Scenario::seed && c.seed_uploaded) || c.kind == Scenario::login) count(c);
          if (stopping_ || c.kind == Scenario::idle)
            finish_client(c);
          else
            begin_connect(c);
        } else {
          fail(c, Fail::reply_quit, line);
        }
        return;
      case St::held:
        fail(c, Fail::ctrl_closed, line);  // e.g. 421 idle timeout
        return;
      default: fail(c, Fail::reply_malformed, line); return;
    }
  }

  // --proxy-header: what a load balancer sends first (HAProxy send-proxy / send-proxy-v2), with
  // this connection's own addresses; a fresh socket takes these few bytes at once.
  bool send_proxy_header(Client& c) {
    sockaddr_in self{};
    sockaddr_in peer{};
    socklen_t len = sizeof self;
    if (::getsockname(c.ctrl, reinterpret_cast<sockaddr*>(&self), &len) != 0 || self.sin_family != AF_INET)
      return false;
    len = sizeof peer;
    if (::getpeername(c.ctrl, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
    char buf[112];
    std::size_t n = 0;
    if (o_.proxy_header == 1) {
      char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, &self.sin_addr, a, sizeof a);
      ::inet_ntop(AF_INET, &peer.sin_addr, b, sizeof b);
      n = static_cast<std::size_t>(std::snprintf(buf, sizeof buf, "PROXY TCP4 %s %s %u %u\r\n", a, b,
                                                 ntohs(self.sin_port), ntohs(peer.sin_port)));
    } else {
      std::memcpy(buf, "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 16);
      std::memcpy(buf + 16, &self.sin_addr, 4);
      std::memcpy(buf + 20, &peer.sin_addr, 4);
      std::memcpy(buf + 24, &self.sin_port, 2);
      std::memcpy(buf + 26, &peer.sin_port, 2);
      n = 28;
    }
    return ::write(c.ctrl, buf, n) == static_cast<ssize_t>(n);
  }

  void on_ctrl(Client& c, std::uint32_t events) {
    if (c.st == St::connecting) {
      if (events & EPOLLERR) {
        fail(c, Fail::connect, "refused");
        return;
      }
      c.st = St::w220;
      c.deadline = now_ + timeout_;
      if (o_.proxy_header != 0 && !send_proxy_header(c)) {
        fail(c, Fail::connect, "PROXY header not sent");
        return;
      }
    }
    if (c.ssl != nullptr) {
      on_ctrl_tls(c);
      return;
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    const bool drain = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    const std::uint32_t gen = c.ctrl_gen;
    for (;;) {
      const std::size_t space = sizeof c.rbuf - c.rlen;
      const ssize_t n = ::read(c.ctrl, c.rbuf + c.rlen, space);
      if (n > 0) {
        c.rlen = static_cast<std::uint16_t>(c.rlen + n);
        if (!process_lines(c, gen)) return;  // client moved on (new connection or failed)
        if (c.ssl != nullptr) return;        // 234: from here on OpenSSL reads this socket
        if (static_cast<std::size_t>(n) < space && !drain) return;
        continue;
      }
      if (n == 0) {
        if (c.st == St::wquit) {  // closed right after QUIT without 221: still a failure
          fail(c, Fail::reply_quit, "closed without 221");
        } else {
          fail(c, Fail::ctrl_closed, "connection closed by server");
        }
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      fail(c, Fail::ctrl_error, std::strerror(errno));
      return;
    }
  }

  void on_ctrl_tls(Client& c) {
    if (c.st == St::ctls) {
      ctrl_handshake(c);
      if (c.ssl == nullptr || c.st == St::ctls) return;
    }
    const std::uint32_t gen = c.ctrl_gen;
    for (;;) {
      const std::size_t space = sizeof c.rbuf - c.rlen;
      ERR_clear_error();
      const int n = SSL_read(c.ssl, c.rbuf + c.rlen, static_cast<int>(space));
      if (n > 0) {
        c.rlen = static_cast<std::uint16_t>(c.rlen + n);
        if (!process_lines(c, gen)) return;
        continue;  // until WANT_READ: records may wait in the socket and in OpenSSL
      }
      const int e = SSL_get_error(c.ssl, n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) ||
          ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        if (c.st == St::wquit)
          fail(c, Fail::reply_quit, "closed without 221");
        else
          fail(c, Fail::ctrl_closed, "connection closed by server");
        return;
      }
      fail(c, Fail::tls_error, tls_error_text(c.ssl, n));
      return;
    }
  }

  // Handles every complete line in the buffer; false when the client left this connection.
  bool process_lines(Client& c, std::uint32_t gen) {
    std::size_t start = 0;
    for (;;) {
      const void* nlp = std::memchr(c.rbuf + start, '\n', c.rlen - start);
      if (nlp == nullptr) break;
      const auto nl = static_cast<std::size_t>(static_cast<const char*>(nlp) - c.rbuf);
      std::size_t end = nl;
      if (end > start && c.rbuf[end - 1] == '\r') --end;
      const std::string_view line(c.rbuf + start, end - start);
      start = nl + 1;
      if (c.skip_line) {
        c.skip_line = false;
        continue;
      }
      const int code = c.replies.feed(line);
      if (code < 0) {
        fail(c, Fail::reply_malformed, line);
        return false;
      }
      if (code > 0) {
        on_reply(c, code, line);
        if (c.ctrl_gen != gen || c.ctrl < 0) return false;
      }
    }
    if (start > 0) {
      std::memmove(c.rbuf, c.rbuf + start, c.rlen - start);
      c.rlen = static_cast<std::uint16_t>(c.rlen - start);
    } else if (c.rlen == sizeof c.rbuf) {
      // A line longer than the buffer: only acceptable inside a multi-line reply.
      if (c.replies.feed(std::string_view(c.rbuf, 4)) != 0) {
        fail(c, Fail::reply_malformed, "reply line too long");
        return false;
      }
      c.rlen = 0;
      c.skip_line = true;
    }
    return true;
  }

  // --- data connection -------------------------------------------------------------------
  void pump(Client& c) {
    while (c.to_send > 0) {
      const std::size_t off = static_cast<std::size_t>(c.sent % payload_.size());
      const std::size_t chunk =
          static_cast<std::size_t>(std::min<std::uint64_t>(c.to_send, payload_.size() - off));
      const ssize_t n = ::send(c.data, payload_.data() + off, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        fail(c, Fail::data_error, std::strerror(errno));
        return;
      }
      c.to_send -= static_cast<std::uint64_t>(n);
      c.sent += static_cast<std::uint64_t>(n);
      c.deadline = now_ + timeout_;
      r_.all_bytes += static_cast<std::uint64_t>(n);
      if (measuring_) r_.bytes += static_cast<std::uint64_t>(n);
    }
    close_data(c);  // end of file for the server
    c.deadline = now_ + timeout_;
  }

  void on_data(Client& c, std::uint32_t events) {
    if (!c.data_connected) {
      if (events & EPOLLERR) {
        fail(c, Fail::data_connect, "refused");
        return;
      }
      c.data_connected = true;
    }
    if (tls_ != nullptr) {
      if ((events & EPOLLERR) && !c.data_closing) {
        fail(c, Fail::data_error, "error on data connection");
        return;
      }
      data_tls(c);
      return;
    }
    if (c.upload) {
      if (events & EPOLLERR) {
        fail(c, Fail::data_error, "error on data connection");
        return;
      }
      if (c.got_prelim && c.to_send > 0) pump(c);
      return;
    }
    const bool drain = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    for (;;) {
      const ssize_t n = ::read(c.data, rx_.data(), rx_.size());
      if (n > 0) {
        r_.all_bytes += static_cast<std::uint64_t>(n);
        if (measuring_) r_.bytes += static_cast<std::uint64_t>(n);
        c.deadline = now_ + timeout_;
        if (static_cast<std::size_t>(n) < rx_.size() && !drain) return;
        continue;
      }
      if (n == 0) {
        close_data(c);
        c.data_eof = true;
        if (c.got_final) finish_xfer(c);
        return;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      fail(c, Fail::data_error, std::strerror(errno));
      return;
    }
  }

  // --- TLS data connection ----------------------------------------------------------------
  // The handshake starts once the connection is up (the ClientHello waits in the server's
  // socket until it accepts TLS, whether before or after its 150); the payload goes after 150.
  void data_tls(Client& c) {
    if (c.dssl == nullptr) {
      c.dssl = SSL_new(tls_);
      if (c.dssl == nullptr || SSL_set_fd(c.dssl, c.data) != 1) {
        fail(c, Fail::tls_data_handshake, "SSL_new failed");
        return;
      }
      if (!o_.tls_sni.empty()) SSL_set_tlsext_host_name(c.dssl, o_.tls_sni.c_str());
      if (o_.tls_data_reuse) {
        SSL_SESSION* s = SSL_get_session(c.ssl);  // the latest session of the control connection
        if (s != nullptr && SSL_SESSION_is_resumable(s) == 1) {
          SSL_set_session(c.dssl, s);
          c.data_offer = true;
        }
      }
    }
    if (!c.dtls_up) {
      ERR_clear_error();
      const int rc = SSL_connect(c.dssl);
      if (rc != 1) {
        const int e = SSL_get_error(c.dssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        fail(c, Fail::tls_data_handshake, tls_error_text(c.dssl, rc));
        return;
      }
      c.dtls_up = true;
      ++r_.tls.data_handshakes;
      if (c.data_offer) ++r_.tls.data_resume_offered;
      if (SSL_session_reused(c.dssl) == 1) ++r_.tls.data_resumed;
      c.deadline = now_ + timeout_;
    }
    if (!c.got_prelim) return;
    if (c.upload) {
      if (!c.data_closing && !pump_tls(c)) return;
      close_upload_tls(c);
      return;
    }
    for (;;) {
      ERR_clear_error();
      const int n = SSL_read(c.dssl, rx_.data(), static_cast<int>(rx_.size()));
      if (n > 0) {
        r_.all_bytes += static_cast<std::uint64_t>(n);
        if (measuring_) r_.bytes += static_cast<std::uint64_t>(n);
        c.deadline = now_ + timeout_;
        continue;
      }
      const int e = SSL_get_error(c.dssl, n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        SSL_shutdown(c.dssl);  // answer the server's close_notify
      } else if ((e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) ||
                 ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ++r_.tls.data_eof_without_close_notify;
      } else {
        fail(c, Fail::tls_error, tls_error_text(c.dssl, n));
        return;
      }
      ERR_clear_error();
      close_data(c);
      c.data_eof = true;
      if (c.got_final) finish_xfer(c);
      return;
    }
  }

  // false: wait for the socket (or the client failed)
  bool pump_tls(Client& c) {
    while (c.to_send > 0) {
      const std::size_t off = static_cast<std::size_t>(c.sent % payload_.size());
      const std::size_t chunk =
          static_cast<std::size_t>(std::min<std::uint64_t>(c.to_send, payload_.size() - off));
      ERR_clear_error();
      const int n = SSL_write(c.dssl, payload_.data() + off, static_cast<int>(chunk));
      if (n <= 0) {
        const int e = SSL_get_error(c.dssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return false;
        fail(c, Fail::data_error, tls_error_text(c.dssl, n));
        return false;
      }
      c.to_send -= static_cast<std::uint64_t>(n);
      c.sent += static_cast<std::uint64_t>(n);
      c.deadline = now_ + timeout_;
      r_.all_bytes += static_cast<std::uint64_t>(n);
      if (measuring_) r_.bytes += static_cast<std::uint64_t>(n);
    }
    return true;
  }

  // End of an upload: close_notify, FIN, then wait for the server to close its side (a close
  // with unread bytes would reset the connection under the server's own close_notify).
  void close_upload_tls(Client& c) {
    c.data_closing = true;
    if (!c.close_notify_sent) {
      ERR_clear_error();
      const int rc = SSL_shutdown(c.dssl);
      if (rc < 0) {
        const int e = SSL_get_error(c.dssl, rc);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return;
        fail(c, Fail::data_error, tls_error_text(c.dssl, rc));
        return;
      }
      c.close_notify_sent = true;
      ::shutdown(c.data, SHUT_WR);
      c.deadline = now_ + timeout_;
    }
    for (;;) {
      const ssize_t n = ::read(c.data, rx_.data(), rx_.size());
      if (n > 0) continue;  // the server's close_notify
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      break;  // EOF, or a reset after the server has read everything
    }
    close_data(c);
    c.data_eof = true;
    if (c.got_final) finish_xfer(c);
  }

  // --- idle ------------------------------------------------------------------------------
  void start_more_idle() {
    while (next_idle_ < cl_.size() && idle_inflight_ < o_.connect_batch && !stopping_)
      begin_connect(cl_[next_idle_++]);
  }

  // --- periodic --------------------------------------------------------------------------
  void wake_sleepers() {
    wake_scratch_.swap(sleepers_);
    sleepers_.clear();
    for (const std::uint32_t id : wake_scratch_) {
      Client& c = cl_[id];
      if (c.st != St::sleeping) continue;
      if (stopping_)
        finish_client(c);
      else if (c.wake_at <= now_)
        begin_connect(c);  // a failure pushes it back onto sleepers_
      else
        sleepers_.push_back(id);
    }
    wake_scratch_.clear();
  }

  void check_timeouts() {
    for (auto& c : cl_) {
      switch (c.st) {
        case St::off:
        case St::sleeping:
        case St::held:
        case St::done: break;
        default:
          if (now_ > c.deadline) fail(c, Fail::timeout, "no progress");
      }
    }
  }

  void begin_stop() {
    stopping_ = true;
    measuring_ = false;
    grace_end_ = now_ + to_ns(o_.grace);
    for (auto& c : cl_) {
      if (c.st == St::sleeping || c.st == St::off)
        finish_client(c);
      else if (c.st == St::held)
        quit(c);
    }
  }

  void progress_line(bool final_line) {
    const double el = measure_start_ ? static_cast<double>(now_ - measure_start_) / 1e9 : 0.0;
    const double rate = el > 0 ? static_cast<double>(r_.transactions) / el : 0.0;
    const double mib = el > 0 ? static_cast<double>(r_.bytes) / el / 1048576.0 : 0.0;
    std::fputs(fmt::format("\r{} {:>6.1f}s  tx {:>9}  {:>9.0f}/s  {:>8.1f} MiB/s  fail {:<6}{}",
                           measuring_ ? "run " : (stopping_ ? "stop" : "warm"), el, r_.transactions, rate,
                           mib, r_.failures_total(), final_line ? "\n" : "")
                   .c_str(),
               stderr);
    std::fflush(stderr);
  }

  void verify();

  const Options& o_;
  int ep_ = -1;
  SSL_CTX* tls_ = nullptr;
  std::uint64_t rng_ = 0;
  std::string run_id_;
  std::vector<char> payload_;
  std::vector<char> rx_;
  std::vector<Client> cl_;
  std::vector<std::uint32_t> sleepers_;
  std::vector<std::uint32_t> wake_scratch_;
  std::vector<Upload> uploads_;
  std::vector<std::uint64_t> stor_last_;
  std::string user_cmd_, pass_cmd_, list_cmd_, retr_cmd_, pasv_cmd_;
  Results r_;
  std::uint64_t now_ = 0;
  std::uint64_t timeout_ = 0;
  std::uint64_t measure_start_ = 0;
  std::uint64_t grace_end_ = 0;
  bool measuring_ = false;
  bool stopping_ = false;
  std::size_t done_ = 0;
  std::size_t next_idle_ = 0;
  unsigned idle_inflight_ = 0;
  unsigned held_ = 0;
};

void Engine::verify() {
  auto check = [&](const std::string& name, std::uint64_t size) {
    ++r_.uploads_checked;
    struct stat st {};
    const std::string full = o_.verify_dir + "/" + name;
    if (::stat(full.c_str(), &st) != 0) {
      ++r_.failures[static_cast<std::size_t>(Fail::verify_missing)];
      if (r_.failure_samples.size() < kSamples) r_.failure_samples.push_back("missing: " + full);
    } else if (static_cast<std::uint64_t>(st.st_size) != size) {
      ++r_.failures[static_cast<std::size_t>(Fail::verify_size)];
      if (r_.failure_samples.size() < kSamples)
        r_.failure_samples.push_back(fmt::format("size of {}: {} on disk, {} sent", full, st.st_size, size));
    }
  };
  for (const auto& u : uploads_) check(fmt::format("fb{}_{}_{}", run_id_, u.client, u.seq), u.size);
  for (std::size_t i = 0; i < stor_last_.size(); ++i)
    if (stor_last_[i] != 0) check(fmt::format("fb{}_big_{}", run_id_, i), stor_last_[i]);
}

Results Engine::run() {
  timeout_ = to_ns(o_.timeout);
  now_ = now_ns();
  const std::uint64_t t0 = now_;
  const bool idle = o_.scenario == Scenario::idle;
  std::uint64_t t_measure = t0 + to_ns(o_.warmup);
  std::uint64_t t_end = idle ? UINT64_MAX : t_measure + to_ns(o_.duration);
  std::uint64_t idle_settle = 0;
  const std::uint64_t idle_give_up = t0 + to_ns(std::max(60.0, o_.clients / 10.0));
  std::vector<int> idle_pids;

  if (idle) {
    idle_pids = collect_pids(o_.pids, o_.pid_of);
    r_.idle.processes_before = idle_pids.size();
    r_.idle.pss_before_kib = pss_kib(idle_pids);
    measuring_ = true;
    measure_start_ = t0;
    start_more_idle();
  } else {
    for (auto& c : cl_) begin_connect(c);
  }

  std::vector<epoll_event> evs(1024);
  std::uint64_t next_tick = now_;
  std::uint64_t next_timeout_scan = now_;
  std::uint64_t next_progress = now_ + kSec;
  for (;;) {
    const int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 20);
    if (n < 0 && errno != EINTR) throw std::runtime_error("epoll_wait failed");
    for (int i = 0; i < n; ++i) {
      const std::uint64_t t = evs[static_cast<std::size_t>(i)].data.u64;
      const auto id = static_cast<std::uint32_t>((t & 0xffffffffU) >> 1);
      const auto gen = static_cast<std::uint32_t>(t >> 32);
      Client& c = cl_[id];
      now_ = now_ns();
      if (t & 1U) {
        if (c.data >= 0 && gen == c.data_gen) on_data(c, evs[static_cast<std::size_t>(i)].events);
      } else if (c.ctrl >= 0 && gen == c.ctrl_gen) {
        on_ctrl(c, evs[static_cast<std::size_t>(i)].events);
      }
    }
    now_ = now_ns();
    if (now_ < next_tick) continue;
    next_tick = now_ + 10 * kMs;

    if (!idle && !measuring_ && !stopping_ && now_ >= t_measure) {
      measuring_ = true;
      measure_start_ = now_;
    }
    if (idle && !stopping_ && !r_.idle.measured) {
      if (held_ == cl_.size() && idle_settle == 0) idle_settle = now_ + kSec;
      // Give up early when the server keeps refusing: every client failed several times.
      const bool refusing = r_.failures_total() > 3ULL * cl_.size() + 100;
      if ((idle_settle != 0 && now_ >= idle_settle) || now_ >= idle_give_up || refusing) {
        idle_pids = collect_pids(o_.pids, o_.pid_of);
        r_.idle.measured = true;
        r_.idle.sessions = held_;
        r_.idle.processes_after = idle_pids.size();
        r_.idle.pss_after_kib = pss_kib(idle_pids);
        t_end = now_ + to_ns(o_.duration);
      }
    }
    if (!stopping_ && now_ >= t_end) {
      r_.elapsed = static_cast<double>(now_ - measure_start_) / 1e9;
      if (o_.progress) progress_line(true);
      begin_stop();
    }
    if (!sleepers_.empty()) wake_sleepers();
    if (now_ >= next_timeout_scan) {
      next_timeout_scan = now_ + 200 * kMs;
      check_timeouts();
    }
    if (o_.progress && !stopping_ && now_ >= next_progress) {
      next_progress = now_ + kSec;
      progress_line(false);
    }
    if (stopping_ && (done_ == cl_.size() || now_ >= grace_end_)) break;
  }
  for (auto& c : cl_) close_fds(c);
  if (!o_.verify_dir.empty()) verify();
  if (o_.tls_reconnect_resume && r_.tls.ctrl_resume_wanted > 0 && r_.tls.ctrl_resumed == 0) {
    // Asked for resumed reconnects and got none: every figure of this run is a full handshake's.
    r_.failures[static_cast<std::size_t>(Fail::tls_not_resumed)] += r_.tls.ctrl_resume_wanted;
    r_.failure_samples.push_back(fmt::format(
        "--tls-reconnect resume: {} reconnects asked to resume ({} had a resumable session to offer), "
        "the server resumed none",
        r_.tls.ctrl_resume_wanted, r_.tls.ctrl_resume_offered));
  }
  r_.wall = static_cast<double>(now_ns() - t0) / 1e9;
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  r_.cpu_user = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
  r_.cpu_sys = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
  return std::move(r_);
}

}  // namespace

Results run(const Options& opt) {
  Engine e(opt);
  return e.run();
}

}  // namespace feitp_bench
