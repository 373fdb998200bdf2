// The master process: binds the listeners (one SO_REUSEPORT socket per worker), makes the shared
// state, forks the workers and then only supervises them: respawn with back-off, SIGHUP reload,
// SIGTERM/SIGQUIT drain, SIGUSR1 log reopening, systemd notifications. It serves no FTP.
#pragma once

#include <functional>

#include "config/config.hpp"

namespace feitp::runtime {

// Re-reads the configuration the way the command line first built it (file + flags +
// validation); called on SIGHUP.
using ConfigLoader = std::function<config::LoadResult()>;

// The worker count `cfg` asks for (workers = 0: one per core).
unsigned worker_count(const config::DaemonConfig& cfg);

// Runs the master until stopped. Returns the exit code: 0 after a stop (graceful or fast),
// 1 when starting fails (one line on stderr).
int serve_master(const config::DaemonConfig& cfg, ConfigLoader reload);

}  // namespace feitp::runtime
