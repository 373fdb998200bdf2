// One worker process: a feitp::Server on the listening sockets the master made, deciding
// admission against the shared state in its own column, as an unprivileged user when told.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "config/config.hpp"
#include "obs/metrics.hpp"
#include "cluster/listeners.hpp"
#include "runtime/sandbox.hpp"
#include "cluster/shared_state.hpp"

namespace feitp::runtime {

struct WorkerSpec {
  std::shared_ptr<const config::DaemonConfig> cfg;
  cluster::ListenerSet listeners;  // this worker's sockets (the master keeps its own copies)
  std::shared_ptr<cluster::SharedState> state;
  std::uint32_t slot = 0;  // column in the shared state
  unsigned index = 0;      // worker number within its generation
  unsigned generation = 0;
  Confinement confinement;  // identity and sandbox to take before serving
  int ready_fd = -1;        // write end of the readiness pipe: one byte when serving
  int log_fd = -1;          // the log file's descriptor (kept open), -1 = stderr
  pid_t master = 0;
  std::shared_ptr<TicketKeySource> ticket_keys;  // TLS session-ticket keys shared by all workers
  // The metrics mapping (nullptr: [metrics] and [admin] are off); sessions: publish session
  // records for the admin API.
  std::shared_ptr<obs::MonitorState> monitor;
  bool publish_sessions = false;
};

// Closes every inherited descriptor but 0-2 and `keep` (a child of the master after fork()).
void close_inherited(const std::set<int>& keep);

// Copies `server`'s counters into its column `slot` of the shared state (once a second).
void publish_stats(cluster::SharedState& state, std::uint32_t slot, const Server& server);

// Runs in the child right after fork(); never returns (exits the process).
[[noreturn]] void worker_main(WorkerSpec spec);

// Exit codes a worker uses.
inline constexpr int kWorkerStartFailed = 3;  // could not start serving (the master backs off)

}  // namespace feitp::runtime
