// Upload safety of the local back-end: atomic by default, failed appends that never cut into
// other sessions' bytes (audit F4), upload temporaries that clients cannot reach and that are
// swept once their writer is gone (F5), and the umask (F16).
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/storage.hpp"
#include "storage/local_storage.hpp"
#include "storage_test_util.hpp"

namespace feitp::test {
namespace {

std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (std::string_view(e->d_name).starts_with(storage::kUploadTempPrefix)) {
        out.emplace_back(e->d_name);
      }
    }
    ::closedir(d);
  }
  return out;
}

std::uint32_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string boot_tag() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id.size() >= 8 ? id.substr(0, 8) : "00000000";
}

// A pid that belonged to a process that has exited (and was reaped).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

class UploadSafety : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::mkdir(root().c_str(), 0755), 0); }
  [[nodiscard]] std::string root() const { return dir_ / "root"; }
  [[nodiscard]] std::string at(std::string_view rel) const { return root() + "/" + std::string(rel); }

  std::unique_ptr<Storage> open(LocalStorageOptions o = {}) {
    o.root = root();
    auto s = make_local_storage(o);
    EXPECT_TRUE(s.ok()) << s.error().message();
    return s ? std::move(*s) : nullptr;
  }
  std::unique_ptr<Storage> open_in_place() {
    LocalStorageOptions o;
    o.atomic_uploads = false;
    return open(o);
  }

  TempDir dir_;
};

TEST_F(UploadSafety, AtomicIsTheDefault) {
  EXPECT_TRUE(LocalStorageOptions{}.atomic_uploads);
  EXPECT_EQ(LocalStorageOptions{}.umask, 022U);
  auto s = open();
  write_disk(at("f"), "old content");
  auto w = s->open_write("/f", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("new")).ok());
  // F3: until commit the final name still has the whole old file.
  EXPECT_EQ(read_disk(at("f")), "old content");
  const auto temps = temporaries(root());
  ASSERT_EQ(temps.size(), 1U);
  // The writer's boot and pid are in the name, for the sweep.
  EXPECT_TRUE(temps[0].starts_with(std::string(storage::kUploadTempPrefix) + boot_tag() + "-" +
                                   std::to_string(::getpid()) + "-"))
      << temps[0];
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_EQ(read_disk(at("f")), "new");
  EXPECT_TRUE(temporaries(root()).empty());
}

TEST_F(UploadSafety, FailedAppendKeepsAnotherSessionsCompletedAppend) {
  // F4: A appends, B appends and completes (226), then A fails: B's bytes stay.
  auto s = open();
  write_disk(at("log"), std::string(100, 'o'));
  auto a = s->open_write("/log", WriteMode::append, 0);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->write(bytes(std::string(10, 'a'))).ok());
  {
    auto b = s->open_write("/log", WriteMode::append, 0);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE((*b)->write(bytes(std::string(1000, 'b'))).ok());
    ASSERT_TRUE((*b)->commit().ok());
  }
  (*a)->abort(false);
  EXPECT_EQ(read_disk(at("log")), std::string(100, 'o') + std::string(10, 'a') + std::string(1000, 'b'));
}

TEST_F(UploadSafety, RefusedAppendKeepsAnotherSessionsCompletedAppend) {
  // F4 through check_upload: A's revert() must not cut B's bytes, and must succeed (else the
  // server would remove the whole file by its path).
  auto s = open();
  write_disk(at("log"), "head;");
  auto a = s->open_write("/log", WriteMode::append, 0);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->write(bytes("A;")).ok());
  {
    auto b = s->open_write("/log", WriteMode::append, 0);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE((*b)->write(bytes("B;")).ok());
    ASSERT_TRUE((*b)->commit().ok());
  }
  ASSERT_TRUE((*a)->commit(Commit::keep_previous).ok());
  EXPECT_TRUE((*a)->revert().ok());
  EXPECT_EQ(read_disk(at("log")), "head;A;B;");
}

TEST_F(UploadSafety, FailedAppendAloneRemovesItsOwnBytes) {
  auto s = open();
  write_disk(at("log"), "head;");
  auto a = s->open_write("/log", WriteMode::append, 0);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->write(bytes("partial")).ok());
  (*a)->abort(false);
  EXPECT_EQ(read_disk(at("log")), "head;");
}

TEST_F(UploadSafety, AppendThatCreatedTheFileKeepsItWhenOthersAppended) {
  // APPE creates a missing file; a second APPE adds to it and completes; the first then fails:
  // the file, with the second session's bytes, stays (and they were not overwritten).
  auto s = open();
  auto a = s->open_write("/new.log", WriteMode::append, 0);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->write(bytes("A1;")).ok());
  {
    auto b = s->open_write("/new.log", WriteMode::append, 0);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE((*b)->write(bytes("B;")).ok());
    ASSERT_TRUE((*b)->commit().ok());
  }
  ASSERT_TRUE((*a)->write(bytes("A2;")).ok());
  (*a)->abort(false);
  EXPECT_EQ(read_disk(at("new.log")), "A1;B;A2;");
}

TEST_F(UploadSafety, ClientPathsUnderTheTemporaryPrefixAreRefused) {
  // F5: a client can neither read an upload in progress nor hide files under the prefix.
  auto s = open();
  write_disk(at(".feitp-upload.x"), "secret");
  ASSERT_EQ(::mkdir(at("sub").c_str(), 0755), 0);
  const std::error_code denied = err(std::errc::permission_denied);
  for (const char* path : {"/.feitp-upload.x", "/sub/.feitp-upload.hideme", "/.feitp-upload.d/f"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(s->stat(path).error(), denied);
    EXPECT_EQ(s->open_read(path, 0).error(), denied);
    EXPECT_EQ(s->list(path).error(), denied);
    for (const auto mode : {WriteMode::truncate, WriteMode::append, WriteMode::exclusive}) {
      EXPECT_EQ(s->open_write(path, mode, 0).error(), denied);
    }
    EXPECT_EQ(s->mkdir(path).error(), denied);
    EXPECT_EQ(s->remove(path).error(), denied);
    EXPECT_EQ(s->rmdir(path).error(), denied);
    EXPECT_EQ(s->rename("/sub", path).error(), denied);
    EXPECT_EQ(s->rename(path, "/sub/y").error(), denied);
    EXPECT_EQ(s->chmod(path, 0600).error(), denied);
    EXPECT_EQ(s->set_mtime(path, 0).error(), denied);
  }
  EXPECT_EQ(read_disk(at(".feitp-upload.x")), "secret");
  EXPECT_FALSE(exists_disk(at("sub/.feitp-upload.hideme")));
  // A name that merely contains the prefix is an ordinary name.
  EXPECT_TRUE(put(*s, "/x.feitp-upload.y", "ok").ok());
}

TEST_F(UploadSafety, SweepRemovesOnlyTemporariesWhoseWriterIsGone) {
  const std::string prefix(storage::kUploadTempPrefix);
  ASSERT_EQ(::mkdir(at("a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(at("a/b").c_str(), 0755), 0);
  const std::string dead = prefix + boot_tag() + "-" + std::to_string(dead_pid()) + "-00112233aabbccdd";
  const std::string earlier_boot = prefix + (boot_tag() == "00000000" ? "11111111" : "00000000") + "-" +
                                   std::to_string(::getpid()) + "-00112233aabbccdd";
  const std::string live = prefix + boot_tag() + "-" + std::to_string(::getpid()) + "-0123456789abcdef";
  write_disk(at(dead), "dead writer");
  write_disk(at("a/b/" + dead), "dead writer, deeper");
  write_disk(at("a/" + earlier_boot), "earlier boot");
  write_disk(at("a/.feitp-upload.hideme"), "not ours");
  write_disk(at("a/b/" + live), "in progress");
  write_disk(at("a/keep.txt"), "ordinary");
  ASSERT_EQ(::symlink("../..", at("a/b/loop").c_str()), 0);  // never followed
  EXPECT_EQ(sweep_upload_temporaries(root()), 4U);
  EXPECT_EQ(temporaries(root()), std::vector<std::string>{});
  EXPECT_EQ(temporaries(at("a")), std::vector<std::string>{});
  EXPECT_EQ(temporaries(at("a/b")), std::vector<std::string>{live});
  EXPECT_EQ(read_disk(at("a/keep.txt")), "ordinary");
  EXPECT_EQ(sweep_upload_temporaries(root()), 0U);
  EXPECT_EQ(sweep_upload_temporaries(dir_ / "missing"), 0U);
}

TEST_F(UploadSafety, SweepDoesNotTouchAnUploadInProgress) {
  auto s = open();
  auto w = s->open_write("/big", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("first half;")).ok());
  EXPECT_EQ(sweep_upload_temporaries(root()), 0U);
  ASSERT_TRUE((*w)->write(bytes("second half")).ok());
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_EQ(read_disk(at("big")), "first half;second half");
}

TEST_F(UploadSafety, FactorySweepsAHomeTheFirstTimeItOpensIt) {
  const std::string stale = std::string(storage::kUploadTempPrefix) + "0-1-x";  // no live writer
  write_disk(at(stale), "left by a killed worker");
  User u;
  u.name = "u";
  u.home = root();
  auto factory = make_local_storage_factory();
  auto first = factory->create(u);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(exists_disk(at(stale)));
  // Later logins to the same home do not walk it again.
  write_disk(at(stale), "again");
  first->reset();
  ASSERT_TRUE(factory->create(u).ok());
  EXPECT_TRUE(exists_disk(at(stale)));
  // A new factory (a new worker, after a reload) sweeps again.
  ASSERT_TRUE(make_local_storage_factory()->create(u).ok());
  EXPECT_FALSE(exists_disk(at(stale)));
}

TEST_F(UploadSafety, UmaskSetsTheModesOfNewFilesAndDirectories) {
  // F16: 0666 & ~umask and 0777 & ~umask, whatever the process umask is.
  for (const std::uint32_t umask : {022U, 077U, 0U}) {
    SCOPED_TRACE(umask);
    for (const bool atomic : {true, false}) {
      LocalStorageOptions o;
      o.umask = umask;
      o.atomic_uploads = atomic;
      auto s = open(o);
      const std::string name = "f" + std::to_string(umask) + (atomic ? "a" : "p");
      ASSERT_TRUE(put(*s, "/" + name, "x").ok());
      EXPECT_EQ(mode_of(at(name)), 0666 & ~umask);
      ASSERT_TRUE(put(*s, "/" + name + ".app", "x", WriteMode::append).ok());
      EXPECT_EQ(mode_of(at(name + ".app")), 0666 & ~umask);
      ASSERT_TRUE(s->mkdir("/" + name + ".d").ok());
      EXPECT_EQ(mode_of(at(name + ".d")), 0777 & ~umask);
    }
  }
}

TEST_F(UploadSafety, AtomicOverwriteKeepsThePermissionsOfTheFileItReplaces) {
  write_disk(at("f"), "old");
  ASSERT_EQ(::chmod(at("f").c_str(), 0640), 0);
  auto s = open();
  ASSERT_TRUE(put(*s, "/f", "new").ok());
  EXPECT_EQ(read_disk(at("f")), "new");
  EXPECT_EQ(mode_of(at("f")), 0640U);
}

TEST_F(UploadSafety, CreateRootHonoursTheUmask) {
  LocalStorageOptions o;
  o.root = dir_ / "made/home";
  o.create_root = true;
  o.umask = 077;
  ASSERT_TRUE(make_local_storage(o).ok());
  EXPECT_EQ(mode_of(o.root), 0700U);
}

}  // namespace
}  // namespace feitp::test
