// The memory back-end: the same semantics as a file system, one tree shared by the factory's
// storages, uploads published on commit.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/storage.hpp"
#include "storage_test_util.hpp"

namespace feitp::test {
namespace {

class MemoryStorageTest : public ::testing::Test {
 protected:
  std::unique_ptr<Storage> make() {
    auto s = factory_.create(User{});
    EXPECT_TRUE(s.ok());
    return std::move(*s);
  }
  MemoryStorageFactory factory_;
  std::unique_ptr<Storage> s_ = make();
};

TEST_F(MemoryStorageTest, WriteReadAndModes) {
  ASSERT_TRUE(put(*s_, "/a", "hello").ok());
  EXPECT_EQ(get(*s_, "/a"), "hello");
  EXPECT_EQ(get(*s_, "/a", 3), "lo");
  EXPECT_EQ(get(*s_, "/a", 99), "");
  ASSERT_TRUE(put(*s_, "/a", " world", WriteMode::append).ok());
  EXPECT_EQ(get(*s_, "/a"), "hello world");
  ASSERT_TRUE(put(*s_, "/a", "p!", WriteMode::at_offset, 4).ok());
  EXPECT_EQ(get(*s_, "/a"), "hellp!");
  EXPECT_EQ(s_->open_write("/a", WriteMode::at_offset, 7).error(), err(std::errc::invalid_argument));
  EXPECT_EQ(s_->open_write("/none", WriteMode::at_offset, 2).error(),
            err(std::errc::no_such_file_or_directory));
  ASSERT_TRUE(put(*s_, "/a", "new").ok());
  EXPECT_EQ(get(*s_, "/a"), "new");
  EXPECT_EQ(s_->open_write("/a", WriteMode::exclusive, 0).error(), err(std::errc::file_exists));
  ASSERT_TRUE(put(*s_, "/b", "x", WriteMode::exclusive).ok());
  ASSERT_TRUE(put(*s_, "/c", "y", WriteMode::append).ok());
  EXPECT_EQ(get(*s_, "/c"), "y");
  EXPECT_EQ(factory_.file_count(), 3U);
  EXPECT_EQ(factory_.total_bytes(), 5U);
}

TEST_F(MemoryStorageTest, Errors) {
  ASSERT_TRUE(s_->mkdir("/d").ok());
  ASSERT_TRUE(put(*s_, "/f", "x").ok());
  EXPECT_EQ(s_->open_read("/d", 0).error(), err(std::errc::is_a_directory));
  EXPECT_EQ(s_->open_read("/none", 0).error(), err(std::errc::no_such_file_or_directory));
  EXPECT_EQ(s_->open_write("/d", WriteMode::truncate, 0).error(), err(std::errc::is_a_directory));
  EXPECT_EQ(s_->open_write("/none/x", WriteMode::truncate, 0).error(),
            err(std::errc::no_such_file_or_directory));
  EXPECT_EQ(s_->open_write("/f/x", WriteMode::truncate, 0).error(), err(std::errc::not_a_directory));
  EXPECT_EQ(s_->stat("/f/x").error(), err(std::errc::not_a_directory));
  EXPECT_EQ(s_->list("/f").error(), err(std::errc::not_a_directory));
  EXPECT_EQ(s_->mkdir("/d").error(), err(std::errc::file_exists));
  EXPECT_EQ(s_->mkdir("/f").error(), err(std::errc::file_exists));
  ASSERT_TRUE(put(*s_, "/d/inner", "z").ok());
  EXPECT_EQ(s_->rmdir("/d").error(), err(std::errc::directory_not_empty));
  EXPECT_EQ(s_->rmdir("/f").error(), err(std::errc::not_a_directory));
  EXPECT_EQ(s_->remove("/d").error(), err(std::errc::is_a_directory));
  EXPECT_EQ(s_->remove("/none").error(), err(std::errc::no_such_file_or_directory));
  EXPECT_EQ(s_->stat("/a/../f").error(), err(std::errc::invalid_argument));
  ASSERT_TRUE(s_->remove("/d/inner").ok());
  ASSERT_TRUE(s_->rmdir("/d").ok());
  EXPECT_EQ(s_->stat("/d").error(), err(std::errc::no_such_file_or_directory));
}

TEST_F(MemoryStorageTest, StatListMtimeAndMode) {
  ASSERT_TRUE(s_->mkdir("/d").ok());
  ASSERT_TRUE(put(*s_, "/d/one", "1").ok());
  ASSERT_TRUE(put(*s_, "/d/two", "22").ok());
  auto l = s_->list("/d");
  ASSERT_TRUE(l.ok());
  std::set<std::string> names;
  for (const auto& e : *l) {
    names.insert(e.name);
    EXPECT_EQ(e.type, FileType::file);
  }
  EXPECT_EQ(names, (std::set<std::string>{"one", "two"}));
  auto st = s_->stat("/d/two");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 2U);
  EXPECT_GT(st->mtime, 1600000000);
  EXPECT_NE(st->unique, s_->stat("/d/one")->unique);
  ASSERT_TRUE(s_->set_mtime("/d/two", 12345).ok());
  EXPECT_EQ(s_->stat("/d/two")->mtime, 12345);
  ASSERT_TRUE(s_->chmod("/d/two", 04600).ok());
  EXPECT_EQ(s_->stat("/d/two")->mode, 0600U);
  EXPECT_EQ(s_->chmod("/nope", 0600).error(), err(std::errc::no_such_file_or_directory));
  auto root = s_->stat("/");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->type, FileType::directory);
  EXPECT_EQ(root->name, "");
}

TEST_F(MemoryStorageTest, Rename) {
  ASSERT_TRUE(s_->mkdir("/a").ok());
  ASSERT_TRUE(s_->mkdir("/b").ok());
  ASSERT_TRUE(put(*s_, "/a/f", "content").ok());
  ASSERT_TRUE(s_->rename("/a/f", "/b/g").ok());
  EXPECT_EQ(get(*s_, "/b/g"), "content");
  EXPECT_EQ(s_->stat("/a/f").error(), err(std::errc::no_such_file_or_directory));
  EXPECT_EQ(s_->rename("/a", "/a/sub").error(), err(std::errc::invalid_argument));
  EXPECT_EQ(s_->rename("/b", "/a/sub").ok(), true);
  EXPECT_EQ(get(*s_, "/a/sub/g"), "content");
  ASSERT_TRUE(put(*s_, "/file", "f").ok());
  EXPECT_EQ(s_->rename("/file", "/a").error(), err(std::errc::is_a_directory));
  EXPECT_EQ(s_->rename("/a", "/file").error(), err(std::errc::not_a_directory));
  ASSERT_TRUE(s_->mkdir("/empty").ok());
  EXPECT_EQ(s_->rename("/empty", "/a").error(), err(std::errc::directory_not_empty));
  ASSERT_TRUE(put(*s_, "/other", "o").ok());
  ASSERT_TRUE(s_->rename("/other", "/file").ok());  // replaces a file
  EXPECT_EQ(get(*s_, "/file"), "o");
  EXPECT_EQ(s_->rename("/missing", "/x").error(), err(std::errc::no_such_file_or_directory));
}

TEST_F(MemoryStorageTest, UploadsAppearOnCommit) {
  ASSERT_TRUE(put(*s_, "/t", "old").ok());
  auto w = s_->open_write("/t", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("new")).ok());
  EXPECT_EQ(get(*s_, "/t"), "old");
  auto n = s_->open_write("/n", WriteMode::truncate, 0);
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE((*n)->write(bytes("n")).ok());
  EXPECT_EQ(s_->stat("/n").error(), err(std::errc::no_such_file_or_directory));
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_EQ(get(*s_, "/t"), "new");
  (*n)->abort(false);
  EXPECT_EQ(s_->stat("/n").error(), err(std::errc::no_such_file_or_directory));

  auto k = s_->open_write("/k", WriteMode::truncate, 0);
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE((*k)->write(bytes("partial")).ok());
  (*k)->abort(true);
  EXPECT_EQ(get(*s_, "/k"), "partial");

  auto x = s_->open_write("/x", WriteMode::exclusive, 0);
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(put(*s_, "/x", "first").ok());
  EXPECT_EQ((*x)->commit().error(), err(std::errc::file_exists));
  EXPECT_EQ(get(*s_, "/x"), "first");
}

TEST_F(MemoryStorageTest, DroppedUploadPublishesNothing) {
  ASSERT_TRUE(put(*s_, "/t", "old").ok());
  for (const auto mode : {WriteMode::truncate, WriteMode::append, WriteMode::at_offset}) {
    auto w = s_->open_write("/t", mode, 1);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes("new")).ok());
  }  // each destroyed without commit() or abort()
  EXPECT_EQ(get(*s_, "/t"), "old");
  {
    auto n = s_->open_write("/n", WriteMode::truncate, 0);
    ASSERT_TRUE(n.ok());
    ASSERT_TRUE((*n)->write(bytes("n")).ok());
  }
  EXPECT_EQ(s_->stat("/n").error(), err(std::errc::no_such_file_or_directory));
  // Ends once: a second end is refused (commit) or nothing (abort).
  auto w = s_->open_write("/t", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes("v2")).ok());
  ASSERT_TRUE((*w)->commit().ok());
  (*w)->abort(false);
  EXPECT_EQ((*w)->commit().error(), err(std::errc::bad_file_descriptor));
  EXPECT_EQ((*w)->revert().error(), err(std::errc::not_supported));
  EXPECT_EQ(get(*s_, "/t"), "v2");
}

TEST_F(MemoryStorageTest, ReadersKeepTheirSnapshot) {
  ASSERT_TRUE(put(*s_, "/f", "before").ok());
  auto r = s_->open_read("/f", 0);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(put(*s_, "/f", "after!!").ok());
  std::byte buf[16];
  auto n = (*r)->read(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf), *n), "before");
  EXPECT_EQ((*r)->native_handle(), -1);
}

TEST_F(MemoryStorageTest, OneTreeForAllUsersAndThreads) {
  auto other = make();
  ASSERT_TRUE(put(*s_, "/shared", "x").ok());
  EXPECT_EQ(get(*other, "/shared"), "x");

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      auto s = make();
      const std::string dir = "/t" + std::to_string(t);
      ASSERT_TRUE(s->mkdir(dir).ok());
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(put(*s, dir + "/f" + std::to_string(i), "abcd").ok());
        ASSERT_TRUE(s->list(dir).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(factory_.file_count(), 801U);
  EXPECT_EQ(factory_.total_bytes(), 801U * 4 - 3);
}

}  // namespace
}  // namespace feitp::test
