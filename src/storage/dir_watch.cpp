// feitp storage: directory version tokens from inotify (see dir_watch.hpp for the contract).
#include "storage/dir_watch.hpp"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

namespace feitp::storage {
namespace {

constexpr std::uint32_t kMask = IN_ATTRIB | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MODIFY |
                                IN_MOVE_SELF | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR;

// An ID generator (like a sequence), process-wide so tokens of two DirWatch objects never collide.
std::atomic<std::uint64_t> g_next_token{1};
std::uint64_t fresh_token() { return g_next_token.fetch_add(1, std::memory_order_relaxed); }

// File systems where every change goes through this kernel's VFS, so inotify sees it. Anything
// else (NFS, SMB/CIFS, FUSE, Ceph, 9p, /proc, sysfs, ...) can change without an event here:
// no token, no caching. Values from linux/magic.h and the file systems' own headers.
bool exact_file_system(int fd) {
  struct statfs sfs {};
  if (::fstatfs(fd, &sfs) != 0) return false;
  switch (static_cast<unsigned long>(sfs.f_type) & 0xFFFFFFFFUL) {
    case 0xEF53UL:      // ext2/3/4
    case 0x58465342UL:  // xfs
    case 0x9123683EUL:  // btrfs
    case 0x01021994UL:  // tmpfs
    case 0x858458F6UL:  // ramfs
    case 0xF2F52010UL:  // f2fs
    case 0x2FC12FC1UL:  // zfs
    case 0xCA451A4EUL:  // bcachefs
    case 0x794C7630UL:  // overlayfs (changes made through the overlay)
    case 0x3153464AUL:  // jfs
    case 0x52654973UL:  // reiserfs
    case 0x4D44UL:      // vfat/msdos
    case 0x2011BAB0UL:  // exfat
    case 0x5346544EUL:  // ntfs
    case 0x7366746EUL:  // ntfs3
    case 0x482BUL:      // hfsplus
    case 0x15013346UL:  // udf
    case 0x9660UL:      // iso9660
    case 0x73717368UL:  // squashfs
    case 0xE0F5E1E2UL:  // erofs
    case 0x3434UL:      // nilfs2
      return true;
    default: return false;
  }
}

}  // namespace

std::size_t DirWatch::DevInoHash::operator()(const DevIno& k) const noexcept {
  return std::hash<std::uint64_t>{}(static_cast<std::uint64_t>(k.ino) * 0x9E3779B97F4A7C15ULL ^
                                    static_cast<std::uint64_t>(k.dev));
}

DirWatch::DirWatch(std::size_t max_watches, Clock::duration max_age)
    : max_watches_(max_watches == 0 ? 1 : max_watches), max_age_(max_age) {}

// Closing the inotify descriptor removes all its watches.
DirWatch::~DirWatch() = default;

std::size_t DirWatch::watch_count() const {
  std::lock_guard lock(mu_);
  return by_wd_.size();
}

void DirWatch::reset() {
  // After fork(): the descriptor is shared with the parent. Closing our copy is harmless;
  // inotify_rm_watch() would remove the parent's watches, so it is not called.
  ifd_.reset();
  init_failed_ = false;
  by_wd_.clear();
  by_inode_.clear();
  lru_.clear();
  unwatchable_devs_.clear();
}

bool DirWatch::ensure_instance() {
  const pid_t pid = ::getpid();
  if (ifd_ || init_failed_) {
    if (pid == owner_pid_) return static_cast<bool>(ifd_);
    reset();  // inherited across fork(): the state and the queue are the parent's
  }
  owner_pid_ = pid;
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    init_failed_ = true;
    return false;
  }
  ifd_.reset(fd);
  return true;
}

void DirWatch::refresh(Watch& w, Clock::time_point now) {
  w.token = fresh_token();
  w.issued = now;
}

void DirWatch::forget(int wd, bool remove_from_kernel) {
  const auto it = by_wd_.find(wd);
  if (it == by_wd_.end()) return;
  if (remove_from_kernel) ::inotify_rm_watch(ifd_.get(), wd);
  if (const auto k = by_inode_.find(it->second.key); k != by_inode_.end() && k->second == wd) {
    by_inode_.erase(k);
  }
  lru_.erase(it->second.lru);
  by_wd_.erase(it);
}

// Reads every queued event; false when the queue cannot be read (then nothing is promised).
bool DirWatch::drain(Clock::time_point now) {
  alignas(struct inotify_event) std::array<char, 4096> buf;
  for (;;) {
    const ssize_t n = ::read(ifd_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      for (auto& [wd, w] : by_wd_) refresh(w, now);
      return false;
    }
    if (n == 0) return false;  // never happens with a big enough buffer
    const auto len = static_cast<std::size_t>(n);
    for (std::size_t off = 0; off + sizeof(struct inotify_event) <= len;) {
      struct inotify_event ev {};
      std::memcpy(&ev, buf.data() + off, sizeof ev);
      off += sizeof ev + ev.len;
      if ((ev.mask & IN_Q_OVERFLOW) != 0) {
        // Events were lost: every directory may have changed.
        for (auto& [wd, w] : by_wd_) refresh(w, now);
        continue;
      }
      if ((ev.mask & IN_IGNORED) != 0) {
        forget(ev.wd, false);  // the kernel dropped the watch (directory gone, unmounted)
        continue;
      }
      if ((ev.mask & IN_DELETE_SELF) != 0) {
        forget(ev.wd, false);  // IN_IGNORED follows; the kernel removes the watch itself
        continue;
      }
      if ((ev.mask & IN_MOVE_SELF) != 0) {
        forget(ev.wd, true);
        continue;
      }
      if (const auto it = by_wd_.find(ev.wd); it != by_wd_.end()) refresh(it->second, now);
      // Otherwise: a watch already forgotten (evicted; its IN_IGNORED is still on the way).
    }
  }
}

std::optional<std::uint64_t> DirWatch::version(int dir_fd) {
  struct stat st {};
  if (::fstat(dir_fd, &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  const DevIno key{st.st_dev, st.st_ino};

  std::lock_guard lock(mu_);
  if (!ensure_instance()) return std::nullopt;
  const Clock::time_point now = Clock::now();
  if (!drain(now)) return std::nullopt;

  if (const auto k = by_inode_.find(key); k != by_inode_.end()) {
    Watch& w = by_wd_.at(k->second);
    lru_.splice(lru_.begin(), lru_, w.lru);
    if (now - w.issued >= max_age_) refresh(w, now);
    return w.token;
  }

  if (unwatchable_devs_.contains(st.st_dev)) return std::nullopt;
  if (!exact_file_system(dir_fd)) {
    if (unwatchable_devs_.size() >= 256) unwatchable_devs_.clear();
    unwatchable_devs_.insert(st.st_dev);
    return std::nullopt;
  }

  while (by_wd_.size() >= max_watches_) forget(lru_.back(), true);

  // Watch through the descriptor, not a path: the inode is the one fstat() just described.
  std::array<char, 40> path{};
  std::snprintf(path.data(), path.size(), "/proc/self/fd/%d", dir_fd);
  const int wd = ::inotify_add_watch(ifd_.get(), path.data(), kMask);
  if (wd < 0) return std::nullopt;
  // The same inode always yields the same wd; a wd we still hold for another key means that
  // entry is stale (cannot happen after a drain, but never let two keys share a watch).
  if (const auto old = by_wd_.find(wd); old != by_wd_.end()) forget(wd, false);

  lru_.push_front(wd);
  Watch w;
  w.key = key;
  w.lru = lru_.begin();
  refresh(w, now);
  by_wd_.emplace(wd, w);
  by_inode_[key] = wd;
  return w.token;
}

}  // namespace feitp::storage
