// What a serving process (a worker, or the single process after it bound) gives up before it
// touches a client byte: capabilities, the right to gain privileges by exec, a set of system
// calls no FTP server needs and, as root without run_as, writes outside its homes and log
// directories (Landlock). See docs/architecture.md, "Privileges and limits".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/privileges.hpp"

namespace feitp::runtime {

// How the process identity is chosen (decided once, in the master, from server.run_as).
enum class Identity {
  unchanged,          // not started as root: nothing to give up but stray capabilities
  run_as_user,        // switch to an unprivileged user (the recommended setting)
  root_without_caps,  // root, no run_as: keep uid 0 and only the file-access capabilities
                      // (DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER), with a warning
  full_root,          // run_as = "root": the operator asked for full root explicitly
};

// A place where a process under Landlock may still write (see restrict_writes).
struct WritablePath {
  enum class Kind {
    tree,     // a home: every write right beneath it (create, write, remove, rename, ...)
    log_dir,  // a log's directory: create and write files only (reopen after rotation)
    file,     // one file, e.g. /dev/null: open it for writing (and O_TRUNC)
  };
  std::string path;
  Kind kind = Kind::tree;
};

struct Confinement {
  Identity identity = Identity::unchanged;
  std::optional<RunAs> run_as;  // when identity == run_as_user
  bool sandbox = true;          // PR_SET_NO_NEW_PRIVS + Landlock (below) + the seccomp filter
  // Landlock, applied only as root_without_caps with sandbox on: writes anywhere else are
  // refused (uid 0 owns /etc, /usr, /root; without it the process could write them).
  std::vector<WritablePath> writable;
};

// Whether the serving process of `c` gets the Landlock write restriction.
bool wants_landlock(const Confinement& c);

// Decides the identity for the current euid and server.run_as ("" = unset). "" or an error
// (an unknown user). `note` gets a one-line warning for the operator, if any.
std::string plan_confinement(const std::string& run_as, bool sandbox, Confinement& out, std::string& note);

// Applies `c` to the calling process, which must have a single thread (capabilities are per
// thread). Returns "" or what failed; `active` gets a short description ("root without
// capabilities; no_new_privs; landlock (writes beneath N paths); seccomp deny-list (...)").
std::string confine(const Confinement& c, std::string& active);

// Steps, usable alone (tests, embedders).
// Securebits, bounding set, ambient set, then capset to DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER.
std::string keep_file_access_capabilities();
std::string set_no_new_privs();
// Installs the deny-list filter (EPERM) on every thread; `denied` = how many rules went in.
std::string install_syscall_filter(int& denied);
// Landlock on the calling thread (and what it starts later): it handles only the write rights
// the running kernel's ABI knows, allowed beneath `paths` (missing ones are skipped), so reads
// and exec stay free. Needs NO_NEW_PRIVS first. "" when applied or when the kernel has no
// usable Landlock, the error otherwise; `status` = "landlock (writes beneath N paths)" or
// "no landlock (reason)".
std::string restrict_writes(const std::vector<WritablePath>& paths, std::string& status);

}  // namespace feitp::runtime
