// The restricting decorator: each call needs its pyftpdlib letter, on the path it touches.
#include <string>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/storage.hpp"
#include "storage_test_util.hpp"

namespace feitp::test {
namespace {

class RestrictedStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = factory_.create(User{});
    ASSERT_TRUE(s.ok());
    full_ = std::move(*s);
    ASSERT_TRUE(full_->mkdir("/pub").ok());
    ASSERT_TRUE(full_->mkdir("/incoming").ok());
    ASSERT_TRUE(put(*full_, "/pub/file", "data").ok());
    ASSERT_TRUE(put(*full_, "/incoming/up", "up").ok());
  }
  std::unique_ptr<Storage> restricted(Permissions p) {
    auto s = factory_.create(User{});
    EXPECT_TRUE(s.ok());
    return make_restricted_storage(std::move(*s), std::move(p));
  }
  static bool denied(const std::error_code& ec) { return ec == std::errc::permission_denied; }
  static std::unique_ptr<Storage> full(StorageFactory& f) {
    auto s = f.create(User{});
    EXPECT_TRUE(s.ok());
    return s ? std::move(*s) : nullptr;
  }

  MemoryStorageFactory factory_;
  std::unique_ptr<Storage> full_;
};

TEST_F(RestrictedStorageTest, ReadOnlyUser) {
  auto s = restricted(Permissions(Permissions::kReadOnly));
  EXPECT_TRUE(s->stat("/pub/file").ok());
  EXPECT_TRUE(s->list("/pub").ok());
  EXPECT_EQ(get(*s, "/pub/file"), "data");
  EXPECT_TRUE(denied(s->open_write("/pub/new", WriteMode::truncate, 0).error()));
  EXPECT_TRUE(denied(s->open_write("/pub/file", WriteMode::append, 0).error()));
  EXPECT_TRUE(denied(s->open_write("/pub/file", WriteMode::exclusive, 0).error()));
  EXPECT_TRUE(denied(s->open_write("/pub/file", WriteMode::at_offset, 1).error()));
  EXPECT_TRUE(denied(s->mkdir("/pub/d").error()));
  EXPECT_TRUE(denied(s->rmdir("/pub").error()));
  EXPECT_TRUE(denied(s->remove("/pub/file").error()));
  EXPECT_TRUE(denied(s->rename("/pub/file", "/pub/other").error()));
  EXPECT_TRUE(denied(s->chmod("/pub/file", 0600).error()));
  EXPECT_TRUE(denied(s->set_mtime("/pub/file", 1).error()));
  EXPECT_EQ(get(*full_, "/pub/file"), "data");
  EXPECT_TRUE(s->capabilities().chmod);
}

TEST_F(RestrictedStorageTest, EachLetterUnlocksItsOperation) {
  EXPECT_TRUE(denied(restricted(Permissions("e"))->list("/pub").error()));
  EXPECT_TRUE(restricted(Permissions("e"))->stat("/pub/file").ok());  // navigation stays
  EXPECT_TRUE(denied(restricted(Permissions("el"))->open_read("/pub/file", 0).error()));
  EXPECT_TRUE(put(*restricted(Permissions("w")), "/pub/w", "w").ok());
  EXPECT_TRUE(put(*restricted(Permissions("w")), "/pub/w", "x", WriteMode::at_offset, 1).ok());
  EXPECT_TRUE(denied(put(*restricted(Permissions("w")), "/pub/w", "a", WriteMode::append).error()));
  EXPECT_TRUE(put(*restricted(Permissions("a")), "/pub/w", "a", WriteMode::append).ok());
  EXPECT_EQ(get(*full_, "/pub/w"), "wxa");
  EXPECT_TRUE(denied(put(*restricted(Permissions("a")), "/pub/w", "t").error()));
  EXPECT_TRUE(restricted(Permissions("m"))->mkdir("/pub/m").ok());
  EXPECT_TRUE(restricted(Permissions("d"))->rmdir("/pub/m").ok());
  EXPECT_TRUE(restricted(Permissions("d"))->remove("/pub/w").ok());
  EXPECT_TRUE(restricted(Permissions("f"))->rename("/pub/file", "/pub/moved").ok());
  EXPECT_TRUE(restricted(Permissions("M"))->chmod("/pub/moved", 0600).ok());
  EXPECT_TRUE(restricted(Permissions("T"))->set_mtime("/pub/moved", 77).ok());
  auto st = full_->stat("/pub/moved");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->mode, 0600U);
  EXPECT_EQ(st->mtime, 77);
}

TEST_F(RestrictedStorageTest, DirectoryOverridesAndRenameChecksBothPaths) {
  Permissions p(Permissions::kReadOnly);
  p.set_override("/incoming", "elrwfd");
  auto s = restricted(p);
  EXPECT_TRUE(put(*s, "/incoming/new", "n").ok());
  EXPECT_TRUE(denied(put(*s, "/pub/new", "n").error()));
  EXPECT_TRUE(s->rename("/incoming/new", "/incoming/renamed").ok());
  EXPECT_TRUE(denied(s->rename("/incoming/renamed", "/pub/renamed").error()));
  EXPECT_TRUE(denied(s->rename("/pub/file", "/incoming/file").error()));
  EXPECT_EQ(get(*full_, "/incoming/renamed"), "n");
  EXPECT_EQ(get(*full_, "/pub/file"), "data");
  EXPECT_TRUE(s->remove("/incoming/renamed").ok());
}

// F1: renaming or removing a directory needs the letter in every rule below it.
TEST_F(RestrictedStorageTest, RenameAndRmdirNeedTheLettersOfAreasBelow) {
  ASSERT_TRUE(full_->mkdir("/pub/archive").ok());
  Permissions p(Permissions::kAll);
  p.set_override("/pub/archive", "elr");
  auto s = restricted(p);
  EXPECT_TRUE(denied(s->rename("/pub", "/moved").error()));
  EXPECT_TRUE(denied(s->rename("/incoming", "/pub/archive/x").error()));
  EXPECT_TRUE(denied(s->rmdir("/pub/archive").error()));
  EXPECT_TRUE(s->stat("/pub/archive").ok());
  EXPECT_TRUE(s->rename("/incoming", "/moved").ok());
}

// The factory gives each user a storage restricted by that user's permissions.
TEST_F(RestrictedStorageTest, FactoryAppliesEachUsersPermissions) {
  auto inner = std::make_shared<MemoryStorageFactory>();
  auto factory = make_restricted_storage_factory(inner);
  EXPECT_FALSE(factory->blocking());
  User reader;
  reader.name = "reader";
  reader.permissions = Permissions(Permissions::kReadOnly);
  User writer;
  writer.name = "writer";
  writer.permissions = Permissions("elrw");
  writer.permissions.set_override("/pub", "elr");
  auto r = factory->create(reader);
  auto w = factory->create(writer);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(w.ok());

  EXPECT_TRUE(put(**w, "/mine", "w").ok());
  EXPECT_EQ(get(**r, "/mine"), "w");
  EXPECT_TRUE(denied(put(**r, "/theirs", "r").error()));
  EXPECT_TRUE(denied((*r)->remove("/mine").error()));
  EXPECT_TRUE(denied((*r)->mkdir("/dir").error()));
  EXPECT_TRUE(denied((*w)->remove("/mine").error()));  // no 'd'
  EXPECT_TRUE((*r)->stat("/mine").ok());
  ASSERT_TRUE(full(*inner)->mkdir("/pub").ok());
  EXPECT_TRUE(denied(put(**w, "/pub/x", "x").error()));                       // the override
  EXPECT_TRUE(denied(put(**w, "/mine", "more", WriteMode::append).error()));  // no 'a'
  EXPECT_EQ(inner->file_count(), 1U);
}

}  // namespace
}  // namespace feitp::test
