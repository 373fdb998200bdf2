// The local back-end on real files, in a fresh directory per test, with both resolvers
// (openat2 beneath the root, and the O_NOFOLLOW walk used where the kernel lacks openat2).
#include <dirent.h>
#include <sys/statvfs.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/storage.hpp"
#include "storage/local_storage.hpp"
#include "storage_test_util.hpp"

namespace feitp::test {
namespace {

using storage::Resolver;

std::string resolver_name(const ::testing::TestParamInfo<Resolver>& p) {
  return p.param == Resolver::walk ? "walk" : "openat2";
}

class LocalStorageTest : public ::testing::TestWithParam<Resolver> {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(root().c_str(), 0755), 0);
    s_ = open_storage(false);
  }

  [[nodiscard]] std::string root() const { return dir_ / "root"; }
  [[nodiscard]] std::string at(std::string_view rel) const { return root() + "/" + std::string(rel); }

  std::unique_ptr<Storage> open_storage(bool atomic, bool unnamed = true) {
    LocalStorageOptions o;
    o.root = root();
    o.atomic_uploads = atomic;
    o.unnamed_temporaries = unnamed;
    auto s = storage::make_local_storage(o, GetParam());
    EXPECT_TRUE(s.ok()) << s.error().message();
    return s ? std::move(*s) : nullptr;
  }

  [[nodiscard]] bool walking() const { return GetParam() == Resolver::walk; }

  TempDir dir_;
  std::unique_ptr<Storage> s_;
};

INSTANTIATE_TEST_SUITE_P(Resolvers, LocalStorageTest, ::testing::Values(Resolver::automatic, Resolver::walk),
                         resolver_name);

TEST_P(LocalStorageTest, WriteThenReadRoundTrip) {
  ASSERT_TRUE(put(*s_, "/a.txt", "hello world").ok());
  EXPECT_EQ(read_disk(at("a.txt")), "hello world");
  EXPECT_EQ(get(*s_, "/a.txt"), "hello world");
  ASSERT_EQ(::mkdir(at("sub").c_str(), 0755), 0);
  ASSERT_TRUE(put(*s_, "/sub/b.txt", "nested").ok());
  EXPECT_EQ(read_disk(at("sub/b.txt")), "nested");
  EXPECT_EQ(get(*s_, "/sub/b.txt"), "nested");
}

TEST_P(LocalStorageTest, TruncateReplacesContent) {
  write_disk(at("a.txt"), "a much longer previous content");
  ASSERT_TRUE(put(*s_, "/a.txt", "short").ok());
  EXPECT_EQ(read_disk(at("a.txt")), "short");
}

TEST_P(LocalStorageTest, AppendAddsAndCreates) {
  write_disk(at("a.txt"), "abc");
  ASSERT_TRUE(put(*s_, "/a.txt", "def", WriteMode::append).ok());
  EXPECT_EQ(read_disk(at("a.txt")), "abcdef");
  ASSERT_TRUE(put(*s_, "/new.txt", "xyz", WriteMode::append).ok());
  EXPECT_EQ(read_disk(at("new.txt")), "xyz");
}

TEST_P(LocalStorageTest, ExclusiveRefusesExistingFile) {
  ASSERT_TRUE(put(*s_, "/u.txt", "one", WriteMode::exclusive).ok());
  EXPECT_EQ(put(*s_, "/u.txt", "two", WriteMode::exclusive).error(), err(std::errc::file_exists));
  EXPECT_EQ(read_disk(at("u.txt")), "one");
}

TEST_P(LocalStorageTest, AtOffsetKeepsPrefixAndDropsTail) {
  write_disk(at("r.bin"), "0123456789");
  ASSERT_TRUE(put(*s_, "/r.bin", "AB", WriteMode::at_offset, 4).ok());
  EXPECT_EQ(read_disk(at("r.bin")), "0123AB");
  EXPECT_EQ(put(*s_, "/r.bin", "X", WriteMode::at_offset, 7).error(), err(std::errc::invalid_argument));
  EXPECT_EQ(read_disk(at("r.bin")), "0123AB");
  ASSERT_TRUE(put(*s_, "/fresh.bin", "new", WriteMode::at_offset, 0).ok());
  EXPECT_EQ(read_disk(at("fresh.bin")), "new");
  EXPECT_EQ(put(*s_, "/missing.bin", "x", WriteMode::at_offset, 3).error(),
            err(std::errc::no_such_file_or_directory));
}

TEST_P(LocalStorageTest, OpenReadAtOffsetPositionsTheDescriptor) {
  write_disk(at("f"), "0123456789");
  auto r = s_->open_read("/f", 6);
  ASSERT_TRUE(r.ok());
  const int fd = (*r)->native_handle();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::lseek(fd, 0, SEEK_CUR), 6);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(get(*s_, "/f", 6), "6789");
  EXPECT_EQ(get(*s_, "/f", 10), "");
  EXPECT_EQ(get(*s_, "/f", 50), "");
}

TEST_P(LocalStorageTest, OpenReadErrors) {
  ASSERT_EQ(::mkdir(at("d").c_str(), 0755), 0);
  EXPECT_EQ(s_->open_read("/d", 0).error(), err(std::errc::is_a_directory));
  EXPECT_EQ(s_->open_read("/", 0).error(), err(std::errc::is_a_directory));
  EXPECT_EQ(s_->open_read("/nope", 0).error(), err(std::errc::no_such_file_or_directory));
  ASSERT_EQ(::mkfifo(at("fifo").c_str(), 0644), 0);
  EXPECT_EQ(s_->open_read("/fifo", 0).error(), err(std::errc::permission_denied));
  EXPECT_EQ(s_->open_write("/d", WriteMode::truncate, 0).error(), err(std::errc::is_a_directory));
  EXPECT_EQ(s_->open_write("/nope/x", WriteMode::truncate, 0).error(),
            err(std::errc::no_such_file_or_directory));
}

TEST_P(LocalStorageTest, MalformedPathsAreRefused) {
  write_disk(dir_ / "outside.txt", "secret");
  EXPECT_EQ(s_->open_read("/../outside.txt", 0).error(), err(std::errc::invalid_argument));
  EXPECT_EQ(s_->stat("/a/./b").error(), err(std::errc::invalid_argument));
  EXPECT_EQ(s_->remove("/..").error(), err(std::errc::invalid_argument));
  EXPECT_EQ(s_->mkdir(std::string_view("/x\0y", 4)).error(), err(std::errc::invalid_argument));
  EXPECT_EQ(s_->stat("/a//b").error(), err(std::errc::invalid_argument));
}

TEST_P(LocalStorageTest, StatDescribesFilesDirectoriesAndLinks) {
  write_disk(at("f.txt"), "12345");
  ASSERT_EQ(::mkdir(at("d").c_str(), 0750), 0);
  ASSERT_EQ(::symlink("f.txt", at("l").c_str()), 0);
  ASSERT_EQ(::link(at("f.txt").c_str(), at("hard").c_str()), 0);

  auto f = s_->stat("/f.txt");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->name, "f.txt");
  EXPECT_EQ(f->type, FileType::file);
  EXPECT_EQ(f->size, 5U);
  EXPECT_EQ(f->nlink, 2U);
  EXPECT_GT(f->mtime, 1600000000);
  auto d = s_->stat("/d");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->type, FileType::directory);
  EXPECT_EQ(d->mode, 0750U);
  // stat() describes what a link leads to (the walk resolver refuses every link)...
  auto l = s_->stat("/l");
  if (walking()) {
    ASSERT_FALSE(l.ok());
  } else {
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->name, "l");
    EXPECT_EQ(l->type, FileType::file);
    EXPECT_EQ(l->size, 5U);
  }
  // ...while list() shows the link itself.
  auto entries = s_->list("/");
  ASSERT_TRUE(entries.ok());
  bool seen = false;
  for (const auto& e : *entries) {
    if (e.name != "l") continue;
    seen = true;
    EXPECT_EQ(e.type, FileType::symlink);
    EXPECT_EQ(e.link_target, "f.txt");
  }
  EXPECT_TRUE(seen);
  auto r = s_->stat("/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "");
  EXPECT_EQ(r->type, FileType::directory);

  EXPECT_EQ(s_->stat("/hard")->unique, f->unique);
  EXPECT_NE(d->unique, f->unique);
  EXPECT_EQ(s_->stat("/f.txt")->unique, f->unique);
  EXPECT_EQ(s_->stat("/nope").error(), err(std::errc::no_such_file_or_directory));
  EXPECT_EQ(s_->stat("/f.txt/x").error(), err(std::errc::not_a_directory));
}

TEST_P(LocalStorageTest, ListShowsEntriesWithoutDotsOrUploadTemporaries) {
  write_disk(at("a"), "1");
  write_disk(at("b"), "22");
  write_disk(at(".hidden"), "");
  write_disk(at(".feitp-upload.0123456789abcdef"), "partial");
  ASSERT_EQ(::mkdir(at("d").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("a", at("l").c_str()), 0);
  auto l = s_->list("/");
  ASSERT_TRUE(l.ok());
  std::set<std::string> names;
  for (const auto& e : *l) {
    names.insert(e.name);
    if (e.name == "b") { EXPECT_EQ(e.size, 2U); }
    if (e.name == "d") { EXPECT_EQ(e.type, FileType::directory); }
    if (e.name == "l") {
      EXPECT_EQ(e.type, FileType::symlink);
      EXPECT_EQ(e.link_target, "a");
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{".hidden", "a", "b", "d", "l"}));
  EXPECT_EQ(s_->list("/a").error(), err(std::errc::not_a_directory));
  EXPECT_EQ(s_->list("/none").error(), err(std::errc::no_such_file_or_directory));
}

TEST_P(LocalStorageTest, ListsTenThousandEntries) {
  ASSERT_EQ(::mkdir(at("many").c_str(), 0755), 0);
  for (int i = 0; i < 10000; ++i) {
    const std::string p = at("many/file-" + std::to_string(i));
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  auto l = s_->list("/many");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 10000U);
  std::set<std::string> names;
  for (const auto& e : *l) names.insert(e.name);
  EXPECT_EQ(names.size(), 10000U);
  EXPECT_TRUE(names.count("file-9999"));
}

TEST_P(LocalStorageTest, DirectoryOperations) {
  ASSERT_TRUE(s_->mkdir("/d").ok());
  struct stat st {};
  ASSERT_EQ(::stat(at("d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(s_->mkdir("/d").error(), err(std::errc::file_exists));
  EXPECT_EQ(s_->mkdir("/").error(), err(std::errc::file_exists));
  EXPECT_EQ(s_->mkdir("/x/y").error(), err(std::errc::no_such_file_or_directory));
  ASSERT_TRUE(put(*s_, "/d/f", "x").ok());
  EXPECT_EQ(s_->rmdir("/d").error(), err(std::errc::directory_not_empty));
  EXPECT_EQ(s_->remove("/d").error(), err(std::errc::is_a_directory));
  EXPECT_EQ(s_->rmdir("/d/f").error(), err(std::errc::not_a_directory));
  ASSERT_TRUE(s_->remove("/d/f").ok());
  EXPECT_FALSE(exists_disk(at("d/f")));
  ASSERT_TRUE(s_->rmdir("/d").ok());
  EXPECT_FALSE(exists_disk(at("d")));
  EXPECT_EQ(s_->remove("/d").error(), err(std::errc::no_such_file_or_directory));
  EXPECT_FALSE(s_->rmdir("/").ok());
  EXPECT_FALSE(s_->remove("/").ok());
}

TEST_P(LocalStorageTest, RenameMovesFilesAndDirectories) {
  write_disk(at("a"), "A");
  ASSERT_TRUE(s_->mkdir("/d").ok());
  ASSERT_TRUE(s_->rename("/a", "/d/b").ok());
  EXPECT_FALSE(exists_disk(at("a")));
  EXPECT_EQ(read_disk(at("d/b")), "A");
  ASSERT_TRUE(s_->rename("/d", "/e").ok());
  EXPECT_EQ(read_disk(at("e/b")), "A");
  EXPECT_EQ(s_->rename("/nope", "/x").error(), err(std::errc::no_such_file_or_directory));
  EXPECT_FALSE(s_->rename("/", "/x").ok());
  EXPECT_FALSE(s_->rename("/e", "/").ok());
}

TEST_P(LocalStorageTest, SetMtimeAndChmod) {
  write_disk(at("f"), "x");
  ASSERT_TRUE(s_->set_mtime("/f", 1000000000).ok());
  struct stat st {};
  ASSERT_EQ(::stat(at("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
  EXPECT_EQ(s_->stat("/f")->mtime, 1000000000);
  ASSERT_TRUE(s_->chmod("/f", 0600).ok());
  ASSERT_EQ(::stat(at("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  ASSERT_TRUE(s_->chmod("/f", 06755).ok());  // setuid/setgid bits are dropped
  ASSERT_EQ(::stat(at("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755U);
  EXPECT_EQ(s_->chmod("/nope", 0644).error(), err(std::errc::no_such_file_or_directory));
  EXPECT_TRUE(s_->capabilities().chmod);
  EXPECT_TRUE(s_->capabilities().set_mtime);
  EXPECT_TRUE(s_->capabilities().free_space);
}

TEST_P(LocalStorageTest, FreeSpaceMatchesStatvfs) {
  auto f = s_->free_space("/");
  ASSERT_TRUE(f.ok());
  struct statvfs sv {};
  ASSERT_EQ(::statvfs(root().c_str(), &sv), 0);
  const std::uint64_t expect = static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize;
  EXPECT_NEAR(static_cast<double>(*f), static_cast<double>(expect), 64.0 * 1024 * 1024);
  ASSERT_TRUE(s_->mkdir("/d").ok());
  EXPECT_TRUE(s_->free_space("/d").ok());
  EXPECT_EQ(s_->free_space("/nope").error(), err(std::errc::no_such_file_or_directory));
}

TEST_P(LocalStorageTest, FilesBeyondFourGiB) {
  constexpr std::uint64_t kGiB = 1024ULL * 1024 * 1024;
  {
    const int fd = ::open(at("big").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(5 * kGiB)), 0) << "sparse files unsupported here";
    ASSERT_EQ(::pwrite(fd, "FAR", 3, static_cast<off_t>(kGiB * 9 / 2)), 3);
    ::close(fd);
  }
  auto st = s_->stat("/big");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 5 * kGiB);
  auto r = s_->open_read("/big", kGiB * 9 / 2);
  ASSERT_TRUE(r.ok());
  std::byte buf[5];
  auto n = (*r)->read(buf);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 5U);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf), 5), std::string("FAR\0\0", 5));

  // Resume beyond 4 GiB: keep the first 4.25 GiB, write from there.
  const std::uint64_t off = kGiB * 17 / 4;
  ASSERT_TRUE(put(*s_, "/big", "tail", WriteMode::at_offset, off).ok());
  EXPECT_EQ(s_->stat("/big")->size, off + 4);
  EXPECT_EQ(get(*s_, "/big", off), "tail");
  EXPECT_EQ(s_->open_write("/big", WriteMode::at_offset, 5 * kGiB).error(), err(std::errc::invalid_argument));
}

TEST_P(LocalStorageTest, AbortWithoutKeepRemovesCreatedFile) {
  auto w = s_->open_write("/new", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("partial")).ok());
  EXPECT_TRUE(exists_disk(at("new")));
  (*w)->abort(false);
  EXPECT_FALSE(exists_disk(at("new")));

  auto x = s_->open_write("/excl", WriteMode::exclusive, 0);
  ASSERT_TRUE(x.ok());
  (*x)->abort(false);
  EXPECT_FALSE(exists_disk(at("excl")));
}

TEST_P(LocalStorageTest, AbortWithoutKeepRestoresAppendedFile) {
  write_disk(at("log"), "kept");
  auto w = s_->open_write("/log", WriteMode::append, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("-dropped")).ok());
  (*w)->abort(false);
  EXPECT_EQ(read_disk(at("log")), "kept");
}

TEST_P(LocalStorageTest, AbortKeepingPartialKeepsWhatArrived) {
  auto w = s_->open_write("/part", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("first half")).ok());
  (*w)->abort(true);
  EXPECT_EQ(read_disk(at("part")), "first half");
  EXPECT_EQ((*w)->write(bytes("more")).error(), err(std::errc::bad_file_descriptor));
}

TEST_P(LocalStorageTest, DroppedWriterLeavesNothingOfItsOwn) {
  // A WriteFile destroyed without commit() or abort() is abort(false): in place too, a file it
  // created goes and an appended one is cut back (keeping a partial upload is abort(true)).
  {
    auto w = s_->open_write("/dropped", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("partial")).ok());
    EXPECT_TRUE(exists_disk(at("dropped")));
  }
  EXPECT_FALSE(exists_disk(at("dropped")));
  write_disk(at("log"), "kept");
  {
    auto w = s_->open_write("/log", WriteMode::append, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("-dropped")).ok());
  }
  EXPECT_EQ(read_disk(at("log")), "kept");
  {
    auto w = s_->open_write("/log", WriteMode::at_offset, 2);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("XY")).ok());
  }
  EXPECT_EQ(read_disk(at("log")), "ke");  // REST+STOR cuts at the offset; abort(false) keeps that
}

TEST_P(LocalStorageTest, RevertNeedsACommitThatKeptThePrevious) {
  write_disk(at("log"), "first;");
  auto w = s_->open_write("/log", WriteMode::append, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("second;")).ok());
  EXPECT_EQ((*w)->revert().error(), err(std::errc::not_supported));  // not committed
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_EQ((*w)->revert().error(), err(std::errc::not_supported));  // plain commit: final
  (*w)->abort(false);                                                // after the end: nothing
  EXPECT_EQ(read_disk(at("log")), "first;second;");
}

TEST_P(LocalStorageTest, WriteAfterCommitFails) {
  auto w = s_->open_write("/f", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_FALSE((*w)->write(bytes("x")).ok());
  EXPECT_FALSE((*w)->commit().ok());
}

// --- Atomic uploads --------------------------------------------------------------------------

// The names in a directory (without "." and ".."), sorted.
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name(e->d_name);
      if (name != "." && name != "..") out.emplace_back(name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> upload_temporaries(const std::string& dir) {
  std::vector<std::string> out = entries(dir);
  std::erase_if(out, [](const std::string& n) { return !n.starts_with(storage::kUploadTempPrefix); });
  return out;
}

TEST_P(LocalStorageTest, AtomicUploadIsInvisibleUntilCommit) {
  auto s = open_storage(true);
  write_disk(at("target"), "old content");
  auto w = s->open_write("/target", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("new content")).ok());
  EXPECT_EQ(read_disk(at("target")), "old content");
  EXPECT_EQ(upload_temporaries(root()).size(), 1U);
  auto l = s->list("/");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1U);  // the temporary is hidden
  EXPECT_EQ((*l)[0].name, "target");
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_EQ(read_disk(at("target")), "new content");
  EXPECT_TRUE(upload_temporaries(root()).empty());

  auto n = s->open_write("/fresh", WriteMode::truncate, 0);
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE((*n)->write(bytes("x")).ok());
  EXPECT_FALSE(exists_disk(at("fresh")));
  EXPECT_EQ(s->stat("/fresh").error(), err(std::errc::no_such_file_or_directory));
  ASSERT_TRUE((*n)->commit().ok());
  EXPECT_EQ(read_disk(at("fresh")), "x");
}

// An upload under a new name goes into an unnamed file (O_TMPFILE): nothing in the directory
// until commit() links it, and nothing at all when it is dropped.
TEST_P(LocalStorageTest, NewNameUploadHasNoDirectoryEntryUntilCommit) {
  auto s = open_storage(true);
  {
    auto w = s->open_write("/fresh", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("new file")).ok());
    EXPECT_EQ(entries(root()), std::vector<std::string>{});
    ASSERT_TRUE((*w)->commit().ok());
  }
  EXPECT_EQ(entries(root()), std::vector<std::string>{"fresh"});
  EXPECT_EQ(read_disk(at("fresh")), "new file");
  struct stat st {};
  ASSERT_EQ(::stat(at("fresh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644U);  // 0666 & ~022, as a file created in place
  EXPECT_EQ(st.st_nlink, 1U);
  for (const bool keep : {false, true}) {
    auto w = s->open_write("/aborted", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("half")).ok());
    (*w)->abort(keep);
    EXPECT_EQ(entries(root()), std::vector<std::string>{"fresh"});
  }
  {
    auto w = s->open_write("/dropped", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("x")).ok());
  }  // destroyed without commit or abort
  EXPECT_EQ(entries(root()), std::vector<std::string>{"fresh"});
}

// The name appears while the upload runs (another session's STOR): the upload replaces it on
// commit, as one that started over an existing file; STOU (exclusive) is refused instead.
TEST_P(LocalStorageTest, NewNameTakenDuringTheUploadIsReplaced) {
  auto s = open_storage(true);
  auto w = s->open_write("/race", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("second")).ok());
  write_disk(at("race"), "first");
  ASSERT_TRUE((*w)->commit(Commit::keep_previous).ok());
  EXPECT_EQ(read_disk(at("race")), "second");
  ASSERT_TRUE((*w)->revert().ok());  // a refusing check_upload brings "first" back
  EXPECT_EQ(read_disk(at("race")), "first");
  EXPECT_EQ(entries(root()), std::vector<std::string>{"race"});
}

// Without unnamed files (the option, or a file system without O_TMPFILE), a new name's upload
// goes through a named temporary like an overwrite's.
TEST_P(LocalStorageTest, NamedTemporaryWhenUnnamedFilesAreOff) {
  auto s = open_storage(true, false);
  auto w = s->open_write("/fresh", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("x")).ok());
  EXPECT_EQ(upload_temporaries(root()).size(), 1U);
  EXPECT_FALSE(exists_disk(at("fresh")));
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_EQ(entries(root()), std::vector<std::string>{"fresh"});
  EXPECT_EQ(read_disk(at("fresh")), "x");
}

TEST_P(LocalStorageTest, AtomicAbortKeepsPreviousContent) {
  auto s = open_storage(true);
  write_disk(at("target"), "precious");
  for (const bool keep : {false, true}) {
    auto w = s->open_write("/target", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("half of the new")).ok());
    (*w)->abort(keep);
    EXPECT_EQ(read_disk(at("target")), "precious");
    EXPECT_TRUE(upload_temporaries(root()).empty());
  }
  {
    auto w = s->open_write("/dropped", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("x")).ok());
  }  // destroyed without commit or abort
  EXPECT_FALSE(exists_disk(at("dropped")));
  EXPECT_TRUE(upload_temporaries(root()).empty());
}

TEST_P(LocalStorageTest, RevertAfterCommitRestoresThePreviousVersion) {
  // Atomic: a refused upload over an existing file brings the old file back.
  auto s = open_storage(true);
  ::mkdir(at("sub").c_str(), 0755);
  write_disk(at("sub/target"), "precious");
  {
    auto w = s->open_write("/sub/target", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("MZ new content")).ok());
    ASSERT_TRUE((*w)->commit(Commit::keep_previous).ok());
    EXPECT_EQ(read_disk(at("sub/target")), "MZ new content");
    ASSERT_TRUE((*w)->revert().ok());
    EXPECT_EQ(read_disk(at("sub/target")), "precious");
  }
  EXPECT_TRUE(upload_temporaries(at("sub")).empty());
  // Atomic, nothing replaced: the new file goes.
  {
    auto w = s->open_write("/sub/fresh", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("x")).ok());
    ASSERT_TRUE((*w)->commit(Commit::keep_previous).ok());
    ASSERT_TRUE((*w)->revert().ok());
  }
  EXPECT_FALSE(exists_disk(at("sub/fresh")));
  // Accepted (no revert): the backup name does not outlive the upload.
  {
    auto w = s->open_write("/sub/target", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("v2")).ok());
    ASSERT_TRUE((*w)->commit(Commit::keep_previous).ok());
  }
  EXPECT_EQ(read_disk(at("sub/target")), "v2");
  EXPECT_TRUE(upload_temporaries(at("sub")).empty());
}

TEST_P(LocalStorageTest, RevertAfterCommitInPlace) {
  // Non-atomic append: cut back to the previous size.
  write_disk(at("log"), "first;");
  {
    auto w = s_->open_write("/log", WriteMode::append, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("second;")).ok());
    ASSERT_TRUE((*w)->commit(Commit::keep_previous).ok());
    EXPECT_EQ(read_disk(at("log")), "first;second;");
    ASSERT_TRUE((*w)->revert().ok());
  }
  EXPECT_EQ(read_disk(at("log")), "first;");
  // Non-atomic new file: removed.
  {
    auto w = s_->open_write("/new", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("x")).ok());
    ASSERT_TRUE((*w)->commit(Commit::keep_previous).ok());
    ASSERT_TRUE((*w)->revert().ok());
  }
  EXPECT_FALSE(exists_disk(at("new")));
}

TEST_P(LocalStorageTest, AtomicExclusive) {
  auto s = open_storage(true);
  write_disk(at("taken"), "mine");
  EXPECT_EQ(s->open_write("/taken", WriteMode::exclusive, 0).error(), err(std::errc::file_exists));
  auto w = s->open_write("/race", WriteMode::exclusive, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("late")).ok());
  write_disk(at("race"), "first");  // appears while the upload runs
  EXPECT_EQ((*w)->commit().error(), err(std::errc::file_exists));
  EXPECT_EQ(read_disk(at("race")), "first");
  EXPECT_TRUE(upload_temporaries(root()).empty());
}

TEST_P(LocalStorageTest, AtomicModeAppendsInPlace) {
  auto s = open_storage(true);
  write_disk(at("log"), "a");
  ASSERT_TRUE(put(*s, "/log", "b", WriteMode::append).ok());
  ASSERT_TRUE(put(*s, "/log", "C", WriteMode::at_offset, 1).ok());
  EXPECT_EQ(read_disk(at("log")), "aC");
}

// --- Symlinks and the root -------------------------------------------------------------------

class Escapes : public LocalStorageTest {
 protected:
  void SetUp() override {
    LocalStorageTest::SetUp();
    ASSERT_EQ(::mkdir((dir_ / "outside").c_str(), 0755), 0);
    write_disk(dir_ / "outside/secret", "secret");
    ASSERT_EQ(::chmod((dir_ / "outside/secret").c_str(), 0640), 0);
    ASSERT_EQ(::symlink("/etc", at("etc").c_str()), 0);
    ASSERT_EQ(::symlink("../outside", at("up").c_str()), 0);
    ASSERT_EQ(::symlink((dir_ / "outside").c_str(), at("abs").c_str()), 0);
    ASSERT_EQ(::symlink("../outside/secret", at("secretlink").c_str()), 0);
    ASSERT_EQ(::symlink("../outside/newfile", at("dangling").c_str()), 0);
    write_disk(at("mine"), "mine");
  }
  [[nodiscard]] std::string outside(std::string_view rel) const {
    return dir_ / ("outside/" + std::string(rel));
  }
  static bool refused(const std::error_code& ec) {
    return ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted;
  }
};

INSTANTIATE_TEST_SUITE_P(Resolvers, Escapes, ::testing::Values(Resolver::automatic, Resolver::walk),
                         resolver_name);

TEST_P(Escapes, CannotReadOrListThroughOutsideLinks) {
  for (const char* p : {"/etc/passwd", "/etc/hostname", "/up/secret", "/abs/secret", "/secretlink"}) {
    auto r = s_->open_read(p, 0);
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_TRUE(refused(r.error())) << p << ": " << r.error().message();
  }
  for (const char* p : {"/etc", "/up", "/abs"}) {
    auto l = s_->list(p);
    ASSERT_FALSE(l.ok()) << p;
    EXPECT_TRUE(refused(l.error())) << p << ": " << l.error().message();
  }
  EXPECT_TRUE(refused(s_->stat("/up/secret").error()));
  EXPECT_TRUE(refused(s_->free_space("/etc").error()));
  // stat() follows the link, so an outside link is refused; list() still shows it as a link.
  EXPECT_TRUE(refused(s_->stat("/up").error()));
  auto entries = s_->list("/");
  ASSERT_TRUE(entries.ok());
  bool seen = false;
  for (const auto& e : *entries) {
    if (e.name == "up") {
      seen = true;
      EXPECT_EQ(e.type, FileType::symlink);
    }
  }
  EXPECT_TRUE(seen);
}

TEST_P(Escapes, CannotWriteThroughOutsideLinks) {
  for (const auto mode :
       {WriteMode::truncate, WriteMode::append, WriteMode::exclusive, WriteMode::at_offset}) {
    for (const char* p : {"/up/secret", "/up/newfile", "/abs/newfile", "/secretlink", "/dangling"}) {
      auto w = s_->open_write(p, mode, 0);
      if (mode == WriteMode::exclusive &&
          (std::string_view(p) == "/secretlink" || std::string_view(p) == "/dangling")) {
        // The name exists in the root (as a link): exclusive create says so.
        EXPECT_EQ(w.error(), err(std::errc::file_exists)) << p;
        continue;
      }
      ASSERT_FALSE(w.ok()) << p;
      EXPECT_TRUE(refused(w.error())) << p << ": " << w.error().message();
    }
  }
  EXPECT_EQ(read_disk(outside("secret")), "secret");
  EXPECT_FALSE(exists_disk(outside("newfile")));

  auto atomic = open_storage(true);
  EXPECT_TRUE(refused(atomic->open_write("/up/x", WriteMode::truncate, 0).error()));
  EXPECT_FALSE(exists_disk(outside("x")));
}

TEST_P(Escapes, CannotChangeAnythingThroughOutsideLinks) {
  EXPECT_TRUE(refused(s_->mkdir("/up/made").error()));
  EXPECT_TRUE(refused(s_->mkdir("/etc/feitp-test-made").error()));
  EXPECT_FALSE(exists_disk(outside("made")));
  EXPECT_TRUE(refused(s_->rename("/mine", "/up/mine").error()));
  EXPECT_TRUE(refused(s_->rename("/up/secret", "/stolen").error()));
  EXPECT_EQ(read_disk(at("mine")), "mine");
  EXPECT_EQ(read_disk(outside("secret")), "secret");
  EXPECT_TRUE(refused(s_->remove("/up/secret").error()));
  EXPECT_TRUE(refused(s_->rmdir("/up/anything").error()));
  EXPECT_TRUE(exists_disk(outside("secret")));
  EXPECT_TRUE(refused(s_->chmod("/up/secret", 0777).error()));
  EXPECT_TRUE(refused(s_->chmod("/secretlink", 0777).error()));  // never follows the link
  EXPECT_TRUE(refused(s_->set_mtime("/up/secret", 1).error()));
  struct stat st {};
  ASSERT_EQ(::stat(outside("secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640U);
  EXPECT_NE(st.st_mtim.tv_sec, 1);
  // Operations on the link name itself act on the link, never on its target.
  ASSERT_TRUE(s_->set_mtime("/secretlink", 1).ok());
  ASSERT_EQ(::stat(outside("secret").c_str(), &st), 0);
  EXPECT_NE(st.st_mtim.tv_sec, 1);
  ASSERT_TRUE(s_->remove("/secretlink").ok());
  EXPECT_TRUE(exists_disk(outside("secret")));
}

TEST_P(Escapes, LinksInsideTheRoot) {
  ASSERT_EQ(::mkdir(at("sub").c_str(), 0755), 0);
  write_disk(at("sub/f.txt"), "inside");
  ASSERT_EQ(::symlink("sub", at("in").c_str()), 0);
  ASSERT_EQ(::symlink("sub/f.txt", at("fl").c_str()), 0);
  ASSERT_EQ(::symlink("../sub/f.txt", at("sub/self").c_str()), 0);
  if (walking()) {
    // The walk refuses every symlink.
    EXPECT_TRUE(refused(s_->open_read("/in/f.txt", 0).error()));
    EXPECT_TRUE(refused(s_->open_read("/fl", 0).error()));
    EXPECT_TRUE(refused(s_->list("/in").error()));
    EXPECT_TRUE(refused(s_->mkdir("/in/x").error()));
    return;
  }
  EXPECT_EQ(get(*s_, "/in/f.txt"), "inside");
  EXPECT_EQ(get(*s_, "/fl"), "inside");
  EXPECT_EQ(get(*s_, "/sub/self"), "inside");
  auto l = s_->list("/in");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->size(), 2U);
  ASSERT_TRUE(put(*s_, "/in/new.txt", "via link").ok());
  EXPECT_EQ(read_disk(at("sub/new.txt")), "via link");
  ASSERT_TRUE(put(*s_, "/fl", "rewritten").ok());
  EXPECT_EQ(read_disk(at("sub/f.txt")), "rewritten");
  ASSERT_TRUE(s_->mkdir("/in/d").ok());
  EXPECT_TRUE(exists_disk(at("sub/d")));
}

// F1: real_path() names where a path leads, so permission rules can be matched there.
TEST_P(Escapes, RealPathResolvesLinksBeneathTheRoot) {
  ASSERT_EQ(::mkdir(at("data").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(at("data/archive").c_str(), 0755), 0);
  write_disk(at("data/archive/record.txt"), "r");
  ASSERT_EQ(::symlink("data/archive", at("shortcut").c_str()), 0);
  ASSERT_EQ(::symlink("../shortcut/record.txt", at("data/rec").c_str()), 0);
  ASSERT_EQ(::symlink("loop", at("loop").c_str()), 0);
  const auto real = [&](std::string_view p, bool follow) -> std::string {
    auto r = s_->real_path(p, follow);
    return r ? *r : "error: " + r.error().message();
  };
  EXPECT_EQ(real("/", true), "/");
  EXPECT_EQ(real("/data/archive/record.txt", true), "/data/archive/record.txt");
  EXPECT_EQ(real("/mine", true), "/mine");
  if (walking()) {
    // The walk refuses every symlink: the typed path is the only one an operation can reach.
    EXPECT_EQ(real("/shortcut/record.txt", true), "/shortcut/record.txt");
    return;
  }
  EXPECT_EQ(real("/shortcut/record.txt", true), "/data/archive/record.txt");
  EXPECT_EQ(real("/shortcut/record.txt", false), "/data/archive/record.txt");
  EXPECT_EQ(real("/shortcut/new.txt", false), "/data/archive/new.txt");  // not there yet
  EXPECT_EQ(real("/shortcut", true), "/data/archive");
  EXPECT_EQ(real("/shortcut", false), "/shortcut");                  // the link itself
  EXPECT_EQ(real("/data/rec", true), "/data/archive/record.txt");    // a link to a link, via ..
  EXPECT_TRUE(refused(s_->real_path("/up/secret", true).error()));   // ../ above the root
  EXPECT_TRUE(refused(s_->real_path("/abs/secret", true).error()));  // absolute target
  EXPECT_EQ(real("/abs", false), "/abs");
  EXPECT_EQ(s_->real_path("/loop", true).error(), std::errc::too_many_symbolic_link_levels);
  EXPECT_EQ(s_->real_path("/nothere/x", false).error(), std::errc::no_such_file_or_directory);
  EXPECT_EQ(s_->real_path("/mine/x", false).error(), std::errc::not_a_directory);

  // The restricting decorator matches rules there too: the link carries the archive's rules.
  Permissions perms(Permissions::kAll);
  perms.set_override("/data/archive", "elr");
  auto r = make_restricted_storage(open_storage(false), perms);
  EXPECT_TRUE(refused(r->remove("/shortcut/record.txt").error()));
  EXPECT_TRUE(refused(r->open_write("/shortcut/new.txt", WriteMode::truncate, 0).error()));
  EXPECT_TRUE(refused(r->rename("/data", "/moved").error()));
  EXPECT_EQ(get(*r, "/shortcut/record.txt"), "r");
  EXPECT_TRUE(r->remove("/shortcut").ok());  // the link itself lives in /
  EXPECT_EQ(read_disk(at("data/archive/record.txt")), "r");
}

// --- Disk full ------------------------------------------------------------------------------

TEST_P(LocalStorageTest, DiskFullIsReportedAndCleanedUp) {
  const std::string mnt = dir_ / "small";
  ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    const int e = errno;
    if (e == EPERM || e == EACCES) GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(e);
    FAIL() << "mount tmpfs: " << std::strerror(e);
  }
  struct Unmount {
    std::string p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};

  for (const bool atomic : {false, true}) {
    LocalStorageOptions o;
    o.root = mnt;
    o.atomic_uploads = atomic;
    auto s = storage::make_local_storage(o, GetParam());
    ASSERT_TRUE(s.ok());
    auto w = (*s)->open_write("/huge", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    const std::string chunk(64 * 1024, 'z');
    std::error_code failure;
    for (int i = 0; i < 64 && !failure; ++i) failure = (*w)->write(bytes(chunk)).error();
    EXPECT_EQ(failure, err(std::errc::no_space_on_device)) << "atomic=" << atomic;
    (*w)->abort(false);
    EXPECT_FALSE(exists_disk(mnt + "/huge"));
    EXPECT_TRUE(upload_temporaries(mnt).empty());
    auto free = (*s)->free_space("/");
    ASSERT_TRUE(free.ok());
    EXPECT_GT(*free, 512U * 1024);  // the space came back
  }
}

// --- Construction ----------------------------------------------------------------------------

TEST(LocalStorageFactory, UsesTheHomeAndCreatesItWhenAsked) {
  TempDir dir;
  User u;
  u.name = "alice";
  u.home = dir / "homes/alice";
  auto plain = make_local_storage_factory(false, false);
  EXPECT_EQ(plain->create(u).error(), err(std::errc::no_such_file_or_directory));
  auto creating = make_local_storage_factory(true, true);
  auto s = creating->create(u);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE(exists_disk(u.home));
  ASSERT_TRUE(put(**s, "/hello", "hi").ok());
  EXPECT_EQ(read_disk(u.home + "/hello"), "hi");
  EXPECT_TRUE(plain->create(u).ok());
}

TEST(LocalStorageFactory, RefusesAFileAsRoot) {
  TempDir dir;
  write_disk(dir / "file", "x");
  LocalStorageOptions o;
  o.root = dir / "file";
  EXPECT_EQ(make_local_storage(o).error(), err(std::errc::not_a_directory));
  o.root = "";
  EXPECT_FALSE(make_local_storage(o).ok());
}

}  // namespace
TEST(LocalStorageFactory, SessionsOfOneHomeShareOneRootDescriptor) {
  TempDir t;
  User u;
  u.home = t / "home";
  ASSERT_EQ(::mkdir(u.home.c_str(), 0755), 0);
  auto factory = make_local_storage_factory(false, false);
  auto open_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  const auto before = open_fds();
  std::vector<std::unique_ptr<Storage>> sessions;
  for (int i = 0; i < 50; ++i) {
    auto s = factory->create(u);
    ASSERT_TRUE(s.ok());
    sessions.push_back(std::move(*s));
  }
  EXPECT_EQ(open_fds() - before, 1);  // one root descriptor for 50 sessions
  ASSERT_TRUE(put(*sessions[7], "/shared.txt", "one tree").ok());
  EXPECT_TRUE(sessions[42]->stat("/shared.txt").ok());
  sessions.clear();
  EXPECT_EQ(open_fds(), before);  // released with the last session
}

}  // namespace feitp::test
