// Running an external program without a shell: posix_spawn in its own process group, an empty
// signal mask and default dispositions, stdin from /dev/null, stdout and stderr captured (first
// bytes only), every other descriptor closed, a deadline after which the whole group is killed,
// and always reaped (no zombies).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace feitp::ext {

struct ProgramRun {
  enum class Status : unsigned char { exited, signaled, timed_out, spawn_failed, lost };
  Status status = Status::spawn_failed;
  int exit_code = -1;  // exited: the exit status; signaled: the signal number
  std::string out;     // first kMaxCaptured bytes of stdout
  std::string err;     // first kMaxCaptured bytes of stderr
  std::string error;   // spawn_failed / lost: what went wrong
  std::chrono::milliseconds elapsed{0};

  [[nodiscard]] bool succeeded() const { return status == Status::exited && exit_code == 0; }
  // "exit 3", "killed by signal 9", "timed out", "cannot start: ..."
  [[nodiscard]] std::string describe() const;
};

inline constexpr std::size_t kMaxCaptured = 4096;

// Runs `program` (an absolute path; argv[0] = program, no other arguments) with exactly the
// environment `env` ("NAME=value" strings). Blocks the calling thread until the program exits or
// `timeout` passes; then SIGKILL goes to the program's process group and the program is reaped.
ProgramRun run_program(const std::string& program, const std::vector<std::string>& env,
                       std::chrono::milliseconds timeout);

}  // namespace feitp::ext
