// restrict_writes (runtime/sandbox.hpp): Landlock write rules per kind of path. Landlock cannot
// be undone, so every check runs in a forked child and reports through its exit code.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "runtime/sandbox.hpp"

namespace fs = std::filesystem;
using feitp::runtime::restrict_writes;
using feitp::runtime::set_no_new_privs;
using feitp::runtime::WritablePath;

namespace {

// The exit code of `body` run in a child; 0 = every expectation held there.
int in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

bool creates(const fs::path& p, int flags = O_WRONLY | O_CREAT | O_TRUNC) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

class Landlock : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("feitp-landlock-" + std::to_string(::getpid()));
    fs::create_directories(base_ / "home" / "sub");
    fs::create_directories(base_ / "logs");
    fs::create_directories(base_ / "outside");
    // Probe once, in a child: is Landlock usable here at all?
    usable_ = in_child([&] {
                if (!set_no_new_privs().empty()) return 2;
                std::string s;
                if (!restrict_writes({}, s).empty()) return 3;
                return s.rfind("landlock (", 0) == 0 ? 0 : 1;
              }) == 0;
  }
  void TearDown() override { fs::remove_all(base_); }

  fs::path base_;
  bool usable_ = false;
};

TEST_F(Landlock, WritesOnlyBeneathTheAllowedPaths) {
  if (!usable_) GTEST_SKIP() << "this kernel has no usable Landlock (ABI >= 2)";
  const int rc = in_child([&] {
    if (!set_no_new_privs().empty()) return 2;
    std::string status;
    const std::vector<WritablePath> paths = {
        {(base_ / "home").string(), WritablePath::Kind::tree},
        {(base_ / "logs").string(), WritablePath::Kind::log_dir},
        {"/dev/null", WritablePath::Kind::file},
        {(base_ / "missing").string(), WritablePath::Kind::tree},  // skipped, not an error
    };
    if (!restrict_writes(paths, status).empty()) return 3;
    if (status != "landlock (writes beneath 3 paths)") return 4;
    // A home: everything, renames between its directories too.
    if (!creates(base_ / "home" / "a")) return 10;
    if (::mkdir((base_ / "home" / "d").c_str(), 0755) != 0) return 11;
    if (::rename((base_ / "home" / "a").c_str(), (base_ / "home" / "sub" / "b").c_str()) != 0) { return 12; }
    if (::unlink((base_ / "home" / "sub" / "b").c_str()) != 0) return 13;
    if (::rmdir((base_ / "home" / "d").c_str()) != 0) return 14;
    // A log directory: create and append, nothing else.
    if (!creates(base_ / "logs" / "x.log", O_WRONLY | O_CREAT | O_APPEND)) return 20;
    if (::mkdir((base_ / "logs" / "d").c_str(), 0755) == 0 || errno != EACCES) return 21;
    if (::unlink((base_ / "logs" / "x.log").c_str()) == 0) return 22;
    // /dev/null, with O_TRUNC as a shell's "> /dev/null" opens it.
    if (!creates("/dev/null")) return 30;
    // Anywhere else: refused, reads still work.
    if (creates(base_ / "outside" / "f") || errno != EACCES) return 40;
    if (::mkdir((base_ / "outside" / "d").c_str(), 0755) == 0) return 41;
    if (::rename((base_ / "home" / "sub").c_str(), (base_ / "outside" / "sub").c_str()) == 0) { return 42; }
    if (!creates("/etc/hostname", O_RDONLY)) return 43;
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(fs::exists(base_ / "outside" / "f"));
  EXPECT_TRUE(fs::exists(base_ / "logs" / "x.log"));
}

}  // namespace
