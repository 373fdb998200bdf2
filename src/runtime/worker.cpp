// The worker process: close what it must not hold, build the Server, drop privileges and enter
// the sandbox (runtime/sandbox.hpp), tell the master it serves, then serve until SIGTERM
// (drain) and exit.
#include "runtime/worker.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "runtime/daemon_server.hpp"
#include "runtime/sandbox.hpp"
#include "runtime/signals.hpp"

namespace feitp::runtime {

// Closes every descriptor but the standard ones and `keep`: another worker's sockets, the
// master's signalfd and pipes, the PID file lock are none of this worker's business.
void close_inherited(const std::set<int>& keep) {
  std::vector<int> doomed;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    const int self = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      const long fd = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0') continue;
      if (fd <= 2 || fd == self || keep.count(static_cast<int>(fd)) != 0) continue;
      doomed.push_back(static_cast<int>(fd));
    }
    ::closedir(d);
  }
  for (int fd : doomed) ::close(fd);
}

void publish_stats(cluster::SharedState& state, std::uint32_t slot, const Server& server) {
  const ServerStats s = server.stats();
  state.set_counter(slot, cluster::Counter::sessions_total, s.sessions_total);
  state.set_counter(slot, cluster::Counter::logins, s.logins);
  state.set_counter(slot, cluster::Counter::uploads, s.uploads);
  state.set_counter(slot, cluster::Counter::downloads, s.downloads);
  state.set_counter(slot, cluster::Counter::bytes_in, s.bytes_in);
  state.set_counter(slot, cluster::Counter::bytes_out, s.bytes_out);
}

namespace {

int serve(WorkerSpec& spec) {
  const config::DaemonConfig& cfg = *spec.cfg;
  std::set<int> keep(spec.listeners.begin(), spec.listeners.end());
  if (spec.ready_fd >= 0) keep.insert(spec.ready_fd);
  if (spec.log_fd >= 0) keep.insert(spec.log_fd);
  close_inherited(keep);
  ::prctl(PR_SET_NAME, "feitpd-worker", 0, 0, 0);

  // The master blocks its signals for its signalfd; this process watches its own.
  // SIGUSR2 (worker only): the master replaced this worker at a reload (retire, below).
  sigset_t watched = runtime_signals(false);
  sigaddset(&watched, SIGUSR2);
  SignalWatcher signals(watched);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::pthread_sigmask(SIG_UNBLOCK, &chld, nullptr);

  std::unique_ptr<Server> server;
  try {
    config::DaemonConfig mine = cfg;
    mine.server.listen_fds = spec.listeners;
    mine.server.tls.ticket_keys = spec.ticket_keys;
    server = make_server(mine);
    server->set_admission(make_admission(spec.state, spec.slot, cfg));
    if (spec.monitor)
      server->set_monitor(spec.monitor->make_worker_monitor(spec.slot, spec.publish_sessions));
    server->bind();
  } catch (const std::exception& e) {
    spdlog::error("worker {}: cannot start: {}", spec.index, e.what());
    return kWorkerStartFailed;
  }

  // Give up privileges before the first client byte, while this is the only thread.
  plan_writable_paths(cfg, spec.confinement);
  std::string active;
  if (auto problem = confine(spec.confinement, active); !problem.empty()) {
    spdlog::critical("worker {}: cannot drop privileges: {}", spec.index, problem);
    return kWorkerStartFailed;
  }
  // Drain when the master disappears (set after the uid change, which would clear it).
  ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
  if (::getppid() != spec.master) return 0;

  spdlog::default_logger_raw()->flush_on(spdlog::level::warn);
  if (!cfg.log.file.empty()) spdlog::flush_every(std::chrono::seconds{1});
  LogReopener logs;
  logs.attach(cfg.log.file);

  Server* srv = server.get();
  cluster::SharedState* state = spec.state.get();
  const std::uint32_t slot = spec.slot;
  const auto grace = cfg.shutdown_grace;
  const unsigned index = spec.index;
  std::atomic<int> stops{0};
  signals.start(
      [&, srv, grace, index](int signo) {
        if (signo == SIGUSR1) {
          if (auto problem = logs.reopen(); !problem.empty()) {
            spdlog::warn("worker {}: log file not reopened: {}", index, problem);
          }
          return;
        }
        if (signo == SIGHUP) return;  // the master reloads; workers are replaced
        if (signo == SIGUSR2) {
          // Replaced by a reload: stop accepting, but serve the sessions, idle ones too, until
          // they quit or the grace is over, so that no client between two commands gets 421.
          spdlog::debug("worker {}: retiring (grace {} s)", index, grace.count());
          srv->retire(grace);
          return;
        }
        if (stops.fetch_add(1) == 0) {
          spdlog::debug("worker {}: draining (grace {} s)", index, grace.count());
          srv->stop(grace);
        } else {
          srv->stop(std::chrono::seconds{0});
        }
      },
      [srv, state, slot] { publish_stats(*state, slot, *srv); }, std::chrono::milliseconds{1000});

  spdlog::info("worker {} (pid {}, generation {}) serving: {}", spec.index, ::getpid(), spec.generation,
               active);
  if (spec.ready_fd >= 0) {
    const char ready = 'R';
    (void)!::write(spec.ready_fd, &ready, 1);
    ::close(spec.ready_fd);
    spec.ready_fd = -1;
  }

  int code = 0;
  try {
    server->run();
  } catch (const std::exception& e) {
    spdlog::error("worker {}: stopped by an error: {}", spec.index, e.what());
    code = 1;
  }
  signals.stop();
  publish_stats(*state, slot, *server);
  server.reset();
  return code;
}

}  // namespace

void worker_main(WorkerSpec spec) {
  int code = kWorkerStartFailed;
  try {
    code = serve(spec);
  } catch (const std::exception& e) { spdlog::error("worker {}: {}", spec.index, e.what()); } catch (...) {
    spdlog::error("worker {}: unknown error", spec.index);
  }
  spdlog::default_logger_raw()->flush();
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(code);
}

}  // namespace feitp::runtime
