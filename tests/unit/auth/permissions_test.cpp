#include <gtest/gtest.h>

#include <stdexcept>

#include "feitp/auth.hpp"

using feitp::Permissions;

TEST(Permissions, DefaultIsReadOnly) {
  Permissions p;
  EXPECT_EQ(p.letters(), "elr");
  EXPECT_TRUE(p.allows('r', "/any/file"));
  EXPECT_FALSE(p.allows('w', "/any/file"));
}

TEST(Permissions, OverrideAppliesToDirectoryAndBelow) {
  Permissions p("elr");
  p.set_override("/pub", "elradfmw");
  EXPECT_TRUE(p.allows('w', "/pub"));
  EXPECT_TRUE(p.allows('w', "/pub/x"));
  EXPECT_TRUE(p.allows('w', "/pub/x/y/z.bin"));
  EXPECT_FALSE(p.allows('w', "/public"));
  EXPECT_FALSE(p.allows('w', "/public/x"));
  EXPECT_FALSE(p.allows('w', "/"));
  EXPECT_FALSE(p.allows('w', "/pu"));
}

TEST(Permissions, LongestPrefixWins) {
  Permissions p("elr");
  p.set_override("/pub/incoming/locked", "el");
  p.set_override("/pub", "elr");
  p.set_override("/pub/incoming", "elrw");
  EXPECT_EQ(p.letters_for("/pub/readme"), "elr");
  EXPECT_EQ(p.letters_for("/pub/incoming"), "elrw");
  EXPECT_EQ(p.letters_for("/pub/incoming/new.txt"), "elrw");
  EXPECT_EQ(p.letters_for("/pub/incoming/locked/a"), "el");
  EXPECT_EQ(p.letters_for("/pub/incomingX"), "elr");
  EXPECT_EQ(p.letters_for("/other"), "elr");
}

TEST(Permissions, TrailingSlashesAndRootOverride) {
  Permissions p("elr");
  p.set_override("/up/", "w");
  EXPECT_EQ(p.letters_for("/up"), "w");
  EXPECT_EQ(p.letters_for("/up/"), "w");
  p.set_override("/", "e");
  EXPECT_EQ(p.letters_for("/x"), "e");
  EXPECT_EQ(p.letters_for("/up/a"), "w");
}

TEST(Permissions, SameDirectoryReplaces) {
  Permissions p("elr");
  p.set_override("/a", "w");
  p.set_override("/a", "d");
  EXPECT_EQ(p.letters_for("/a/b"), "d");
}

TEST(Permissions, Validate) {
  EXPECT_EQ(Permissions::validate("elradfmwMT"), "");
  EXPECT_EQ(Permissions::validate(""), "");
  EXPECT_EQ(Permissions::validate("elrx"), "unknown permission letter 'x' (allowed: elradfmwMT)");
  EXPECT_NE(Permissions::validate("el r").find("'\\x20'"), std::string::npos);
  EXPECT_THROW(Permissions("elrz"), std::invalid_argument);
  Permissions p;
  EXPECT_THROW(p.set_override("/a", "q"), std::invalid_argument);
}

// F1: moving or removing a directory carries the areas below it along, so it needs their letters.
TEST(Permissions, AllowsTreeNeedsTheLetterInEveryAreaBelow) {
  Permissions p("elradfmwMT");
  EXPECT_FALSE(p.has_overrides());
  EXPECT_TRUE(p.allows_tree('f', "/data"));
  p.set_override("/data/archive", "elr");
  p.set_override("/data/incoming", "elrwf");
  EXPECT_TRUE(p.has_overrides());
  EXPECT_FALSE(p.allows_tree('f', "/data"));
  EXPECT_FALSE(p.allows_tree('f', "/data/"));
  EXPECT_FALSE(p.allows_tree('f', "/"));
  EXPECT_FALSE(p.allows_tree('f', "/data/archive"));  // the area itself
  EXPECT_TRUE(p.allows_tree('f', "/data/incoming"));
  EXPECT_TRUE(p.allows_tree('f', "/dat"));  // a name prefix is not a parent
  EXPECT_TRUE(p.allows_tree('f', "/data2"));
  EXPECT_TRUE(p.allows_tree('r', "/data"));  // every area below grants 'r'
  EXPECT_FALSE(p.allows_tree('w', "/data"));
}
