// Single-process serving: the Server runs on the calling thread; a helper thread waits for the
// signals on a signalfd (they are blocked everywhere else) and calls stop(). Admission uses
// the same shared-state code as the workers, with one column, so bans and per-user caps
// behave the same in both modes.
#include "runtime/daemon_server.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "ext/program_hooks.hpp"
#include "obs/xferlog.hpp"
#include "runtime/listeners.hpp"
#include "runtime/privileges.hpp"
#include "runtime/sandbox.hpp"
#include "runtime/signals.hpp"

namespace feitp::runtime {

std::unique_ptr<Server> make_server(const config::DaemonConfig& cfg) {
  auto server = std::make_unique<Server>(cfg.server);
  std::vector<UserEntry> users = cfg.users;
  for (auto& u : users) {
    if (u.max_sessions == 0) u.max_sessions = cfg.max_sessions_per_user;
  }
  server->set_authenticator(make_user_table_authenticator(std::move(users), cfg.anonymous));
  LocalStorageOptions storage;
  storage.atomic_uploads = cfg.atomic_uploads;
  storage.create_root = cfg.create_homes;
  storage.umask = cfg.umask;
  server->set_storage_factory(make_local_storage_factory(storage));
  // [hooks] programs and the transfer log are Hooks like an embedder's own.
  for (auto& h : ext::make_program_hooks(cfg.hooks)) server->add_hooks(std::move(h));
  if (!cfg.log.xferlog.empty()) server->add_hooks(obs::make_xferlog_hooks(cfg.log.xferlog));
  return server;
}

void sweep_homes(const config::DaemonConfig& cfg) {
  std::vector<std::string> homes;
  for (const auto& u : cfg.users) homes.push_back(u.home);
  if (cfg.anonymous) homes.push_back(cfg.anonymous->home);
  std::sort(homes.begin(), homes.end());
  homes.erase(std::unique(homes.begin(), homes.end()), homes.end());
  for (const auto& home : homes) {
    if (const std::size_t n = sweep_upload_temporaries(home); n > 0) {
      spdlog::info("removed {} stale upload temporaries under {}", n, home);
    }
  }
}

std::shared_ptr<SharedState> make_shared_state(const config::DaemonConfig& cfg, std::uint32_t slots) {
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
  return std::make_shared<SharedState>(slots, addresses, users);
}

std::shared_ptr<Admission> make_admission(std::shared_ptr<SharedState> state, std::uint32_t slot,
                                          const config::DaemonConfig& cfg) {
  return std::make_shared<SharedAdmission>(std::move(state), slot, cfg.server.max_connections,
                                           cfg.server.max_per_ip, session::login_policy(cfg.server));
}

int serve_single_process(const config::DaemonConfig& cfg) {
  std::unique_ptr<SignalWatcher> signals;
  try {
    signals = std::make_unique<SignalWatcher>(runtime_signals(false));  // before any thread
  } catch (const std::exception& e) {
    std::fprintf(stderr, "feitpd: %s\n", e.what());
    return 1;
  }
  if (auto problem = apply_open_files_limit(cfg.max_open_files); !problem.empty()) {
    std::fprintf(stderr, "feitpd: %s\n", problem.c_str());
    return 1;
  }
  if (auto warning = open_files_warning(cfg.server.max_connections); !warning.empty()) {
    spdlog::warn("{}", warning);
  }
  Confinement confinement;
  {
    std::string note;
    if (auto problem = plan_confinement(cfg.run_as, cfg.sandbox, confinement, note); !problem.empty()) {
      std::fprintf(stderr, "feitpd: %s\n", problem.c_str());
      return 1;
    }
    if (!note.empty()) spdlog::warn("{}", note);
  }
  PidFile pid_file;
  if (!cfg.pid_file.empty()) {
    if (auto problem = pid_file.create(cfg.pid_file); !problem.empty()) {
      std::fprintf(stderr, "feitpd: %s\n", problem.c_str());
      return 1;
    }
  }

  sweep_homes(cfg);
  std::unique_ptr<Server> server;
  std::shared_ptr<SharedState> state;
  try {
    state = make_shared_state(cfg, 1);
    server = make_server(cfg);
    server->set_admission(make_admission(state, 0, cfg));
    server->bind();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "feitpd: %s\n", e.what());
    return 1;
  }
  // Bound: give up privileges like a worker does. Without a master nothing is left to bind
  // again, which is why SIGHUP does not reload here. spdlog's flusher thread would keep its
  // capabilities (they are per thread): stopped across the drop, restarted after.
  std::string active;
  spdlog::flush_every(std::chrono::seconds{0});
  if (auto problem = confine(confinement, active); !problem.empty()) {
    std::fprintf(stderr, "feitpd: cannot drop privileges: %s\n", problem.c_str());
    return 1;
  }
  if (!cfg.log.file.empty()) spdlog::flush_every(std::chrono::seconds{1});
  spdlog::info("privileges: {}", active);

  const std::string where = describe_listeners(cfg.server.listen, server->ports());
  std::printf("feitpd listening on %s (single process, pid %d)\n", where.c_str(),
              static_cast<int>(::getpid()));
  std::fflush(stdout);
  spdlog::info("listening on {} (single process)", where);

  LogReopener logs;
  logs.attach(cfg.log.file);
  Server* srv = server.get();
  const auto grace = cfg.shutdown_grace;
  int stops = 0;
  signals->start([srv, grace, &stops, &logs](int signo) {
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
      srv->stop(grace);
    } else {
      spdlog::info("signal {} again: closing every session now", signo);
      srv->stop(std::chrono::seconds{0});
    }
  });

  int code = 0;
  try {
    server->run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "feitpd: %s\n", e.what());
    spdlog::error("server stopped: {}", e.what());
    code = 1;
  }
  signals->stop();
  spdlog::info("stopped");
  return code;
}

}  // namespace feitp::runtime
