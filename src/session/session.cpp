// The control connection: greeting, the command loop, replies, timeouts.
#include "session/session.hpp"

#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "net/endpoint.hpp"
#include "proto/listing.hpp"
#include "proto/reply.hpp"
#include "session/offload.hpp"

namespace feitp::session {

namespace code = proto::code;

using asio::use_awaitable;
using proto::Verb;

Session::Session(ServerCore& core, asio::ip::tcp::socket socket, std::uint64_t id,
                 const asio::ip::tcp::endpoint& peer, const asio::ip::tcp::endpoint& local,
                 std::string peer_text, std::string local_text, bool implicit_tls, Admission::Ticket admitted)
    : core_(core),
      control_(std::move(socket)),
      id_(id),
      lines_(core.opts.max_line),
      admitted_(std::move(admitted)),
      mlst_facts_(proto::kDefaultFacts),
      pasv_(core.io),
      xfer_done_(core.io) {
  peer_addr_ = net::unmapped(peer.address());
  local_addr_ = local.address();
  peer_ip_ = std::move(peer_text);
  local_ip_ = std::move(local_text);
  peer_port_ = peer.port();
  // TCP_NODELAY and SO_OOBINLINE come from the listening socket (see Server::run).
  implicit_tls_ = implicit_tls;
  core_.sessions.insert(this);
  core_.stats.sessions_active.fetch_add(1, std::memory_order_relaxed);
  core_.stats.sessions_total.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
  // run() gave the listener back; here only what an exception or the loop's end left.
  std::error_code ec;
  pasv_.close(ec);
  // Whatever way the session ended (even by an exception in user code), its counts go: the
  // tickets admitted_ and login_ticket_ give them back as members.
  core_.sessions.erase(this);
  core_.stats.sessions_active.fetch_sub(1, std::memory_order_relaxed);
  if (core_.stopping && core_.sessions.empty()) core_.io.stop();
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  login_deadline_ = after(core_.opts.login_timeout);
  touch();

  if (!core_.hooks.empty()) {
    co_await notify_hooks([&](Hooks& h) { h.on_connect(*this); });
  }
  // Implicit FTPS: the handshake comes first, the greeting goes out encrypted.
  if (implicit_tls_ && !co_await start_control_tls()) closing_ = true;
  if (!closing_) {
    reply(code::ready, core_.opts.banner);
    co_await flush();
  }

  auto& buf = core_.control_read_buffer;
  bool peer_gone = false;  // the client closed or reset: nothing left to linger for
  while (!closing_) {
    std::error_code ec;
    std::size_t n = 0;
    const char* data = buf.data();
    if (control_.plain()) {
      // Plain: read on the socket itself (no extra coroutine frame per command). A read into
      // cmd_buf_ rather than a wait for readability: asio 1.22 re-arms the descriptor with an
      // epoll_ctl() for every wait, while a read costs one recv() tried at once (which finds
      // the next command when the client already sent it) and is then queued without a call.
      // A command that fills cmd_buf_ has its rest read at once into the shared buffer.
      auto& sock = control_.socket();
      n = co_await sock.async_read_some(asio::buffer(cmd_buf_), asio::redirect_error(use_awaitable, ec));
      if (ec || closing_) break;
      data = cmd_buf_.data();
      if (n == cmd_buf_.size()) {
        std::memcpy(buf.data(), cmd_buf_.data(), n);
        data = buf.data();
        std::error_code more_ec;  // the next read reports an end or an error
        n += sock.read_some(asio::buffer(buf.data() + n, buf.size() - n), more_ec);
      }
    } else {
      n = co_await control_.read(buf.data(), buf.size(), ec);
    }
    if (closing_) break;
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec || n == 0) {
      peer_gone = !ec || ec == asio::error::eof || ec == asio::error::connection_reset;
      break;
    }

    // Feed the bytes; they are copied to pending_ (off the shared buffer) only when a command must
    // suspend while unread input remains (pipelined commands).
    std::string_view input(data, n);
    bool from_pending = false;
    if (!pending_.empty()) {
      pending_.append(input);
      input = pending_;
      from_pending = true;
    }
    std::size_t pos = 0;
    while (pos < input.size() && !closing_) {
      auto r = lines_.feed(input.substr(pos));
      pos += r.consumed;
      if (r.status == proto::LineAssembler::Status::need_more) break;
      if (!from_pending && pos < input.size()) {
        pending_.assign(input.substr(pos));
        input = pending_;
        pos = 0;
        from_pending = true;
      }
      if (r.status == proto::LineAssembler::Status::too_long) {
        reply(code::unknown_command, "Command line too long.");
      } else {
        co_await handle_line(lines_.line());
      }
      if (!out_.empty() && !writing_) co_await flush();
      if (clear_tls_ && out_.empty()) {
        clear_tls_ = false;
        control_.clear_tls();
        core_.log->info("session {}: CCC: control connection in clear text", id_);
      }
      if (start_tls_) {
        // RFC 4217: what the client sent after AUTH TLS in clear is not a command (it could be
        // injected by a man in the middle): dropped, the handshake follows.
        start_tls_ = false;
        pending_.clear();
        lines_ = proto::LineAssembler(core_.opts.max_line);
        if (!co_await start_control_tls()) closing_ = true;
        break;
      }
    }
    pending_.clear();
    if (pending_.capacity() > 1024) pending_.shrink_to_fit();
    if (lines_.pending() == 0) lines_.shrink();
  }

  // Teardown: end the transfer, tell the hooks, release what the session held.
  closing_ = true;
  if (xfer_) {
    abort_transfer();
    co_await wait_transfer_done();
  }
  co_await logout();
  if (!core_.hooks.empty()) {
    co_await notify_hooks([&](Hooks& h) { h.on_disconnect(*this); });
  }
  if (auto* t = control_.tls_stream(); t != nullptr && (control_.tls() || control_.cleared())) {
    core_.log->info("session {}: TLS {} {}{}{}, data connections under TLS: {} ({} resumed)", id_,
                    t->version(), t->cipher(), t->resumed() ? " (resumed)" : "",
                    control_.cleared() ? " (control cleared by CCC)" : "", data_tls_, data_resumed_);
  }
  admitted_.reset();
  // The server may end first (a 421, a timeout) while the client is still sending: let the
  // last replies reach it before the descriptor goes (see ControlChannel::linger). The passive
  // listener goes back to the pool before that wait, not after it (close_control() then finds
  // nothing left to close).
  close_data_channel();
  if (!peer_gone) co_await control_.linger(std::chrono::seconds(2), std::size_t{256} * 1024);
  close_control();
}

void Session::close_control() {
  closing_ = true;
  idle_deadline_ = Clock::time_point::max();
  control_.close();
  close_data_channel();
}

void Session::drain(bool after_transfer) {
  if (lent_ != 0) {
    // Its work is on a pool thread: close when it returns (the stronger request wins).
    drain_pending_ = drain_pending_.value_or(true) && after_transfer;
    return;
  }
  if (after_transfer && xfer_) {
    quit_after_transfer_ = true;
    return;
  }
  if (xfer_) abort_transfer();
  hang_up("Server shutting down, closing control connection.");
}

void Session::kick() {
  if (lent_ != 0) {
    drain_pending_ = false;  // closed when its work returns from the pool
    return;
  }
  if (xfer_) abort_transfer();
  hang_up("Closed by the server administrator.");
}

bool Session::publish(Monitor& m) const {
  SessionView v;
  v.id = id_;
  v.user = user_name();
  v.peer_address = peer_ip_;
  v.peer_port = peer_port_;
  v.tls = tls();
  v.command = proto::verb_name(last_verb_);
  v.connected = connected_;
  if (xfer_) {
    const Transfer& t = *xfer_;
    v.transferring = true;
    v.upload = t.kind == Transfer::Kind::stor;
    v.listing = t.kind == Transfer::Kind::listing;
    v.path = t.path;
    v.bytes = t.bytes;
    v.size = t.size;
    v.transfer_started = t.started;
  }
  return m.session(v);
}

void Session::hang_up(std::string_view text) {
  reply(code::unavailable, text);
  // Best effort, without waiting: the socket is non-blocking. The read loop then sees the
  // cancelled wait and tears the session down.
  std::error_code ec;
  if (core_.opts.protocol_log) log_replies();
  if (!writing_ && control_.is_open()) {
    std::string_view rest(out_);
    while (!rest.empty()) {
      const std::size_t n = control_.write_now(rest, ec);
      if (ec || n == 0) break;
      rest.remove_prefix(n);
    }
  }
  out_.clear();
  logged_ = 0;
  control_.hang_up();
  closing_ = true;
}

// --- timeouts -------------------------------------------------------------------------------

void Session::returned() {
  if (drain_pending_) {
    const bool after_transfer = *drain_pending_;
    drain_pending_.reset();
    drain(after_transfer);
    return;
  }
  // A deadline that fell due while the server worked for the client is not the client's
  // idleness: the idle clock restarts (the login timeout still holds, see touch()). Transfer
  // deadlines are left to the sweep.
  if (phase_ == Phase::command && !xfer_ && idle_deadline_ <= Clock::now() && !closing_) touch();
}

void Session::touch() {
  auto t = after(core_.opts.idle_timeout);
  if (!user_) t = std::min(t, login_deadline_);
  idle_deadline_ = t;
}

void Session::check_deadline(Clock::time_point now) {
  if (closing_) return;
  if (lent_ != 0) return;  // its work is on a pool thread; returned() catches up
  if (xfer_) {
    // A session with a transfer in flight is busy, not idle: only the data clocks run.
    check_data_deadline(now);
  } else if (now >= idle_deadline_) {
    expire_control();
    return;
  }
  if (!xfer_ && now >= pasv_offered_until_) {
    // Offered by PASV/EPSV and never used: give the port back. A later transfer command gets
    // 425 (no data connection set up) and the client sends PASV/EPSV again.
    core_.log->debug("session {}: passive port {} unused for the accept timeout, given back", id_,
                     pasv_port_);
    give_back_passive();
    data_mode_ = DataMode::none;
  }
}

void Session::check_data_deadline(Clock::time_point now) {
  auto& t = *xfer_;
  if (phase_ == Phase::accepting) {
    if (now >= accept_deadline_) expire_data();
    return;
  }
  if (phase_ != Phase::transferring) return;
  // Sampled here rather than stamped on every write: the hot path only counts bytes, and a
  // download's progress is what the client took, which a blocked writer cannot see.
  const std::uint64_t mark = data_progress(t);
  if (mark != t.progress_mark) {
    t.progress_mark = mark;
    t.progress_at = now;
    return;
  }
  const auto stall = core_.opts.data_stall_timeout;
  if (stall.count() > 0 && now - t.progress_at >= stall) expire_data();
}

void Session::expire_control() {
  idle_deadline_ = Clock::time_point::max();
  const bool login = !user_ && login_deadline_ <= Clock::now();
  core_.log->debug("session {}: {} timeout", id_, login ? "login" : "idle");
  hang_up(login ? "Login timeout: closing control connection." : "Idle timeout: closing control connection.");
}

void Session::expire_data() {
  // Waiting for the data connection, or no byte moved for too long: end the transfer (it
  // replies 425 or 426, releases the passive port, and the session goes on).
  accept_deadline_ = Clock::time_point::max();
  core_.log->debug("session {}: data {} timeout", id_, phase_ == Phase::accepting ? "accept" : "stall");
  xfer_->timed_out = true;
  close_data_channel();
}

bool Session::count_refused_before_login() {
  const auto limit = core_.opts.max_unknown_before_login;
  if (user_ || limit == 0 || ++refused_before_login_ <= limit) return true;
  reply(code::unavailable, "Too many unknown or refused commands before login, closing control connection.");
  closing_ = true;
  return false;
}

// --- replies --------------------------------------------------------------------------------

void Session::reply(int code, std::string_view text) { proto::append_reply(out_, code, text); }

asio::awaitable<void> Session::flush() {
  if (writing_) co_return;  // the coroutine already writing will send what was added
  writing_ = true;
  while (!out_.empty() && control_.is_open()) {
    if (core_.opts.protocol_log) log_replies();
    // Try at once; most replies fit in the socket buffer and need no wait.
    std::error_code ec;
    std::size_t n = control_.write_now(out_, ec);
    if (!ec) {
      out_.erase(0, n);
      logged_ -= std::min(logged_, n);
      continue;
    }
    if (ec != asio::error::would_block && ec != asio::error::try_again) {
      out_.clear();
      logged_ = 0;
      closing_ = true;
      break;
    }
    wbuf_.swap(out_);
    out_.clear();
    logged_ = 0;
    co_await control_.write_all(wbuf_, ec);
    wbuf_.clear();
    if (ec) {
      out_.clear();
      logged_ = 0;
      closing_ = true;
      break;
    }
  }
  writing_ = false;
}

void Session::log_command(const proto::Command& cmd, std::string_view line) {
  // The password never reaches a log; the rest as the client sent it (the log escapes controls).
  if (cmd.verb == Verb::PASS) {
    core_.log->info("session {}: > PASS ****", id_);
  } else {
    core_.log->info("session {}: > {}", id_, line);
  }
}

void Session::log_replies() {
  std::string_view fresh = std::string_view(out_).substr(std::min(logged_, out_.size()));
  logged_ = out_.size();
  while (!fresh.empty()) {
    const std::size_t end = fresh.find("\r\n");
    const std::string_view line = fresh.substr(0, end);
    core_.log->info("session {}: < {}", id_, line);
    if (end == std::string_view::npos) break;
    fresh.remove_prefix(end + 2);
  }
}

// --- commands -------------------------------------------------------------------------------

asio::awaitable<bool> Session::run_before_command(const proto::Command& cmd) {
  const std::string_view verb = proto::verb_name(cmd.verb).empty() ? cmd.name : proto::verb_name(cmd.verb);
  const Decision decision =
      co_await decide_hooks([&](Hooks& h) { return h.before_command(*this, verb, cmd.arg); });
  if (decision.proceeds()) co_return true;
  reply_refusal(decision, code::file_unavailable);
  co_return false;
}

void Session::reply_refusal(const Decision& d, int fallback) {
  const bool disconnect = d.kind == Decision::Kind::disconnect;
  reply(d.code ? d.code : (disconnect ? code::unavailable : fallback), d.text);
  if (disconnect) closing_ = true;
}

namespace {
// Reports a command's handling time to the monitor when the handler returns, by any path.
struct CommandTimer {
  Monitor* monitor;
  Verb verb;
  Clock::time_point start;
  CommandTimer(Monitor* m, Verb v) : monitor(m), verb(v), start(m ? Clock::now() : Clock::time_point{}) {}
  ~CommandTimer() {
    if (monitor) monitor->command_done(proto::verb_name(verb), Clock::now() - start);
  }
  CommandTimer(const CommandTimer&) = delete;
  CommandTimer& operator=(const CommandTimer&) = delete;
};
}  // namespace

asio::awaitable<void> Session::handle_line(std::string_view line) {
  const proto::Command cmd = proto::parse_command(line);
  touch();
  if (core_.opts.protocol_log) log_command(cmd, line);
  last_verb_ = cmd.verb;
  CommandTimer timer(core_.monitor.get(), cmd.verb);

  if (xfer_) {
    // While a transfer runs, the control connection answers ABOR, STAT and NOOP at once;
    // anything else waits for the transfer to end (RFC 959: commands are serialised).
    if (cmd.verb == Verb::ABOR) {
      abort_transfer();
      co_await wait_transfer_done();
      reply(code::transfer_complete, "Abort successful.");
      co_return;
    }
    if (cmd.verb == Verb::STAT && cmd.arg.empty()) {
      transfer_status();
      co_return;
    }
    if (cmd.verb == Verb::NOOP) {
      reply(code::ok, "NOOP ok.");
      co_return;
    }
    co_await wait_transfer_done();
    if (closing_) co_return;
  }

  if (cmd.verb == Verb::unknown) {
    if (count_refused_before_login()) reply(code::unknown_command, "Unknown command.");
    co_return;
  }

  const auto info = proto::verb_info(cmd.verb);
  if (info.needs_login && !user_) {
    if (count_refused_before_login()) reply(code::not_logged_in, "Please login with USER and PASS.");
    co_return;
  }
  if (info.needs_arg && cmd.arg.empty()) {
    reply(code::bad_arguments, "Syntax error in parameters or arguments.");
    co_return;
  }
  if (!core_.hooks.empty() && !co_await run_before_command(cmd)) co_return;
  // RNTO must come right after RNFR.
  if (cmd.verb != Verb::RNTO && !rename_from_.empty()) rename_from_.clear();

  co_await dispatch(cmd);
}

// The handlers, one per row of the command table (proto/command.hpp), made from its last two
// columns: a row that names a handler of the wrong kind, or none, does not compile.
const Session::Handler& Session::handler_of(Verb verb) {
  static constexpr Handler kHandlers[] = {
      row(Run::loop, &Session::cmd_not_implemented),  // Verb::unknown: answered before dispatch
#define FEITP_HANDLER_ROW(v, login, arg, path, perm, reach, help, run, handler) \
  row(Run::run, &Session::cmd_##handler),
      FEITP_VERBS(FEITP_HANDLER_ROW)
#undef FEITP_HANDLER_ROW
  };
  return kHandlers[static_cast<std::size_t>(verb)];
}

asio::awaitable<void> Session::dispatch(const proto::Command& cmd) {
  const Handler& h = handler_of(cmd.verb);
  if (h.run == Run::wait) {
    Call call{cmd, {}, false};
    co_await (this->*h.wait)(call);
    co_return;
  }
  // A storage command runs on the thread pool when the storage may block; a loop command
  // touches session state only and never leaves the loop. The hooks hear of what a command
  // changed after it, their own calls alone on the pool when one may block.
  if (h.run == Run::storage && user_ && storage_blocking_) {
    co_await maybe_offload(true, [&] { run_sync(h, cmd); });
  } else {
    run_sync(h, cmd);  // inline, without maybe_offload's coroutine frame
  }
  if (file_event_) co_await tell_file_event();
}

// The path step, then the handler: where the handler runs (the pool, for a blocking storage).
void Session::run_sync(const Handler& h, const proto::Command& cmd) {
  Target target = target_of(cmd);
  if (target.refused) return;
  Call call{cmd, {}, false};
  call.has_path = target.path.has_value();
  if (call.has_path) call.path = std::move(*target.path);  // moved, not copied
  (this->*h.sync)(call);
}

}  // namespace feitp::session
