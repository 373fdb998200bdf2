// Signals for the serving processes (a single process or a worker): they are blocked in every
// thread and read from a signalfd by one watcher thread (os/signal_watcher.hpp). Also the
// SIGUSR1 log-file reopening.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "os/signal_watcher.hpp"

namespace feitp::runtime {

// SIGINT SIGTERM SIGQUIT SIGHUP SIGUSR1 (and SIGCHLD when asked: the master's set).
sigset_t runtime_signals(bool with_sigchld);

using os::SignalWatcher;

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
