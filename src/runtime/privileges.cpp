// run_as, RLIMIT_NOFILE and the PID file.
#include "runtime/privileges.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace feitp::runtime {

std::optional<RunAs> resolve_run_as(const std::string& name, std::string& error) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (found == nullptr) {
    error = "server.run_as: no system user \"" + name + "\"" +
            (rc != 0 ? std::string(" (") + std::strerror(rc) + ")" : std::string());
    return std::nullopt;
  }
  if (pw.pw_uid == 0) {
    error = "server.run_as: \"" + name + "\" is root (uid 0); name an unprivileged user";
    return std::nullopt;
  }
  RunAs who;
  who.name = name;
  who.uid = pw.pw_uid;
  who.gid = pw.pw_gid;
  int n = 64;
  for (int attempt = 0; attempt < 4; ++attempt) {
    who.groups.assign(static_cast<std::size_t>(n), 0);
    int got = n;
    if (::getgrouplist(name.c_str(), pw.pw_gid, who.groups.data(), &got) >= 0) {
      who.groups.resize(static_cast<std::size_t>(got));
      return who;
    }
    n = got > n ? got : n * 4;
  }
  who.groups = {pw.pw_gid};
  return who;
}

bool names_root(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  return found != nullptr && pw.pw_uid == 0;
}

std::string drop_privileges(const RunAs& who) {
  if (::setgroups(who.groups.size(), who.groups.data()) != 0) {
    return std::string("setgroups: ") + std::strerror(errno);
  }
  if (::setgid(who.gid) != 0) return std::string("setgid: ") + std::strerror(errno);
  if (::setuid(who.uid) != 0) return std::string("setuid: ") + std::strerror(errno);
  // Paranoia (vsftpd style): root must be gone for good.
  if (::setuid(0) == 0 || ::geteuid() == 0 || (who.gid != 0 && ::setgid(0) == 0)) {
    return "still able to regain root after setuid";
  }
  return {};
}

namespace {

// The kernel's ceiling for RLIMIT_NOFILE (fs.nr_open); an "unlimited" hard limit means this.
rlim_t nr_open() {
  rlim_t n = 1048576;
  if (std::FILE* f = std::fopen("/proc/sys/fs/nr_open", "re")) {
    unsigned long long v = 0;
    if (std::fscanf(f, "%llu", &v) == 1 && v > 0) n = static_cast<rlim_t>(v);
    std::fclose(f);
  }
  return n;
}

std::string raise_soft_to_hard() {
  rlimit cur{};
  if (::getrlimit(RLIMIT_NOFILE, &cur) != 0) return std::string("getrlimit: ") + std::strerror(errno);
  const rlim_t top = cur.rlim_max == RLIM_INFINITY ? nr_open() : cur.rlim_max;
  if (cur.rlim_cur != RLIM_INFINITY && cur.rlim_cur >= top) return {};
  rlimit want{top, cur.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
    return "raising the open-files soft limit to " + std::to_string(top) + ": " + std::strerror(errno);
  }
  return {};
}

}  // namespace

std::string open_files_warning(std::uint32_t max_connections) {
  if (max_connections == 0) return {};
  rlimit cur{};
  if (::getrlimit(RLIMIT_NOFILE, &cur) != 0 || cur.rlim_cur == RLIM_INFINITY) return {};
  // A session in a transfer holds its control socket, its data socket and an open file;
  // 64 more for listeners, logs, hooks and the shared state.
  const std::uint64_t need = std::uint64_t{max_connections} * 3 + 64;
  if (cur.rlim_cur >= need) return {};
  return "limits.max_connections = " + std::to_string(max_connections) + " may need " + std::to_string(need) +
         " open files in one worker (3 per connection + 64), but the limit "
         "is " +
         std::to_string(cur.rlim_cur) +
         ": raise the hard limit (systemd LimitNOFILE=, "
         "ulimit -Hn) or set limits.max_open_files";
}

std::string apply_open_files_limit(std::uint64_t n) {
  if (n == 0) return raise_soft_to_hard();
  rlimit cur{};
  ::getrlimit(RLIMIT_NOFILE, &cur);
  rlimit want{static_cast<rlim_t>(n), cur.rlim_max};
  if (cur.rlim_max != RLIM_INFINITY && want.rlim_cur > cur.rlim_max) want.rlim_max = want.rlim_cur;
  if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
    const int e = errno;
    std::string why = std::strerror(e);
    if (e == EPERM) why += ": raising the hard limit needs root or CAP_SYS_RESOURCE";
    if (e == EINVAL || e == EPERM) why += " (see also /proc/sys/fs/nr_open)";
    return "limits.max_open_files = " + std::to_string(n) + ": the system refused it (hard limit " +
           (cur.rlim_max == RLIM_INFINITY ? std::string("unlimited") : std::to_string(cur.rlim_max)) +
           "): " + why;
  }
  return {};
}

PidFile::~PidFile() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
}

std::string PidFile::create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return "pid_file " + path + ": " + std::strerror(errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    std::string who = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("?");
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    return "pid_file " + path + ": held by running process " + who + " (is feitpd already running?)";
  }
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    const int e = errno;
    ::close(fd);
    return "pid_file " + path + ": cannot write: " + std::strerror(e);
  }
  path_ = path;
  fd_ = fd;
  return {};
}

void PidFile::forget() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace feitp::runtime
