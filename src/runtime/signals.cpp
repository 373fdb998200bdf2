// The daemon's signal set and the log reopener (the watcher thread is os/signal_watcher).
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

void LogReopener::attach(const std::string& path) {
  path_ = path;
  fd_ = -1;
  if (path.empty()) return;
  struct stat want {};
  if (::stat(path.c_str(), &want) != 0) return;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return;
  const int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == self) continue;
    struct stat st {};
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
