// The daemon's [hooks]: external programs run on events, with the event in environment
// variables (documented in docs/embedding.md, "External programs"). No C++ needed.
//
// Two Hooks objects come out of the configuration:
// - notify events (on_connect ... on_rename) go to a bounded queue served by one worker thread
//   of their own: the session never waits for the program; when the queue is full the event is
//   dropped and logged. This object is not blocking (it only copies the event and enqueues it).
// - decision points (before_command, before_upload, before_download, check_upload) run the
//   program and wait for its exit status: 0 = proceed, anything else (or a timeout, or a program
//   that cannot start) = refuse with 550 and the first line of the program's standard output as
//   the reason. This object is blocking(), so the server calls it on its thread pool.
// Every program runs without a shell, in its own process group, with stdin from /dev/null, only
// the FEITP_* variables and PATH in its environment, and no descriptor of the server; after
// `timeout` its whole process group is killed. Every child is reaped.
#pragma once

#include <memory>
#include <vector>

#include "config/config.hpp"
#include "feitp/hooks.hpp"

namespace feitp::ext {

// Zero, one or two Hooks (notify, then decisions), depending on which events have a program.
std::vector<std::shared_ptr<Hooks>> make_program_hooks(const config::HookPrograms& programs);

}  // namespace feitp::ext
