// Process set-up that needs (or gives up) privileges: the run_as user, the open-files limit and
// the PID file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace feitp::runtime {

struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Looks up `name` (passwd and group databases) in the master, before any fork. nullopt and
// `error` set when the user does not exist or is root.
std::optional<RunAs> resolve_run_as(const std::string& name, std::string& error);

// True when `name` is a system user with uid 0 (server.run_as = "root": full root on purpose).
bool names_root(const std::string& name);

// setgroups + setgid + setuid, then checks that root cannot be regained. "" or what failed.
std::string drop_privileges(const RunAs& who);

// RLIMIT_NOFILE = n (soft and, if needed, hard); n = 0 raises the soft limit to the hard one
// (capped by fs.nr_open), so a busy worker does not meet EMFILE at the usual 1024.
// "" or a one-line error naming the limits.
std::string apply_open_files_limit(std::uint64_t n);

// "" or a one-line warning when the current hard limit is below what `max_connections`
// sessions may need in one process (a worker may hold them all).
std::string open_files_warning(std::uint32_t max_connections);

// A PID file held under an flock for the life of the process that wrote it.
class PidFile {
 public:
  PidFile() = default;
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  // "" or a one-line error ("already running" when another live process holds the lock).
  std::string create(const std::string& path);
  // Closes the descriptor without removing the file (in a forked worker).
  void forget();
  [[nodiscard]] int fd() const { return fd_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace feitp::runtime
