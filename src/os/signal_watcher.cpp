// The signal watcher thread: a signalfd read on a thread of its own.
#include "os/signal_watcher.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

namespace feitp::os {

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
  while (::sigtimedwait(&set_, nullptr, &zero) > 0) {}
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

}  // namespace feitp::os
