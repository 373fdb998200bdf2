// The daemon's server in one process: build a feitp::Server from a DaemonConfig and run it until
// SIGINT/SIGTERM. (The multi-process master, when workers > 1, lives beside this.)
#pragma once

#include <memory>

#include "config/config.hpp"
#include "feitp/server.hpp"

namespace feitp::runtime {

// Options, the user table (users + anonymous; users without their own max_sessions get
// limits.max_sessions_per_user) and local storage rooted at each user's home.
std::unique_ptr<Server> make_server(const config::DaemonConfig& cfg);

// Binds, prints one line naming the addresses, serves until SIGINT/SIGTERM/SIGQUIT, then stops
// with cfg.shutdown_grace (a second signal stops at once). Returns the process exit code:
// 0 after a clean stop, 1 when binding fails (one line on stderr).
int serve_single_process(const config::DaemonConfig& cfg);

}  // namespace feitp::runtime
