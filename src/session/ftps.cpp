// FTPS on the control connection (RFC 4217): AUTH TLS, PBSZ, PROT, and the policy that refuses
// a login or a transfer without TLS. The data connection's handshake is in transfer.cpp
// (open_data_connection), the channels' TLS in channel.cpp.
#include <chrono>

#include <spdlog/spdlog.h>

#include "proto/reply.hpp"
#include "proto/text.hpp"
#include "session/session.hpp"

namespace feitp::session {

namespace code = proto::code;

asio::awaitable<void> Session::cmd_auth(Call& call) {
  // RFC 2228: an accepted AUTH ends the login (accept_auth does the rest).
  if (user_ && core_.tls && !control_.tls()) co_await logout();
  accept_auth(call.cmd.arg);
}

void Session::accept_auth(std::string_view arg) {
  // RFC 4217 section 4: AUTH TLS (and AUTH SSL, which curl sends first, taken as TLS).
  if (!core_.tls) {
    reply(code::not_implemented, "TLS is not enabled on this server.");
    return;
  }
  if (control_.tls()) {
    reply(code::bad_sequence, "Already using TLS.");
    return;
  }
  if (!proto::iequals(arg, "TLS") && !proto::iequals(arg, "SSL") && !proto::iequals(arg, "TLS-C") &&
      !proto::iequals(arg, "TLS-P")) {
    reply(code::not_for_parameter, "Unknown security mechanism: use AUTH TLS.");
    return;
  }
  // RFC 2228: an accepted AUTH resets the security state; a user logs in again (cmd_auth() has
  // logged out who was logged in).
  forget_login();
  user_given_ = false;
  pbsz_ = false;
  prot_private_ = false;
  reply(code::security_accepted, "AUTH TLS successful.");
  start_tls_ = true;  // the read loop runs the handshake once the 234 is out
}

asio::awaitable<bool> Session::start_control_tls() {
  // The handshake's own clock: the sweep's idle deadline, shorter than the login timeout.
  const auto limit = core_.opts.tls.handshake_timeout;
  if (limit.count() > 0) idle_deadline_ = std::min(idle_deadline_, Clock::now() + limit);
  const auto ec = co_await control_.start_tls(*core_.tls, host_name_);
  if (ec) {
    core_.log->info("session {}: TLS handshake with {} failed: {}", id_, peer_ip_, ec.message());
    co_return false;
  }
  touch();
  auto* t = control_.tls_stream();
  core_.log->debug("session {}: TLS {} {}{}", id_, t->version(), t->cipher(),
                   t->resumed() ? " (resumed)" : "");
  co_return true;
}

void Session::cmd_pbsz(Call& call) {
  const std::string_view arg = call.cmd.arg;
  // RFC 4217 section 8: PBSZ 0 after AUTH; any other size is answered with PBSZ=0.
  if (!control_.tls()) {
    reply(code::bad_sequence, "PBSZ requires AUTH TLS first.");
    return;
  }
  if (arg.empty() || arg.size() > 10 || arg.find_first_not_of("0123456789") != std::string_view::npos) {
    reply(code::bad_arguments, "PBSZ requires a decimal number.");
    return;
  }
  pbsz_ = true;
  reply(code::ok, "PBSZ=0");
}

void Session::cmd_prot(Call& call) {
  const std::string_view arg = call.cmd.arg;
  // RFC 4217 section 9: C (clear) or P (private); S and E do not exist for TLS.
  if (!control_.tls()) {
    reply(code::bad_sequence, "PROT requires AUTH TLS first.");
    return;
  }
  if (!pbsz_) {
    reply(code::bad_sequence, "PROT requires PBSZ first.");
    return;
  }
  if (proto::iequals(arg, "P")) {
    prot_private_ = true;
    reply(code::ok, "Protection level set to P.");
  } else if (proto::iequals(arg, "C")) {
    if (core_.opts.tls.required == TlsRequired::all) {
      reply(code::policy_denied, "PROT C refused: data connections must be protected (PROT P).");
      return;
    }
    prot_private_ = false;
    reply(code::ok, "Protection level set to C.");
  } else if (proto::iequals(arg, "S") || proto::iequals(arg, "E")) {
    reply(code::protection_not_supported, "Protection level not supported by TLS: use C or P.");
  } else {
    reply(code::not_for_parameter, "Unknown protection level: use C or P.");
  }
}

void Session::cmd_ccc(Call&) {
  // RFC 4217 section 12.4: the control connection goes back to clear text (so that NAT devices
  // can read PORT/PASV), the data connections keep their PROT level. Only for a user already
  // logged in under TLS (the password never travels in clear), and only where the policy
  // does not require TLS.
  if (!control_.tls()) {
    reply(code::bad_sequence,
          core_.tls ? "CCC requires AUTH TLS first." : "TLS is not enabled on this server.");
    return;
  }
  if (!user_) {
    reply(code::bad_sequence, "CCC is allowed only after login.");
    return;
  }
  if (core_.opts.tls.required != TlsRequired::off || user_->require_tls) {
    reply(code::policy_denied, "CCC refused: TLS is required on the control connection here.");
    return;
  }
  if (xfer_) {
    reply(code::bad_sequence, "CCC is not allowed while a transfer runs.");
    return;
  }
  reply(code::ok, "Control connection in clear text from now on.");
  clear_tls_ = true;  // the read loop sends close_notify once the 200 is out
}

bool Session::tls_allows_login() {
  if (!core_.tls || core_.opts.tls.required == TlsRequired::off || control_.tls()) return true;
  reply(code::not_logged_in, "TLS required: use AUTH TLS before USER.");
  return false;
}

bool Session::tls_allows_transfer() {
  const bool need =
      (core_.tls && core_.opts.tls.required == TlsRequired::all) || (user_ && user_->require_tls);
  if (!need || prot_private_) return true;
  reply(code::protection_required, "Data connections must be protected: use PBSZ 0 and PROT P.");
  return false;
}

}  // namespace feitp::session
