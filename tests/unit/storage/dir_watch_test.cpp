// Directory version tokens (inotify) on real files: every kind of change to a directory's
// listing gives a new token, nothing else does, and the bounds (watch count, max age) hold.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/limits.hpp"
#include "feitp/storage.hpp"
#include "storage/dir_watch.hpp"
#include "os/unique_fd.hpp"
#include "storage_test_util.hpp"

namespace feitp::test {
namespace {

using os::UniqueFd;
using storage::DirWatch;
using namespace std::chrono_literals;

// A storage made alone (no DirWatch: it offers no listing_versions()).
std::unique_ptr<Storage> local(const std::string& root) {
  LocalStorageOptions o;
  o.root = root;
  auto s = make_local_storage(o);
  EXPECT_TRUE(s.ok()) << root;
  return s ? std::move(*s) : nullptr;
}

// A storage made by a factory, as the server makes them (it shares the factory's DirWatch).
std::unique_ptr<Storage> from(StorageFactory& factory, const std::string& home) {
  User u;
  u.name = "u";
  u.home = home;
  auto s = factory.create(u);
  EXPECT_TRUE(s.ok()) << home;
  return s ? std::move(*s) : nullptr;
}

// The storage's listing version of `path`; a failure when it offers none.
std::optional<std::uint64_t> version(Storage& s, std::string_view path) {
  ListingVersions* v = s.listing_versions();
  if (v == nullptr) {
    ADD_FAILURE() << "no listing_versions()";
    return std::nullopt;
  }
  return v->listing_version(path);
}

// inotify instances this process holds open.
int inotify_instances() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (const dirent* e = ::readdir(d)) {
    std::array<char, 64> target{};
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t len = ::readlink(link.c_str(), target.data(), target.size() - 1);
    if (len > 0 && std::string_view(target.data(), static_cast<std::size_t>(len)) == "anon_inode:inotify") {
      ++n;
    }
  }
  ::closedir(d);
  return n;
}

UniqueFd open_dir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_TRUE(fd.valid()) << path;
  return fd;
}

class DirWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((tmp_ / "d").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((tmp_ / "other").c_str(), 0755), 0);
    write_disk(tmp_ / "d/file", "0123456789");
    write_disk(tmp_ / "other/outside", "x");
    dir_ = open_dir(tmp_ / "d");
  }

  // The token now; fails the test when there is none.
  std::uint64_t v() {
    const auto t = watch_.version(dir_.get());
    EXPECT_TRUE(t.has_value());
    return t.value_or(0);
  }

  TempDir tmp_;
  DirWatch watch_{DirWatch::kDefaultMaxWatches, std::chrono::hours(1)};
  UniqueFd dir_;
};

TEST_F(DirWatchTest, StableWhileNothingChanges) {
  const auto a = v();
  EXPECT_EQ(v(), a);
  // Reading the directory, stat-ing and reading a file change nothing in the listing.
  const auto s = local(tmp_ / "d");
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->list("/").ok());
  ASSERT_TRUE(s->stat("/file").ok());
  EXPECT_EQ(read_disk(tmp_ / "d/file"), "0123456789");
  EXPECT_EQ(v(), a);
  EXPECT_EQ(watch_.watch_count(), 1u);
}

TEST_F(DirWatchTest, ChangesWhenAFileIsCreated) {
  const auto a = v();
  const UniqueFd f(::open((tmp_ / "d/new").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  ASSERT_TRUE(f.valid());
  const auto b = v();
  EXPECT_NE(b, a);
  EXPECT_EQ(v(), b);
}

TEST_F(DirWatchTest, ChangesWhenAFileIsDeleted) {
  const auto a = v();
  ASSERT_EQ(::unlink((tmp_ / "d/file").c_str()), 0);
  EXPECT_NE(v(), a);
}

TEST_F(DirWatchTest, ChangesOnRenameIntoOutOfAndWithin) {
  auto a = v();
  ASSERT_EQ(::rename((tmp_ / "other/outside").c_str(), (tmp_ / "d/inside").c_str()), 0);
  auto b = v();
  EXPECT_NE(b, a);
  ASSERT_EQ(::rename((tmp_ / "d/inside").c_str(), (tmp_ / "other/back").c_str()), 0);
  auto c = v();
  EXPECT_NE(c, b);
  ASSERT_EQ(::rename((tmp_ / "d/file").c_str(), (tmp_ / "d/renamed").c_str()), 0);
  EXPECT_NE(v(), c);
}

TEST_F(DirWatchTest, ChangesOnWriteInPlaceOfTheSameSize) {
  const UniqueFd f(::open((tmp_ / "d/file").c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(f.valid());
  const auto a = v();
  // No close yet: the write alone (IN_MODIFY) must be enough.
  ASSERT_EQ(::pwrite(f.get(), "ABCDE", 5, 0), 5);
  const auto b = v();
  EXPECT_NE(b, a);
  struct stat st {};
  ASSERT_EQ(::fstat(f.get(), &st), 0);
  EXPECT_EQ(st.st_size, 10);  // same size: only the mtime tells
  ASSERT_EQ(::ftruncate(f.get(), 3), 0);
  EXPECT_NE(v(), b);
}

TEST_F(DirWatchTest, ChangesOnChmodAndUtimensat) {
  const auto a = v();
  ASSERT_EQ(::chmod((tmp_ / "d/file").c_str(), 0600), 0);
  const auto b = v();
  EXPECT_NE(b, a);
  std::array<timespec, 2> ts{};
  ts[0].tv_nsec = UTIME_OMIT;
  ts[1].tv_sec = 1'000'000'000;
  ASSERT_EQ(::utimensat(AT_FDCWD, (tmp_ / "d/file").c_str(), ts.data(), 0), 0);
  EXPECT_NE(v(), b);
}

TEST_F(DirWatchTest, ChangesMadeByAnotherProcess) {
  const auto a = v();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open((tmp_ / "d/file").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    const bool ok = fd >= 0 && ::write(fd, "more", 4) == 4;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto b = v();
  EXPECT_NE(b, a);

  const std::string cmd = "touch '" + (tmp_ / "d/from-shell") + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_NE(v(), b);
}

TEST_F(DirWatchTest, ForkedChildDoesNotStealTheParentsEvents) {
  const auto a = v();
  write_disk(tmp_ / "d/queued", "x");  // an event now waits in the parent's queue
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child gets a working instance of its own; it must not drain the inherited queue.
    const auto t = watch_.version(dir_.get());
    ::_exit(t.has_value() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(v(), a);
}

TEST_F(DirWatchTest, DirectoryReplacedByANewOneGetsANewToken) {
  const auto sub = tmp_ / "d/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  std::uint64_t first = 0;
  {
    const UniqueFd fd = open_dir(sub);
    const auto t = watch_.version(fd.get());
    ASSERT_TRUE(t.has_value());
    first = *t;
  }
  ASSERT_EQ(::rmdir(sub.c_str()), 0);
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  const UniqueFd fd = open_dir(sub);
  const auto t = watch_.version(fd.get());
  ASSERT_TRUE(t.has_value());
  EXPECT_NE(*t, first);
}

TEST_F(DirWatchTest, TokensDifferBetweenDirectoriesAndInstances) {
  const UniqueFd other = open_dir(tmp_ / "other");
  const auto a = v();
  const auto b = watch_.version(other.get());
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(a, *b);
  DirWatch second;
  const auto c = second.version(dir_.get());
  ASSERT_TRUE(c.has_value());
  EXPECT_NE(*c, a);
  EXPECT_NE(*c, *b);
}

TEST_F(DirWatchTest, InotifyInstanceIsMadeOnTheFirstCallOnly) {
  const int before = inotify_instances();
  ASSERT_GE(before, 0);
  DirWatch lazy;
  EXPECT_EQ(inotify_instances(), before);  // constructing costs no descriptor
  EXPECT_EQ(lazy.watch_count(), 0u);
  ASSERT_TRUE(lazy.version(dir_.get()).has_value());
  EXPECT_EQ(inotify_instances(), before + 1);
  const UniqueFd other = open_dir(tmp_ / "other");
  ASSERT_TRUE(lazy.version(other.get()).has_value());
  EXPECT_EQ(inotify_instances(), before + 1);  // one instance for every directory
  EXPECT_EQ(lazy.watch_count(), 2u);
}

TEST_F(DirWatchTest, NotADirectoryGivesNothing) {
  const UniqueFd f(::open((tmp_ / "d/file").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(f.valid());
  EXPECT_FALSE(watch_.version(f.get()).has_value());
  EXPECT_FALSE(watch_.version(-1).has_value());
  EXPECT_FALSE(watch_.version(9999).has_value());
}

TEST_F(DirWatchTest, ODescriptorPathWorks) {
  const UniqueFd p(::open((tmp_ / "d").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(p.valid());
  const auto a = watch_.version(p.get());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(v(), *a);  // same inode, same watch, whatever descriptor names it
  write_disk(tmp_ / "d/x", "x");
  EXPECT_NE(watch_.version(p.get()).value_or(*a), *a);
}

TEST(DirWatchMaxAge, TokensExpireSoSubdirectoryChangesAreSeen) {
  TempDir tmp;
  ASSERT_EQ(::mkdir((tmp / "sub").c_str(), 0755), 0);
  const UniqueFd dir = open_dir(tmp.path());
  DirWatch w(16, 300ms);
  const auto a = w.version(dir.get());
  ASSERT_TRUE(a.has_value());
  // Inside the subdirectory: its mtime/nlink in the parent's listing change, without an event
  // on the parent's watch. Only the age bound makes the parent's token move.
  ASSERT_EQ(::mkdir((tmp / "sub/inner").c_str(), 0755), 0);
  std::this_thread::sleep_for(350ms);
  const auto b = w.version(dir.get());
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(*b, *a);
  EXPECT_EQ(w.version(dir.get()), b);  // fresh again: stable within the new age
}

TEST(DirWatchBound, ManyDirectoriesBeyondTheWatchLimit) {
  TempDir tmp;
  constexpr int kDirs = 20;
  DirWatch w(8, std::chrono::hours(1));
  std::vector<UniqueFd> dirs;
  std::set<std::uint64_t> seen;
  for (int i = 0; i < kDirs; ++i) {
    const std::string p = tmp / ("d" + std::to_string(i));
    ASSERT_EQ(::mkdir(p.c_str(), 0755), 0);
    dirs.push_back(open_dir(p));
    const auto t = w.version(dirs.back().get());
    ASSERT_TRUE(t.has_value()) << i;
    EXPECT_TRUE(seen.insert(*t).second) << "token reused for d" << i;
  }
  EXPECT_LE(w.watch_count(), 8u);
  EXPECT_GE(w.watch_count(), 1u);

  // The most recent one is still watched: stable, and a change is seen.
  const int last = kDirs - 1;
  const auto t1 = w.version(dirs[last].get());
  ASSERT_TRUE(t1.has_value());
  EXPECT_TRUE(seen.contains(*t1));
  write_disk(tmp / ("d" + std::to_string(last) + "/f"), "x");
  const auto t2 = w.version(dirs[last].get());
  ASSERT_TRUE(t2.has_value());
  EXPECT_NE(*t2, *t1);

  // An evicted one is watched again with a token never seen before, and changes are seen.
  const auto e1 = w.version(dirs[0].get());
  ASSERT_TRUE(e1.has_value());
  EXPECT_FALSE(seen.contains(*e1));
  EXPECT_EQ(w.version(dirs[0].get()), e1);
  write_disk(tmp / "d0/f", "x");
  EXPECT_NE(w.version(dirs[0].get()), e1);
  EXPECT_LE(w.watch_count(), 8u);
}

// Lost events (queue overflow) must not hide a change: every token moves.
TEST(DirWatchOverflow, QueueOverflowRefreshesEveryToken) {
  long max_queued = 16384;
  if (std::ifstream in("/proc/sys/fs/inotify/max_queued_events"); in) in >> max_queued;
  if (max_queued > 200'000) GTEST_SKIP() << "max_queued_events too large to overflow quickly";
  TempDir tmp;
  ASSERT_EQ(::mkdir((tmp / "busy").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tmp / "quiet").c_str(), 0755), 0);
  const UniqueFd busy = open_dir(tmp / "busy");
  const UniqueFd quiet = open_dir(tmp / "quiet");
  DirWatch w(16, std::chrono::hours(1));
  ASSERT_TRUE(w.version(busy.get()).has_value());
  const auto q = w.version(quiet.get());
  ASSERT_TRUE(q.has_value());
  // Alternate between two files so that the kernel cannot merge consecutive events.
  const UniqueFd f1(::open((tmp / "busy/1").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  const UniqueFd f2(::open((tmp / "busy/2").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(f1.valid() && f2.valid());
  for (long i = 0; i <= max_queued; ++i) { ASSERT_EQ(::pwrite((i % 2 == 0 ? f1 : f2).get(), "x", 1, 0), 1); }
  write_disk(tmp / "quiet/f", "x");  // this event is lost: only the overflow tells
  EXPECT_NE(w.version(quiet.get()), q);
}

// --- Through the Storage interface ----------------------------------------------------------

class LocalListingVersionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((tmp_ / "root").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((tmp_ / "root/sub").c_str(), 0755), 0);
    ASSERT_EQ(::symlink("/tmp", (tmp_ / "root/escape").c_str()), 0);
    ASSERT_EQ(::symlink("sub", (tmp_ / "root/inner").c_str()), 0);
    write_disk(tmp_ / "root/file", "x");
    s_ = from(*factory_, tmp_ / "root");
    ASSERT_TRUE(s_);
  }
  TempDir tmp_;
  std::shared_ptr<StorageFactory> factory_ = make_local_storage_factory();
  std::unique_ptr<Storage> s_;
};

TEST_F(LocalListingVersionTest, RootAndSubdirectoryFollowChanges) {
  const auto root = version(*s_, "/");
  const auto sub = version(*s_, "/sub");
  ASSERT_TRUE(root.has_value());
  ASSERT_TRUE(sub.has_value());
  EXPECT_NE(*root, *sub);
  EXPECT_EQ(version(*s_, "/"), root);
  EXPECT_EQ(version(*s_, "/sub"), sub);
  EXPECT_EQ(version(*s_, "/inner"), sub);  // a symlink beneath the root: its target

  ASSERT_TRUE(put(*s_, "/sub/a", "hello").ok());
  EXPECT_NE(version(*s_, "/sub"), sub);
  ASSERT_TRUE(s_->remove("/file").ok());
  EXPECT_NE(version(*s_, "/"), root);
}

TEST_F(LocalListingVersionTest, NothingForFilesMissingPathsAndEscapes) {
  EXPECT_FALSE(version(*s_, "/file").has_value());
  EXPECT_FALSE(version(*s_, "/missing").has_value());
  EXPECT_FALSE(version(*s_, "/escape").has_value());
  EXPECT_FALSE(version(*s_, "/sub/../..").has_value());
}

TEST_F(LocalListingVersionTest, StorageMadeAloneHasNoVersion) {
  ASSERT_NE(s_->listing_versions(), nullptr);  // the same directory, through the factory
  ASSERT_TRUE(version(*s_, "/").has_value());
  const int before = inotify_instances();
  const auto alone = local(tmp_ / "root");
  ASSERT_TRUE(alone);
  EXPECT_EQ(alone->listing_versions(), nullptr);
  EXPECT_TRUE(alone->list("/").ok());
  EXPECT_EQ(inotify_instances(), before);
}

TEST_F(LocalListingVersionTest, MemoryStorageHasNoVersions) {
  MemoryStorageFactory memory;
  auto s = memory.create(User{});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->listing_versions(), nullptr);
}

TEST_F(LocalListingVersionTest, FactoryStoragesShareOneLazyInstance) {
  ASSERT_EQ(::mkdir((tmp_ / "home2").c_str(), 0755), 0);
  const int before = inotify_instances();
  ASSERT_GE(before, 0);
  auto factory = make_local_storage_factory();
  auto a = from(*factory, tmp_ / "root");
  auto b = from(*factory, tmp_ / "root");   // same home: the shared root descriptor
  auto c = from(*factory, tmp_ / "home2");  // another home
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(a->list("/").ok());
  EXPECT_EQ(inotify_instances(), before);  // nothing asked a version yet: no instance

  const auto va = version(*a, "/sub");
  ASSERT_TRUE(va.has_value());
  EXPECT_EQ(inotify_instances(), before + 1);
  EXPECT_EQ(version(*b, "/sub"), va);  // the same watch answers for every storage
  ASSERT_TRUE(version(*c, "/").has_value());
  EXPECT_EQ(inotify_instances(), before + 1);

  // A change made through one storage is seen through another.
  ASSERT_TRUE(put(*b, "/sub/new", "x").ok());
  EXPECT_NE(version(*a, "/sub"), va);

  // Storages keep the DirWatch alive after their factory is gone.
  factory.reset();
  const auto again = version(*a, "/sub");
  ASSERT_TRUE(again.has_value());
  a.reset();
  b.reset();
  c.reset();
  EXPECT_EQ(inotify_instances(), before);  // the last owner closed it
}

TEST_F(LocalListingVersionTest, QuotaStorageForwards) {
  auto inner = from(*factory_, tmp_ / "root");
  ASSERT_TRUE(inner);
  const auto v = version(*inner, "/sub");
  ASSERT_TRUE(v.has_value());
  const auto q = make_quota_storage(std::move(inner), make_quota_counter(), QuotaLimits{});
  EXPECT_EQ(version(*q, "/sub"), v);
}

// A cache hit skips list(): the restricting decorator gives versions only where list() would
// answer, so a cached listing never reaches a user without 'l' there.
TEST_F(LocalListingVersionTest, RestrictedStorageForwardsWhereListingIsAllowed) {
  auto inner = from(*factory_, tmp_ / "root");
  ASSERT_TRUE(inner);
  const auto root = version(*inner, "/");
  ASSERT_TRUE(root.has_value());
  Permissions perms(Permissions::kAll);
  perms.set_override("/sub", "e");
  const auto r = make_restricted_storage(std::move(inner), perms);
  EXPECT_EQ(version(*r, "/"), root);
  EXPECT_FALSE(version(*r, "/sub").has_value());
  EXPECT_FALSE(version(*r, "/inner").has_value());  // a link to /sub carries its rules
  EXPECT_EQ(r->list("/sub").error(), err(std::errc::permission_denied));

  auto alone = make_restricted_storage(local(tmp_ / "root"), Permissions(Permissions::kAll));
  EXPECT_EQ(alone->listing_versions(), nullptr);
}

}  // namespace
}  // namespace feitp::test
