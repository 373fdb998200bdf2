// One control connection: login, command dispatch, the data channel and transfers.
// Runs as coroutines on its worker's single-threaded event loop. Reads like RFC 959:
// read a command, check it, act, reply.
#pragma once

#include <any>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "feitp/auth.hpp"
#include "feitp/hooks.hpp"
#include "feitp/storage.hpp"
#include "proto/command.hpp"
#include "proto/line.hpp"
#include "session/channel.hpp"
#include "session/core.hpp"
#include "session/offload.hpp"
#include "os/unique_fd.hpp"

namespace feitp::session {

using Clock = std::chrono::steady_clock;
// A deadline `s` from now; a zero (or negative) timeout means none.
inline Clock::time_point after(std::chrono::seconds s) {
  return s.count() > 0 ? Clock::now() + s : Clock::time_point::max();
}

// The transfer in flight on a session (at most one).
struct Transfer {
  enum class Kind : std::uint8_t { retr, stor, listing };
  Kind kind = Kind::retr;
  proto::Verb verb = proto::Verb::RETR;
  std::string path;                            // absolute FTP path (for events, STAT)
  std::shared_ptr<const std::string> listing;  // prepared LIST/NLST/MLSD text
  std::string listing_note;                    // "listing truncated ..." for the final reply, or empty
  std::unique_ptr<ReadFile> reader;
  std::unique_ptr<WriteFile> writer;
  std::uint64_t offset = 0;  // REST offset or APPE start
  std::uint64_t size = 0;    // expected bytes (RETR), for STAT
  std::uint64_t bytes = 0;   // moved so far
  std::uint64_t sent = 0;    // bytes handed to the data socket (downloads, listings)
  // The stall clock: the sweep samples how far the data has got (progress_mark) and notes when
  // it last changed (progress_at); no byte moved for the stall timeout ends the transfer.
  std::uint64_t progress_mark = 0;
  Clock::time_point progress_at{};
  bool ascii = false;
  std::string stou_name;  // STOU: the name chosen
  Clock::time_point started{};
  DataChannel data;
  bool abort_requested = false;          // ABOR
  bool timed_out = false;                // accept or stall timeout
  std::error_code local_error;           // storage failure (disk full, I/O error)
  std::error_code tls_failed;            // PROT P: the data connection's handshake failed
  std::unique_ptr<Throttle> throttle;    // bandwidth limits; nullptr = none (no timer, no charge)
  asio::steady_timer* pacing = nullptr;  // the throttle's wait in progress (ABOR cancels it)

  explicit Transfer(asio::io_context& io) : data(io) {}
};

class Session final : public feitp::Connection, public std::enable_shared_from_this<Session> {
 public:
  // `peer` and `local` are the control connection's addresses, as the accept loop knows them
  // (so the session need not ask the kernel again), with their text (net::address_text), which
  // the accept loop has made already. `admitted`: the connection's slot (core.admission's
  // admit()), given back when the session ends.
  Session(ServerCore& core, asio::ip::tcp::socket socket, std::uint64_t id,
          const asio::ip::tcp::endpoint& peer, const asio::ip::tcp::endpoint& local, std::string peer_text,
          std::string local_text, bool implicit_tls = false, Admission::Ticket admitted = {});
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The session's life: greet, read and answer commands until QUIT, error or timeout.
  asio::awaitable<void> run();

  // Server stop: close now (421), or after the transfer in flight when `after_transfer`.
  void drain(bool after_transfer);

  // Operator's kick (Monitor::session() said so): abort the transfer, 421 and close.
  void kick();
  [[nodiscard]] bool transferring() const { return xfer_ != nullptr; }
  // Hands this session's view to `m`; returns what m.session() answers (true = kick).
  bool publish(Monitor& m) const;

  // Called by the loop's once-a-second sweep: acts on an expired deadline (idle or login
  // timeout closes the session; an accept or stall timeout ends the transfer; an offered or
  // kept passive listener nobody used is closed).
  void check_deadline(Clock::time_point now);

  // feitp::Connection
  [[nodiscard]] std::uint64_t id() const override { return id_; }
  [[nodiscard]] std::string_view peer_address() const override { return peer_ip_; }
  [[nodiscard]] std::uint16_t peer_port() const override { return peer_port_; }
  [[nodiscard]] std::string_view local_address() const override { return local_ip_; }
  [[nodiscard]] bool logged_in() const override { return user_.has_value(); }
  [[nodiscard]] std::string_view user_name() const override {
    return user_ ? std::string_view(user_->name) : std::string_view();
  }
  [[nodiscard]] const User* user() const override { return user_ ? &*user_ : nullptr; }
  [[nodiscard]] bool tls() const override { return control_.tls(); }
  [[nodiscard]] std::string_view cwd() const override { return cwd_; }
  std::any& app_data() override { return app_data_; }

 private:
  // finishing: the data has moved (or failed); the reply and events are being made.
  enum class Phase : std::uint8_t { command, accepting, transferring, finishing };

  // --- control channel (session.cpp) ---
  void expire_control();  // idle or login timeout: 421 and close
  void expire_data();     // accept or stall timeout: the transfer ends (425/426)
  void check_data_deadline(Clock::time_point now);
  void touch();  // a command arrived: restart the idle clock
  // Counts a command refused before login (unknown, or 530); false (after replying 421 and
  // closing) when that makes more than max_unknown_before_login.
  bool count_refused_before_login();
  void reply(int code, std::string_view text);
  asio::awaitable<void> flush();
  // Protocol log (Options::protocol_log): a command as received, and the replies in out_ not
  // logged yet (out_'s first logged_ bytes were).
  void log_command(const proto::Command& cmd, std::string_view line);
  void log_replies();
  void close_control();
  // Sends 421 with `text` without waiting and closes the control connection.
  void hang_up(std::string_view text);
  asio::awaitable<void> handle_line(std::string_view line);
  // One command as its handler gets it: the command, and for loop and storage rows the path
  // its row names, resolved and permitted by target_of() (a wait row's handler resolves it
  // itself, when its own checks have passed).
  struct Call {
    const proto::Command& cmd;
    std::string path;
    bool has_path = false;
  };
  // How a handler runs: the run column of the command table (proto/command.hpp).
  enum class Run : std::uint8_t { loop, storage, wait };
  using SyncHandler = void (Session::*)(Call&);
  using WaitHandler = asio::awaitable<void> (Session::*)(Call&);
  struct Handler {
    Run run;
    SyncHandler sync;
    WaitHandler wait;
  };
  // A row's run kind must match its handler's: a coroutine for wait, a plain function else.
  static consteval Handler row(Run run, SyncHandler h) {
    if (run == Run::wait) throw "a wait row needs a coroutine handler";
    return {run, h, nullptr};
  }
  static consteval Handler row(Run run, WaitHandler h) {
    if (run != Run::wait) throw "a coroutine handler needs a wait row";
    return {run, nullptr, h};
  }
  static const Handler& handler_of(proto::Verb verb);
  // Runs a command's handler as its row says (the generic steps have passed: handle_line).
  asio::awaitable<void> dispatch(const proto::Command& cmd);
  // A loop or storage row: the path step (target_of), then the handler.
  void run_sync(const Handler& h, const proto::Command& cmd);
  asio::awaitable<bool> run_before_command(const proto::Command& cmd);
  // Runs f inline, or on the thread pool when `blocking` (user code that may block). While f
  // runs on the pool the session is "lent" to it (audit F20): the loop's other entry points
  // (the deadline sweep, drain at shutdown, another session taking back kept passive
  // listeners) leave this session alone and catch up when f returns, so no session state is
  // ever touched by two threads at once. Prefer lambdas that capture values and the user
  // object; with a blocking storage run_sync() and prepare_*() still run whole on the pool,
  // guarded so. Hooks never take session work with them: notify_hooks/decide_hooks send only
  // the hooks' calls.
  template <class F>
  asio::awaitable<void> maybe_offload(bool blocking, F&& f) {
    if (!blocking) {
      f();
      co_return;
    }
    Lend lend(*this);
    co_await offload(core_.pool(), std::forward<F>(f));
  }
  struct Lend {
    Session& s;
    explicit Lend(Session& session) : s(session) { ++s.lent_; }
    ~Lend() {
      if (--s.lent_ == 0) s.returned();
    }
    Lend(const Lend&) = delete;
    Lend& operator=(const Lend&) = delete;
  };
  // Back from the pool: what the loop put off meanwhile (see maybe_offload).
  void returned();

  // --- commands (commands.cpp) ---
  // The handlers take a Call (see dispatch()); the command table names them.
  void cmd_acct(Call& call);
  void cmd_pwd(Call& call);
  void cmd_allo(Call& call);
  void cmd_abor(Call& call);
  void cmd_syst(Call& call);
  void cmd_noop(Call& call);
  void cmd_clnt(Call& call);
  void cmd_not_implemented(Call& call);
  void cmd_security_data(Call& call);
  asio::awaitable<void> cmd_quit(Call& call);
  // What a storage command changed (MKD, RMD, DELE, RNTO), for the hooks: the handler
  // records it and dispatch() tells the hooks after it returns (tell_file_event), so a blocking
  // hook sends only its own call to the pool, not the command.
  struct FileEvent {
    enum class Kind : std::uint8_t { mkdir, remove, rename };
    Kind kind;
    std::string path;
    std::string to;  // rename: the new name
  };
  void record_file_event(FileEvent::Kind kind, const std::string& path, const std::string& to = {});
  asio::awaitable<void> tell_file_event();
  // PASS: check the password, admit the account, make its storage, log in (or count a failure).
  asio::awaitable<void> cmd_pass(Call& call);
  // Its steps that do not wait. False (replied) when PASS comes when no password is asked for.
  bool pass_expected();
  // The account store could not answer: 421 and close (not a failed login).
  void refuse_store_unavailable(const AuthResult& result, bool checked);
  // The account's TLS rule and session cap; false (replied) when they refuse the login.
  bool account_admitted(const User& user);
  // False (replied, the session cap released) when the user's storage could not be made.
  bool storage_made(const User& user, const std::optional<Result<std::unique_ptr<Storage>>>& made);
  void start_login(std::optional<User>&& user, std::unique_ptr<Storage>&& storage);
  void count_failed_login(const AuthResult& result, bool checked);
  // 530, and the end of the session after too many failures.
  void reply_failed_login();
  void cmd_user(Call& call);
  // Ends the login: on_logout hooks (on the pool when they may block), then the state.
  asio::awaitable<void> logout();
  void forget_login();
  // REIN: back to the state of a new connection (the control connection's TLS stays).
  asio::awaitable<void> cmd_rein(Call& call);
  void cmd_rest(Call& call);
  void cmd_mode(Call& call);
  void cmd_stru(Call& call);
  // The handlers of path commands get the path resolved and permitted (target_of()).
  void cmd_cwd(Call& call);
  void cmd_mkd(Call& call);
  void cmd_rmd(Call& call);
  void cmd_dele(Call& call);
  void cmd_rnfr(Call& call);
  void cmd_rnto(Call& call);
  void cmd_size(Call& call);
  void cmd_mdtm(Call& call);
  // No path (has_path false) when the argument does not parse (MFMT) or names none ("STAT").
  void cmd_mfmt(Call& call);
  void cmd_mlst(Call& call);
  void cmd_stat(Call& call);
  // SITE: HELP and an embedder's commands, QUOTA and CHMOD (each on the pool only for what
  // may block).
  asio::awaitable<void> cmd_site(Call& call);
  void site_help();
  void site_chmod(std::string_view rest);
  void cmd_host(Call& call);
  // Who checks passwords and makes storages: the selected virtual host's, else the server's.
  [[nodiscard]] Authenticator* login_authenticator() const;
  [[nodiscard]] StorageFactory* login_storage_factory() const;
  // Turns a success into a failure when the account belongs to another virtual host.
  void check_account_host(AuthResult& result) const;
  void site_quota();
  // Waits until a throttled transfer may move bytes again (t.throttle set).
  asio::awaitable<std::error_code> pace(Transfer& t, std::size_t n);
  void cmd_opts(Call& call);
  void cmd_type(Call& call);
  void cmd_feat(Call& call);
  // FTPS (RFC 4217): AUTH TLS/SSL, PBSZ, PROT.
  asio::awaitable<void> cmd_auth(Call& call);  // ends a login, then accept_auth()
  void accept_auth(std::string_view arg);
  void cmd_pbsz(Call& call);
  void cmd_prot(Call& call);
  // The handshake on the control connection (AUTH TLS or an implicit listener), bounded by
  // tls.handshake_timeout; false when it failed (the session then ends).
  asio::awaitable<bool> start_control_tls();
  void cmd_ccc(Call& call);
  // RFC 4217 policy: a login or a data transfer refused without TLS (replied); false = refused.
  bool tls_allows_login();
  bool tls_allows_transfer();
  void cmd_help(Call& call);
  asio::awaitable<void> cmd_hash(Call& call);

  // Resolves a client path; replies 550/501 and returns nullopt when it cannot.
  std::optional<std::string> path_arg(std::string_view arg);
  // What a command acts on, from its row of the command table (proto/command.hpp).
  struct Target {
    bool refused = false;             // replied already (553, 550, a storage error): stop here
    std::optional<std::string> path;  // resolved and permitted; none when the command names none
  };
  // The permission step, the one place the command table's letters are enforced: the path the
  // command names (proto::path_text) resolved against the current directory, and the row's
  // letter checked on it where the row's Reach says. It runs where the handler runs (on the
  // pool when the storage may block: rules per directory ask the storage where a path leads).
  Target target_of(const proto::Command& cmd);
  // True when the user's letters allow `letter` on the typed path and, for users with
  // per-directory rules, on the real one (Storage::real_path) as `reach` says; otherwise replies
  // 550 (or the lookup's error). Only target_of(), RNTO (the RNFR end again) and SITE CHMOD
  // (SITE's own sub-commands) call it.
  bool allowed(char letter, std::string_view path, proto::Reach reach);
  void reply_storage_error(std::error_code ec, bool writing = false);
  // True when a storage action succeeded; otherwise replies with its error.
  bool done_or_reply(const Status& status);

  // --- data channel and transfers (transfer.cpp) ---
  void cmd_port(Call& call);                   // PORT and EPRT
  asio::awaitable<void> cmd_pasv(Call& call);  // PASV and EPSV
  asio::awaitable<void> cmd_transfer(Call& call);
  // The before_download (RETR) or before_upload (STOR, STOU, APPE) hooks on `path`; false when
  // one refused (replied). True for the listings, which have no such hook.
  asio::awaitable<bool> transfer_hooks_proceed(proto::Verb verb, const std::string& path);
  // The prepare_*() steps get the command's path resolved and permitted (target_of()).
  bool prepare_retr(Transfer& t, std::string path);
  // `stou_seed`: drawn from core_.rng on the loop (prepare_stor may run on a pool thread).
  bool prepare_stor(Transfer& t, proto::Verb verb, std::string path, std::uint32_t stou_seed);
  bool prepare_listing(Transfer& t, proto::Verb verb, std::string_view arg, std::string path);
  // How many of a directory's `entries` a listing shows (Options::max_listing_entries), and what
  // the final reply says when that is fewer.
  [[nodiscard]] std::size_t listing_limit(std::size_t entries) const;
  static std::string truncated_note(std::size_t shown, std::size_t entries);
  asio::awaitable<void> run_transfer(std::shared_ptr<Session> self);
  asio::awaitable<std::error_code> open_data_connection(Transfer& t);
  // PROT P: the data connection's TLS handshake (after the 150).
  asio::awaitable<std::error_code> secure_data_connection(Transfer& t);
  asio::awaitable<std::error_code> send_data(Transfer& t);
  // Writes all of `out` a partial write at a time, each counted in t.sent (stall progress).
  asio::awaitable<std::error_code> write_data(Transfer& t, asio::const_buffer out);
  // How far the data has got, for the stall clock: for a download the bytes the client's TCP
  // has taken (handed to the socket minus still queued), for an upload the bytes received.
  static std::uint64_t data_progress(Transfer& t);
  asio::awaitable<std::error_code> receive_data(Transfer& t);
  // The rest of a big upload by splice(); nullopt when splice() cannot be used (then any bytes
  // it took are already written, through `buf`).
  asio::awaitable<std::optional<std::error_code>> receive_spliced(Transfer& t, std::span<std::byte> buf);
  // The end of a transfer: its outcome, the upload's commit (or abort), check_upload hooks, the
  // final reply, the monitor and the completion hooks. Its steps that do not wait:
  asio::awaitable<void> finish_transfer(Transfer& t, std::error_code ec, bool connected);
  Status commit_upload(Transfer& t);
  // A check_upload hook said no: the outcome, the reply (code, text) and maybe the session end.
  void refuse_upload(const Decision& verdict, TransferEvent& ev, int& code, std::string& text);
  // The final reply (226, the storage error, or code and text), and the transfer counters.
  void reply_transfer_end(const Transfer& t, const TransferEvent& ev, int code, std::string_view text);
  // on_file_sent / on_file_received / on_incomplete_file_* for one hook: one per transfer,
  // never a listing.
  void tell_transfer_hook(Hooks& h, const TransferEvent& ev);
  asio::awaitable<void> wait_transfer_done();
  void abort_transfer();
  void transfer_status();
  void close_data_channel();
  // The passive listener, if any, goes back to the loop's pool (core_.passive_ports).
  void give_back_passive();

  // The hooks (core_.hooks): tell(Hooks&) for every hook, on the pool when one may block.
  // Call only when !core_.hooks.empty() (no coroutine frame then on the common path).
  template <class F>
  asio::awaitable<void> notify_hooks(F tell) {
    co_await maybe_offload(core_.hooks.blocking(), [&] { core_.hooks.notify(tell); });
  }
  // ask(Hooks&) -> Decision, in order until a refusal; on the pool when one may block.
  template <class F>
  asio::awaitable<Decision> decide_hooks(F ask) {
    Decision d;
    co_await maybe_offload(core_.hooks.blocking(), [&] { d = core_.hooks.decide(ask); });
    co_return d;
  }
  // Replies to a hook's refusal (its code, or `fallback`) and closes the session when it asked
  // to disconnect (421 by default then).
  void reply_refusal(const Decision& d, int fallback);

  ServerCore& core_;
  ControlChannel control_;
  std::uint64_t id_;
  asio::ip::address peer_addr_;
  asio::ip::address local_addr_;
  std::string peer_ip_;
  std::string local_ip_;
  std::uint16_t peer_port_ = 0;

  proto::LineAssembler lines_;
  std::string pending_;  // input read but not yet fed to lines_
  // A plain control connection's commands are read here first: a read that waits holds a
  // buffer of its own (the shared 4 KiB one only takes what a full small read leaves behind).
  std::array<char, 32> cmd_buf_{};
  std::string out_;         // replies waiting to be written
  std::string wbuf_;        // replies being written
  std::size_t logged_ = 0;  // protocol log: bytes at the start of out_ already logged
  bool writing_ = false;
  bool closing_ = false;
  bool quit_after_transfer_ = false;
  Admission::Ticket admitted_;  // the connection's slot; reset by QUIT before the 221
  // Loop thread only. Offloads in flight that may touch this session (maybe_offload), and a
  // drain() that had to wait for them.
  unsigned lent_ = 0;
  std::optional<bool> drain_pending_;

  // The control clock (idle, or login before a login) and the data clocks are separate, so
  // that control commands never extend a data timeout (and idle = 0 disables none of them).
  // The loop's once-a-second sweep checks them all. The idle clock does not run while a
  // transfer is in flight; the stall clock is Transfer::progress_at.
  Clock::time_point idle_deadline_ = Clock::time_point::max();
  Clock::time_point login_deadline_ = Clock::time_point::max();
  Clock::time_point accept_deadline_ = Clock::time_point::max();  // the data connection
  Phase phase_ = Phase::command;
  proto::Verb last_verb_ = proto::Verb::unknown;  // for the monitor's view
  Clock::time_point connected_ = Clock::now();

  // Login state.
  std::string pending_user_;
  bool user_given_ = false;
  bool host_given_ = false;
  const VirtualHost* host_ = nullptr;  // selected by HOST (core_.hosts); nullptr = the default
  std::optional<User> user_;
  std::unique_ptr<Storage> storage_;
  bool storage_blocking_ = false;
  Admission::Ticket login_ticket_;  // the user's session (user_login) from its check to logout
  std::uint32_t login_failures_ = 0;
  std::uint32_t refused_before_login_ = 0;  // unknown or 530 before login

  // Transfer parameters.
  std::string cwd_ = "/";
  // RFC 959's default representation type is ASCII (pyftpdlib and ProFTPD agree): a client
  // that never sends TYPE and converts line ends itself (ncftp's text files) then stores LF.
  bool ascii_ = true;
  std::uint64_t rest_ = 0;
  std::string rename_from_;
  std::optional<FileEvent> file_event_;  // for the hooks, see record_file_event
  bool epsv_all_ = false;
  unsigned mlst_facts_;
  HashAlgo hash_algo_ = HashAlgo::sha256;

  // Data channel.
  enum class DataMode : std::uint8_t { none, passive, active };
  DataMode data_mode_ = DataMode::none;
  // The passive listener: a raw descriptor (pasv_fd_), handed to pasv_ only when the transfer
  // must wait for the client to connect; pasv_ then owns it and pasv_fd_ is empty.
  os::UniqueFd pasv_fd_;
  asio::ip::tcp::acceptor pasv_;
  std::uint16_t pasv_port_ = 0;
  // A listener offered by PASV/EPSV and not yet taken by a transfer command is given back to
  // the loop's pool at this time (data_accept_timeout after the reply), so idle sessions cannot
  // hold the port range.
  Clock::time_point pasv_offered_until_ = Clock::time_point::max();
  asio::ip::tcp::endpoint active_target_;
  std::unique_ptr<Transfer> xfer_;
  asio::steady_timer xfer_done_;  // fires (is cancelled) when the transfer ends

  // FTPS state.
  bool implicit_tls_ = false;       // accepted on an implicit TLS listener
  bool start_tls_ = false;          // AUTH TLS answered: the handshake follows the 234
  bool clear_tls_ = false;          // CCC answered: close_notify follows the 200
  bool pbsz_ = false;               // PBSZ 0 seen
  bool prot_private_ = false;       // PROT P: data connections under TLS
  std::string host_name_;           // HOST (RFC 7151): picks the certificate
  std::uint32_t data_tls_ = 0;      // data connections under TLS
  std::uint32_t data_resumed_ = 0;  // of which resumed the control session

  std::any app_data_;
};

}  // namespace feitp::session
