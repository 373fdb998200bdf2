// The daemon's server: build a feitp::Server from a DaemonConfig, and serve it either in this
// one process (workers = 1) or under a master with worker processes (master.hpp).
#pragma once

#include <cstdint>
#include <memory>

#include "config/config.hpp"
#include "feitp/server.hpp"
#include "runtime/sandbox.hpp"
#include "cluster/shared_state.hpp"

namespace feitp::runtime {

// Options, the user table (users + anonymous; users without their own max_sessions get
// limits.max_sessions_per_user) and local storage rooted at each user's home.
std::unique_ptr<Server> make_server(const config::DaemonConfig& cfg);
// The Authenticator accounts.store names (config users, SQLite, PostgreSQL, PAM).
std::shared_ptr<Authenticator> make_authenticator(const config::DaemonConfig& cfg);
// Before serving (and at --check): opens accounts.store once, creating or migrating its schema
// unless `check_only`. Returns "" or a one-line problem that stops the start; `note` gets what
// the operator should know (a new empty SQLite file, PostgreSQL down at start).
std::string prepare_account_store(const config::DaemonConfig& cfg, bool check_only, std::string& note);

// The shared admission state sized for `cfg` with `slots` worker columns.
std::shared_ptr<cluster::SharedState> make_shared_state(const config::DaemonConfig& cfg, std::uint32_t slots);
// The Admission of the worker in `slot`: limits.max_connections and limits.max_per_ip
// cluster-wide, bans from limits.ban_*.
std::shared_ptr<Admission> make_admission(std::shared_ptr<cluster::SharedState> state, std::uint32_t slot,
                                          const config::DaemonConfig& cfg);

// Removes stale upload temporaries (writers gone) from every configured home, once each; a
// temporary that a live process is still writing stays. Runs at start, before any worker.
void sweep_homes(const config::DaemonConfig& cfg);

// Where a process under Landlock may write (c.writable), when `c` asks for Landlock
// (wants_landlock): every home (created first when missing and create_homes is on), the
// directories of log.file and log.xferlog, /dev/null. Runs in the serving process, before
// confine(); leaves c.writable empty otherwise.
void plan_writable_paths(const config::DaemonConfig& cfg, Confinement& c);

// Binds, prints one line naming the addresses, serves until SIGINT/SIGTERM/SIGQUIT, then stops
// with cfg.shutdown_grace (a second signal stops at once); SIGUSR1 reopens the log file.
// Applies max_open_files, pid_file and run_as (after binding) like the master does. Returns the
// process exit code: 0 after a clean stop, 1 when starting fails (one line on stderr).
int serve_single_process(const config::DaemonConfig& cfg);

}  // namespace feitp::runtime
