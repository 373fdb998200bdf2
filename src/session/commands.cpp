// The commands that need no data connection: login, navigation, file management, status.
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <span>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "proto/args.hpp"
#include "proto/listing.hpp"
#include "proto/path.hpp"
#include "proto/reply.hpp"
#include "proto/text.hpp"
#include "session/offload.hpp"
#include "session/session.hpp"

namespace feitp::session {

namespace code = proto::code;

using proto::Verb;

namespace {

using proto::split_word;

std::string upper(std::string_view s) {
  std::string r(s);
  for (auto& c : r) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return r;
}

}  // namespace

// --- errors and checks ------------------------------------------------------------------------

void Session::reply_storage_error(std::error_code ec, bool writing) {
  const int e = ec.value();
  if (ec.category() == std::generic_category() || ec.category() == std::system_category()) {
    switch (e) {
      case ENOENT: reply(code::file_unavailable, "No such file or directory."); return;
      case ENOTDIR: reply(code::file_unavailable, "Not a directory."); return;
      case EISDIR: reply(code::file_unavailable, "Is a directory."); return;
      case EEXIST: reply(code::file_unavailable, "File exists."); return;
      case ENOTEMPTY: reply(code::file_unavailable, "Directory not empty."); return;
      case EACCES:
      case EPERM:
      case EXDEV:
      case ELOOP:
      case EROFS: reply(code::file_unavailable, "Permission denied."); return;
      case ENAMETOOLONG:
      case EINVAL: reply(code::bad_file_name, "File name not allowed."); return;
      case ENOSPC:
        reply(writing ? code::insufficient_storage : code::file_unavailable, "Insufficient storage space.");
        return;
      case EDQUOT: reply(code::exceeded_storage, "Exceeded storage allocation."); return;
      case ENOSYS:
      case ENOTSUP: reply(code::not_implemented, "Command not implemented for this storage."); return;
      default: break;
    }
  }
  core_.log->warn("session {}: storage error: {}", id_, ec.message());
  reply(code::local_error, "Requested action aborted: local error in processing.");
}

bool Session::done_or_reply(const Status& status) {
  if (status) return true;
  reply_storage_error(status.error());
  return false;
}

std::optional<std::string> Session::path_arg(std::string_view arg) {
  auto p = proto::resolve_path(cwd_, arg);
  if (!p) reply(code::bad_file_name, "File name not allowed.");
  return p;
}

Session::Target Session::target_of(const proto::Command& cmd) {
  Target t;
  const auto text = proto::path_text(cmd.verb, cmd.arg);
  if (!text) return t;
  t.path = path_arg(*text);
  const auto info = proto::verb_info(cmd.verb);
  t.refused = !t.path || (info.permission != 0 && !allowed(info.permission, *t.path, info.reach));
  return t;
}

bool Session::allowed(char letter, std::string_view path, proto::Reach reach) {
  if (!user_ || !storage_) {
    reply(code::file_unavailable, "Permission denied.");
    return false;
  }
  const Permissions& perms = user_->permissions;
  const auto ok = [&](std::string_view p) {
    return reach == proto::Reach::tree ? perms.allows_tree(letter, p) : perms.allows(letter, p);
  };
  if (!ok(path)) {
    reply(code::file_unavailable, "Permission denied.");
    return false;
  }
  // Storage follows in-root symlinks, so rules must hold where the path really leads (F1). A
  // user without per-directory rules has the same letters everywhere: no lookup at all.
  if (!perms.has_overrides()) return true;
  auto real = storage_->real_path(path, reach == proto::Reach::follow);
  if (!real) {
    reply_storage_error(real.error());
    return false;
  }
  if (*real != path && !ok(*real)) {
    reply(code::file_unavailable, "Permission denied.");
    return false;
  }
  return true;
}

// --- login ----------------------------------------------------------------------------------

void Session::cmd_user(Call& call) {
  const std::string_view arg = call.cmd.arg;
  if (user_) {
    reply(code::not_logged_in, "Can't change to another user.");
    return;
  }
  if (!tls_allows_login()) return;
  pending_user_.assign(arg);
  user_given_ = true;
  // The same answer for every name: no user enumeration.
  reply(code::need_password, "Please specify the password.");
}

// The steps of cmd_pass() that do not wait are plain functions: a login costs no more
// coroutine frames than before.

bool Session::pass_expected() {
  if (user_) {
    reply(code::logged_in, "Already logged in.");
    return false;
  }
  if (!user_given_) {
    reply(code::bad_sequence, "Login with USER first.");
    return false;
  }
  user_given_ = false;
  return true;
}

void Session::refuse_store_unavailable(const AuthResult& result, bool checked) {
  // The store could not answer (database down): not the client's fault, so not a failed
  // login; 421 tells it to come back. The check in flight is released as one that proves
  // nothing about the address (as an anonymous login does).
  if (checked && core_.admission) {
    User nobody;
    nobody.anonymous = true;
    core_.admission->login_succeeded(peer_ip_, nobody);
  }
  // One line a second at most: a database outage under load must not flood the log.
  static std::atomic<std::int64_t> last_logged{0};
  static std::atomic<std::uint64_t> unlogged{0};
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
  std::int64_t last = last_logged.load(std::memory_order_relaxed);
  if (now_s != last && last_logged.compare_exchange_strong(last, now_s, std::memory_order_relaxed)) {
    const std::uint64_t more = unlogged.exchange(0, std::memory_order_relaxed);
    core_.log->error("session {}: login of '{}' from {} not checked: {}{}", id_, pending_user_, peer_ip_,
                     result.reason,
                     more ? fmt::format(" ({} more such logins since the last line)", more) : "");
  } else {
    unlogged.fetch_add(1, std::memory_order_relaxed);
  }
  reply(code::unavailable, "Service not available (account store unreachable), try again later.");
  closing_ = true;
}

bool Session::account_admitted(const User& user) {
  if (user.require_tls && !control_.tls()) {
    // The account's own rule (User::require_tls), known only now: the password was right, but
    // it went in clear; the client is told to use TLS next time.
    core_.log->info("session {}: login of {} refused: the account requires TLS", id_, user.name);
    reply(code::not_logged_in, "This account requires TLS: use AUTH TLS before USER.");
    return false;
  }
  if (core_.admission) {
    login_ticket_ = Admission::Ticket::user_login(core_.admission, user.name, user.max_sessions);
    if (!login_ticket_) {
      reply(code::not_logged_in, "Too many sessions for this user, try again later.");
      return false;
    }
  }
  return true;
}

bool Session::storage_made(const User& user, const std::optional<Result<std::unique_ptr<Storage>>>& made) {
  if (made && *made) return true;
  login_ticket_.reset();
  core_.log->warn("session {}: user {}: storage unavailable: {}", id_, user.name,
                  made ? made->error().message() : "no storage configured");
  reply(code::not_logged_in, "Login failed: home directory is not available.");
  return false;
}

void Session::start_login(std::optional<User>&& user, std::unique_ptr<Storage>&& storage) {
  storage_ = std::move(storage);
  storage_blocking_ = storage_->blocking();
  user_ = std::move(user);
  cwd_ = "/";
  login_failures_ = 0;
  core_.stats.logins.fetch_add(1, std::memory_order_relaxed);
}

void Session::count_failed_login(const AuthResult& result, bool checked) {
  ++login_failures_;
  core_.stats.login_failures.fetch_add(1, std::memory_order_relaxed);
  if (checked && core_.admission) core_.admission->login_failed(peer_ip_);
  core_.log->info("session {}: {} for '{}' from {}: {}", id_, checked ? "failed login" : "login refused",
                  pending_user_, peer_ip_, result.reason);
}

void Session::reply_failed_login() {
  if (core_.opts.max_login_attempts && login_failures_ >= core_.opts.max_login_attempts) {
    reply(code::not_logged_in, "Login incorrect. Too many failed attempts, closing control connection.");
    closing_ = true;
    return;
  }
  reply(code::not_logged_in, "Login incorrect.");
}

asio::awaitable<void> Session::cmd_pass(Call& call) {
  const std::string_view arg = call.cmd.arg;
  if (!pass_expected()) co_return;
  // Asked before every check, so failures and checks in flight on other connections count
  // (F11); a refused PASS never reaches the authenticator.
  const bool checked = !core_.admission || core_.admission->login_attempt(peer_ip_);
  if (!checked && core_.admission->banned(peer_ip_)) {
    // A ban can start while this connection is open (failures on other connections).
    reply(code::unavailable, "Too many failed logins from your address, try again later.");
    closing_ = true;
    co_return;
  }
  AuthResult result = AuthResult::failure(checked ? "no authenticator configured"
                                                  : "not checked: too many failed logins from this address");
  // A virtual host may bring its own users and storage (HOST).
  Authenticator* const auth = login_authenticator();
  StorageFactory* const factory = login_storage_factory();
  if (checked && auth) {
    const LoginRequest request{pending_user_, arg, peer_ip_, peer_port_, control_.tls()};
    if (auto fast = auth->authenticate_inline(request)) {
      result = std::move(*fast);
    } else {
      // The logins' own pool: a password check never queues behind HASH or hooks (F6).
      co_await offload_if(
          auth->blocking(), [this]() -> auto& { return core_.auth_pool(); },
          [&result, &request, auth] { result = auth->authenticate(request); });
    }
  }
  if (result.user) check_account_host(result);
  if (result.unavailable) {
    refuse_store_unavailable(result, checked);
    co_return;
  }
  if (checked && result.user && core_.admission) {
    core_.admission->login_succeeded(peer_ip_, *result.user);  // even if refused below: it knew the password
  }

  if (result.user) {
    if (!account_admitted(*result.user)) co_return;
    std::optional<Result<std::unique_ptr<Storage>>> made;
    if (factory) {
      co_await offload_if(
          factory->blocking(), [this]() -> auto& { return core_.auth_pool(); },
          [&made, &user = *result.user, factory] { made.emplace(factory->create(user)); });
    }
    if (!storage_made(*result.user, made)) co_return;
    start_login(std::move(result.user), std::move(made->value()));
    if (!core_.hooks.empty()) {
      co_await notify_hooks([&](Hooks& h) { h.on_login(*this); });
    }
    core_.log->info("session {}: logged in as '{}' from {}", id_, user_->name, peer_ip_);
    reply(code::logged_in, "Login successful.");
    touch();
    co_return;
  }

  count_failed_login(result, checked);
  if (!core_.hooks.empty()) {
    co_await notify_hooks([&](Hooks& h) { h.on_login_failed(*this, pending_user_); });
  }
  // Slow down guessing: the reply comes only after a delay (longer for a throttled address).
  auto wait = core_.opts.login_failure_delay;
  if (core_.admission) wait += core_.admission->failure_delay(peer_ip_);
  if (wait.count() > 0) {
    asio::steady_timer delay(core_.io, wait);
    std::error_code ec;
    co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  reply_failed_login();
}

asio::awaitable<void> Session::logout() {
  if (!user_) co_return;
  if (!core_.hooks.empty()) {
    co_await notify_hooks([&](Hooks& h) { h.on_logout(*this); });
  }
  forget_login();
}

void Session::forget_login() {
  if (!user_) return;
  login_ticket_.reset();
  user_.reset();
  storage_.reset();
  storage_blocking_ = false;
  cwd_ = "/";
}

// --- the synchronous commands ---------------------------------------------------------------

// The commands of one line.
void Session::cmd_acct(Call&) {
  reply(code::superfluous, "Command not implemented, superfluous at this site.");
}
void Session::cmd_pwd(Call&) {
  reply(code::path_created, proto::quote_path(cwd_) + " is the current directory.");
}
void Session::cmd_allo(Call&) { reply(code::superfluous, "No storage allocation necessary."); }
void Session::cmd_abor(Call&) { reply(code::no_transfer, "No transfer to abort."); }  // one runs: handle_line
void Session::cmd_syst(Call&) { reply(code::system_type, "UNIX Type: L8"); }
void Session::cmd_noop(Call&) { reply(code::ok, "NOOP ok."); }
void Session::cmd_clnt(Call&) { reply(code::ok, "Noted."); }
void Session::cmd_not_implemented(Call&) { reply(code::not_implemented, "Command not implemented."); }
// ADAT, MIC, CONF, ENC: RFC 2228's security data, which TLS does not use.
void Session::cmd_security_data(Call&) {
  reply(code::not_implemented, core_.tls ? "Command not implemented." : "TLS is not enabled on this server.");
}

asio::awaitable<void> Session::cmd_quit(Call&) {
  co_await logout();
  // Free the connection slot before the client reads 221, so a client that reconnects at once
  // is not refused by the per-address limit.
  admitted_.reset();
  reply(code::goodbye, "Goodbye.");
  closing_ = true;
}

void Session::record_file_event(FileEvent::Kind kind, const std::string& path, const std::string& to) {
  if (!core_.hooks.empty()) file_event_ = FileEvent{kind, path, to};
}

asio::awaitable<void> Session::tell_file_event() {
  const FileEvent ev = std::move(*file_event_);
  file_event_.reset();
  co_await notify_hooks([&](Hooks& h) {
    switch (ev.kind) {
      case FileEvent::Kind::mkdir: h.on_mkdir(*this, ev.path); break;
      case FileEvent::Kind::remove: h.on_remove(*this, ev.path); break;
      case FileEvent::Kind::rename: h.on_rename(*this, ev.path, ev.to); break;
    }
  });
}

asio::awaitable<void> Session::cmd_rein(Call&) {
  co_await logout();
  forget_login();
  close_data_channel();
  data_mode_ = DataMode::none;
  user_given_ = false;
  host_given_ = false;
  host_ = nullptr;
  ascii_ = true;  // RFC 959's default
  rest_ = 0;
  epsv_all_ = false;
  mlst_facts_ = proto::kDefaultFacts;
  hash_algo_ = HashAlgo::sha256;
  // RFC 4217: the control connection stays protected; the data protection starts over.
  pbsz_ = false;
  prot_private_ = false;
  host_name_.clear();
  login_deadline_ = core_.opts.login_timeout.count() > 0 ? Clock::now() + core_.opts.login_timeout
                                                         : Clock::time_point::max();
  touch();
  reply(code::ready, "Service ready for new user.");
}

void Session::cmd_rest(Call& call) {
  const std::string_view arg = call.cmd.arg;
  const auto v = proto::parse_rest_arg(arg);
  if (!v) {
    reply(code::bad_arguments, "REST requires a non-negative byte offset.");
    return;
  }
  rest_ = *v;
  reply(code::pending, fmt::format("Restarting at {}. Send STORE or RETRIEVE to initiate transfer.", *v));
}

void Session::cmd_mode(Call& call) {
  const std::string_view arg = call.cmd.arg;
  switch (proto::parse_mode_arg(arg)) {
    case proto::Choice::served: return reply(code::ok, "Mode set to S.");
    case proto::Choice::refused: return reply(code::not_for_parameter, "Only MODE S (stream) is supported.");
    case proto::Choice::unknown: return reply(code::bad_arguments, "Unknown MODE.");
  }
}

void Session::cmd_stru(Call& call) {
  const std::string_view arg = call.cmd.arg;
  switch (proto::parse_stru_arg(arg)) {
    case proto::Choice::served: return reply(code::ok, "Structure set to F.");
    case proto::Choice::refused: return reply(code::not_for_parameter, "Only STRU F (file) is supported.");
    case proto::Choice::unknown: return reply(code::bad_arguments, "Unknown STRU.");
  }
}

void Session::cmd_cwd(Call& call) {
  std::string path = std::move(call.path);
  auto st = storage_->stat(path);
  if (!st) {
    reply(code::file_unavailable, "Failed to change directory: no such directory.");
    return;
  }
  if (st->type != FileType::directory) {
    reply(code::file_unavailable, "Failed to change directory: not a directory.");
    return;
  }
  cwd_ = std::move(path);
  reply(code::file_action_ok, "Directory successfully changed.");
}

void Session::cmd_mkd(Call& call) {
  const std::string& path = call.path;
  if (!done_or_reply(storage_->mkdir(path))) return;
  record_file_event(FileEvent::Kind::mkdir, path);
  reply(code::path_created, proto::quote_path(path) + " created.");
}

void Session::cmd_rmd(Call& call) {
  const std::string& path = call.path;
  if (path == "/") {
    reply(code::file_unavailable, "Cannot remove the root directory.");
    return;
  }
  if (!done_or_reply(storage_->rmdir(path))) return;
  record_file_event(FileEvent::Kind::remove, path);
  reply(code::file_action_ok, "Remove directory operation successful.");
}

void Session::cmd_dele(Call& call) {
  const std::string& path = call.path;
  if (!done_or_reply(storage_->remove(path))) return;
  record_file_event(FileEvent::Kind::remove, path);
  reply(code::file_action_ok, "Delete operation successful.");
}

void Session::cmd_rnfr(Call& call) {
  std::string path = std::move(call.path);
  if (path == "/") {
    reply(code::file_unavailable, "Cannot rename the root directory.");
    return;
  }
  if (auto st = storage_->stat(path); !st) {
    reply_storage_error(st.error());
    return;
  }
  rename_from_ = std::move(path);
  reply(code::pending, "Ready for RNTO.");
}

void Session::cmd_rnto(Call& call) {
  const std::string& path = call.path;
  if (rename_from_.empty()) {
    reply(code::bad_sequence, "RNFR required first.");
    return;
  }
  const std::string from = std::move(rename_from_);
  rename_from_.clear();
  // The RNFR end again, with RNFR's own row: what it saw may have changed since (another
  // session's rename). target_of() checked this end.
  const auto rnfr = proto::verb_info(Verb::RNFR);
  if (!allowed(rnfr.permission, from, rnfr.reach)) return;
  if (!done_or_reply(storage_->rename(from, path))) return;
  record_file_event(FileEvent::Kind::rename, from, path);
  reply(code::file_action_ok, "Rename successful.");
}

void Session::cmd_size(Call& call) {
  const std::string& path = call.path;
  auto st = storage_->stat(path);
  if (!st) {
    reply_storage_error(st.error());
    return;
  }
  if (st->type == FileType::directory) {
    reply(code::file_unavailable, "Could not get file size: not a regular file.");
    return;
  }
  reply(code::file_status, fmt::format("{}", st->size));
}

void Session::cmd_mdtm(Call& call) {
  const std::string& path = call.path;
  auto st = storage_->stat(path);
  if (!st) {
    reply_storage_error(st.error());
    return;
  }
  if (st->type == FileType::directory) {
    reply(code::file_unavailable, "Could not get modification time: not a regular file.");
    return;
  }
  reply(code::file_status, proto::format_time_val(st->mtime));
}

void Session::cmd_mfmt(Call& call) {
  const std::string_view arg = call.cmd.arg;
  const std::string* path = call.has_path ? &call.path : nullptr;  // null: the argument does not parse
  const auto m = proto::parse_mfmt_arg(arg);
  if (!m || !path) {
    reply(code::bad_arguments, "Syntax: MFMT YYYYMMDDHHMMSS path");
    return;
  }
  const auto t = m->mtime;
  const std::string& p = *path;
  if (!storage_->capabilities().set_mtime) {
    reply(code::not_implemented, "Command not implemented for this storage.");
    return;
  }
  // Like MDTM: a symlink must lead somewhere beneath the root (F23); set_mtime itself would
  // change the link's own time.
  if (auto st = storage_->stat(p); !st) {
    reply_storage_error(st.error());
    return;
  }
  if (!done_or_reply(storage_->set_mtime(p, t))) return;
  reply(code::file_status, fmt::format("Modify={}; {}", proto::format_time_val(t), p));
}

void Session::cmd_mlst(Call& call) {
  const std::string& path = call.path;
  auto st = storage_->stat(path);
  if (!st) {
    reply_storage_error(st.error());
    return;
  }
  const auto perm = proto::mlsx_perm(st->type, user_->permissions.letters_for(path));
  // The path is the client's text: control characters go out escaped (F17).
  out_ += "250-Listing ";
  proto::append_escaped(out_, path);
  out_ += "\r\n ";
  std::string line;
  proto::append_mlsx_line(line, *st, mlst_facts_, perm, path);
  if (line.ends_with("\r\n")) line.resize(line.size() - 2);
  proto::append_escaped(out_, line);
  out_ += "\r\n250 End.\r\n";
}

void Session::cmd_stat(Call& call) {
  const std::string* path = call.has_path ? &call.path : nullptr;  // null: "STAT" alone
  if (!path) {                                                     // "STAT" alone
    std::string text = "FTP server status:\n";
    fmt::format_to(std::back_inserter(text), "Connected to {}\n", peer_ip_);
    if (user_) {
      fmt::format_to(std::back_inserter(text), "Logged in as {}\n", user_->name);
    } else {
      text += "Not logged in\n";
    }
    fmt::format_to(std::back_inserter(text), "TYPE: {}, STRU: File, MODE: Stream\n",
                   ascii_ ? "ASCII" : "BINARY");
    text += data_mode_ == DataMode::passive  ? "Passive data connection ready\n"
            : data_mode_ == DataMode::active ? "Active data connection ready\n"
                                             : "No data connection\n";
    text += "End of status.";
    reply(code::system_status, text);
    return;
  }
  // STAT path: a listing over the control connection.
  const std::string* p = path;
  std::string body;
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  auto entries = storage_->list(*p);
  std::size_t shown = 0;
  std::string note;  // the cap's note (F14)
  if (!entries) {
    auto st = storage_->stat(*p);
    if (!st) {
      reply_storage_error(st.error());
      return;
    }
    st->name = std::string(proto::base_name(*p));
    proto::append_list_line(body, *st, now, core_.opts.listing_utc);
  } else {
    shown = listing_limit(entries->size());
    if (shown < entries->size()) note = " (" + truncated_note(shown, entries->size()) + ")";
    for (const auto& e : std::span(*entries).first(shown)) {
      proto::append_list_line(body, e, now, core_.opts.listing_utc);
    }
  }
  // Paths and names are client text: control characters go out escaped (F17).
  out_ += "213-Status of ";
  proto::append_escaped(out_, *p);
  out_ += ":\r\n";
  // Each line starts with a type letter, never a digit, so it cannot end the reply early.
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find("\r\n", start);
    if (end == std::string::npos) end = body.size();
    out_ += ' ';
    proto::append_escaped(out_, std::string_view(body).substr(start, end - start));
    out_ += "\r\n";
    start = end + 2;
  }
  out_ += "213 End of status" + (note.empty() ? std::string(".") : note) + "\r\n";
}

Authenticator* Session::login_authenticator() const {
  return host_ && host_->authenticator ? host_->authenticator.get() : core_.auth.get();
}

StorageFactory* Session::login_storage_factory() const {
  return host_ && host_->storage_factory ? host_->storage_factory.get() : core_.storage_factory.get();
}

// An account of a virtual host logs in on that host only (the default host has no name).
void Session::check_account_host(AuthResult& result) const {
  const std::string_view selected = host_ ? std::string_view(host_->name) : std::string_view();
  if (result.user->host.empty() || proto::iequals(result.user->host, selected)) return;
  result = AuthResult::failure("the account belongs to host '" + result.user->host + "'");
}

// RFC 7151: before USER only; the name (or an address literal in brackets) picks a virtual host.
void Session::cmd_host(Call& call) {
  const std::string_view arg = call.cmd.arg;
  if (user_ || user_given_) {
    reply(code::bad_sequence, "HOST must come before USER.");
    return;
  }
  if (arg.empty()) {
    reply(code::bad_arguments, "HOST requires a host name.");
    return;
  }
  // The certificate for this name, if AUTH TLS follows ([[tls.host]]).
  const auto accept_name = [&] {
    host_given_ = true;
    if (!control_.tls()) host_name_.assign(arg);
  };
  if (core_.hosts.empty()) {
    accept_name();
    reply(code::ready, "Host accepted.");
    return;
  }
  for (const auto& h : core_.hosts) {
    if (proto::iequals(h.name, arg)) {
      host_ = &h;
      accept_name();
      reply(code::ready, h.banner.empty() ? std::string_view("Host accepted.") : std::string_view(h.banner));
      return;
    }
  }
  reply(code::not_for_parameter, "Unknown host.");
}

// SITE QUOTA: the user's limits and usage, one line (docs/protocol.md).
void Session::site_quota() {
  auto q = storage_->quota();
  if (!q) {
    reply(code::ok, "Quota: none.");
    return;
  }
  const auto part = [](std::uint64_t used, std::uint64_t limit) {
    return limit == 0 ? fmt::format("{}/unlimited", used) : fmt::format("{}/{}", used, limit);
  };
  reply(code::ok, fmt::format("Quota: bytes={} files={}", part(q->usage.bytes, q->limits.bytes),
                              part(q->usage.files, q->limits.files)));
}

asio::awaitable<void> Session::cmd_site(Call& call) {
  auto [name_text, rest] = split_word(call.cmd.arg);
  const auto name = upper(name_text);
  if (name.empty()) {
    reply(code::bad_arguments, "SITE requires a command; try SITE HELP.");
    co_return;
  }
  // Each sub-command leaves the loop only for what may block: the storage's calls, or an
  // embedder's handler declared blocking (its call alone; the reply is the loop's).
  if (name == "HELP") {
    site_help();
  } else if (name == "QUOTA") {
    co_await maybe_offload(storage_blocking_, [&] { site_quota(); });
  } else if (name == "CHMOD") {
    co_await maybe_offload(storage_blocking_, [&] { site_chmod(rest); });
  } else if (auto it = core_.site_commands.find(name); it != core_.site_commands.end()) {
    const SiteCommand& site = it->second;
    Reply r;
    co_await maybe_offload(site.blocking, [&] { r = site.handler(*this, rest); });
    reply(r.code, r.text);
  } else {
    reply(code::unknown_command, "Unknown SITE command.");
  }
}

void Session::site_help() {
  std::string items = "CHMOD <mode> <path>\nHELP\nQUOTA";
  for (const auto& [key, cmd] : core_.site_commands) {
    items += '\n';
    items += key;
    if (!cmd.help.empty()) {
      items += ' ';
      items += cmd.help;
    }
  }
  proto::append_reply_items(out_, code::help, "SITE commands:", items, "Help OK.");
}

void Session::site_chmod(std::string_view rest) {
  const auto chmod = proto::parse_chmod_arg(rest);
  if (!chmod) {
    reply(code::bad_arguments, "Syntax: SITE CHMOD <octal mode> <path>");
    return;
  }
  unsigned mode = chmod->mode;
  const std::string_view path_text = chmod->path;
  if ((mode & 07000) != 0) {
    reply(code::not_for_parameter, "SITE CHMOD: setuid, setgid and sticky bits are not allowed.");
    return;
  }
  auto p = path_arg(path_text);
  if (!p) return;
  // vsftpd's rule: anonymous users never change modes, whatever letters they were given.
  if (user_->anonymous) {
    reply(code::file_unavailable, "Permission denied.");
    return;
  }
  // Mode 000 on the home would lock the user (and the server) out of it (F2).
  if (*p == "/") {
    reply(code::file_unavailable, "Cannot change the mode of the home directory.");
    return;
  }
  if (!allowed('M', *p, proto::Reach::name)) return;  // SITE's commands are not table rows
  if (!storage_->capabilities().chmod) {
    reply(code::not_implemented, "Command not implemented for this storage.");
    return;
  }
  auto st = storage_->stat(*p);
  if (!st) {
    reply_storage_error(st.error());
    return;
  }
  // The owner (the server's own user) keeps its access: rwx on directories, rw on files.
  mode |= st->type == FileType::directory ? 0700U : 0600U;
  if (!done_or_reply(storage_->chmod(*p, mode))) return;
  reply(code::ok, "SITE CHMOD command successful.");
}

void Session::cmd_opts(Call& call) {
  const std::string_view arg = call.cmd.arg;
  auto [name_text, value] = split_word(arg);
  const auto name = upper(name_text);
  if (name == "UTF8" || name == "UTF-8") {
    if (value.empty() || proto::iequals(value, "ON")) {
      reply(code::ok, "Always in UTF8 mode.");
    } else {
      reply(code::not_for_parameter, "UTF8 cannot be turned off.");
    }
    return;
  }
  if (name == "MLST") {
    mlst_facts_ = proto::parse_mlst_opts(value);
    reply(code::ok, "MLST OPTS " + proto::mlst_facts_string(mlst_facts_));
    return;
  }
  if (name == "HASH") {
    if (!value.empty()) {
      auto a = proto::parse_hash_algo(value);
      if (!a) {
        reply(code::bad_arguments, "Unknown hash algorithm.");
        return;
      }
      hash_algo_ = *a;
    }
    reply(code::ok, proto::hash_algo_name(hash_algo_));
    return;
  }
  reply(code::bad_arguments, "Option not understood.");
}

void Session::cmd_type(Call& call) {
  const std::string_view arg = call.cmd.arg;
  switch (proto::parse_type_arg(arg)) {
    case proto::TypeArg::ascii: ascii_ = true; return reply(code::ok, "Switching to ASCII mode.");
    case proto::TypeArg::binary: ascii_ = false; return reply(code::ok, "Switching to Binary mode.");
    case proto::TypeArg::ascii_format_refused:
      return reply(code::not_for_parameter, "Only TYPE A N is supported for ASCII.");
    case proto::TypeArg::byte_size_refused:
      return reply(code::not_for_parameter, "Only TYPE L 8 is supported.");
    case proto::TypeArg::ebcdic_refused: return reply(code::not_for_parameter, "TYPE E is not supported.");
    case proto::TypeArg::unknown: return reply(code::bad_arguments, "Unknown TYPE.");
  }
}

void Session::cmd_feat(Call&) {
  const auto caps = storage_ ? storage_->capabilities() : StorageCapabilities{true, true, false, true};
  std::string items = core_.tls ? "AUTH TLS\nCLNT\nEPRT\nEPSV\n" : "CLNT\nEPRT\nEPSV\n";
  items += "HASH ";
  items += proto::hash_feat_value(hash_algo_);
  items += "\nHOST\nMDTM\n";
  if (caps.set_mtime) items += "MFMT\n";
  items += "MLST ";
  items += proto::mlst_feat_line(mlst_facts_);
  if (core_.tls) items += "\nPBSZ\nPROT";
  items += "\nREST STREAM\nSIZE\nTVFS\nUTF8";
  proto::append_reply_items(out_, code::system_status, "Features:", items, "End");
}

void Session::cmd_help(Call& call) {
  const std::string_view arg = call.cmd.arg;
  if (!arg.empty()) {
    auto c = proto::parse_command(arg);
    const SyncHandler h = c.verb == Verb::unknown ? nullptr : handler_of(c.verb).sync;
    if (c.verb == Verb::unknown) {
      reply(code::not_implemented, "Unknown command.");
    } else if (h == &Session::cmd_not_implemented || h == &Session::cmd_security_data ||
               (proto::needs_tls(c.verb) && !core_.tls)) {
      // Recognized but answered 502 here (LANG, PRET, SMNT, RFC 2228's security data, the
      // TLS commands on a server without TLS): say so rather than "supported".
      reply(code::not_implemented, fmt::format("{} is not implemented.", proto::verb_name(c.verb)));
    } else {
      reply(code::help, fmt::format("{} is supported.", proto::verb_name(c.verb)));
    }
    return;
  }
  proto::append_reply_items(out_, code::help,
                            "The following commands are recognized:", proto::help_text(core_.tls != nullptr),
                            "Help OK.");
}

}  // namespace feitp::session
