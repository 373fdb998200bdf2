// What a serving process (a worker, or the single process after it bound) gives up before it
// touches a client byte: capabilities, the right to gain privileges by exec, and a set of
// system calls no FTP server needs. See docs/architecture.md, "Privileges and limits".
#pragma once

#include <optional>
#include <string>

#include "runtime/privileges.hpp"

namespace feitp::runtime {

// How the process identity is chosen (decided once, in the master, from server.run_as).
enum class Identity {
  unchanged,         // not started as root: nothing to give up but stray capabilities
  run_as_user,       // switch to an unprivileged user (the recommended setting)
  root_without_caps, // root, no run_as: keep uid 0, drop every capability (with a warning)
  full_root,         // run_as = "root": the operator asked for full root explicitly
};

struct Confinement {
  Identity identity = Identity::unchanged;
  std::optional<RunAs> run_as;  // when identity == run_as_user
  bool sandbox = true;          // PR_SET_NO_NEW_PRIVS + the seccomp filter
};

// Decides the identity for the current euid and server.run_as ("" = unset). "" or an error
// (an unknown user). `note` gets a one-line warning for the operator, if any.
std::string plan_confinement(const std::string& run_as, bool sandbox, Confinement& out,
                             std::string& note);

// Applies `c` to the calling process, which must have a single thread (capabilities are per
// thread). Returns "" or what failed; `active` gets a short description ("no capabilities,
// no_new_privs, seccomp (N system calls denied)").
std::string confine(const Confinement& c, std::string& active);

// Steps, usable alone (tests, embedders).
std::string drop_all_capabilities();  // bounding, ambient, securebits, then capset to empty
std::string set_no_new_privs();
// Installs the deny-list filter (EPERM) on every thread; `denied` = how many rules went in.
std::string install_syscall_filter(int& denied);

}  // namespace feitp::runtime
