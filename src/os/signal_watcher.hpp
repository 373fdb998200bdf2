// Signals read on a thread instead of in signal context: the set is blocked in the calling
// thread (and so in every thread it starts later), a signalfd is read by one watcher thread,
// which calls back outside signal context (so callbacks may lock, allocate and log). Used by the
// daemon (runtime/) and by feitp::run_until_signal.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <thread>

namespace feitp::os {

class SignalWatcher {
 public:
  // Blocks `set` in the calling thread (do it before any other thread exists) and opens the
  // signalfd. Throws std::system_error when that fails.
  explicit SignalWatcher(const sigset_t& set);
  ~SignalWatcher();  // stops the thread, drops pending signals, restores the mask
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // on_signal(signo) for each signal; on_tick() every `tick` (0 = never).
  void start(std::function<void(int)> on_signal, std::function<void()> on_tick = {},
             std::chrono::milliseconds tick = std::chrono::milliseconds{0});
  void stop();

 private:
  sigset_t set_{};
  sigset_t old_{};
  int sigfd_ = -1;
  int wake_ = -1;
  std::thread thread_;
};

}  // namespace feitp::os
