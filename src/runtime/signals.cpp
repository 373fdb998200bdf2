// The signal watcher thread and the log reopener.
#include "runtime/signals.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <utility>

namespace feitp::runtime {

sigset_t runtime_signals(bool with_sigchld) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
  if (with_sigchld) sigaddset(&set, SIGCHLD);
  return set;
}

SignalWatcher::SignalWatcher(const sigset_t& set) : set_(set) {
  ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
  sigfd_ = ::signalfd(-1, &set_, SFD_CLOEXEC);
  wake_ = ::eventfd(0, EFD_CLOEXEC);
  if (sigfd_ < 0 || wake_ < 0) {
    const int e = errno;
    if (sigfd_ >= 0) ::close(sigfd_);
    if (wake_ >= 0) ::close(wake_);
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    throw std::system_error(e, std::generic_category(), "cannot watch signals");
  }
}

SignalWatcher::~SignalWatcher() {
  stop();
  ::close(sigfd_);
  ::close(wake_);
  // Drop what is still pending before unblocking, so a late stop signal does not kill us.
  timespec zero{};
  while (::sigtimedwait(&set_, nullptr, &zero) > 0) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

void SignalWatcher::start(std::function<void(int)> on_signal, std::function<void()> on_tick,
                          std::chrono::milliseconds tick) {
  thread_ = std::thread([this, on_signal = std::move(on_signal), on_tick = std::move(on_tick), tick] {
    const int timeout = tick.count() > 0 ? static_cast<int>(tick.count()) : -1;
    for (;;) {
      pollfd fds[2] = {{sigfd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      const int n = ::poll(fds, 2, timeout);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if ((fds[1].revents & POLLIN) != 0) return;
      if (n == 0) {
        if (on_tick) on_tick();
        continue;
      }
      if ((fds[0].revents & POLLIN) == 0) continue;
      signalfd_siginfo si{};
      if (::read(sigfd_, &si, sizeof si) != static_cast<ssize_t>(sizeof si)) continue;
      on_signal(static_cast<int>(si.ssi_signo));
    }
  });
}

void SignalWatcher::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  (void)!::write(wake_, &one, sizeof one);
  thread_.join();
}

void LogReopener::attach(const std::string& path) {
  path_ = path;
  fd_ = -1;
  if (path.empty()) return;
  struct stat want{};
  if (::stat(path.c_str(), &want) != 0) return;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return;
  const int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == self) continue;
    struct stat st{};
    if (::fstat(static_cast<int>(fd), &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == want.st_dev &&
        st.st_ino == want.st_ino) {
      fd_ = static_cast<int>(fd);
      break;
    }
  }
  ::closedir(d);
}

std::string LogReopener::reopen() {
  if (path_.empty()) return {};
  if (fd_ < 0) return "the log file's descriptor was not found at start";
  spdlog::default_logger_raw()->flush();
  const int nfd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (nfd < 0) return "cannot open " + path_ + ": " + std::strerror(errno);
  const int rc = ::dup3(nfd, fd_, O_CLOEXEC);
  const int e = errno;
  ::close(nfd);
  if (rc < 0) return "cannot replace the log descriptor: " + std::string(std::strerror(e));
  return {};
}

}  // namespace feitp::runtime
