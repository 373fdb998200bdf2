// Single-process serving: the Server runs on the calling thread; a helper thread waits for the
// stop signals on a signalfd (the signals are blocked everywhere else) and calls stop().
#include "runtime/daemon_server.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace feitp::runtime {

namespace {

// A descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// Blocks the stop signals in this thread (and the threads it starts) while alive.
class BlockedSignals {
 public:
  BlockedSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGQUIT);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;
  ~BlockedSignals() {
    // Drop any stop signal still pending before unblocking, so it does not kill the process.
    timespec zero{};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  [[nodiscard]] const sigset_t& set() const { return set_; }

 private:
  sigset_t set_{};
  sigset_t old_{};
};

std::string join_addresses(const Options& o, const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (std::size_t i = 0; i < o.listen.size(); ++i) {
    std::string a = o.listen[i];
    // Show the port the kernel chose for ":0".
    if (i < ports.size()) {
      auto colon = a.rfind(':');
      if (colon != std::string::npos) a = a.substr(0, colon + 1) + std::to_string(ports[i]);
    }
    out.append(out.empty() ? "" : ", ").append(a);
  }
  return out;
}

}  // namespace

std::unique_ptr<Server> make_server(const config::DaemonConfig& cfg) {
  auto server = std::make_unique<Server>(cfg.server);
  std::vector<UserEntry> users = cfg.users;
  for (auto& u : users) {
    if (u.max_sessions == 0) u.max_sessions = cfg.max_sessions_per_user;
  }
  server->set_authenticator(make_user_table_authenticator(std::move(users), cfg.anonymous));
  server->set_storage_factory(make_local_storage_factory(cfg.atomic_uploads, cfg.create_homes));
  return server;
}

int serve_single_process(const config::DaemonConfig& cfg) {
  BlockedSignals blocked;  // before any thread exists, so every thread inherits the mask
  Fd sigfd(::signalfd(-1, &blocked.set(), SFD_CLOEXEC));
  Fd wake(::eventfd(0, EFD_CLOEXEC));
  if (sigfd.get() < 0 || wake.get() < 0) {
    std::fprintf(stderr, "feitpd: cannot watch signals: %s\n", std::strerror(errno));
    return 1;
  }

  std::unique_ptr<Server> server;
  try {
    server = make_server(cfg);
    server->bind();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "feitpd: %s\n", e.what());
    return 1;
  }

  const std::string where = join_addresses(cfg.server, server->ports());
  std::printf("feitpd listening on %s (single process, pid %d)\n", where.c_str(),
              static_cast<int>(::getpid()));
  std::fflush(stdout);
  spdlog::info("listening on {} (single process)", where);

  Server* srv = server.get();
  const auto grace = cfg.shutdown_grace;
  std::thread watcher([srv, grace, &sigfd, &wake] {
    int stops = 0;
    for (;;) {
      pollfd fds[2] = {{sigfd.get(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if ((fds[1].revents & POLLIN) != 0) return;  // run() has returned
      if ((fds[0].revents & POLLIN) == 0) continue;
      signalfd_siginfo si{};
      if (::read(sigfd.get(), &si, sizeof si) != static_cast<ssize_t>(sizeof si)) continue;
      if (si.ssi_signo == SIGHUP) {
        spdlog::warn("SIGHUP: reloading is not available in single-process mode; ignored");
        continue;
      }
      ++stops;
      if (stops == 1) {
        spdlog::info("signal {}: stopping (grace {} s)", si.ssi_signo, grace.count());
        srv->stop(grace);
      } else {
        spdlog::info("signal {} again: closing every session now", si.ssi_signo);
        srv->stop(std::chrono::seconds{0});
      }
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
  const std::uint64_t one = 1;
  (void)!::write(wake.get(), &one, sizeof one);
  watcher.join();
  spdlog::info("stopped");
  return code;
}

}  // namespace feitp::runtime
