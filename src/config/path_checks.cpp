// feitpd --check: the files and programs a configuration names, looked at as they are now.
// Read-only by design: nothing here creates, opens for writing or changes anything.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace feitp::config {

namespace {

struct Checker {
  const DaemonConfig& cfg;
  std::vector<std::string> problems;

  void add(std::string_view key, const std::string& path, const std::string& what) {
    std::string line = cfg.source.empty() ? std::string() : cfg.source + ": ";
    line.append(key).append(": ").append(path).append(": ").append(what);
    problems.push_back(std::move(line));
  }

  static std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
  }

  // A file the daemon appends to (log, xferlog) or creates (pid file): its directory must exist
  // and be writable; an existing file must be writable and not a directory.
  void writable_file(std::string_view key, const std::string& path) {
    if (path.empty()) return;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return add(key, path, "is a directory, not a file");
      if (::access(path.c_str(), W_OK) != 0)
        return add(key, path, "not writable: " + std::string(std::strerror(errno)));
      return;
    }
    if (errno != ENOENT) return add(key, path, std::strerror(errno));
    const std::string dir = parent_of(path);
    if (::stat(dir.c_str(), &st) != 0) {
      return add(key, path, "directory " + dir + " does not exist (it is not created)");
    }
    if (!S_ISDIR(st.st_mode)) return add(key, path, dir + " is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      return add(key, path, "cannot create the file: directory " + dir + " is not writable");
    }
  }

  void program(std::string_view key, const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return add(key, path, "program " + std::string(std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) return add(key, path, "not a regular file");
    if (::access(path.c_str(), X_OK) != 0) return add(key, path, "not executable");
  }

  void home(std::string_view key, const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) add(key, path, "home is not a directory");
      return;
    }
    if (errno != ENOENT) return add(key, path, "home: " + std::string(std::strerror(errno)));
    if (!cfg.create_homes) return add(key, path, "home does not exist (storage.create_homes is false)");
    // Created at start: the nearest existing ancestor must let us.
    std::string dir = path;
    while (dir != "/" && ::stat(dir.c_str(), &st) != 0) dir = parent_of(dir);
    if (!S_ISDIR(st.st_mode)) return add(key, path, "home cannot be created: " + dir + " is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      add(key, path, "home does not exist and cannot be created: " + dir + " is not writable");
    }
  }
};

}  // namespace

std::vector<std::string> check_paths(const DaemonConfig& cfg) {
  Checker c{cfg, {}};
  c.writable_file("log.file", cfg.log.file);
  c.writable_file("log.xferlog", cfg.log.xferlog);
  c.writable_file("server.pid_file", cfg.pid_file);
  for (const auto& [event, prog] : cfg.hooks.programs) c.program("hooks." + event, prog);
  for (const auto& u : cfg.users) c.home("users." + u.name + ".home", u.home);
  if (cfg.anonymous) c.home("anonymous.home", cfg.anonymous->home);
  return std::move(c.problems);
}

}  // namespace feitp::config
