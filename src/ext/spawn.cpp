#include "ext/spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace feitp::ext {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
  bool open() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return false;
    read.reset(p[0]);
    write.reset(p[1]);
    ::fcntl(p[0], F_SETFL, ::fcntl(p[0], F_GETFL) | O_NONBLOCK);
    return true;
  }
};

// Reads what is available; false at end of file or on error (the descriptor is then closed).
bool drain(Fd& fd, std::string& into) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      const std::size_t room = kMaxCaptured - std::min(kMaxCaptured, into.size());
      into.append(buf, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    fd.reset();
    return false;
  }
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return static_cast<int>(fd);
  }
#else
  (void)pid;
#endif
  return -1;
}

// waitpid that retries on EINTR; false when the child is not ours to reap (SIGCHLD ignored).
bool reap(pid_t pid, int& status, bool block) {
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, block ? 0 : WNOHANG);
    if (r == pid) return true;
    if (r == 0) return false;
    if (errno == EINTR) continue;
    status = -1;
    return true;  // ECHILD: already reaped elsewhere (SIGCHLD ignored); nothing left to wait for
  }
}

}  // namespace

std::string ProgramRun::describe() const {
  switch (status) {
    case Status::exited: return fmt::format("exit {}", exit_code);
    case Status::signaled: return fmt::format("killed by signal {}", exit_code);
    case Status::timed_out:
      return fmt::format("timed out after {} ms (process group killed)", elapsed.count());
    case Status::spawn_failed: return "cannot start: " + error;
    case Status::lost: return "exit status unknown: " + error;
  }
  return "?";
}

ProgramRun run_program(const std::string& program, const std::vector<std::string>& env,
                       std::chrono::milliseconds timeout) {
  ProgramRun run;
  const auto start = Clock::now();
  Pipe out;
  Pipe err;
  if (!out.open() || !err.open()) {
    run.error = std::strerror(errno);
    return run;
  }

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err.write.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);

  // Its own process group (so a timeout kills what it started too), no blocked signals (the
  // daemon blocks its stop signals in every thread), every signal at its default action.
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);

  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>(program.c_str()), nullptr};

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  out.write.reset();
  err.write.reset();
  if (rc != 0) {
    run.error = fmt::format("{}: {}", program, std::strerror(rc));
    return run;
  }

  Fd pidfd(open_pidfd(pid));
  const auto deadline = start + timeout;
  int status = 0;
  bool exited = false;
  bool timed_out = false;
  while (!exited) {
    const auto now = Clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    // Without a pidfd the exit is noticed by polling waitpid.
    if (pidfd.get() < 0) wait_ms = std::min<long long>(wait_ms, 20);
    pollfd fds[3];
    nfds_t n = 0;
    if (out.read.get() >= 0) fds[n++] = {out.read.get(), POLLIN, 0};
    if (err.read.get() >= 0) fds[n++] = {err.read.get(), POLLIN, 0};
    if (pidfd.get() >= 0) fds[n++] = {pidfd.get(), POLLIN, 0};
    const int pr = ::poll(fds, n, static_cast<int>(wait_ms));
    if (pr < 0 && errno != EINTR) break;
    if (out.read.get() >= 0) drain(out.read, run.out);
    if (err.read.get() >= 0) drain(err.read, run.err);
    exited = reap(pid, status, false);
  }
  if (!exited) {
    // Timed out (or poll failed): the whole group goes.
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    reap(pid, status, true);
  }
  // Whatever the program wrote before it ended (a background child may still hold the pipes:
  // read only what is there now).
  if (out.read.get() >= 0) drain(out.read, run.out);
  if (err.read.get() >= 0) drain(err.read, run.err);
  run.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  if (timed_out) {
    run.status = ProgramRun::Status::timed_out;
  } else if (status == -1) {
    run.status = ProgramRun::Status::lost;
    run.error = "the child was reaped elsewhere (is SIGCHLD ignored?)";
  } else if (WIFEXITED(status)) {
    run.status = ProgramRun::Status::exited;
    run.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    run.status = ProgramRun::Status::signaled;
    run.exit_code = WTERMSIG(status);
  } else {
    run.status = ProgramRun::Status::lost;
    run.error = "unexpected wait status";
  }
  return run;
}

}  // namespace feitp::ext
