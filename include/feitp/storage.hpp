// feitp: the storage interface. One Storage object per logged-in user, made by a StorageFactory.
//
// Paths given to a Storage are always normalised absolute FTP paths ("/", "/a/b"): the server
// resolves the client's path against the current directory and removes "." and ".." before the
// call. A Storage must still never let a path reach outside its root (the local back-end enforces
// this with openat2(RESOLVE_BENEATH)).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "feitp/result.hpp"

namespace feitp {

struct User;

enum class FileType : std::uint8_t { file, directory, symlink, other };
// The enumerator's name: "file", "directory", "symlink", "other".
[[nodiscard]] std::string_view to_string(FileType type);

struct FileInfo {
  std::string name;  // last path component ("" for the root)
  FileType type = FileType::file;
  std::uint64_t size = 0;
  std::int64_t mtime = 0;     // seconds since the Unix epoch, UTC
  std::uint32_t mode = 0644;  // permission bits (07777)
  std::uint32_t nlink = 1;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint64_t unique = 0;  // stable identity (e.g. device+inode) for MLSx "unique"
  std::string link_target;   // for symlinks, when known
};

// A file opened for reading, positioned at the offset asked for in open_read().
class ReadFile {
 public:
  virtual ~ReadFile() = default;
  // Reads up to buf.size() bytes; 0 means end of file.
  virtual Result<std::size_t> read(std::span<std::byte> buf) = 0;
  // A kernel descriptor positioned like read(), for zero-copy paths; -1 when there is none.
  [[nodiscard]] virtual int native_handle() const { return -1; }
};

// How WriteFile::commit() ends an upload.
enum class Commit : std::uint8_t {
  plain,  // the transfer completed: make the file final/visible
  // The same, but a check (Hooks::check_upload) may still refuse the upload: the back-end keeps
  // what the upload replaces, so that revert() can put it back, until the WriteFile is destroyed.
  keep_previous,
};

// A file opened for writing. Bytes go in with write(); the upload ends with one of:
// - commit() (or commit(Commit::keep_previous), then maybe revert());
// - abort(keep_partial);
// - nothing: a WriteFile destroyed before either aborts itself with the safe default,
//   abort(false), so an upload nobody finished never looks complete. A caller that wants to keep
//   a resumable partial upload (REST+STOR after a dropped connection) calls abort(true) itself.
// Calls after the end do nothing (abort) or fail with EBADF (write, commit).
//
// Implementers: the destructor of every WriteFile must call abort(false) when neither commit()
// nor abort() was called (the base class cannot: the derived part is gone by then); a decorator
// may simply destroy the WriteFile it wraps.
class WriteFile {
 public:
  virtual ~WriteFile() = default;
  virtual Result<std::size_t> write(std::span<const std::byte> data) = 0;
  virtual Status commit(Commit how = Commit::plain) = 0;
  // keep_partial: the client went away mid-upload and may resume it (REST+STOR), so keep what
  // arrived (ignored for atomic uploads, whose temporary file is always removed). When false
  // (disk full, vetoed upload) a file this upload created is removed, and a file it replaced is
  // restored where the back-end can (atomic uploads). A back-end must never remove bytes that
  // another upload wrote (a concurrent APPE that already got 226): the local one keeps a failed
  // append's own bytes rather than risk that.
  virtual void abort(bool keep_partial) = 0;
  [[nodiscard]] virtual int native_handle() const { return -1; }

  // Only after commit(Commit::keep_previous) succeeded: puts back what the upload replaced (or
  // removes the new file when nothing was replaced). Otherwise, or for a back-end without it,
  // ENOTSUP: the server then removes the file instead.
  virtual Status revert() { return std::errc::not_supported; }
};

enum class WriteMode : std::uint8_t {
  truncate,   // STOR: create or replace
  append,     // APPE
  exclusive,  // STOU: create, fail with EEXIST if present
  at_offset,  // REST n + STOR: keep the first n bytes, write from n
};
// "truncate", "append", "exclusive", "at_offset".
[[nodiscard]] std::string_view to_string(WriteMode mode);

enum class HashAlgo : std::uint8_t { sha256, sha1, sha512, md5, crc32 };
// The name HASH and Options::default_hash use: "SHA-256", "SHA-1", "SHA-512", "MD5", "CRC32".
[[nodiscard]] std::string_view to_string(HashAlgo algo);

// A user's storage quota (0 = no limit) and what counts against it (regular files under home).
struct QuotaLimits {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};
struct QuotaUsage {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};
struct QuotaStatus {
  QuotaLimits limits;
  QuotaUsage usage;
};

// Optional capabilities; the server leaves unsupported ones out of FEAT and answers 502.
struct StorageCapabilities {
  bool chmod = false;
  bool set_mtime = false;
  bool native_hash = false;  // hash() is implemented (else the server reads the file itself)
  bool free_space = false;
};

// A capability a Storage may offer (Storage::listing_versions()): a token that changes whenever
// Storage::list(path) may return something different: an entry added, removed or renamed,
// written to, or its attributes changed. nullopt when the back-end cannot promise that for this
// path; the server then does not cache the listing. Take it BEFORE list(), so that a change made
// while listing yields a new value next time. Values are unique in the process: never reused for
// another directory or another state of the same one. A cache hit means list() is not called.
class ListingVersions {
 public:
  virtual ~ListingVersions() = default;
  virtual std::optional<std::uint64_t> listing_version(std::string_view path) = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // True when calls may block (network, database): the server then runs them on its thread
  // pool, never on the event loop. The local and memory back-ends are inline (false).
  [[nodiscard]] virtual bool blocking() const { return false; }
  [[nodiscard]] virtual StorageCapabilities capabilities() const { return {}; }

  // What the path leads to (a symlink is followed, beneath the root; one that leads outside is
  // refused with EACCES).
  virtual Result<FileInfo> stat(std::string_view path) = 0;
  // Entries of a directory, without "." and "..", in no particular order; symlinks are listed
  // as links (type symlink, link_target set).
  virtual Result<std::vector<FileInfo>> list(std::string_view path) = 0;
  // Optional capability: listing versions (see ListingVersions), or nullptr when the back-end
  // cannot offer them; the server then does not cache this storage's listings. The object is
  // owned by the storage (often the storage itself) and lives as long as it. A decorator whose
  // list() forwards untouched may return its inner storage's; one whose list() refuses or
  // filters entries must answer the same way in its own listing_version(), or return nullptr.
  virtual ListingVersions* listing_versions() { return nullptr; }
  // Optional: where `path` really leads beneath the root, as a normalised FTP path: each
  // symlink on the way (beneath the root) replaced by what it leads to, the last component too
  // when follow_last (false for calls that act on the name itself: remove, rmdir, rename,
  // mkdir, chmod, set_mtime). A missing last component is kept as given (it may be about to be
  // created). Per-directory permission rules are matched on it as well as on the typed path,
  // so a link into a restricted directory carries that directory's rules; the server asks only
  // for users with such rules. The default suits back-ends without symlinks: the path itself.
  virtual Result<std::string> real_path(std::string_view path, bool /*follow_last*/) {
    return std::string(path);
  }
  virtual Result<std::unique_ptr<ReadFile>> open_read(std::string_view path, std::uint64_t offset) = 0;
  virtual Result<std::unique_ptr<WriteFile>> open_write(std::string_view path, WriteMode mode,
                                                        std::uint64_t offset) = 0;
  virtual Status mkdir(std::string_view path) = 0;
  virtual Status rmdir(std::string_view path) = 0;
  virtual Status remove(std::string_view path) = 0;
  virtual Status rename(std::string_view from, std::string_view to) = 0;

  virtual Status set_mtime(std::string_view /*path*/, std::int64_t /*mtime*/) {
    return std::errc::function_not_supported;
  }
  virtual Status chmod(std::string_view /*path*/, std::uint32_t /*mode*/) {
    return std::errc::function_not_supported;
  }
  // Hex digest of bytes [from, to) (to == UINT64_MAX: to the end).
  virtual Result<std::string> hash(std::string_view /*path*/, HashAlgo /*algo*/, std::uint64_t /*from*/,
                                   std::uint64_t /*to*/) {
    return std::errc::function_not_supported;
  }
  virtual Result<std::uint64_t> free_space(std::string_view /*path*/) {
    return std::errc::function_not_supported;
  }
  // Optional: the quota this storage enforces and its usage now (SITE QUOTA); nullopt = none.
  // Decorators forward it (see make_quota_storage in feitp/limits.hpp).
  virtual std::optional<QuotaStatus> quota() { return std::nullopt; }
};

// Makes the Storage of a user who has just logged in.
class StorageFactory {
 public:
  virtual ~StorageFactory() = default;
  [[nodiscard]] virtual bool blocking() const { return false; }
  virtual Result<std::unique_ptr<Storage>> create(const User& user) = 0;
};

// --- Built-in back-ends -------------------------------------------------------------------

struct LocalStorageOptions {
  std::string root;  // directory on disk that is "/" for the user
  // STOR and STOU write to a temporary name (".feitp-upload.*", in the target's directory) and
  // rename it over the final name on commit(): the final name always holds a complete file,
  // the old one or the new one, even when the process is killed or the disk fills up. APPE and
  // REST+STOR always write in place. false: STOR truncates the file in place.
  bool atomic_uploads = true;
  // Atomic uploads to a name that does not exist yet write into an unnamed file (O_TMPFILE)
  // that commit() links under its name: no temporary name, no rename, and nothing left on the
  // disk when the process dies mid-upload. Used where the kernel and the file system allow it
  // (checked once per process, and per upload for the file system); a named temporary
  // otherwise, as for every overwrite. false: always a named temporary.
  bool unnamed_temporaries = true;
  bool create_root = false;  // mkdir -p the root if missing
  // New files get file_mode & ~umask, new directories dir_mode & ~umask, whatever the
  // process umask is (the modes are set explicitly when the process umask would narrow them).
  std::uint32_t file_mode = 0666;
  std::uint32_t dir_mode = 0777;
  std::uint32_t umask = 022;
};

// Local files, every access relative to the root's directory descriptor with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) (an O_NOFOLLOW walk where the kernel lacks it).
// A storage made here alone has no listing_versions() (nullptr): versions come from an inotify
// instance, a scarce per-user resource (128 by default), shared only among the storages of one
// factory (make_local_storage_factory).
Result<std::unique_ptr<Storage>> make_local_storage(const LocalStorageOptions& options);

// Uses User::home as the root of a local storage. The storages it makes offer
// listing_versions(), all from one inotify instance made on the first listing_version() call
// (none if listings are never asked).
// The first time a factory opens a home it sweeps stale upload temporaries from it (see
// sweep_upload_temporaries); later logins to that home cost nothing extra.
std::shared_ptr<StorageFactory> make_local_storage_factory(bool atomic_uploads = true,
                                                           bool create_root = false);
// The same with every option; `options.root` is ignored (each user's home is the root).
std::shared_ptr<StorageFactory> make_local_storage_factory(const LocalStorageOptions& options);

// Removes upload temporaries (".feitp-upload.*") left under `root` by processes that are gone
// (killed mid-upload, or a previous boot). A temporary whose writer is still alive is kept, so
// this is safe while other processes upload. Walks the tree without following symlinks or
// crossing into other file systems, and stops after `max_entries` directory entries.
// Returns how many files it removed.
std::size_t sweep_upload_temporaries(const std::string& root, std::size_t max_entries = 1000000);

// A storage held in memory (tests, embedders). Every Storage the factory creates sees the same
// tree, whatever the user; it is safe to use from several threads.
class MemoryStorageFactory final : public StorageFactory {
 public:
  MemoryStorageFactory();
  ~MemoryStorageFactory() override;
  Result<std::unique_ptr<Storage>> create(const User& user) override;
  [[nodiscard]] std::size_t file_count() const;     // regular files in the whole tree
  [[nodiscard]] std::uint64_t total_bytes() const;  // bytes in those files

  struct Tree;

 private:
  std::shared_ptr<Tree> tree_;
};

}  // namespace feitp

namespace feitp {

class Permissions;

// Wraps a storage and refuses (EACCES) what the permission letters do not allow, checked on the
// path of each call: r open_read and hash; w open_write (truncate, exclusive, at_offset); a
// open_write (append); l list; d remove and rmdir; m mkdir; f rename (both paths); M chmod;
// T set_mtime. stat and free_space stay allowed so that navigation and size checks work.
// With per-directory rules, the letter is also needed on the inner storage's real_path(), and
// rmdir and rename need it in every rule below the directory (Permissions::allows_tree).
// listing_versions() is the inner storage's, answered only where list() is allowed (nullopt
// elsewhere), so a cached listing never reaches a user without 'l'.
std::unique_ptr<Storage> make_restricted_storage(std::unique_ptr<Storage> inner, Permissions perms);

// Wraps a factory: every user's storage is make_restricted_storage() over the inner factory's,
// with that user's permissions (User::permissions). The server checks the same letters itself;
// this makes the storage refuse them as well, for storages that code of your own also uses.
// blocking() is the inner factory's.
std::shared_ptr<StorageFactory> make_restricted_storage_factory(std::shared_ptr<StorageFactory> inner);

}  // namespace feitp
