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
  for (const char* bad : {"", "20240102030405", "20240102030405 ", "20240102030405    ", "2024010203040 x",
                          "20241302030405 x", "20240230000000 x", "20240102246000 x", " 20240102030405 x",
                          "2024010203040a x", "20240102030405. x"}) {
    EXPECT_FALSE(parse_mfmt_arg(bad)) << bad;
  }
}

using feitp::proto::Choice;
using feitp::proto::TypeArg;

TEST(TypeArg, ServedRefusedUnknown) {
  using feitp::proto::parse_type_arg;
  EXPECT_EQ(parse_type_arg("A"), TypeArg::ascii);
  EXPECT_EQ(parse_type_arg("a n"), TypeArg::ascii);
  EXPECT_EQ(parse_type_arg("A  N"), TypeArg::ascii);  // extra spaces before the parameter
  EXPECT_EQ(parse_type_arg("I"), TypeArg::binary);
  EXPECT_EQ(parse_type_arg("i"), TypeArg::binary);
  EXPECT_EQ(parse_type_arg("L 8"), TypeArg::binary);
  EXPECT_EQ(parse_type_arg("A T"), TypeArg::ascii_format_refused);
  EXPECT_EQ(parse_type_arg("A C"), TypeArg::ascii_format_refused);
  EXPECT_EQ(parse_type_arg("L 16"), TypeArg::byte_size_refused);
  EXPECT_EQ(parse_type_arg("L"), TypeArg::byte_size_refused);
  EXPECT_EQ(parse_type_arg("E"), TypeArg::ebcdic_refused);
  for (const char* bad : {"", "X", "AN", "B", " A", "binary"}) {
    EXPECT_EQ(parse_type_arg(bad), TypeArg::unknown) << bad;
  }
}

TEST(ModeStruArg, ServedRefusedUnknown) {
  using feitp::proto::parse_mode_arg;
  using feitp::proto::parse_stru_arg;
  EXPECT_EQ(parse_mode_arg("S"), Choice::served);
  EXPECT_EQ(parse_mode_arg("s"), Choice::served);
  for (const char* m : {"B", "C", "z"}) EXPECT_EQ(parse_mode_arg(m), Choice::refused) << m;
  for (const char* m : {"", "X", "SS", "S "}) EXPECT_EQ(parse_mode_arg(m), Choice::unknown) << m;
  EXPECT_EQ(parse_stru_arg("f"), Choice::served);
  for (const char* s : {"R", "p"}) EXPECT_EQ(parse_stru_arg(s), Choice::refused) << s;
  for (const char* s : {"", "S", "FF", "F "}) EXPECT_EQ(parse_stru_arg(s), Choice::unknown) << s;
}

TEST(ChmodArg, OctalModeAndPath) {
  using feitp::proto::parse_chmod_arg;
  auto a = parse_chmod_arg("755 dir/a file");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mode, 0755u);
  EXPECT_EQ(a->path, "dir/a file");
  a = parse_chmod_arg("0   x");  // spaces before the path are dropped
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mode, 0u);
  EXPECT_EQ(a->path, "x");
  a = parse_chmod_arg("4755 x");  // special bits parse; the session refuses them
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mode, 04755u);
  for (const char* bad : {"", "755", "755 ", "8 x", "75a x", "17777 x", "-1 x", " 755 x", "0x1 x"}) {
    EXPECT_FALSE(parse_chmod_arg(bad)) << bad;
  }
}

TEST(SplitWord, FirstWordAndRest) {
  using feitp::proto::split_word;
  EXPECT_EQ(split_word("CHMOD 755 x"), std::make_pair(std::string_view("CHMOD"), std::string_view("755 x")));
  EXPECT_EQ(split_word("A   N"), std::make_pair(std::string_view("A"), std::string_view("N")));
  EXPECT_EQ(split_word("HELP"), std::make_pair(std::string_view("HELP"), std::string_view()));
  EXPECT_EQ(split_word(""), std::make_pair(std::string_view(), std::string_view()));
}
