// Signals for the serving processes (a single process or a worker): they are blocked in every
// thread and read from a signalfd by one watcher thread, which calls back outside signal
// context (so the callbacks may lock, allocate and log). Also the SIGUSR1 log-file reopening.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace feitp::runtime {

// SIGINT SIGTERM SIGQUIT SIGHUP SIGUSR1 (and SIGCHLD when asked: the master's set).
sigset_t runtime_signals(bool with_sigchld);

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

// Reopens the log file in place (logrotate moved it away): the descriptor the logger writes to
// is found once by its inode, then a fresh open of the same path is dup2()ed over it, so the
// logger keeps its descriptor and no logging thread ever sees a half-replaced logger.
class LogReopener {
 public:
  // path "" = logging to stderr: reopen() does nothing.
  void attach(const std::string& path);
  // "" or what failed (the old file stays in use then).
  std::string reopen();
  // The log file's descriptor (-1 = none found or stderr).
  [[nodiscard]] int fd() const { return fd_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace feitp::runtime
