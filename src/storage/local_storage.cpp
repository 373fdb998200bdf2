// feitp storage: the local back-end. Every path is resolved relative to the root's directory
// descriptor, by the kernel, so no path and no symlink can leave the root:
//
//  * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) resolves whole paths. Symlinks inside the
//    root work; one that would leave it fails with EXDEV, reported as EACCES (the server's 550).
//  * Where the kernel lacks openat2 (ENOSYS), a component-by-component walk with O_NOFOLLOW
//    replaces it. The walk refuses every symlink (EACCES), inside the root or not: following
//    them by hand is where escapes hide, and a server on such an old kernel is rare.
//  * Operations on a name (mkdir, rmdir, unlink, rename, chmod, utimes, stat) open the parent
//    beneath the root and call the *at() function with the last component only, without
//    following a symlink there.
//
// Paths arrive normalised ("/", "/a/b"); a component "." or ".." or an empty one is refused
// (EINVAL) rather than trusted, and so is a NUL byte.
#include "storage/local_storage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <unordered_map>
#include <unordered_set>
#include <mutex>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "feitp/auth.hpp"
#include "storage/dir_watch.hpp"
#include "os/unique_fd.hpp"

namespace feitp::storage {
namespace {

constexpr auto kMaxOffset = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());

// Escapes (EXDEV from RESOLVE_BENEATH) and refused symlinks (ELOOP from O_NOFOLLOW or
// RESOLVE_NO_MAGICLINKS) are permission errors to the client.
int map_errno(int e) { return (e == EXDEV || e == ELOOP) ? EACCES : e; }
std::error_code sys_error(int e) { return errno_code(map_errno(e)); }
std::error_code last_error() { return sys_error(errno); }

// A checked path, split for the *at() calls, in fixed buffers (no allocation per call).
// Filled only by parse_path() and read only after it succeeded, so the arrays are left
// uninitialised: zeroing 8 KiB cost more than the rest of an upload's storage calls together.
struct PathBuf {
  std::array<char, PATH_MAX> rel;     // "a/b/c", or "." for the root
  std::array<char, PATH_MAX> parent;  // "a/b", or "." when the parent is the root
  const char* name = ".";             // "c" (points into rel)
  bool root = true;
  bool parent_is_root = true;
};

std::error_code parse_path(std::string_view path, PathBuf& out) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) {
    out.rel[0] = '.';
    out.rel[1] = '\0';
    out.parent[0] = '.';
    out.parent[1] = '\0';
    out.name = out.rel.data();
    out.root = true;
    out.parent_is_root = true;
    return {};
  }
  if (path.size() >= PATH_MAX) return errno_code(ENAMETOOLONG);
  std::size_t last_slash = std::string_view::npos;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i < path.size() && path[i] == '\0') return errno_code(EINVAL);
    if (i == path.size() || path[i] == '/') {
      const std::string_view comp = path.substr(start, i - start);
      if (comp.empty() || comp == "." || comp == "..") return errno_code(EINVAL);
      if (comp.size() > NAME_MAX) return errno_code(ENAMETOOLONG);
      // Upload temporaries belong to the server: a client may neither read a half-received
      // upload nor keep files that listings hide (audit F5).
      if (comp.starts_with(kUploadTempPrefix)) return errno_code(EACCES);
      if (i < path.size()) last_slash = i;
      start = i + 1;
    }
  }
  std::memcpy(out.rel.data(), path.data(), path.size());
  out.rel[path.size()] = '\0';
  out.root = false;
  if (last_slash == std::string_view::npos) {
    out.parent[0] = '.';
    out.parent[1] = '\0';
    out.name = out.rel.data();
    out.parent_is_root = true;
  } else {
    std::memcpy(out.parent.data(), path.data(), last_slash);
    out.parent[last_slash] = '\0';
    out.name = out.rel.data() + last_slash + 1;
    out.parent_is_root = false;
  }
  return {};
}

std::uint64_t unique_id(const struct stat& st) {
  // A stable mix of device and inode (splitmix64 finaliser over the device, xor the inode).
  std::uint64_t z = static_cast<std::uint64_t>(st.st_dev) + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return z ^ static_cast<std::uint64_t>(st.st_ino);
}

FileType type_of(mode_t m) {
  if (S_ISREG(m)) return FileType::file;
  if (S_ISDIR(m)) return FileType::directory;
  if (S_ISLNK(m)) return FileType::symlink;
  return FileType::other;
}

void fill_info(FileInfo& info, const struct stat& st, int dirfd, const char* name) {
  info.type = type_of(st.st_mode);
  info.size = st.st_size > 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  info.mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec);
  info.mode = static_cast<std::uint32_t>(st.st_mode & 07777);
  info.nlink = static_cast<std::uint32_t>(st.st_nlink);
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  info.unique = unique_id(st);
  if (info.type == FileType::symlink) {
    std::array<char, PATH_MAX> buf{};
    const ssize_t n = ::readlinkat(dirfd, name, buf.data(), buf.size());
    if (n > 0) info.link_target.assign(buf.data(), static_cast<std::size_t>(n));
  }
}

// Pushes the components of "a/b/c" on a stack so that "a" is on top (empty ones skipped).
void push_components(std::vector<std::string>& stack, std::string_view path) {
  const std::size_t base = stack.size();
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) stack.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(base), stack.end());
}

// A directory descriptor that is either owned or the shared root.
class DirRef {
 public:
  DirRef() = default;
  explicit DirRef(std::shared_ptr<const os::UniqueFd> root) : root_(std::move(root)) {}
  explicit DirRef(os::UniqueFd owned) : owned_(std::move(owned)) {}
  [[nodiscard]] int get() const { return owned_ ? owned_.get() : root_->get(); }

 private:
  os::UniqueFd owned_;
  std::shared_ptr<const os::UniqueFd> root_;
};

// The process umask, read once from /proc: umask() cannot be read without setting it, which
// would race other threads creating files. When unknown, assume it may narrow anything, so
// that modes are always set explicitly.
mode_t process_umask() {
  static const mode_t cached = [] {
    mode_t m = 0777;
    if (std::FILE* f = std::fopen("/proc/self/status", "re")) {
      std::array<char, 256> line{};
      while (std::fgets(line.data(), static_cast<int>(line.size()), f) != nullptr) {
        unsigned v = 0;
        if (std::sscanf(line.data(), "Umask: %o", &v) == 1) {
          m = static_cast<mode_t>(v & 0777);
          break;
        }
      }
      std::fclose(f);
    }
    return m;
  }();
  return cached;
}

// Gives a file or directory just created by this upload or MKD the configured mode, when the
// process umask took bits from the mode passed to open()/mkdir() (rare: costs nothing else).
void fix_created_mode(int fd, mode_t wanted) {
  if ((wanted & process_umask()) != 0) (void)::fchmod(fd, wanted);
}
void fix_created_mode_at(int dir, const char* name, mode_t wanted) {
  if ((wanted & process_umask()) != 0) (void)::fchmodat(dir, name, wanted, AT_SYMLINK_NOFOLLOW);
}

// The first 8 hex digits of this boot's id, so that a temporary from an earlier boot is never
// mistaken for the live upload of a process that now happens to have the same pid.
const std::string& boot_tag() {
  static const std::string tag = [] {
    std::string t = "00000000";
    if (std::FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "re")) {
      std::array<char, 64> buf{};
      if (std::fgets(buf.data(), static_cast<int>(buf.size()), f) != nullptr &&
          std::strlen(buf.data()) >= 8) {
        t.assign(buf.data(), 8);
      }
      std::fclose(f);
    }
    return t;
  }();
  return tag;
}

// This process's pid and a name counter, with no system call per upload: read once, and again
// in a child after fork() (an atfork handler), since each worker is a fork of the master.
// Atomics: storage calls may run on pool threads; a name taken twice only costs an O_EXCL retry.
struct TempNames {
  std::atomic<pid_t> pid{0};
  std::atomic<std::uint64_t> next{0};
};
TempNames& temp_names() {
  static TempNames t;
  static const int registered =
      ::pthread_atfork(nullptr, nullptr, [] { temp_names().pid.store(0, std::memory_order_relaxed); });
  (void)registered;
  if (t.pid.load(std::memory_order_relaxed) == 0) {
    // A random start, so names of processes that happen to reuse a pid do not follow each other.
    std::uint64_t start = 0;
    if (::getrandom(&start, sizeof start, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof start)) {
      timespec ts{};
      ::clock_gettime(CLOCK_MONOTONIC, &ts);
      start = static_cast<std::uint64_t>(ts.tv_nsec) ^ (static_cast<std::uint64_t>(ts.tv_sec) << 30);
    }
    t.next.store(start, std::memory_order_relaxed);
    t.pid.store(::getpid(), std::memory_order_relaxed);
  }
  return t;
}

// PREFIX<boot>-<pid>-<16 hex>: the writer's boot and pid let a sweep tell a stale temporary
// (its writer is gone) from a live one (another worker, or the old generation after a reload).
// The hex part only has to differ from this process's other temporaries (opened with O_EXCL).
std::string temp_name() {
  TempNames& t = temp_names();
  std::uint64_t v = t.next.fetch_add(1, std::memory_order_relaxed);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name;
  name.reserve(kUploadTempPrefix.size() + 48);
  name.append(kUploadTempPrefix).append(boot_tag()).push_back('-');
  name.append(std::to_string(t.pid.load(std::memory_order_relaxed))).push_back('-');
  for (int i = 0; i < 16; ++i, v >>= 4) name.push_back(kHex[v & 15]);
  return name;
}

// Whether the writer of a temporary is gone. Any name under the prefix that is not ours (an
// older feitp's, or a client's from before such paths were refused) has no live writer either.
// A pid that was reused keeps its temporaries until that process ends: a leak, never a loss.
bool temp_is_stale(std::string_view name) {
  name.remove_prefix(kUploadTempPrefix.size());
  const std::size_t d1 = name.find('-');
  if (d1 == std::string_view::npos || name.substr(0, d1) != boot_tag()) return true;
  name.remove_prefix(d1 + 1);
  const std::size_t d2 = name.find('-');
  if (d2 == std::string_view::npos) return true;
  int pid = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + d2, pid);
  if (ec != std::errc{} || end != name.data() + d2 || pid <= 0) return true;
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Whether this process may give an O_TMPFILE inode a name with linkat(AT_EMPTY_PATH): kernels
// before 6.10 allow that only with CAP_DAC_READ_SEARCH. Learned once per process (again after
// fork(): a worker may run with other credentials than the master), by linking an empty probe
// under a temporary name in the first directory an upload goes to, and removing it.
enum class Linkable : int { unknown, yes, no };
std::atomic<Linkable>& unnamed_linkable() {
  static std::atomic<Linkable> state{Linkable::unknown};
  static const int registered = ::pthread_atfork(
      nullptr, nullptr, [] { unnamed_linkable().store(Linkable::unknown, std::memory_order_relaxed); });
  (void)registered;
  return state;
}

// Opens an unnamed regular file in `dir` (nothing in the directory until it is linked).
int open_unnamed(int dir, mode_t mode) { return ::openat(dir, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, mode); }

bool probe_linkable(int dir, mode_t mode) {
  auto& state = unnamed_linkable();
  const Linkable known = state.load(std::memory_order_relaxed);
  if (known != Linkable::unknown) return known == Linkable::yes;
  os::UniqueFd probe(open_unnamed(dir, mode));
  if (probe.get() < 0) return false;  // this file system: decided per upload
  const std::string name = temp_name();
  if (::linkat(probe.get(), "", dir, name.c_str(), AT_EMPTY_PATH) != 0) {
    // ENOENT or EPERM: the kernel's refusal, for every directory. Anything else (EEXIST, a
    // full disk, a directory we may not write) says nothing yet.
    if (errno == ENOENT || errno == EPERM) state.store(Linkable::no, std::memory_order_relaxed);
    return false;
  }
  ::unlinkat(dir, name.c_str(), 0);
  state.store(Linkable::yes, std::memory_order_relaxed);
  return true;
}

struct SweepState {
  dev_t dev = 0;
  std::size_t budget = 0;
  std::size_t removed = 0;
};

// Depth-first over one directory (owned fd), never following symlinks or leaving the file
// system; at most 64 levels deep, so at most 64 descriptors are open at once.
void sweep_dir(os::UniqueFd fd, SweepState& sw, int depth) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd.get()), &::closedir);
  if (!dir) return;
  fd.release();  // the DIR owns it now
  const int dfd = ::dirfd(dir.get());
  while (sw.budget > 0) {
    const dirent* e = ::readdir(dir.get());
    if (e == nullptr) return;
    const std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    --sw.budget;
    struct stat st {};
    if (name.starts_with(kUploadTempPrefix)) {
      if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
          temp_is_stale(name) && ::unlinkat(dfd, e->d_name, 0) == 0) {
        ++sw.removed;
      }
      continue;
    }
    if (depth >= 64 || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)) continue;
    const int child = ::openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) continue;
    os::UniqueFd owned(child);
    if (::fstat(child, &st) != 0 || st.st_dev != sw.dev) continue;
    sweep_dir(std::move(owned), sw, depth + 1);
  }
}

// Sweeps beneath a directory descriptor (O_PATH is enough).
std::size_t sweep_at(int root, std::size_t max_entries) {
  const int fd = ::openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  os::UniqueFd owned(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  SweepState sw;
  sw.dev = st.st_dev;
  sw.budget = max_entries;
  sweep_dir(std::move(owned), sw, 0);
  return sw.removed;
}

// --- Files ----------------------------------------------------------------------------------

class LocalReadFile final : public ReadFile {
 public:
  explicit LocalReadFile(os::UniqueFd fd) : fd_(std::move(fd)) {}
  Result<std::size_t> read(std::span<std::byte> buf) override {
    for (;;) {
      const ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return errno_code(errno);
    }
  }
  [[nodiscard]] int native_handle() const override { return fd_.get(); }

 private:
  os::UniqueFd fd_;
};

struct WriteState {
  os::UniqueFd fd;
  DirRef parent;           // directory holding name (and the temporary name)
  std::string name;        // last component of the target
  std::string temp;        // atomic uploads: the temporary name, else empty
  bool unnamed = false;    // atomic upload into an O_TMPFILE inode, linked as `name` on commit
  bool exclusive = false;  // atomic commit must not replace an existing target
  bool created = false;    // in place: this upload created the file
  bool append = false;     // in place: opened with O_APPEND
  off_t start_size = 0;    // in place: where this upload's bytes begin

  [[nodiscard]] bool atomic() const { return unnamed || !temp.empty(); }
};

// In-place writers (APPE, REST+STOR, STOR with atomic_uploads = false) hold a shared flock on
// the file while they write; see drop_own_bytes().
class LocalWriteFile final : public WriteFile {
 public:
  explicit LocalWriteFile(WriteState st) : s_(std::move(st)) {
    // Non-blocking: a local process holding an exclusive lock must not stall the event loop;
    // without the lock, drop_own_bytes() is merely less sure that no one else is writing.
    if (!s_.atomic()) (void)::flock(s_.fd.get(), LOCK_SH | LOCK_NB);
  }
  // Never ended: the safe default (WriteFile's contract). A backup that revert() did not use is
  // dropped: the upload stays.
  ~LocalWriteFile() override {
    if (!done_) abort(false);
    if (!backup_.empty()) ::unlinkat(s_.parent.get(), backup_.c_str(), 0);
  }
  LocalWriteFile(const LocalWriteFile&) = delete;
  LocalWriteFile& operator=(const LocalWriteFile&) = delete;

  Result<std::size_t> write(std::span<const std::byte> data) override {
    if (done_) return errno_code(EBADF);
    std::size_t total = 0;
    while (total < data.size()) {
      const ssize_t n = ::write(s_.fd.get(), data.data() + total, data.size() - total);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_code(errno);
      }
      if (n == 0) return errno_code(ENOSPC);
      total += static_cast<std::size_t>(n);
      written_ += static_cast<std::uint64_t>(n);
    }
    return total;
  }

  Status commit(Commit how) override {
    if (done_) return errno_code(EBADF);
    done_ = true;
    keep_previous_ = how == Commit::keep_previous;
    if (!s_.atomic()) {
      // In place: keep the descriptor (and the lock) while revert() may still need them.
      if (keep_previous_ && (s_.start_size > 0 || s_.created)) return {};
      if (const int e = s_.fd.close(); e != 0) return errno_code(e);
      return {};
    }
    return s_.unnamed ? commit_unnamed() : commit_atomic();
  }

  void abort(bool keep_partial) override {
    if (done_) return;
    done_ = true;
    if (s_.unnamed) {
      s_.fd.reset();  // the inode has no name: closing it frees it
      return;
    }
    if (!s_.temp.empty()) {
      s_.fd.reset();
      ::unlinkat(s_.parent.get(), s_.temp.c_str(), 0);
      return;
    }
    // In place: a failed upload removes its own bytes only when that cannot touch anyone
    // else's; otherwise they stay, as after a dropped connection (REST+STOR resumes them).
    if (!keep_partial) (void)drop_own_bytes();
    s_.fd.reset();
  }

  [[nodiscard]] int native_handle() const override { return s_.fd.get(); }

  Status revert() override {
    if (!keep_previous_) return errno_code(ENOTSUP);  // not committed with Commit::keep_previous
    keep_previous_ = false;                           // once
    const int dir = s_.parent.get();
    if (!backup_.empty()) {
      // Atomic upload over an existing file: the previous version comes back.
      const int rc = ::renameat(dir, backup_.c_str(), dir, s_.name.c_str());
      const int e = errno;
      backup_.clear();
      if (rc != 0) return sys_error(e);
      return {};
    }
    if (s_.atomic()) {
      // An atomic upload that created the file: remove it.
      if (::unlinkat(dir, s_.name.c_str(), 0) != 0 && errno != ENOENT) return sys_error(errno);
      return {};
    }
    if (s_.fd.get() >= 0 && (s_.start_size > 0 || s_.created)) {
      // Appended, resumed or created in place. Success even when the bytes must stay (someone
      // else wrote after them): the server would otherwise remove the whole file by its path.
      (void)drop_own_bytes();
      s_.fd.reset();
      return {};
    }
    // Replaced in place: the old bytes are gone; the server removes the file by its path.
    return errno_code(ENOTSUP);
  }

 private:
  // Links the unnamed file under its name. linkat() never replaces a name: when the name
  // appeared while the upload ran (another session's STOR), the file replaces it through a
  // temporary name, as an upload that started over an existing file would.
  Status commit_unnamed() {
    const int fd = s_.fd.get();
    const int dir = s_.parent.get();
    if (::linkat(fd, "", dir, s_.name.c_str(), AT_EMPTY_PATH) == 0) {
      // Local file systems report nothing at close(); should one, the name goes again.
      if (const int e = s_.fd.close(); e != 0) {
        ::unlinkat(dir, s_.name.c_str(), 0);
        return errno_code(e);
      }
      return {};
    }
    int e = errno;
    if (e == EEXIST && !s_.exclusive) {
      for (int attempt = 0; attempt < 8; ++attempt) {
        std::string temp = temp_name();
        if (::linkat(fd, "", dir, temp.c_str(), AT_EMPTY_PATH) == 0) {
          s_.unnamed = false;
          s_.temp = std::move(temp);
          return commit_atomic();
        }
        if ((e = errno) != EEXIST) break;
      }
    }
    s_.fd.reset();
    return sys_error(e);
  }

  Status commit_atomic() {
    const int close_err = s_.fd.close();
    const int dir = s_.parent.get();
    if (close_err != 0) {
      ::unlinkat(dir, s_.temp.c_str(), 0);
      return errno_code(close_err);
    }
    if (keep_previous_ && !s_.exclusive) {
      // A second name for the file about to be replaced, so revert() can bring it back.
      std::string backup = temp_name();
      if (::linkat(dir, s_.name.c_str(), dir, backup.c_str(), 0) == 0) backup_ = std::move(backup);
    }
    // No fsync: the rename comes after every byte was written, so a process killed at any
    // point (kill -9 of a worker or of the master) leaves the old file or the new one whole.
    // Only a power loss could expose a renamed file whose data blocks never reached the disk;
    // ext4 (auto_da_alloc) and xfs flush a file replaced by rename, and an fsync per upload
    // would cost more than the whole rest of a small upload.
    int rc = ::renameat2(dir, s_.temp.c_str(), dir, s_.name.c_str(), s_.exclusive ? RENAME_NOREPLACE : 0);
    if (rc != 0 && s_.exclusive && errno == EINVAL) {
      // The file system lacks RENAME_NOREPLACE: link() refuses to replace as well.
      rc = ::linkat(dir, s_.temp.c_str(), dir, s_.name.c_str(), 0);
      if (rc == 0) ::unlinkat(dir, s_.temp.c_str(), 0);
    }
    if (rc != 0) {
      const int e = errno;
      ::unlinkat(dir, s_.temp.c_str(), 0);
      return sys_error(e);
    }
    return {};
  }

  // In place: removes the bytes this upload wrote (the file itself, if this upload created
  // it), but only when that provably removes nothing of anyone else's (audit F4: a failed
  // APPE must not cut off another session's append that already got 226). Every in-place
  // writer holds a shared flock while it writes, so taking it exclusively without waiting
  // shows that no one else is writing now; a size of exactly start + our bytes shows that no
  // one wrote after us. Our bytes: counted by write() for O_APPEND (never spliced), the file
  // offset otherwise (splice() advances it too). Returns whether it dropped them.
  bool drop_own_bytes() {
    const int fd = s_.fd.get();
    if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) return false;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return false;
    off_t end = 0;
    if (s_.append) {
      end = s_.start_size + static_cast<off_t>(written_);
    } else if ((end = ::lseek(fd, 0, SEEK_CUR)) < 0) {
      return false;
    }
    if (st.st_size != end) return false;
    if (!s_.created) return ::ftruncate(fd, s_.start_size) == 0;
    // Remove the name only while it is still the file this upload made.
    const int dir = s_.parent.get();
    struct stat now {};
    if (::fstatat(dir, s_.name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_dev != st.st_dev ||
        now.st_ino != st.st_ino) {
      return false;
    }
    return ::unlinkat(dir, s_.name.c_str(), 0) == 0;
  }

  WriteState s_;
  bool done_ = false;
  bool keep_previous_ = false;
  std::uint64_t written_ = 0;  // bytes that went through write()
  std::string backup_;         // atomic commit: a link to the file the upload replaced
};

// --- The storage ----------------------------------------------------------------------------

class LocalStorage final : public Storage, private ListingVersions {
 public:
  // watch: the factory's DirWatch, shared by every storage it makes; nullptr for a storage
  // made alone (make_local_storage), which then offers no listing_versions().
  LocalStorage(os::UniqueFd root, bool use_openat2, const LocalStorageOptions& o,
               std::shared_ptr<DirWatch> watch)
      : LocalStorage(std::make_shared<const os::UniqueFd>(std::move(root)), use_openat2, o,
                     std::move(watch)) {}
  LocalStorage(std::shared_ptr<const os::UniqueFd> root, bool use_openat2, const LocalStorageOptions& o,
               std::shared_ptr<DirWatch> watch)
      : root_(std::move(root)),
        watch_(std::move(watch)),
        use_openat2_(use_openat2),
        atomic_(o.atomic_uploads),
        unnamed_(o.unnamed_temporaries),
        file_mode_(static_cast<mode_t>(o.file_mode & ~o.umask & 0777)),
        dir_mode_(static_cast<mode_t>(o.dir_mode & ~o.umask & 0777)) {}

  [[nodiscard]] const std::shared_ptr<const os::UniqueFd>& root_fd() const { return root_; }
  [[nodiscard]] bool uses_openat2() const { return use_openat2_; }

  [[nodiscard]] StorageCapabilities capabilities() const override {
    StorageCapabilities c;
    c.chmod = true;
    c.set_mtime = true;
    c.free_space = true;
    return c;
  }

  Result<FileInfo> stat(std::string_view path) override {
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    FileInfo info;
    struct stat st {};
    if (p.root) {
      if (::fstat(root_->get(), &st) != 0) return last_error();
      fill_info(info, st, root_->get(), ".");
      return info;
    }
    auto dir = open_parent(p);
    if (!dir) return dir.error();
    if (::fstatat(dir->get(), p.name, &st, AT_SYMLINK_NOFOLLOW) != 0) return last_error();
    if (S_ISLNK(st.st_mode)) {
      // stat() describes what a link leads to (SIZE, MDTM, CWD, RETR agree), resolved beneath
      // the root: a link that leads outside is refused like any escape. list() shows links.
      auto target = open_beneath(p.rel.data(), O_PATH, 0);
      if (!target) return target.error();
      if (::fstat(target->get(), &st) != 0) return last_error();
    }
    info.name = p.name;
    fill_info(info, st, dir->get(), p.name);
    return info;
  }

  Result<std::vector<FileInfo>> list(std::string_view path) override {
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    auto fd = open_beneath(p.rel.data(), O_RDONLY | O_DIRECTORY, 0);
    if (!fd) return fd.error();
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd->get()), &::closedir);
    if (!dir) return last_error();
    fd->release();  // the DIR owns it now
    const int dfd = ::dirfd(dir.get());
    std::vector<FileInfo> out;
    out.reserve(64);
    for (;;) {
      errno = 0;
      const dirent* e = ::readdir(dir.get());
      if (e == nullptr) {
        if (errno != 0) return last_error();
        break;
      }
      const std::string_view name(e->d_name);
      if (name == "." || name == ".." || name.starts_with(kUploadTempPrefix)) continue;
      struct stat st {};
      if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we were listing
        FileInfo& info = out.emplace_back();
        info.name = name;
        info.type = e->d_type == DT_DIR   ? FileType::directory
                    : e->d_type == DT_LNK ? FileType::symlink
                    : e->d_type == DT_REG ? FileType::file
                                          : FileType::other;
        continue;
      }
      FileInfo& info = out.emplace_back();
      info.name = name;
      fill_info(info, st, dfd, e->d_name);
    }
    return out;
  }

  // Resolves the path beneath the root as list() does (O_PATH: only the inode is needed) and
  // asks the factory's DirWatch: only a storage made by a factory has one.
  ListingVersions* listing_versions() override { return watch_ ? this : nullptr; }
  // Any error, or a path that is not a directory: nullopt.
  std::optional<std::uint64_t> listing_version(std::string_view path) override {
    PathBuf p;
    if (!watch_ || parse_path(path, p)) return std::nullopt;
    if (p.root) return watch_->version(root_->get());
    auto fd = open_beneath(p.rel.data(), O_PATH | O_DIRECTORY, 0);
    if (!fd) return std::nullopt;
    return watch_->version(fd->get());
  }

  // Follows symlinks by hand the way openat2(RESOLVE_BENEATH) does: relative targets only, no
  // ".." above the root, at most 40 links. Each step is an fstatat (and a readlinkat for a
  // link) beneath the root on a prefix that holds no symlink. Only users with per-directory
  // rules pay for it. The walk fallback refuses every symlink, so there the typed path is real.
  Result<std::string> real_path(std::string_view path, bool follow_last) override {
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    if (p.root) return std::string("/");
    if (!use_openat2_) return "/" + std::string(p.rel.data());
    std::vector<std::string> todo;  // components still to resolve; the next one is at the back
    push_components(todo, p.rel.data());
    std::string done;  // resolved so far, relative to the root ("a/b"), free of symlinks
    int links = 0;
    while (!todo.empty()) {
      std::string comp = std::move(todo.back());
      todo.pop_back();
      if (comp == ".") continue;
      if (comp == "..") {
        if (done.empty()) return errno_code(EACCES);  // above the root: RESOLVE_BENEATH's EXDEV
        const auto slash = done.rfind('/');
        done.erase(slash == std::string::npos ? 0 : slash);
        continue;
      }
      const std::size_t mark = done.size();
      if (!done.empty()) done.push_back('/');
      done += comp;
      const bool last = todo.empty();
      if (last && !follow_last) break;
      struct stat st {};
      if (::fstatat(root_->get(), done.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT && last) break;  // about to be created
        return last_error();
      }
      if (S_ISLNK(st.st_mode)) {
        if (++links > 40) return errno_code(ELOOP);
        std::array<char, PATH_MAX> buf{};
        const ssize_t n = ::readlinkat(root_->get(), done.c_str(), buf.data(), buf.size());
        if (n < 0) return last_error();
        // An absolute target leaves the root for RESOLVE_BENEATH; so does a truncated one here.
        if (n == 0 || buf[0] == '/' || n >= static_cast<ssize_t>(buf.size())) { return errno_code(EACCES); }
        done.erase(mark);
        push_components(todo, std::string_view(buf.data(), static_cast<std::size_t>(n)));
        continue;
      }
      if (!last && !S_ISDIR(st.st_mode)) return errno_code(ENOTDIR);
    }
    return "/" + done;
  }

  Result<std::unique_ptr<ReadFile>> open_read(std::string_view path, std::uint64_t offset) override {
    if (offset > kMaxOffset) return errno_code(EINVAL);
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    // O_NONBLOCK so that a FIFO cannot hang the open; it is refused below.
    auto fd = open_beneath(p.rel.data(), O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (!fd) return fd.error();
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return last_error();
    if (S_ISDIR(st.st_mode)) return errno_code(EISDIR);
    if (!S_ISREG(st.st_mode)) return errno_code(EACCES);
    if (::fcntl(fd->get(), F_SETFL, 0) != 0) return last_error();
    if (offset != 0 && ::lseek(fd->get(), static_cast<off_t>(offset), SEEK_SET) < 0) { return last_error(); }
    return std::unique_ptr<ReadFile>(std::make_unique<LocalReadFile>(std::move(*fd)));
  }

  Result<std::unique_ptr<WriteFile>> open_write(std::string_view path, WriteMode mode,
                                                std::uint64_t offset) override {
    if (offset > kMaxOffset) return errno_code(EINVAL);
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    if (p.root) return errno_code(EISDIR);
    if (atomic_ && (mode == WriteMode::truncate || mode == WriteMode::exclusive)) {
      return open_atomic(p, mode == WriteMode::exclusive);
    }
    switch (mode) {
      case WriteMode::truncate: return open_replace(p);
      case WriteMode::exclusive: return open_create(p);
      case WriteMode::append: return open_append(p);
      case WriteMode::at_offset: return open_at_offset(p, static_cast<off_t>(offset));
    }
    return errno_code(EINVAL);
  }

  Status mkdir(std::string_view path) override {
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    if (p.root) return errno_code(EEXIST);
    auto dir = open_parent(p);
    if (!dir) return dir.error();
    if (::mkdirat(dir->get(), p.name, dir_mode_) != 0) return last_error();
    fix_created_mode_at(dir->get(), p.name, dir_mode_);
    return {};
  }

  Status rmdir(std::string_view path) override { return unlink(path, AT_REMOVEDIR); }
  Status remove(std::string_view path) override { return unlink(path, 0); }

  Status rename(std::string_view from, std::string_view to) override {
    PathBuf a;
    PathBuf b;
    if (auto ec = parse_path(from, a)) return ec;
    if (auto ec = parse_path(to, b)) return ec;
    if (a.root || b.root) return errno_code(EBUSY);
    auto da = open_parent(a);
    if (!da) return da.error();
    auto db = open_parent(b);
    if (!db) return db.error();
    if (::renameat(da->get(), a.name, db->get(), b.name) != 0) return last_error();
    return {};
  }

  Status set_mtime(std::string_view path, std::int64_t mtime) override {
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    auto dir = open_parent(p);
    if (!dir) return dir.error();
    std::array<timespec, 2> ts{};
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_sec = static_cast<time_t>(mtime);
    if (::utimensat(dir->get(), p.name, ts.data(), AT_SYMLINK_NOFOLLOW) != 0) { return last_error(); }
    return {};
  }

  Status chmod(std::string_view path, std::uint32_t mode) override {
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    auto dir = open_parent(p);
    if (!dir) return dir.error();
    // Only the rwx bits: no setuid, setgid or sticky bit from a client. AT_SYMLINK_NOFOLLOW
    // never changes a symlink's target (Linux cannot chmod a link itself: EOPNOTSUPP).
    if (::fchmodat(dir->get(), p.name, static_cast<mode_t>(mode & 0777), AT_SYMLINK_NOFOLLOW) != 0) {
      const int e = errno;
      return sys_error(e == EOPNOTSUPP ? EPERM : e);
    }
    return {};
  }

  Result<std::uint64_t> free_space(std::string_view path) override {
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    struct statvfs sv {};
    if (p.root) {
      if (::fstatvfs(root_->get(), &sv) != 0) return last_error();
    } else {
      auto fd = open_beneath(p.rel.data(), O_PATH, 0);
      if (!fd) return fd.error();
      if (::fstatvfs(fd->get(), &sv) != 0) return last_error();
    }
    return static_cast<std::uint64_t>(sv.f_bavail) * static_cast<std::uint64_t>(sv.f_frsize);
  }

 private:
  // Opens a path (relative, as made by parse_path) beneath the root.
  Result<os::UniqueFd> open_beneath(const char* rel, int flags, mode_t mode) const {
    flags |= O_CLOEXEC;
    if (use_openat2_) {
      open_how how{};
      how.flags = static_cast<std::uint64_t>(flags);
      how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
      for (int attempt = 0;; ++attempt) {
        const long fd = ::syscall(SYS_openat2, root_->get(), rel, &how, sizeof how);
        if (fd >= 0) return os::UniqueFd(static_cast<int>(fd));
        // EAGAIN: a concurrent rename raced the ".." check; the kernel asks to retry.
        if ((errno == EINTR || errno == EAGAIN) && attempt < 16) continue;
        return last_error();
      }
    }
    return walk(rel, flags, mode);
  }

  // The fallback: one component at a time, never following a symlink.
  Result<os::UniqueFd> walk(const char* rel, int flags, mode_t mode) const {
    const int root = root_->get();
    if (std::strcmp(rel, ".") == 0) {
      const int fd = ::openat(root, ".", flags, mode);
      if (fd < 0) return last_error();
      return os::UniqueFd(fd);
    }
    os::UniqueFd cur;
    int at = root;
    const char* s = rel;
    std::array<char, NAME_MAX + 1> comp{};
    for (;;) {
      const char* slash = std::strchr(s, '/');
      const std::size_t n = slash ? static_cast<std::size_t>(slash - s) : std::strlen(s);
      if (n == 0 || n > NAME_MAX) return errno_code(EINVAL);
      std::memcpy(comp.data(), s, n);
      comp[n] = '\0';
      const bool last = slash == nullptr;
      const int f = last ? (flags | O_NOFOLLOW) : (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int fd;
      do { fd = ::openat(at, comp.data(), f, mode); } while (fd < 0 && errno == EINTR);
      if (fd < 0) {
        const int e = errno;
        struct stat st {};
        if ((e == ENOTDIR || e == ELOOP) && ::fstatat(at, comp.data(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode)) {
          return errno_code(EACCES);
        }
        return sys_error(e);
      }
      if (last) {
        if ((f & O_PATH) != 0) {
          // O_PATH|O_NOFOLLOW opens a symlink itself: refuse it like the others.
          struct stat st {};
          if (::fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
            ::close(fd);
            return errno_code(EACCES);
          }
        }
        return os::UniqueFd(fd);
      }
      cur.reset(fd);
      at = cur.get();
      s = slash + 1;
    }
  }

  Result<DirRef> open_parent(const PathBuf& p) const {
    if (p.parent_is_root) return DirRef(root_);
    auto fd = open_beneath(p.parent.data(), O_PATH | O_DIRECTORY, 0);
    if (!fd) return fd.error();
    return DirRef(std::move(*fd));
  }

  Status unlink(std::string_view path, int flags) {
    PathBuf p;
    if (auto ec = parse_path(path, p)) return ec;
    if (p.root) return errno_code(flags == AT_REMOVEDIR ? EBUSY : EISDIR);
    auto dir = open_parent(p);
    if (!dir) return dir.error();
    if (::unlinkat(dir->get(), p.name, flags) != 0) return last_error();
    return {};
  }

  // Checks that an opened target is a regular file.
  static std::error_code check_regular(int fd, off_t* size) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return last_error();
    if (S_ISDIR(st.st_mode)) return errno_code(EISDIR);
    if (!S_ISREG(st.st_mode)) return errno_code(EACCES);
    if (::fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) return last_error();
    if (size != nullptr) *size = st.st_size;
    return {};
  }

  Result<std::unique_ptr<WriteFile>> make_writer(WriteState st) const {
    return std::unique_ptr<WriteFile>(std::make_unique<LocalWriteFile>(std::move(st)));
  }

  // Creates the file, failing with EEXIST when it is there (never follows a final symlink).
  // append: O_APPEND, so that a concurrent APPE to the new file is never overwritten.
  Result<std::unique_ptr<WriteFile>> open_create(const PathBuf& p, bool append = false) const {
    auto dir = open_parent(p);
    if (!dir) return dir.error();
    const int fd =
        ::openat(dir->get(), p.name,
                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | (append ? O_APPEND : 0), file_mode_);
    if (fd < 0) return last_error();
    WriteState st;
    st.fd.reset(fd);
    fix_created_mode(fd, file_mode_);
    st.parent = std::move(*dir);
    st.name = p.name;
    st.created = true;
    st.append = append;
    return make_writer(std::move(st));
  }

  Result<std::unique_ptr<WriteFile>> open_replace(const PathBuf& p) const {
    for (int attempt = 0; attempt < 4; ++attempt) {
      auto created = open_create(p);
      if (created || created.error() != std::errc::file_exists) return created;
      // It exists: truncate it (through a symlink only if that stays beneath the root).
      auto fd = open_beneath(p.rel.data(), O_WRONLY | O_TRUNC | O_NONBLOCK | O_NOCTTY, 0);
      if (!fd) {
        if (fd.error() == std::errc::no_such_file_or_directory) continue;  // removed meanwhile
        return fd.error();
      }
      if (auto ec = check_regular(fd->get(), nullptr)) return ec;
      // The old content is gone already: abort(false) can only truncate back to empty, so the
      // parent is not needed (it is for created files and temporaries).
      WriteState st;
      st.fd = std::move(*fd);
      st.parent = DirRef(root_);
      st.name = p.name;
      return make_writer(std::move(st));
    }
    return errno_code(EACCES);
  }

  Result<std::unique_ptr<WriteFile>> open_append(const PathBuf& p) const {
    for (int attempt = 0; attempt < 4; ++attempt) {
      auto fd = open_beneath(p.rel.data(), O_WRONLY | O_APPEND | O_NONBLOCK | O_NOCTTY, 0);
      if (!fd) {
        if (fd.error() != std::errc::no_such_file_or_directory) return fd.error();
        auto created = open_create(p, true);  // APPE creates a missing file
        if (created || created.error() != std::errc::file_exists) return created;
        continue;
      }
      WriteState st;
      if (auto ec = check_regular(fd->get(), &st.start_size)) return ec;
      st.fd = std::move(*fd);
      st.parent = DirRef(root_);
      st.name = p.name;
      st.append = true;
      return make_writer(std::move(st));
    }
    return errno_code(EACCES);
  }

  Result<std::unique_ptr<WriteFile>> open_at_offset(const PathBuf& p, off_t offset) const {
    auto fd = open_beneath(p.rel.data(), O_WRONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (!fd) {
      if (offset == 0 && fd.error() == std::errc::no_such_file_or_directory) { return open_replace(p); }
      return fd.error();
    }
    WriteState st;
    off_t size = 0;
    if (auto ec = check_regular(fd->get(), &size)) return ec;
    if (offset > size) return errno_code(EINVAL);
    if (::ftruncate(fd->get(), offset) != 0) return last_error();
    if (::lseek(fd->get(), offset, SEEK_SET) < 0) return last_error();
    st.fd = std::move(*fd);
    st.parent = DirRef(root_);
    st.name = p.name;
    st.start_size = offset;
    return make_writer(std::move(st));
  }

  Result<std::unique_ptr<WriteFile>> open_atomic(const PathBuf& p, bool exclusive) const {
    auto dir = open_parent(p);
    if (!dir) return dir.error();
    struct stat cur {};
    mode_t mode = file_mode_;
    if (::fstatat(dir->get(), p.name, &cur, AT_SYMLINK_NOFOLLOW) == 0) {
      if (exclusive) return errno_code(EEXIST);
      if (S_ISDIR(cur.st_mode)) return errno_code(EISDIR);
      // The new version keeps the permissions of the file it replaces, as a write in place
      // would (a SITE CHMOD survives an overwrite).
      if (S_ISREG(cur.st_mode)) {
        mode = cur.st_mode & 0777;
        // Replacing by rename needs only the directory's write bit; an overwrite in place
        // needs the file's. Keep the file's rule, so a write-protected file (or one the
        // process may not write, e.g. root without CAP_DAC_OVERRIDE) is not replaced.
        if (::faccessat(dir->get(), p.name, W_OK, AT_EACCESS) != 0) return last_error();
      }
    } else if (errno != ENOENT) {
      return last_error();
    } else if (unnamed_ && probe_linkable(dir->get(), mode)) {
      // A new name: an unnamed file, linked on commit. Where the file system has no O_TMPFILE
      // (EOPNOTSUPP), a named temporary as below.
      if (const int fd = open_unnamed(dir->get(), mode); fd >= 0) {
        return atomic_writer(fd, mode, std::move(*dir), p, {}, exclusive);
      }
    }
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::string temp = temp_name();
      const int fd =
          ::openat(dir->get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd < 0) {
        if (errno == EEXIST) continue;
        return last_error();
      }
      return atomic_writer(fd, mode, std::move(*dir), p, std::move(temp), exclusive);
    }
    return errno_code(EEXIST);
  }

  // The writer of an atomic upload into `fd`, just created: an unnamed file when `temp` is empty.
  Result<std::unique_ptr<WriteFile>> atomic_writer(int fd, mode_t mode, DirRef dir, const PathBuf& p,
                                                   std::string temp, bool exclusive) const {
    WriteState st;
    st.fd.reset(fd);
    fix_created_mode(fd, mode);
    st.parent = std::move(dir);
    st.name = p.name;
    st.unnamed = temp.empty();
    st.temp = std::move(temp);
    st.exclusive = exclusive;
    return make_writer(std::move(st));
  }

  std::shared_ptr<const os::UniqueFd> root_;
  std::shared_ptr<DirWatch> watch_;  // may be null
  bool use_openat2_;
  bool atomic_;
  bool unnamed_;
  mode_t file_mode_;
  mode_t dir_mode_;
};

// mkdir -p for the configured root (an operator's path, not a client's).
std::error_code make_dirs(const std::string& path, mode_t mode) {
  std::string prefix;
  prefix.reserve(path.size());
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      prefix.assign(path, 0, i);
      if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) return errno_code(errno);
    }
  }
  return {};
}

// Opens (or creates) the root and makes the storage; watch may be null (see LocalStorage).
// `openat2_known` caches whether the kernel has openat2 (-1: not asked yet; 0 or 1), so that a
// factory asks the kernel once; null asks every time.
Result<std::unique_ptr<LocalStorage>> open_local(const LocalStorageOptions& options, Resolver resolver,
                                                 std::shared_ptr<DirWatch> watch, int* openat2_known) {
  if (options.root.empty() || options.root.find('\0') != std::string::npos) { return errno_code(EINVAL); }
  // Logins are frequent: open the root first and create it only when it is missing.
  int fd = ::open(options.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && options.create_root) {
    if (auto ec = make_dirs(options.root, static_cast<mode_t>(options.dir_mode & ~options.umask & 0777))) {
      return ec;
    }
    fd = ::open(options.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  if (fd < 0) return errno_code(errno);
  os::UniqueFd root(fd);
  bool use_openat2 = false;
  if (resolver == Resolver::automatic) {
    // Whether the kernel has openat2 does not change while we run.
    int known = openat2_known != nullptr ? *openat2_known : -1;
    if (known < 0) {
      open_how how{};
      how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
      const long probe = ::syscall(SYS_openat2, root.get(), ".", &how, sizeof how);
      if (probe >= 0) {
        ::close(static_cast<int>(probe));
        known = 1;
      } else if (errno == ENOSYS) {
        known = 0;
      } else {
        return errno_code(errno);
      }
      if (openat2_known != nullptr) *openat2_known = known;
    }
    use_openat2 = known == 1;
  }
  return std::make_unique<LocalStorage>(std::move(root), use_openat2, options, std::move(watch));
}

// Sessions of the same home share one root descriptor: a login costs no open() while another
// session of that home is open, and 10,000 sessions need 10,000 descriptors, not 20,000. (A
// home replaced on disk while sessions of it are open is seen by logins after they all end.)
// Every storage it makes shares its one DirWatch (listing_versions); the DirWatch makes its
// inotify instance on the first version() call, so a server that never asks pays nothing.
class LocalStorageFactory final : public StorageFactory {
 public:
  explicit LocalStorageFactory(const LocalStorageOptions& o)
      : options_(o), watch_(std::make_shared<DirWatch>()) {}
  Result<std::unique_ptr<Storage>> create(const User& user) override {
    LocalStorageOptions o = options_;
    o.root = user.home;
    std::lock_guard lock(mu_);
    if (auto it = roots_.find(user.home); it != roots_.end()) {
      if (auto root = it->second.fd.lock()) {
        return std::unique_ptr<Storage>(
            std::make_unique<LocalStorage>(std::move(root), it->second.openat2, o, watch_));
      }
    }
    auto made = open_local(o, Resolver::automatic, watch_, &openat2_known_);
    if (!made) return made.error();
    sweep_once(user.home, (*made)->root_fd()->get());
    if (roots_.size() >= 4096) prune();
    roots_[user.home] = Entry{(*made)->root_fd(), (*made)->uses_openat2()};
    return std::unique_ptr<Storage>(std::move(*made));
  }

 private:
  struct Entry {
    std::weak_ptr<const os::UniqueFd> fd;
    bool openat2 = false;
  };
  void prune() {
    std::erase_if(roots_, [](const auto& kv) { return kv.second.fd.expired(); });
  }
  // Stale upload temporaries go the first time this factory opens a home. The daemon makes a
  // factory in each worker, and a reload starts new workers, so each home is swept once per
  // worker process at most (never per login), and again after each reload. The set is capped:
  // forgetting it only costs a second sweep.
  void sweep_once(const std::string& home, int root) {
    if (swept_.size() >= 65536) swept_.clear();
    if (swept_.insert(home).second) (void)sweep_at(root, kFactorySweepEntries);
  }
  // Bounds the sweep a login may pay for (a few milliseconds); feitpd also sweeps the
  // configured homes without this bound at start.
  static constexpr std::size_t kFactorySweepEntries = 100000;

  LocalStorageOptions options_;
  std::shared_ptr<DirWatch> watch_;  // never null; shared with the storages made
  std::mutex mu_;
  std::unordered_map<std::string, Entry> roots_;
  std::unordered_set<std::string> swept_;
  int openat2_known_ = -1;  // under mu_: whether the kernel has openat2, once asked
};

}  // namespace

Result<std::unique_ptr<Storage>> make_local_storage(const LocalStorageOptions& options, Resolver resolver) {
  auto made = open_local(options, resolver, nullptr, nullptr);
  if (!made) return made.error();
  return std::unique_ptr<Storage>(std::move(*made));
}

}  // namespace feitp::storage

namespace feitp {

Result<std::unique_ptr<Storage>> make_local_storage(const LocalStorageOptions& options) {
  return storage::make_local_storage(options, storage::Resolver::automatic);
}

std::shared_ptr<StorageFactory> make_local_storage_factory(bool atomic_uploads, bool create_root) {
  LocalStorageOptions o;
  o.atomic_uploads = atomic_uploads;
  o.create_root = create_root;
  return make_local_storage_factory(o);
}

std::shared_ptr<StorageFactory> make_local_storage_factory(const LocalStorageOptions& options) {
  return std::make_shared<storage::LocalStorageFactory>(options);
}

std::size_t sweep_upload_temporaries(const std::string& root, std::size_t max_entries) {
  const int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  const os::UniqueFd owned(fd);
  return storage::sweep_at(fd, max_entries);
}

}  // namespace feitp
