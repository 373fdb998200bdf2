// Capabilities, NO_NEW_PRIVS, Landlock and the seccomp deny-list of a serving process.
#include "runtime/sandbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/securebits.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

// Debian 12's kernel headers stop at ABI 2; the bit is fixed by the kernel ABI.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

namespace feitp::runtime {

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Capabilities belong to threads, not processes: a thread started before the drop would keep
// them (and a hook program spawned from it would inherit them). So the drop insists on one.
// ThreadSanitizer may have started a thread of its own (it does so lazily, e.g. after a
// fork); it runs no feitp code, so a TSan build lets it keep its capabilities.
#if defined(__SANITIZE_THREAD__)
constexpr int kSanitizerThreads = 1;
#else
constexpr int kSanitizerThreads = 0;
#endif

int thread_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
  }
  return n;
}

bool capabilities_empty() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  if (::syscall(SYS_capget, &header, data.data()) != 0) return false;
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) return false;
  }
  return ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_ADMIN, 0, 0) != 1;
}

std::string clear_capability_sets() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return errno_text("clearing the ambient capabilities");
  }
  if (::syscall(SYS_capset, &header, data.data()) != 0) return errno_text("capset");
  if (!capabilities_empty()) return "capabilities still present after capset";
  return {};
}

// Empties the bounding set, so nothing executed later can get a capability back (needs
// CAP_SETPCAP, which root has until the end of keep_file_access_capabilities).
std::string clear_bounding_set(std::uint64_t keep = 0) {
  for (unsigned long cap = 0; cap < 64; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;  // EINVAL: past the last capability
    if ((keep >> cap) & 1U) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return errno_text("PR_CAPBSET_DROP");
  }
  return {};
}

// What root without run_as keeps: ordinary file access as root had it (homes owned by other
// users, e.g. made for another FTP server, stay readable and writable; SITE CHMOD and MFMT work
// on files others own). Everything else (ptrace, chown, kill of other users' processes, binding
// below 1024, mount, modules, setuid...) goes; Landlock confines the writes to the homes.
constexpr std::uint64_t kFileAccessCaps =
    (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_DAC_READ_SEARCH) | (1ULL << CAP_FOWNER);

std::string keep_only_capabilities(std::uint64_t keep) {
  if (auto problem = clear_bounding_set(keep); !problem.empty()) return problem;
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return errno_text("clearing the ambient capabilities");
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  data[0].effective = data[0].permitted = static_cast<std::uint32_t>(keep);
  data[1].effective = data[1].permitted = static_cast<std::uint32_t>(keep >> 32);
  if (::syscall(SYS_capset, &header, data.data()) != 0) return errno_text("capset");
  std::array<__user_cap_data_struct, 2> now{};
  if (::syscall(SYS_capget, &header, now.data()) != 0) return errno_text("capget");
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (now[i].effective != data[i].effective || now[i].permitted != data[i].permitted ||
        now[i].inheritable != 0) {
      return "capabilities other than the file-access ones still present after capset";
    }
  }
  return {};
}

// System calls a worker (and a hook program it starts) never needs. Denied with EPERM, not
// killed: a case forgotten here becomes an error reply, not a dead worker. Names the running
// kernel or architecture lacks are skipped.
// A table laid out by hand:
// clang-format off
constexpr std::array kDenied = {
    // other processes' memory (an ASan build keeps ptrace: LeakSanitizer stops the process's
    // threads with it at exit)
#if !defined(__SANITIZE_ADDRESS__)
    "ptrace",
#endif
    "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    // the file-system namespace
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "unshare", "setns",
    // the machine
    "swapon", "swapoff", "reboot", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "create_module", "acct", "quotactl", "quotactl_fd",
    "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "sethostname", "setdomainname", "syslog", "vhangup", "uselib", "nfsservctl", "sysfs",
    "_sysctl", "lookup_dcookie", "personality", "modify_ldt", "vm86", "vm86old",
    // kernel attack surface an FTP server does not use
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "fanotify_init", "open_by_handle_at", "name_to_handle_at", "io_uring_setup",
    "io_uring_enter", "io_uring_register",
    // identity: fixed before the filter goes in
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "capset",
};
// clang-format on

// clone() flags that make a namespace (unshare() by another name).
// A table laid out by hand:
// clang-format off
constexpr std::array<unsigned long, 7> kNamespaceFlags = {
    CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWCGROUP};
// clang-format on

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

std::string rule_error(const char* what, int rc) {
  return std::string("seccomp rule for ") + what + ": " + std::strerror(-rc);
}

// --- Landlock (raw system calls: glibc 2.36 has no wrappers) ----------------------------------

// Every write-type file-system right of ABI 1; REFER (ABI 2) and TRUNCATE (ABI 3) are added when
// the kernel knows them. Reads, directory listing and exec are not handled: they stay free.
constexpr std::uint64_t kWriteRightsAbi1 = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                                           LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                                           LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                                           LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                                           LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;

std::uint64_t handled_write_rights(long abi) {
  std::uint64_t rights = kWriteRightsAbi1;
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
  return rights;
}

std::uint64_t rights_for(WritablePath::Kind kind, std::uint64_t handled) {
  switch (kind) {
    case WritablePath::Kind::tree: return handled;
    case WritablePath::Kind::log_dir:
      return handled & (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG);
    case WritablePath::Kind::file:  // only file rights are valid on a non-directory
      return handled & (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE);
  }
  return 0;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// Adds one rule; false (and no rule) when the path is missing or unreachable: a home that
// does not exist cannot be served anyway, so it is no reason to refuse to start.
std::string add_rule(int ruleset, const WritablePath& p, std::uint64_t handled, bool& added) {
  added = false;
  Fd target(::open(p.path.c_str(), O_PATH | O_CLOEXEC));
  if (target.get() < 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR || e == EACCES || e == ELOOP) return {};
    return "landlock: opening " + p.path + ": " + std::strerror(e);
  }
  landlock_path_beneath_attr rule{};
  rule.allowed_access = rights_for(p.kind, handled);
  rule.parent_fd = target.get();
  if (::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    const int e = errno;
    // A directory right on a file (a home that is a file): nothing to allow there.
    if (e == EINVAL && p.kind != WritablePath::Kind::file) return {};
    return "landlock_add_rule " + p.path + ": " + std::strerror(e);
  }
  added = true;
  return {};
}

}  // namespace

bool wants_landlock(const Confinement& c) { return c.sandbox && c.identity == Identity::root_without_caps; }

std::string restrict_writes(const std::vector<WritablePath>& paths, std::string& status) {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 0) {
    if (errno == ENOSYS) {
      status = "no landlock (the kernel does not have it)";
      return {};
    }
    if (errno == EOPNOTSUPP) {
      status = "no landlock (disabled in this kernel: see lsm= on its command line)";
      return {};
    }
    return errno_text("landlock ABI version");
  }
  // ABI 1 cannot handle REFER, and then refuses every rename between directories, even
  // inside a home: RNFR/RNTO would break. Kernels 5.13 to 5.18 only.
  if (abi < 2) {
    status = "no landlock (ABI 1 would refuse renames between directories)";
    return {};
  }
  const std::uint64_t handled = handled_write_rights(abi);
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  Fd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
  if (ruleset.get() < 0) return errno_text("landlock_create_ruleset");
  int rules = 0;
  for (const auto& p : paths) {
    bool added = false;
    if (auto problem = add_rule(ruleset.get(), p, handled, added); !problem.empty()) return problem;
    if (added) ++rules;
  }
  if (::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) {
    return errno_text("landlock_restrict_self");
  }
  status = "landlock (writes beneath " + std::to_string(rules) + " paths)";
  return {};
}

std::string plan_confinement(const std::string& run_as, bool sandbox, Confinement& out, std::string& note) {
  out = Confinement{};
  out.sandbox = sandbox;
  note.clear();
  if (::geteuid() != 0) {
    if (!run_as.empty()) note = "server.run_as = \"" + run_as + "\" ignored: not started as root";
    return {};
  }
  if (run_as.empty()) {
    out.identity = Identity::root_without_caps;
    note =
        "serving as root with only the file-access capabilities: set server.run_as to an "
        "unprivileged user (recommended), or to \"root\" to keep full root";
    return {};
  }
  if (names_root(run_as)) {
    out.identity = Identity::full_root;  // named explicitly: the operator's choice
    note = "server.run_as = \"" + run_as + "\": serving as root with every capability";
    return {};
  }
  std::string problem;
  auto who = resolve_run_as(run_as, problem);
  if (!who) return problem;
  out.identity = Identity::run_as_user;
  out.run_as = std::move(who);
  return {};
}

std::string keep_file_access_capabilities() {
  // No exec may give root its capabilities back, and setuid() may not add or drop any.
  const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                             SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                             SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (::prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) return errno_text("PR_SET_SECUREBITS");
  return keep_only_capabilities(kFileAccessCaps);
}

std::string set_no_new_privs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno_text("PR_SET_NO_NEW_PRIVS");
  return {};
}

std::string install_syscall_filter(int& denied) {
  denied = 0;
  std::unique_ptr<void, FilterDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return "seccomp_init failed";
  // Every thread gets the filter, whatever started before.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return rule_error("TSYNC", rc);
  }
  for (const char* name : kDenied) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc == -EDOM || rc == -EOPNOTSUPP) continue;  // not a real call on this architecture
    if (rc != 0) return rule_error(name, rc);
    ++denied;
  }
  for (unsigned long flag : kNamespaceFlags) {
    const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                    SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc != 0) return rule_error("clone", rc);
  }
  // clone3 passes its flags in memory, where a filter cannot look: ENOSYS makes glibc fall
  // back to clone(), whose flags the rules above see.
  if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc != 0) {
    return rule_error("clone3", rc);
  }
  // Typing into a terminal the daemon was started from.
  if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                                SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, TIOCSTI));
      rc != 0) {
    return rule_error("ioctl", rc);
  }
  if (int rc = seccomp_load(ctx.get()); rc != 0) return rule_error("loading the filter", rc);
  return {};
}

std::string confine(const Confinement& c, std::string& active) {
  active.clear();
  const bool root = ::geteuid() == 0;
  if (c.identity != Identity::full_root) {
    if (const int n = thread_count(); n < 1 || n > 1 + kSanitizerThreads) {
      if (n == 0) return "cannot count this process's threads (is /proc mounted?)";
      return "cannot drop capabilities: " + std::to_string(n) +
             " threads are running (capabilities are per thread)";
    }
  }
  switch (c.identity) {
    case Identity::run_as_user:
      if (root) {
        if (auto problem = clear_bounding_set(); !problem.empty()) return problem;
      }
      if (auto problem = drop_privileges(*c.run_as); !problem.empty()) return problem;
      if (auto problem = clear_capability_sets(); !problem.empty()) return problem;
      active = "user " + c.run_as->name + ", no capabilities";
      break;
    case Identity::root_without_caps:
      if (auto problem = keep_file_access_capabilities(); !problem.empty()) return problem;
      active = "root with file-access capabilities only";
      break;
    case Identity::full_root: active = "root with every capability (run_as = root)"; break;
    case Identity::unchanged:
      if (auto problem = clear_capability_sets(); !problem.empty()) return problem;
      active = "uid " + std::to_string(::geteuid()) + ", no capabilities";
      break;
  }
  if (!c.sandbox) {
    active += "; sandbox off (server.sandbox = false)";
    return {};
  }
  if (auto problem = set_no_new_privs(); !problem.empty()) return problem;
  active += "; no_new_privs";
  // Landlock before the filter, and after NO_NEW_PRIVS (it needs it without CAP_SYS_ADMIN).
  if (wants_landlock(c)) {
    std::string status;
    if (auto problem = restrict_writes(c.writable, status); !problem.empty()) return problem;
    active += "; " + status;
  }
  int denied = 0;
  if (auto problem = install_syscall_filter(denied); !problem.empty()) return problem;
  active += "; seccomp deny-list (" + std::to_string(denied) + " system calls, namespace clone flags)";
  return {};
}

}  // namespace feitp::runtime
