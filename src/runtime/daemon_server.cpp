// Single-process serving: the Server runs on the calling thread; a helper thread waits for the
// signals on a signalfd (they are blocked everywhere else) and calls stop(). Admission uses
// the same shared-state code as the workers, with one column, so bans and per-user caps
// behave the same in both modes.
#include "runtime/daemon_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "auth/store_spec.hpp"
#include "ext/program_hooks.hpp"
#include "obs/metrics.hpp"
#include "runtime/admin.hpp"
#include "feitp/limits.hpp"
#include "proto/text.hpp"
#include "runtime/limits_state.hpp"
#include "obs/xferlog.hpp"
#include "cluster/listeners.hpp"
#include "runtime/privileges.hpp"
#include "runtime/sandbox.hpp"
#include "runtime/signals.hpp"
#include "runtime/worker.hpp"

namespace feitp::runtime {

namespace {
// The config-file users of one virtual host (users.NAME.host; "" = the default host), with the
// default session cap filled in.
std::vector<UserEntry> users_of_host(const config::DaemonConfig& cfg, std::string_view host) {
  std::vector<UserEntry> users;
  for (const auto& u : cfg.users) {
    if (!proto::iequals(u.host, host)) continue;
    users.push_back(u);
    if (users.back().max_sessions == 0) users.back().max_sessions = cfg.max_sessions_per_user;
  }
  return users;
}
}  // namespace

std::shared_ptr<Authenticator> make_authenticator(const config::DaemonConfig& cfg) {
  auth::StoreSpec spec;
  if (auto problem = auth::parse_store_spec(cfg.accounts.store, spec); !problem.empty()) {
    throw std::runtime_error("accounts.store: " + problem);
  }
  switch (spec.kind) {
    case auth::StoreSpec::Kind::sqlite:
      // Read-only and opened at the first login: workers never write the file.
      return make_store_authenticator(open_sqlite_store(spec.target, false, true, /*lazy=*/true),
                                      cfg.anonymous, cfg.max_sessions_per_user);
    case auth::StoreSpec::Kind::postgresql:
      return make_store_authenticator(
          open_postgresql_store(spec.target, cfg.accounts.pool_size, cfg.accounts.connect_timeout, false),
          cfg.anonymous, cfg.max_sessions_per_user);
    case auth::StoreSpec::Kind::pam:
      return make_pam_authenticator(spec.target, Permissions(cfg.accounts.permissions), cfg.anonymous,
                                    cfg.max_sessions_per_user);
    case auth::StoreSpec::Kind::config: break;
  }
  // Config-file users of a virtual host (users.NAME.host) log in through that host's table.
  return make_user_table_authenticator(users_of_host(cfg, ""), cfg.anonymous);
}

std::string prepare_account_store(const config::DaemonConfig& cfg, bool check_only, std::string& note) {
  note.clear();
  auth::StoreSpec spec;
  if (auto problem = auth::parse_store_spec(cfg.accounts.store, spec); !problem.empty()) {
    return "accounts.store: " + problem;
  }
  try {
    switch (spec.kind) {
      case auth::StoreSpec::Kind::sqlite: {
        const bool exists = ::access(spec.target.c_str(), F_OK) == 0;
        if (check_only && !exists) return "sqlite:" + spec.target + ": no such file";
        auto store = open_sqlite_store(spec.target, !check_only, check_only);
        if (!exists) note = "sqlite:" + spec.target + ": created, with no accounts yet (feitpd user add)";
        break;
      }
      case auth::StoreSpec::Kind::postgresql:
        try {
          open_postgresql_store(spec.target, 1, cfg.accounts.connect_timeout, true);
        } catch (const StoreUnavailable& e) {
          const std::string what = e.what();
          // A newer schema is a fact about the database; a database that is down may come up.
          if (check_only || what.find("newer than this feitpd") != std::string::npos) return what;
          note = what + "; serving anyway: logins get 421 until it answers";
        }
        break;
      case auth::StoreSpec::Kind::pam:
        if (::access(("/etc/pam.d/" + spec.target).c_str(), R_OK) != 0 &&
            ::access(("/usr/lib/pam.d/" + spec.target).c_str(), R_OK) != 0) {
          return "accounts.store: no PAM service \"" + spec.target + "\" (/etc/pam.d/" + spec.target + ")";
        }
        if (::geteuid() != 0) return "accounts.store = pam: start feitpd as root (its PAM helper keeps root)";
        break;
      case auth::StoreSpec::Kind::config: break;
    }
  } catch (const StoreUnavailable& e) { return e.what(); }
  if (spec.kind != auth::StoreSpec::Kind::config && cfg.accounts.homes.empty() && ::geteuid() == 0 &&
      cfg.run_as.empty() && cfg.sandbox) {
    note += std::string(note.empty() ? "" : "; ") +
            "accounts.homes is empty: workers serve as root under Landlock and may write only "
            "beneath the configured homes; set accounts.homes to where the accounts' homes are";
  }
  return {};
}

std::unique_ptr<Server> make_server(const config::DaemonConfig& cfg) {
  // The library logs where the daemon does: the logger of [log] (runtime::setup_logging), which
  // is spdlog's default in this process.
  Options options = cfg.server;
  options.logger = spdlog::default_logger();
  auto server = std::make_unique<Server>(std::move(options));
  server->set_authenticator(make_authenticator(cfg));
  LocalStorageOptions storage;
  storage.atomic_uploads = cfg.atomic_uploads;
  storage.create_root = cfg.create_homes;
  storage.umask = cfg.umask;
  // Quotas (users with quota_bytes/quota_files) are counted in the shared table, so every
  // worker sees the same usage; other users get the local storage untouched.
  server->set_storage_factory(
      make_quota_storage_factory(make_local_storage_factory(storage), shared_quota_ledger()));
  server->set_rate_states(shared_rate_states());
  for (const auto& h : cfg.hosts) {
    VirtualHost host;
    host.name = h.name;
    host.banner = h.banner;
    std::optional<AnonymousEntry> anonymous;
    if (cfg.anonymous && !h.root.empty()) {
      anonymous = cfg.anonymous;
      anonymous->home = h.root;
    }
    host.authenticator = make_user_table_authenticator(users_of_host(cfg, h.name), anonymous);
    host.session_upload_rate = h.session_upload_rate;
    host.session_download_rate = h.session_download_rate;
    server->add_virtual_host(std::move(host));
  }
  // [hooks] programs and the transfer log are Hooks like an embedder's own.
  for (auto& h : ext::make_program_hooks(cfg.hooks)) server->add_hooks(std::move(h));
  if (!cfg.log.xferlog.empty()) server->add_hooks(obs::make_xferlog_hooks(cfg.log.xferlog));
  return server;
}

namespace {

// Every home the config names (users and anonymous), once each.
std::vector<std::string> configured_homes(const config::DaemonConfig& cfg) {
  std::vector<std::string> homes;
  for (const auto& u : cfg.users) homes.push_back(u.home);
  if (cfg.anonymous) homes.push_back(cfg.anonymous->home);
  for (const auto& h : cfg.accounts.homes) homes.push_back(h);
  for (const auto& h : cfg.hosts) {
    if (cfg.anonymous && !h.root.empty()) homes.push_back(h.root);
  }
  std::sort(homes.begin(), homes.end());
  homes.erase(std::unique(homes.begin(), homes.end()), homes.end());
  return homes;
}

// mkdir -p with the mode local storage gives a home it creates at login (0777 & ~umask).
void create_home(const std::string& home, std::uint32_t umask) {
  const auto mode = static_cast<mode_t>(0777 & ~umask);
  for (std::size_t i = 1; i <= home.size(); ++i) {
    if (i != home.size() && home[i] != '/') continue;
    const std::string prefix = home.substr(0, i);
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      spdlog::warn("home {}: cannot create {}: {}", home, prefix, std::strerror(errno));
      return;
    }
  }
}

// Adds `path` unless it is listed already (a home first: its rule covers the others').
void add_writable(std::vector<WritablePath>& out, std::string path, WritablePath::Kind kind) {
  const bool known =
      std::any_of(out.begin(), out.end(), [&](const WritablePath& w) { return w.path == path; });
  if (!known) out.push_back({std::move(path), kind});
}

std::string parent_directory(const std::string& file) {
  const auto slash = file.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : file.substr(0, slash);
}

// Sanitizer builds write their reports as the worker dies: keep their directory writable, or
// a report under Landlock is lost (tests/integration relies on log_path reports).
void add_sanitizer_log_dirs([[maybe_unused]] std::vector<WritablePath>& out) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"}) {
    const char* value = std::getenv(var);
    if (value == nullptr) continue;
    const std::string opts = value;
    const auto at = opts.find("log_path=");
    if (at == std::string::npos) continue;
    const auto start = at + 9;
    const std::string path = opts.substr(start, opts.find(':', start) - start);
    if (!path.empty()) add_writable(out, parent_directory(path), WritablePath::Kind::tree);
  }
#endif
}

}  // namespace

void plan_writable_paths(const config::DaemonConfig& cfg, Confinement& c) {
  c.writable.clear();
  if (!wants_landlock(c)) return;
  // A home created at login would be created under Landlock, beneath a parent it may not
  // write: create the missing ones now, as the storage would (same owner: uid 0 either way).
  for (const auto& home : configured_homes(cfg)) {
    if (cfg.create_homes && ::access(home.c_str(), F_OK) != 0) create_home(home, cfg.umask);
    add_writable(c.writable, home, WritablePath::Kind::tree);
  }
  // The log is reopened on SIGUSR1 (after rotation: created anew); the xferlog is opened before
  // confinement today, its directory is kept for a reopen all the same.
  for (const std::string* log : {&cfg.log.file, &cfg.log.xferlog}) {
    if (!log->empty()) add_writable(c.writable, parent_directory(*log), WritablePath::Kind::log_dir);
  }
  // Hook programs and their shells redirect to it ("> /dev/null" opens it O_TRUNC).
  add_writable(c.writable, "/dev/null", WritablePath::Kind::file);
  add_sanitizer_log_dirs(c.writable);
}

void sweep_homes(const config::DaemonConfig& cfg) {
  for (const auto& home : configured_homes(cfg)) {
    if (const std::size_t n = sweep_upload_temporaries(home); n > 0) {
      spdlog::info("removed {} stale upload temporaries under {}", n, home);
    }
  }
}

std::shared_ptr<cluster::SharedState> make_shared_state(const config::DaemonConfig& cfg,
                                                        std::uint32_t slots) {
  prepare_shared_limits();  // before any fork: quotas and rate buckets span the workers
  // Address entries hold per-address connection counts (only with max_per_ip) and login
  // records (only with bans): room for every connection's address four times over, within
  // [4096, 65536] entries (about 7 MiB of entries at most, touched only as they are used),
  // unless limits.address_table_size says otherwise. A full table evicts or fails open.
  const std::uint64_t conns = cfg.server.max_connections ? cfg.server.max_connections : 16384;
  const auto addresses = cfg.address_table_size != 0
                             ? cfg.address_table_size
                             : static_cast<std::uint32_t>(std::clamp<std::uint64_t>(conns * 4, 4096, 65536));
  const auto users = static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(std::max<std::uint64_t>(conns, cfg.users.size() * 2), 1024, 65536));
  return std::make_shared<cluster::SharedState>(slots, addresses, users);
}

std::shared_ptr<Admission> make_admission(std::shared_ptr<cluster::SharedState> state, std::uint32_t slot,
                                          const config::DaemonConfig& cfg) {
  return std::make_shared<cluster::SharedAdmission>(std::move(state), slot, cfg.server.max_connections,
                                                    cfg.server.max_per_ip, session::login_policy(cfg.server),
                                                    spdlog::default_logger());
}

// serve_single_process()'s steps.
namespace {

// A failed start: the message on stderr; false.
bool fail_start(const char* what) {
  std::fprintf(stderr, "feitpd: %s\n", what);
  return false;
}

// What comes before any thread: the signal watcher, the open files limit, the confinement's
// plan and the pid file.
bool prepare_process(const config::DaemonConfig& cfg, std::unique_ptr<SignalWatcher>& signals,
                     Confinement& confinement, PidFile& pid_file) {
  try {
    signals = std::make_unique<SignalWatcher>(runtime_signals(false));  // before any thread
  } catch (const std::exception& e) { return fail_start(e.what()); }
  if (auto problem = apply_open_files_limit(cfg.max_open_files); !problem.empty()) {
    return fail_start(problem.c_str());
  }
  if (auto warning = open_files_warning(cfg.server.max_connections); !warning.empty()) {
    spdlog::warn("{}", warning);
  }
  {
    std::string note;
    if (auto problem = plan_confinement(cfg.run_as, cfg.sandbox, confinement, note); !problem.empty()) {
      return fail_start(problem.c_str());
    }
    if (!note.empty()) spdlog::warn("{}", note);
  }
  if (!cfg.pid_file.empty()) {
    if (auto problem = pid_file.create(cfg.pid_file); !problem.empty()) return fail_start(problem.c_str());
  }
  return true;
}

// [metrics] / [admin]: served on two threads of this process (started after confinement),
// bound now.
bool make_admin_service(const config::DaemonConfig& cfg, const std::shared_ptr<cluster::SharedState>& state,
                        Server& server, std::unique_ptr<AdminService>& admin) {
  AdminSpec spec;
  spec.cfg = cfg.monitor;
  if (!cfg.monitor.admin_listen.empty()) {
    if (auto problem = read_admin_token(cfg.monitor.admin_token_file, spec.token); !problem.empty()) {
      return fail_start(problem.c_str());
    }
  }
  spec.state = state;
  spec.monitor = std::make_shared<obs::MonitorState>(1);
  spec.monitor->worker_started(0, ::getpid());
  server.set_monitor(spec.monitor->make_worker_monitor(0, !cfg.monitor.admin_listen.empty()));
  admin = std::make_unique<AdminService>(std::move(spec));
  if (auto problem = admin->bind(); !problem.empty()) return fail_start(problem.c_str());
  return true;
}

// The shared state (one column), the server and the admin service, bound.
bool bind_server(const config::DaemonConfig& cfg, std::unique_ptr<Server>& server,
                 std::shared_ptr<cluster::SharedState>& state, std::unique_ptr<AdminService>& admin) {
  const bool monitoring = !cfg.monitor.metrics_listen.empty() || !cfg.monitor.admin_listen.empty();
  try {
    state = make_shared_state(cfg, 1);
    server = make_server(cfg);
    server->set_admission(make_admission(state, 0, cfg));
    if (monitoring && !make_admin_service(cfg, state, *server, admin)) return false;
    server->bind();
  } catch (const std::exception& e) { return fail_start(e.what()); }
  return true;
}

// Bound: give up privileges like a worker does. Without a master nothing is left to bind
// again, which is why SIGHUP does not reload here. spdlog's flusher thread would keep its
// capabilities (they are per thread): stopped across the drop, restarted after.
bool drop_privileges(const config::DaemonConfig& cfg, Confinement& confinement) {
  std::string active;
  plan_writable_paths(cfg, confinement);
  spdlog::flush_every(std::chrono::seconds{0});
  if (auto problem = confine(confinement, active); !problem.empty()) {
    std::fprintf(stderr, "feitpd: cannot drop privileges: %s\n", problem.c_str());
    return false;
  }
  if (!cfg.log.file.empty()) spdlog::flush_every(std::chrono::seconds{1});
  spdlog::info("privileges: {}", active);
  return true;
}

void announce_listening(const config::DaemonConfig& cfg, const Server& server) {
  const std::string where = cluster::describe_listeners(cfg.server.listen, server.ports());
  std::printf("feitpd listening on %s (single process, pid %d)\n", where.c_str(),
              static_cast<int>(::getpid()));
  std::fflush(stdout);
  spdlog::info("listening on {} (single process)", where);
}

// On the signal watcher's thread: SIGUSR1 reopens the log, SIGHUP is ignored, a stop signal
// stops the server (a second one at once).
void handle_signal(int signo, Server& srv, std::chrono::seconds grace, int& stops, LogReopener& logs) {
  if (signo == SIGUSR1) {
    if (auto problem = logs.reopen(); !problem.empty()) {
      spdlog::warn("log file not reopened: {}", problem);
    } else {
      spdlog::info("log file reopened");
    }
    return;
  }
  if (signo == SIGHUP) {
    spdlog::warn("SIGHUP: reloading needs the master (workers != 1); ignored");
    return;
  }
  if (++stops == 1) {
    spdlog::info("signal {}: stopping (grace {} s)", signo, grace.count());
    srv.stop(grace);
  } else {
    spdlog::info("signal {} again: closing every session now", signo);
    srv.stop(std::chrono::seconds{0});
  }
}

// The server's loop on this thread until it stops; the exit code.
int run_server(Server& server) {
  try {
    server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "feitpd: %s\n", e.what());
    spdlog::error("server stopped: {}", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int serve_single_process(const config::DaemonConfig& cfg) {
  std::unique_ptr<SignalWatcher> signals;
  Confinement confinement;
  PidFile pid_file;
  if (!prepare_process(cfg, signals, confinement, pid_file)) return 1;

  sweep_homes(cfg);
  std::unique_ptr<Server> server;
  std::shared_ptr<cluster::SharedState> state;
  std::unique_ptr<AdminService> admin;
  if (!bind_server(cfg, server, state, admin) || !drop_privileges(cfg, confinement)) return 1;
  if (admin) admin->start();
  announce_listening(cfg, *server);

  LogReopener logs;
  logs.attach(cfg.log.file);
  Server* srv = server.get();
  const auto grace = cfg.shutdown_grace;
  int stops = 0;
  cluster::SharedState* shared = state.get();
  // With /metrics or the admin API, the counters go to the shared state once a second, as a
  // worker's do.
  std::function<void()> tick;
  if (admin) tick = [shared, srv] { publish_stats(*shared, 0, *srv); };
  signals->start([srv, grace, &stops, &logs](int signo) { handle_signal(signo, *srv, grace, stops, logs); },
                 tick, std::chrono::milliseconds{admin ? 1000 : 0});

  const int code = run_server(*server);
  signals->stop();
  if (admin) admin->stop();
  spdlog::info("stopped");
  return code;
}

}  // namespace feitp::runtime
