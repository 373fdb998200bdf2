#include "proto/args.hpp"

#include <gtest/gtest.h>

#include <string>

using feitp::proto::parse_mfmt_arg;
using feitp::proto::parse_rest_arg;

TEST(RestArg, AcceptsDecimalOffsets) {
  EXPECT_EQ(parse_rest_arg("0"), 0u);
  EXPECT_EQ(parse_rest_arg("1048576"), 1048576u);
  EXPECT_EQ(parse_rest_arg("00000000000000000007"), 7u);  // 20 digits, leading zeros
  EXPECT_EQ(parse_rest_arg("18446744073709551615"), UINT64_MAX);
}

TEST(RestArg, RejectsEverythingElse) {
  for (const char* bad : {"", " 1", "1 ", "-1", "+1", "1a", "0x10", "1.5", "18446744073709551616",
                          "99999999999999999999", "000000000000000000001"}) {
    EXPECT_FALSE(parse_rest_arg(bad)) << bad;
  }
  EXPECT_FALSE(parse_rest_arg(std::string("1\0", 2)));
}

TEST(MfmtArg, SplitsTimeAndPath) {
  auto a = parse_mfmt_arg("20240102030405 dir/a file.txt");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mtime, 1704164645);
  EXPECT_EQ(a->path, "dir/a file.txt");
  // Extra spaces between time and path are dropped; a fraction is ignored.
  a = parse_mfmt_arg("19700101000000.999   x");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mtime, 0);
  EXPECT_EQ(a->path, "x");
}

TEST(MfmtArg, RejectsMalformed) {
  for (const char* bad : {"", "20240102030405", "20240102030405 ", "20240102030405    ",
                          "2024010203040 x", "20241302030405 x", "20240230000000 x",
                          "20240102246000 x", " 20240102030405 x", "2024010203040a x",
                          "20240102030405. x"}) {
    EXPECT_FALSE(parse_mfmt_arg(bad)) << bad;
  }
}
