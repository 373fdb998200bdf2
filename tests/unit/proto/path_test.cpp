#include "proto/path.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace feitp::proto;

namespace {
std::string R(std::string_view cwd, std::string_view arg) {
  auto r = resolve_path(cwd, arg);
  return r ? *r : std::string("<null>");
}
}  // namespace

TEST(Path, Basics) {
  EXPECT_EQ(R("/", ""), "/");
  EXPECT_EQ(R("/a", ""), "/a");
  EXPECT_EQ(R("/", "a"), "/a");
  EXPECT_EQ(R("/a", "b/c"), "/a/b/c");
  EXPECT_EQ(R("/a", "/x"), "/x");
  EXPECT_EQ(R("/a/b", "."), "/a/b");
  EXPECT_EQ(R("/a/b", ".."), "/a");
  EXPECT_EQ(R("/a/b", "../.."), "/");
}

TEST(Path, TraversalNeverClimbsAboveRoot) {
  EXPECT_EQ(R("/", ".."), "/");
  EXPECT_EQ(R("/", "../../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(R("/a", "../../../../x"), "/x");
  EXPECT_EQ(R("/a", "/../.."), "/");
  EXPECT_EQ(R("/a/b", "c/../../../../d/./e/.."), "/d");
  EXPECT_EQ(R("/", "a/../../b"), "/b");
  EXPECT_EQ(R("/", "/./../"), "/");
}

TEST(Path, SlashesAndDots) {
  EXPECT_EQ(R("/", "//a///b//"), "/a/b");
  EXPECT_EQ(R("/a", "b/"), "/a/b");
  EXPECT_EQ(R("/a", "./b/./"), "/a/b");
  EXPECT_EQ(R("/", "..."), "/...");
  EXPECT_EQ(R("/", "..../x"), "/..../x");
  EXPECT_EQ(R("/", ".hidden"), "/.hidden");
  EXPECT_EQ(R("/", "a/.."), "/");
}

TEST(Path, OddNamesAreOrdinary) {
  EXPECT_EQ(R("/", "~"), "/~");
  EXPECT_EQ(R("/", "~root"), "/~root");
  EXPECT_EQ(R("/d", "a b  "), "/d/a b  ");
  EXPECT_EQ(R("/", " lead"), "/ lead");
  EXPECT_EQ(R("/", "say \"hi\""), "/say \"hi\"");
  EXPECT_EQ(R("/", "\xC3\xA9t\xC3\xA9"), "/\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(R("/", "a\\..\\b"), "/a\\..\\b");
  EXPECT_EQ(R("/", "..\\.."), "/..\\..");
}

TEST(Path, NulRejected) {
  EXPECT_FALSE(resolve_path("/", std::string("a\0b", 3)));
  EXPECT_FALSE(resolve_path("/", std::string("\0", 1)));
}

TEST(Path, MaxLength) {
  EXPECT_TRUE(resolve_path("/", std::string(9, 'x'), 10));  // "/xxxxxxxxx" = 10
  EXPECT_FALSE(resolve_path("/", std::string(10, 'x'), 10));
  // Long intermediate, short result.
  EXPECT_EQ(resolve_path("/", std::string(100, 'x') + "/..", 10), "/");
}

TEST(Path, CwdIsRenormalised) {
  EXPECT_EQ(R("a//b/", "c"), "/a/b/c");
  EXPECT_EQ(R("", "c"), "/c");
}

TEST(Path, Helpers) {
  EXPECT_EQ(parent_path("/a/b"), "/a");
  EXPECT_EQ(parent_path("/a"), "/");
  EXPECT_EQ(parent_path("/"), "/");
  EXPECT_EQ(base_name("/a/b"), "b");
  EXPECT_EQ(base_name("/a"), "a");
  EXPECT_EQ(base_name("/"), "");
  EXPECT_EQ(join_path("/", "a"), "/a");
  EXPECT_EQ(join_path("/a", "b c"), "/a/b c");
  EXPECT_EQ(join_path("/a", ""), "/a");
}
