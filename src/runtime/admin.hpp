// The monitoring listeners: Prometheus /metrics and the admin API with its web page. They run
// in a process of their own, forked by the master (or on two threads of the single process with
// workers = 1), so a scrape or a dashboard never costs an FTP worker anything and the master
// never parses HTTP. They read the workers' shared state and metrics mapping; the only thing
// they ask of the master is a reload, one byte on a pipe. See docs/architecture.md.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "obs/metrics.hpp"
#include "cluster/shared_state.hpp"

namespace feitp::runtime {

struct AdminSpec {
  config::MonitorConfig cfg;
  std::string token;  // the bearer token (admin listener only)
  std::shared_ptr<cluster::SharedState> state;
  std::shared_ptr<obs::MonitorState> monitor;
  // Asks the master to reload; nullptr when there is none (workers = 1).
  std::function<bool()> reload;
};

// The first line of `path` as the admin token. "" or a one-line problem naming the file.
std::string read_admin_token(const std::string& path, std::string& token);

// The Prometheus text of `state` and `monitor` (summed over every worker); "" when the shared
// state stayed locked (a worker holds its mutex: the caller answers 503).
std::string render_metrics(cluster::SharedState& state, const obs::MonitorState& monitor);

class AdminService {
 public:
  explicit AdminService(AdminSpec spec);
  ~AdminService();
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;

  // Binds the configured listeners. "" or what failed, naming the setting and the address.
  std::string bind();
  // Serves on threads of its own (after bind(), after the process gave up its privileges).
  void start();
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The master's admin process, right after fork(): closes what it must not hold, binds, writes
// "R" (or "E" and the problem) to `status_fd`, gives up privileges as `confinement` says and
// serves until SIGTERM or the master's end. A reload request is the byte 'H' on `command_fd`.
struct AdminProcessSpec {
  AdminSpec admin;
  int status_fd = -1;
  int command_fd = -1;
  int log_fd = -1;
  pid_t master = 0;
};
struct Confinement;
[[noreturn]] void admin_process_main(AdminProcessSpec spec, const Confinement& confinement);

}  // namespace feitp::runtime
