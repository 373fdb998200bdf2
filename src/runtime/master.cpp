// The master: one thread, one poll loop over a signalfd and the workers' readiness pipes.
// It never runs an event loop or a thread of its own, so fork() is always safe here.
#include "runtime/master.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/logging.hpp"
#include "obs/metrics.hpp"
#include "runtime/admin.hpp"
#include "runtime/daemon_server.hpp"
#include "cluster/listeners.hpp"
#include "runtime/ticket_keys.hpp"
#include "runtime/notify.hpp"
#include "runtime/privileges.hpp"
#include "runtime/sandbox.hpp"
#include "cluster/shared_state.hpp"
#include "runtime/signals.hpp"
#include "runtime/worker.hpp"

namespace feitp::runtime {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kQuickDeath{5000};  // dying sooner than this counts as a crash loop
constexpr milliseconds kMaxBackoff{30000};
constexpr milliseconds kReloadReadyTimeout{10000};
constexpr milliseconds kKillAfterGrace{5000};  // SIGKILL this long after the grace period
constexpr milliseconds kFastStopKill{3000};

// The master's copy of one worker's sockets; closed when no generation uses it any more.
struct OwnedSet {
  explicit OwnedSet(cluster::ListenerSet s) : fds(std::move(s)) {}
  ~OwnedSet() { cluster::close_listener_set(fds); }
  OwnedSet(const OwnedSet&) = delete;
  OwnedSet& operator=(const OwnedSet&) = delete;
  cluster::ListenerSet fds;
};

struct Generation {
  unsigned id = 0;
  std::shared_ptr<const config::DaemonConfig> cfg;
  unsigned workers = 0;
  std::vector<std::shared_ptr<OwnedSet>> sets;  // index = worker number
  std::vector<std::uint16_t> ports;
  Confinement confinement;  // what its workers give up (runtime/sandbox.hpp)
};

struct Worker {
  pid_t pid = 0;
  unsigned index = 0;
  std::uint32_t slot = 0;
  std::shared_ptr<Generation> gen;
  int ready_fd = -1;
  bool ready = false;
  bool draining = false;
  Clock::time_point started;
};

// Respawn bookkeeping for one worker number of the current generation.
struct Seat {
  unsigned quick_deaths = 0;
  bool pending = false;
  Clock::time_point due;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    return std::string("was killed by signal ") + std::to_string(sig) +
           (name != nullptr ? std::string(" (SIG") + name + ")" : std::string()) +
           (WCOREDUMP(status) ? ", core dumped" : "");
  }
  return "ended (status " + std::to_string(status) + ")";
}

long long ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<milliseconds>(b - a).count();
}

class Master {
 public:
  Master(const config::DaemonConfig& cfg, ConfigLoader reload) : reload_(std::move(reload)) {
    current_ = std::make_shared<Generation>();
    current_->cfg = std::make_shared<const config::DaemonConfig>(cfg);
  }
  // Starts the first generation, then the poll loop until every worker has stopped.
  int run();

 private:
  // run()'s steps. The start: false (said on stderr) when the daemon cannot start.
  bool prepare_process(PidFile& pid_file);     // signals, open files limit, pid file, logging
  bool start_first_generation();               // shared state, admin process, ticket keys, workers
  bool start_monitoring(std::uint32_t slots);  // [metrics] / [admin]: the admin process
  // The poll loop's turn, after reap(): what is due now.
  void kill_overdue(Clock::time_point now);  // past the grace period: SIGKILL
  void check_reload(Clock::time_point now);  // promote a ready generation, or give up on it
  void retry_admin(Clock::time_point now);
  void respawn_due(Clock::time_point now);
  void announce_ready();  // once, when the first generation serves
  // Waits (poll_timeout) for signals, the admin process's requests and workers' readiness and
  // handles them; false when poll() failed.
  bool wait_and_dispatch();
  void read_signals();
  void log_totals() const;  // after the stop
  std::string prepare_generation(Generation& gen, const Generation* previous);
  void spawn(const std::shared_ptr<Generation>& gen, unsigned index);
  void reap();
  void on_signal(int signo);
  void reload();
  void promote();
  void abort_reload(const std::string& why);
  void begin_stop(int signo);
  void handle_ready(Worker& w);
  void setup_master_logging(const config::LogConfig& log);
  int poll_timeout(Clock::time_point now) const;
  // The admin process (runtime/admin.hpp): "" or why it could not start.
  std::string spawn_admin();
  void handle_admin_command();
  void stop_admin();

  ConfigLoader reload_;
  std::shared_ptr<SharedTicketKeys> ticket_keys_;
  std::shared_ptr<Generation> current_;
  std::shared_ptr<Generation> pending_;  // a reload waiting for its workers to be ready
  Clock::time_point pending_deadline_;
  std::vector<Seat> seats_;
  std::map<pid_t, Worker> workers_;
  std::vector<bool> slot_used_;
  std::vector<std::uint32_t> uncleared_;  // dead workers' slots still to clear
  std::shared_ptr<cluster::SharedState> state_;
  // [metrics] / [admin]: the mapping the workers publish into, and the process that serves it.
  std::shared_ptr<obs::MonitorState> monitor_;
  config::MonitorConfig monitor_cfg_;
  std::string admin_token_;
  pid_t admin_pid_ = 0;
  int admin_cmd_fd_ = -1;  // read end: 'H' = reload
  bool admin_pending_ = false;
  Clock::time_point admin_due_;
  LogReopener logs_;
  int log_fd_ = -1;
  int sigfd_ = -1;
  pid_t self_ = 0;
  unsigned next_gen_ = 1;
  bool announced_ready_ = false;
  int stops_ = 0;
  Clock::time_point kill_at_ = Clock::time_point::max();
};

// The master logs little and must never hold a logging thread across fork(): flush each line.
void Master::setup_master_logging(const config::LogConfig& log) {
  spdlog::flush_every(std::chrono::seconds{0});
  spdlog::default_logger_raw()->flush_on(spdlog::level::trace);
  logs_.attach(log.file);
  log_fd_ = logs_.fd();  // the workers keep this descriptor open
}

std::string Master::prepare_generation(Generation& gen, const Generation* previous) {
  const config::DaemonConfig& cfg = *gen.cfg;
  gen.workers = worker_count(cfg);
  std::string note;
  if (auto problem = plan_confinement(cfg.run_as, cfg.sandbox, gen.confinement, note); !problem.empty()) {
    return problem;
  }
  if (!note.empty()) spdlog::warn("{}", note);
  try {
    // Control listeners, then the implicit FTPS ones (Options::listen_fds keeps that order).
    auto addresses = cfg.server.listen;
    addresses.insert(addresses.end(), cfg.server.tls.implicit_listen.begin(),
                     cfg.server.tls.implicit_listen.end());
    const bool same_addresses = previous != nullptr && previous->cfg->server.listen == cfg.server.listen &&
                                previous->cfg->server.tls.implicit_listen == cfg.server.tls.implicit_listen;
    if (same_addresses) gen.ports = previous->ports;
    for (unsigned i = 0; i < gen.workers; ++i) {
      if (same_addresses && i < previous->sets.size()) {
        gen.sets.push_back(previous->sets[i]);  // the same sockets: nothing queued is lost
        continue;
      }
      // At start, the first set checks that no one else listens there (see cluster::bind_listener_set).
      const bool exclusive = previous == nullptr && i == 0;
      auto set = std::make_shared<OwnedSet>(cluster::bind_listener_set(addresses, gen.ports, exclusive));
      if (gen.ports.empty()) gen.ports = cluster::listener_ports(set->fds);  // ":0" resolved once
      gen.sets.push_back(std::move(set));
    }
  } catch (const std::exception& e) {
    gen.sets.clear();
    return e.what();
  }
  return {};
}

void Master::spawn(const std::shared_ptr<Generation>& gen, unsigned index) {
  auto free_slot = std::find(slot_used_.begin(), slot_used_.end(), false);
  if (free_slot == slot_used_.end()) {
    spdlog::warn(
        "worker {}: no free worker slot in the shared state (draining workers hold them); "
        "retrying in 1 s",
        index);
    if (gen == current_ && index < seats_.size()) {
      seats_[index].pending = true;
      seats_[index].due = Clock::now() + milliseconds{1000};
    }
    return;
  }
  const auto slot = static_cast<std::uint32_t>(free_slot - slot_used_.begin());
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    spdlog::error("worker {}: cannot make its readiness pipe: {}", index, std::strerror(errno));
    pipefd[0] = pipefd[1] = -1;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (pipefd[0] >= 0) ::close(pipefd[0]);
    WorkerSpec spec;
    spec.cfg = gen->cfg;
    spec.listeners = gen->sets[index]->fds;
    spec.state = state_;
    spec.slot = slot;
    spec.index = index;
    spec.generation = gen->id;
    spec.confinement = gen->confinement;
    spec.ready_fd = pipefd[1];
    spec.log_fd = log_fd_;
    spec.master = self_;
    spec.ticket_keys = ticket_keys_;
    spec.monitor = monitor_;
    spec.publish_sessions = !monitor_cfg_.admin_listen.empty();
    worker_main(std::move(spec));
  }
  if (pipefd[1] >= 0) ::close(pipefd[1]);
  if (pid < 0) {
    spdlog::error("worker {}: fork failed: {}; retrying in 1 s", index, std::strerror(errno));
    if (pipefd[0] >= 0) ::close(pipefd[0]);
    if (gen == current_ && index < seats_.size()) {
      seats_[index].pending = true;
      seats_[index].due = Clock::now() + milliseconds{1000};
    }
    return;
  }
  *free_slot = true;
  if (monitor_) monitor_->worker_started(slot, pid);
  Worker w;
  w.pid = pid;
  w.index = index;
  w.slot = slot;
  w.gen = gen;
  w.ready_fd = pipefd[0];
  w.started = Clock::now();
  workers_[pid] = std::move(w);
}

void Master::handle_ready(Worker& w) {
  char c = 0;
  const ssize_t n = ::read(w.ready_fd, &c, 1);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  ::close(w.ready_fd);
  w.ready_fd = -1;
  if (n == 1 && c == 'R') w.ready = true;  // else it died first: reap() tells
}

void Master::reap() {
  // Slots whose clearing found the shared mutex taken: retried here (at least once a second,
  // the poll timeout) and kept out of use until done; a respawn takes another free slot.
  std::erase_if(uncleared_, [&](std::uint32_t slot) {
    if (!state_->clear_slot(slot)) return false;
    slot_used_[slot] = false;
    return true;
  });
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == admin_pid_) {
      admin_pid_ = 0;
      if (stops_ == 0) {
        spdlog::error("admin process (pid {}) {}; starting it again in 1 s", pid, describe_status(status));
        admin_pending_ = true;
        admin_due_ = Clock::now() + milliseconds{1000};
      }
      continue;
    }
    auto it = workers_.find(pid);
    if (it == workers_.end()) continue;
    Worker w = std::move(it->second);
    workers_.erase(it);
    if (w.ready_fd >= 0) ::close(w.ready_fd);
    // Its published sessions go now; its histograms stay in the totals.
    if (monitor_) monitor_->worker_ended(w.slot);
    // Whatever the dead worker held (its connections, per-address and per-user counts) goes.
    if (state_->clear_slot(w.slot)) {
      slot_used_[w.slot] = false;
    } else {
      spdlog::warn("worker slot {}: the shared state is locked by another process; clearing it later",
                   w.slot);
      uncleared_.push_back(w.slot);
    }
    const auto now = Clock::now();
    const long long lived = ms_between(w.started, now);
    const std::string how = describe_status(status);

    if (w.draining || stops_ > 0) {
      spdlog::info("worker {} (pid {}, generation {}) {} after draining", w.index, pid, w.gen->id, how);
      continue;
    }
    if (w.gen == pending_) {
      abort_reload("new worker " + std::to_string(w.index) + " (pid " + std::to_string(pid) + ") " + how);
      continue;
    }
    if (w.gen != current_ || w.index >= seats_.size()) continue;

    Seat& seat = seats_[w.index];
    const bool start_failed = WIFEXITED(status) && WEXITSTATUS(status) == kWorkerStartFailed;
    milliseconds delay{0};
    if (lived >= kQuickDeath.count() && !start_failed) {
      seat.quick_deaths = 0;
    } else {
      ++seat.quick_deaths;
      if (seat.quick_deaths > 1 || start_failed) {
        delay = milliseconds{500};
        for (unsigned k = 2; k < seat.quick_deaths && delay < kMaxBackoff; ++k) delay *= 2;
        delay = std::min(delay, kMaxBackoff);
      }
    }
    seat.pending = true;
    seat.due = now + delay;
    if (monitor_) monitor_->count_worker_restart();
    if (delay.count() == 0) {
      spdlog::error("worker {} (pid {}) {} after {} ms; respawning it on the same socket now", w.index, pid,
                    how, lived);
    } else {
      spdlog::error(
          "worker {} (pid {}) {} after {} ms; it keeps dying at start-up ({} times in a row), "
          "respawning in {} ms (back-off)",
          w.index, pid, how, lived, seat.quick_deaths, delay.count());
    }
  }
}

void Master::abort_reload(const std::string& why) {
  spdlog::error("reload failed: {}; keeping the running configuration (generation {})", why, current_->id);
  auto doomed = pending_;
  pending_.reset();
  for (auto& [pid, w] : workers_) {
    if (w.gen == doomed) {
      w.draining = true;
      ::kill(pid, SIGTERM);
    }
  }
  notify_systemd("READY=1\nSTATUS=reload failed: " + why);
}

void Master::reload() {
  if (stops_ > 0) return;
  if (pending_) {
    spdlog::warn("SIGHUP: a reload is already in progress; ignored");
    return;
  }
  notify_reloading();
  spdlog::info("SIGHUP: reloading the configuration");
  config::LoadResult loaded;
  try {
    loaded = reload_();
  } catch (const std::exception& e) {
    loaded.config.reset();
    loaded.error = e.what();
  }
  if (!loaded.config) {
    spdlog::error("reload failed: {}; keeping the running configuration (generation {})", loaded.error,
                  current_->id);
    notify_systemd("READY=1\nSTATUS=reload failed: " + loaded.error);
    return;
  }
  auto gen = std::make_shared<Generation>();
  gen->cfg = std::make_shared<const config::DaemonConfig>(std::move(*loaded.config));
  const config::DaemonConfig& cfg = *gen->cfg;
  const unsigned wanted = worker_count(cfg);
  const auto free_slots = static_cast<unsigned>(std::count(slot_used_.begin(), slot_used_.end(), false));
  std::string problem;
  if (wanted > free_slots) {
    problem = "workers = " + std::to_string(wanted) + " needs " + std::to_string(wanted) +
              " free worker slots in the shared memory, " + std::to_string(free_slots) +
              " are free (it was sized at start; restart feitpd to grow)";
  }
  if (problem.empty()) problem = apply_open_files_limit(cfg.max_open_files);
  if (problem.empty()) problem = prepare_generation(*gen, current_.get());
  if (!problem.empty()) {
    spdlog::error("reload failed: {}; keeping the running configuration (generation {})", problem,
                  current_->id);
    notify_systemd("READY=1\nSTATUS=reload failed: " + problem);
    return;
  }
  if (cfg.monitor.metrics_listen != monitor_cfg_.metrics_listen ||
      cfg.monitor.admin_listen != monitor_cfg_.admin_listen ||
      cfg.monitor.admin_token_file != monitor_cfg_.admin_token_file) {
    spdlog::warn("[metrics] / [admin] changed: takes effect at the next start");
  }
  if (cfg.pid_file != current_->cfg->pid_file) {
    spdlog::warn("server.pid_file changed: takes effect at the next start");
  }
  const auto& old_log = current_->cfg->log;
  if (cfg.log.level != old_log.level || cfg.log.format != old_log.format || cfg.log.file != old_log.file) {
    try {
      setup_logging(cfg.log.level, cfg.log.format, cfg.log.file);
      setup_master_logging(cfg.log);
    } catch (const std::exception& e) {
      spdlog::error("reload: new log settings not applied ({}); keeping the old ones", e.what());
      setup_master_logging(old_log);
    }
  }
  gen->id = next_gen_++;
  pending_ = gen;
  pending_deadline_ = Clock::now() + kReloadReadyTimeout;
  spdlog::info("reload: starting generation {} ({} workers on {})", gen->id, gen->workers,
               cluster::describe_listeners(cfg.server.listen, gen->ports));
  for (unsigned i = 0; i < gen->workers && pending_ == gen; ++i) spawn(gen, i);
}

void Master::promote() {
  auto old = current_;
  current_ = pending_;
  pending_.reset();
  seats_.assign(current_->workers, Seat{});
  for (auto& [pid, w] : workers_) {
    if (w.gen == old) {
      w.draining = true;
      ::kill(pid, SIGUSR2);  // retire: serve its sessions to their end, take no new ones
    }
  }
  // Sockets the new generation did not take over are closed here now; the old workers close
  // their copies as they stop accepting.
  old->sets.clear();
  spdlog::info(
      "reload done: generation {} serving with {} workers; generation {} draining "
      "(grace {} s)",
      current_->id, current_->workers, old->id, old->cfg->shutdown_grace.count());
  notify_systemd("READY=1\nSTATUS=serving, generation " + std::to_string(current_->id));
}

void Master::begin_stop(int signo) {
  ++stops_;
  const auto now = Clock::now();
  if (stops_ == 1) {
    const auto grace = current_->cfg->shutdown_grace;
    spdlog::info("signal {}: stopping: workers stop accepting and get {} s to finish transfers", signo,
                 grace.count());
    notify_systemd("STOPPING=1");
    kill_at_ = now + grace + kKillAfterGrace;
  } else {
    spdlog::info("signal {} again: fast stop, closing every session now", signo);
    kill_at_ = std::min(kill_at_, now + kFastStopKill);
  }
  for (auto& [pid, w] : workers_) {
    w.draining = true;
    ::kill(pid, SIGTERM);  // a worker's second SIGTERM is its fast stop
  }
  pending_.reset();
  current_->sets.clear();  // nothing queues on a socket nobody will accept from
  admin_pending_ = false;
  if (admin_pid_ > 0 && stops_ == 1) ::kill(admin_pid_, SIGTERM);
  for (auto& s : seats_) s.pending = false;
}

void Master::on_signal(int signo) {
  switch (signo) {
    case SIGCHLD: break;  // reap() runs after every wake-up
    case SIGHUP: reload(); break;
    case SIGUSR1: {
      if (auto problem = logs_.reopen(); !problem.empty()) {
        spdlog::warn("log file not reopened: {}", problem);
      } else {
        spdlog::info("SIGUSR1: log files reopened");
      }
      for (auto& [pid, w] : workers_) ::kill(pid, SIGUSR1);
      break;
    }
    default: begin_stop(signo);
  }
}

std::string Master::spawn_admin() {
  int status[2];
  int command[2];
  if (::pipe2(status, O_CLOEXEC) != 0) return std::string("admin process: pipe: ") + std::strerror(errno);
  if (::pipe2(command, O_CLOEXEC) != 0) {
    const int err = errno;
    ::close(status[0]);
    ::close(status[1]);
    return std::string("admin process: pipe: ") + std::strerror(err);
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(status[0]);
    ::close(command[0]);
    AdminProcessSpec spec;
    spec.admin.cfg = monitor_cfg_;
    spec.admin.token = admin_token_;
    spec.admin.state = state_;
    spec.admin.monitor = monitor_;
    spec.status_fd = status[1];
    spec.command_fd = command[1];
    spec.log_fd = log_fd_;
    spec.master = self_;
    admin_process_main(std::move(spec), current_->confinement);
  }
  ::close(status[1]);
  ::close(command[1]);
  if (pid < 0) {
    const int err = errno;
    ::close(status[0]);
    ::close(command[0]);
    return std::string("admin process: fork: ") + std::strerror(err);
  }
  // It binds and gives up its privileges, then says "R" (or "E" and why not).
  std::string reply;
  pollfd p{status[0], POLLIN, 0};
  const auto deadline = Clock::now() + milliseconds{10000};
  for (;;) {
    const int left = static_cast<int>(std::max<long long>(ms_between(Clock::now(), deadline), 0));
    const int n = ::poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char buf[512];
    const ssize_t r = ::read(status[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    reply.append(buf, static_cast<std::size_t>(std::min<ssize_t>(r, 512)));
    if (reply.size() >= 2048) break;
  }
  ::close(status[0]);
  if (reply != "R") {
    ::close(command[0]);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    if (reply.size() > 1 && reply[0] == 'E') return reply.substr(1, 512);
    return "admin process: ended before it was ready";
  }
  ::fcntl(command[0], F_SETFL, O_NONBLOCK);
  if (admin_cmd_fd_ >= 0) ::close(admin_cmd_fd_);
  admin_cmd_fd_ = command[0];
  admin_pid_ = pid;
  spdlog::info("admin process (pid {}): {}{}{}", pid,
               monitor_cfg_.metrics_listen.empty()
                   ? ""
                   : "metrics on http://" + monitor_cfg_.metrics_listen + "/metrics",
               !monitor_cfg_.metrics_listen.empty() && !monitor_cfg_.admin_listen.empty() ? ", " : "",
               monitor_cfg_.admin_listen.empty()
                   ? ""
                   : "admin on " + std::string(monitor_cfg_.admin_tls_cert.empty() ? "http" : "https") +
                         "://" + monitor_cfg_.admin_listen + "/");
  return {};
}

void Master::handle_admin_command() {
  // Only one kind of request exists; the bytes are counted, never interpreted further.
  char buf[64];
  bool reload_asked = false;
  for (;;) {
    const ssize_t n = ::read(admin_cmd_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {  // the admin process is gone: reap() restarts it with a new pipe
      ::close(admin_cmd_fd_);
      admin_cmd_fd_ = -1;
      break;
    }
    if (n < 0) break;
    reload_asked = reload_asked || std::memchr(buf, 'H', static_cast<std::size_t>(n)) != nullptr;
  }
  if (reload_asked) {
    spdlog::info("admin API: reload requested");
    reload();
  }
}

void Master::stop_admin() {
  if (admin_pid_ <= 0) return;
  ::kill(admin_pid_, SIGTERM);
  for (int i = 0; i < 40; ++i) {
    if (::waitpid(admin_pid_, nullptr, WNOHANG) == admin_pid_) {
      admin_pid_ = 0;
      return;
    }
    std::this_thread::sleep_for(milliseconds{50});
  }
  ::kill(admin_pid_, SIGKILL);
  ::waitpid(admin_pid_, nullptr, 0);
  admin_pid_ = 0;
}

int Master::poll_timeout(Clock::time_point now) const {
  auto next = Clock::time_point::max();
  for (const auto& s : seats_) {
    if (s.pending) next = std::min(next, s.due);
  }
  if (pending_) next = std::min(next, pending_deadline_);
  if (admin_pending_) next = std::min(next, admin_due_);
  next = std::min(next, kill_at_);
  if (next == Clock::time_point::max()) return 1000;
  return static_cast<int>(std::clamp<long long>(ms_between(now, next), 0, 1000));
}

// A failed start: the message on stderr (logging may not be set up yet), and run()'s exit code.
bool fail_start(const char* what) {
  std::fprintf(stderr, "feitpd: %s\n", what);
  return false;
}

bool Master::prepare_process(PidFile& pid_file) {
  self_ = ::getpid();
  const config::DaemonConfig& cfg = *current_->cfg;
  const sigset_t set = runtime_signals(true);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  sigfd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd_ < 0) {
    std::fprintf(stderr, "feitpd: cannot watch signals: %s\n", std::strerror(errno));
    return false;
  }
  if (auto problem = apply_open_files_limit(cfg.max_open_files); !problem.empty()) {
    return fail_start(problem.c_str());
  }
  if (!cfg.pid_file.empty()) {
    if (auto problem = pid_file.create(cfg.pid_file); !problem.empty()) return fail_start(problem.c_str());
  }
  setup_master_logging(cfg.log);
  if (auto warning = open_files_warning(cfg.server.max_connections); !warning.empty()) {
    spdlog::warn("{}", warning);
  }
  return true;
}

bool Master::start_monitoring(std::uint32_t slots) {
  monitor_cfg_ = current_->cfg->monitor;
  if (monitor_cfg_.metrics_listen.empty() && monitor_cfg_.admin_listen.empty()) return true;
  if (!monitor_cfg_.admin_listen.empty()) {
    if (auto problem = read_admin_token(monitor_cfg_.admin_token_file, admin_token_); !problem.empty()) {
      return fail_start(problem.c_str());
    }
  }
  try {
    monitor_ = std::make_shared<obs::MonitorState>(slots);
  } catch (const std::exception& e) { return fail_start(e.what()); }
  if (auto problem = spawn_admin(); !problem.empty()) return fail_start(problem.c_str());
  return true;
}

bool Master::start_first_generation() {
  const config::DaemonConfig& cfg = *current_->cfg;
  current_->id = next_gen_++;
  if (auto problem = prepare_generation(*current_, nullptr); !problem.empty()) {
    return fail_start(problem.c_str());
  }
  // Room for the serving workers, one generation draining after a reload and one starting.
  const std::uint32_t slots = std::max<std::uint32_t>(3 * current_->workers + 2, 4);
  try {
    state_ = make_shared_state(cfg, slots);
  } catch (const std::exception& e) { return fail_start(e.what()); }
  slot_used_.assign(slots, false);
  seats_.assign(current_->workers, Seat{});
  if (!start_monitoring(slots)) return false;

  const std::string where = cluster::describe_listeners(cfg.server.listen, current_->ports);
  std::printf("feitpd listening on %s (master pid %d, %u workers)\n", where.c_str(), static_cast<int>(self_),
              current_->workers);
  std::fflush(stdout);
  spdlog::info(
      "master (pid {}) listening on {}; starting {} workers; shared state {} KiB for {} worker slots", self_,
      where, current_->workers, state_->bytes() / 1024, slots);
  // TLS ticket keys: made before the first fork, shared by every worker of every generation,
  // rotated by the poll loop (half a ticket lifetime each; three older keys stay good for
  // decryption).
  try {
    ticket_keys_ = std::make_shared<SharedTicketKeys>();
  } catch (const std::exception& e) { return fail_start(e.what()); }
  for (unsigned i = 0; i < current_->workers; ++i) spawn(current_, i);
  return true;
}

void Master::kill_overdue(Clock::time_point now) {
  if (now < kill_at_) return;
  for (auto& [pid, w] : workers_) {
    spdlog::warn("worker {} (pid {}) still running after the grace period: SIGKILL", w.index, pid);
    ::kill(pid, SIGKILL);
  }
  kill_at_ = now + milliseconds{1000};
}

void Master::check_reload(Clock::time_point now) {
  if (!pending_) return;
  bool all_ready = true;
  unsigned count = 0;
  for (const auto& [pid, w] : workers_) {
    if (w.gen != pending_) continue;
    ++count;
    all_ready = all_ready && w.ready;
  }
  if (all_ready && count == pending_->workers) {
    promote();
  } else if (now >= pending_deadline_) {
    abort_reload("the new workers were not ready within " +
                 std::to_string(kReloadReadyTimeout.count() / 1000) + " s");
  }
}

void Master::retry_admin(Clock::time_point now) {
  if (stops_ != 0 || !admin_pending_ || now < admin_due_) return;
  admin_pending_ = false;
  if (auto problem = spawn_admin(); !problem.empty()) {
    spdlog::error("admin process: {}; trying again in 5 s", problem);
    admin_pending_ = true;
    admin_due_ = Clock::now() + milliseconds{5000};
  }
}

void Master::respawn_due(Clock::time_point now) {
  for (unsigned i = 0; i < seats_.size(); ++i) {
    if (seats_[i].pending && now >= seats_[i].due) {
      seats_[i].pending = false;
      spawn(current_, i);
    }
  }
}

void Master::announce_ready() {
  if (announced_ready_) return;
  unsigned ready = 0;
  for (const auto& [pid, w] : workers_) ready += (w.gen == current_ && w.ready) ? 1U : 0U;
  if (ready == current_->workers) {
    announced_ready_ = true;
    spdlog::info("all {} workers serving", ready);
    notify_systemd("READY=1\nMAINPID=" + std::to_string(self_) + "\nSTATUS=serving with " +
                   std::to_string(ready) + " workers");
  }
}

bool Master::wait_and_dispatch() {
  std::vector<pollfd> fds;
  std::vector<pid_t> owners;
  fds.push_back({sigfd_, POLLIN, 0});
  owners.push_back(0);
  if (admin_cmd_fd_ >= 0) {
    fds.push_back({admin_cmd_fd_, POLLIN, 0});
    owners.push_back(-1);
  }
  for (const auto& [pid, w] : workers_) {
    if (w.ready_fd < 0) continue;
    fds.push_back({w.ready_fd, POLLIN, 0});
    owners.push_back(pid);
  }
  const int n = ::poll(fds.data(), fds.size(), poll_timeout(Clock::now()));
  if (n < 0 && errno != EINTR) {
    spdlog::critical("master: poll failed: {}", std::strerror(errno));
    return false;
  }
  if (n <= 0) return true;
  for (std::size_t i = 1; i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    if (owners[i] == -1) {
      handle_admin_command();
      continue;
    }
    auto it = workers_.find(owners[i]);
    if (it != workers_.end() && it->second.ready_fd == fds[i].fd) handle_ready(it->second);
  }
  if ((fds[0].revents & POLLIN) != 0) read_signals();
  return true;
}

void Master::read_signals() {
  signalfd_siginfo si{};
  while (::read(sigfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    on_signal(static_cast<int>(si.ssi_signo));
  }
}

void Master::log_totals() const {
  const std::optional<cluster::Counters> totals = state_->counters();
  std::string summary = totals ? "" : "unavailable (the shared state stayed locked)";
  for (std::size_t c = 0; totals && c < cluster::kCounters; ++c) {
    summary += (summary.empty() ? "" : ", ") +
               std::string(cluster::counter_name(static_cast<cluster::Counter>(c))) + " " +
               std::to_string((*totals)[c]);
  }
  spdlog::info("stopped; totals: {}", summary);
}

int Master::run() {
  PidFile pid_file;
  if (!prepare_process(pid_file) || !start_first_generation()) return 1;
  for (;;) {
    reap();
    const auto now = Clock::now();
    ticket_keys_->rotate_if_due(
        std::max(std::chrono::seconds{60}, current_->cfg->server.tls.session_lifetime / 2));
    if (stops_ > 0 && workers_.empty()) break;
    kill_overdue(now);
    check_reload(now);
    retry_admin(now);
    if (stops_ == 0) {
      respawn_due(now);
      announce_ready();
    }
    if (!wait_and_dispatch()) break;
  }
  stop_admin();
  log_totals();
  ::close(sigfd_);
  return 0;
}

}  // namespace

unsigned worker_count(const config::DaemonConfig& cfg) {
  if (cfg.workers != 0) return cfg.workers;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

int serve_master(const config::DaemonConfig& cfg, ConfigLoader reload) {
  // After a reload, the new workers sweep each home as their storage factory first opens it.
  sweep_homes(cfg);
  Master master(cfg, std::move(reload));
  return master.run();
}

}  // namespace feitp::runtime
