// feitp storage: "has this directory's listing possibly changed?", answered exactly with inotify.
//
// version(dir_fd) returns a token for the directory's current state. The token changes whenever
// an entry is added, removed, renamed into or out of the directory, written to, or has its
// attributes changed, by this process or any other on the machine: the kernel queues inotify
// events synchronously inside the modifying syscall, and version() drains the queue before it
// answers, so a change that completed before the call is always seen (read-after-write).
//
// What inotify does not report on the parent's watch, and why tokens also expire (max_age):
//  * a subdirectory's own mtime/nlink changes when something is created inside it;
//  * a file's nlink changes through a hard link made or removed in another directory, and
//    writes through such a link, or through a shared mmap, raise no event here;
//  * time-dependent formatting (LIST shows "HH:MM" or the year depending on the file's age).
// So a token is only handed out for max_age after it was made; then a fresh one replaces it.
// A listing cached under a token is therefore never staler than max_age for those cases, and
// exact for everything else. File systems whose changes may come from elsewhere (NFS, SMB,
// FUSE, ...) or that are synthetic (/proc) are not watched at all: version() returns nullopt.
//
// Tokens come from one process-wide counter: a value is never reused, for another directory,
// for another state of the same one, or by another DirWatch (so a listing cache keyed by the
// token alone stays exact even when several DirWatch objects feed it, e.g. an embedder's
// StorageFactory that delegates to two local factories). One inotify instance (non-blocking,
// close-on-exec) is made lazily per DirWatch, on the first version() call: a DirWatch that is
// never asked costs no descriptor (the per-user inotify instance limit is 128). If that fails,
// or a watch cannot be added (the per-user watch limit, no /proc), version() returns nullopt
// and the caller simply does not cache. At most max_watches directories are watched; the least
// recently asked-about one is dropped beyond that.
//
// Owner: whoever constructs it. LocalStorageFactory owns one and shares it with every
// LocalStorage it creates; there is no process-wide instance (no global mutable state outside
// src/runtime/).
//
// fork(): an inherited inotify descriptor is the parent's queue, and draining it would steal
// the parent's events. The instance remembers the pid that made it; a call from another
// process (a child that calls version() on an object it inherited) drops the inherited state
// and starts over with its own instance. feitpd makes its factory in each worker after the
// fork, so this only matters to embedders that fork.
//
// Cost of a call on a directory already watched: fstat(), getpid() and one read() that returns
// EAGAIN.
// All methods are thread-safe (one mutex).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "os/unique_fd.hpp"

namespace feitp::storage {

class DirWatch {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kDefaultMaxWatches = 1024;
  static constexpr Clock::duration kDefaultMaxAge = std::chrono::seconds(2);

  explicit DirWatch(std::size_t max_watches = kDefaultMaxWatches, Clock::duration max_age = kDefaultMaxAge);
  ~DirWatch();
  DirWatch(const DirWatch&) = delete;
  DirWatch& operator=(const DirWatch&) = delete;

  // The current token of the directory open as dir_fd (any kind of descriptor, O_PATH too);
  // nullopt when dir_fd is not a directory, its file system cannot be watched exactly, or
  // inotify is unavailable. Take it BEFORE reading the directory.
  std::optional<std::uint64_t> version(int dir_fd);

  // Directories currently watched (tests, metrics).
  [[nodiscard]] std::size_t watch_count() const;

 private:
  struct DevIno {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const DevIno&) const = default;
  };
  struct DevInoHash {
    std::size_t operator()(const DevIno& k) const noexcept;
  };
  struct Watch {
    std::uint64_t token = 0;
    Clock::time_point issued;
    DevIno key;
    std::list<int>::iterator lru;  // position in lru_ (front: most recently used)
  };

  bool ensure_instance();
  bool drain(Clock::time_point now);
  void refresh(Watch& w, Clock::time_point now);
  void forget(int wd, bool remove_from_kernel);
  void reset();

  const std::size_t max_watches_;
  const Clock::duration max_age_;

  mutable std::mutex mu_;
  os::UniqueFd ifd_;
  bool init_failed_ = false;
  pid_t owner_pid_ = 0;  // the process that made (or failed to make) ifd_
  std::unordered_map<int, Watch> by_wd_;
  std::unordered_map<DevIno, int, DevInoHash> by_inode_;
  std::list<int> lru_;
  std::unordered_set<dev_t> unwatchable_devs_;  // file systems refused by their type
};

}  // namespace feitp::storage
