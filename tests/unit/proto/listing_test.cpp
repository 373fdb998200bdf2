#include "proto/listing.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace feitp::proto;
using feitp::FileInfo;
using feitp::FileType;

namespace {

constexpr std::int64_t kJan2 = 1672628645;  // 2023-01-02 03:04:05 UTC
constexpr std::int64_t kNow = kJan2 + 86400 * 30;

FileInfo file(std::string name, std::uint64_t size, std::int64_t mtime, std::uint32_t mode = 0644) {
  FileInfo fi;
  fi.name = std::move(name);
  fi.size = size;
  fi.mtime = mtime;
  fi.mode = mode;
  fi.uid = 1000;
  fi.gid = 100;
  return fi;
}

std::string list_line(const FileInfo& fi, std::int64_t now = kNow) {
  std::string out;
  append_list_line(out, fi, now);
  return out;
}

}  // namespace

TEST(ListLine, RecentFile) {
  EXPECT_EQ(list_line(file("name", 1234, kJan2)),
            "-rw-r--r--   1 1000     100          1234 Jan  2 03:04 name\r\n");
}

TEST(ListLine, OldFileShowsYearWithTwoSpaces) {
  EXPECT_EQ(list_line(file("old.txt", 5, kJan2), kJan2 + 86400 * 200),
            "-rw-r--r--   1 1000     100             5 Jan  2  2023 old.txt\r\n");
}

TEST(ListLine, FarFutureShowsYear) {
  EXPECT_EQ(list_line(file("f", 5, kJan2 + 86400 * 3), kJan2),
            "-rw-r--r--   1 1000     100             5 Jan  5  2023 f\r\n");
  // Within a day ahead (clock skew) the time of day is kept.
  EXPECT_EQ(list_line(file("f", 5, kJan2 + 3600), kJan2),
            "-rw-r--r--   1 1000     100             5 Jan  2 04:04 f\r\n");
}

TEST(ListLine, TwoDigitDay) {
  EXPECT_EQ(list_line(file("x", 0, 1698796800 + 86400 * 14), 1698796800 + 86400 * 20),
            "-rw-r--r--   1 1000     100             0 Nov 15 00:00 x\r\n");
}

TEST(ListLine, DirectoryAndNameWithSpaces) {
  FileInfo d = file("My Dir  ", 4096, kJan2, 0755);
  d.type = FileType::directory;
  d.nlink = 3;
  EXPECT_EQ(list_line(d), "drwxr-xr-x   3 1000     100          4096 Jan  2 03:04 My Dir  \r\n");
}

TEST(ListLine, Symlink) {
  FileInfo l = file("link", 11, kJan2, 0777);
  l.type = FileType::symlink;
  l.link_target = "../target file";
  EXPECT_EQ(list_line(l),
            "lrwxrwxrwx   1 1000     100            11 Jan  2 03:04 link -> ../target file\r\n");
  l.link_target.clear();
  EXPECT_EQ(list_line(l), "lrwxrwxrwx   1 1000     100            11 Jan  2 03:04 link\r\n");
}

TEST(ListLine, LargeSize) {
  EXPECT_EQ(list_line(file("big.iso", 5000000000ULL, kJan2)),
            "-rw-r--r--   1 1000     100      5000000000 Jan  2 03:04 big.iso\r\n");
  EXPECT_EQ(list_line(file("max", UINT64_MAX, kJan2)),
            "-rw-r--r--   1 1000     100      18446744073709551615 Jan  2 03:04 max\r\n");
}

TEST(ListLine, SpecialModeBits) {
  auto perms = [](std::uint32_t mode, FileType t = FileType::file) {
    FileInfo fi = file("n", 0, kJan2, mode);
    fi.type = t;
    return list_line(fi).substr(0, 10);
  };
  EXPECT_EQ(perms(04755), "-rwsr-xr-x");
  EXPECT_EQ(perms(04644), "-rwSr--r--");
  EXPECT_EQ(perms(02755), "-rwxr-sr-x");
  EXPECT_EQ(perms(02745), "-rwxr-Sr-x");
  EXPECT_EQ(perms(01777, FileType::directory), "drwxrwxrwt");
  EXPECT_EQ(perms(01770, FileType::directory), "drwxrwx--T");
  EXPECT_EQ(perms(0), "----------");
  EXPECT_EQ(perms(07777), "-rwsrwsrwt");
}

TEST(ListLine, CrLfInNameNeutralised) {
  EXPECT_EQ(list_line(file("a\r\nb", 1, kJan2)),
            "-rw-r--r--   1 1000     100             1 Jan  2 03:04 a??b\r\n");
}

TEST(ListLine, HugeTimesDoNotCrash) {
  std::string out;
  append_list_line(out, file("x", 1, INT64_MAX), kNow);
  append_list_line(out, file("y", 1, INT64_MIN), kNow);
  EXPECT_NE(out.find(" x\r\n"), std::string::npos);
  EXPECT_NE(out.find(" y\r\n"), std::string::npos);
}

TEST(Nlst, Line) {
  std::string out;
  append_nlst_line(out, "a b");
  append_nlst_line(out, "c");
  EXPECT_EQ(out, "a b\r\nc\r\n");
}

TEST(ListArgs, Flags) {
  auto a = parse_list_args("-la");
  EXPECT_TRUE(a.all);
  EXPECT_TRUE(a.long_form);
  EXPECT_EQ(a.path, "");
  a = parse_list_args("-a dir name");
  EXPECT_TRUE(a.all);
  EXPECT_FALSE(a.long_form);
  EXPECT_EQ(a.path, "dir name");
  a = parse_list_args("-d");
  EXPECT_TRUE(a.directory);
  a = parse_list_args("-l -R  /x");
  EXPECT_TRUE(a.long_form);
  EXPECT_TRUE(a.recursive);
  EXPECT_EQ(a.path, "/x");
  a = parse_list_args("-- -odd");
  EXPECT_EQ(a.path, "-odd");
  a = parse_list_args("plain");
  EXPECT_FALSE(a.all);
  EXPECT_EQ(a.path, "plain");
  a = parse_list_args("-");
  EXPECT_EQ(a.path, "-");
  a = parse_list_args("");
  EXPECT_EQ(a.path, "");
}

TEST(Mlst, FeatAndOpts) {
  EXPECT_EQ(mlst_feat_line(kDefaultFacts), "type*;size*;modify*;perm*;unique*;unix.mode*;");
  EXPECT_EQ(mlst_feat_line(fact_type | fact_modify), "type*;size;modify*;perm;unique;unix.mode;");
  EXPECT_EQ(parse_mlst_opts("type;size;"), fact_type | fact_size);
  EXPECT_EQ(parse_mlst_opts("Type;MODIFY;bogus;UNIX.mode"), fact_type | fact_modify | fact_unix_mode);
  EXPECT_EQ(parse_mlst_opts(""), 0u);
  EXPECT_EQ(parse_mlst_opts("media-type;charset;"), 0u);
  EXPECT_EQ(mlst_facts_string(fact_type | fact_size), "type;size;");
  EXPECT_EQ(mlst_facts_string(0), "");
  EXPECT_EQ(mlst_facts_string(kDefaultFacts), "type;size;modify;perm;unique;unix.mode;");
}

TEST(Mlsx, FileLine) {
  FileInfo fi = file("a b.txt", 5000000000ULL, kJan2);
  fi.unique = 0x801ab;
  std::string out;
  append_mlsx_line(out, fi, kDefaultFacts, "adfrw", fi.name);
  EXPECT_EQ(out,
            "type=file;size=5000000000;modify=20230102030405;perm=adfrw;unique=801ab;"
            "unix.mode=0644; a b.txt\r\n");
}

TEST(Mlsx, DirAndOverrides) {
  FileInfo d = file("sub", 4096, kJan2, 02755);
  d.type = FileType::directory;
  std::string out;
  append_mlsx_line(out, d, kDefaultFacts, "el", d.name);
  EXPECT_EQ(out, "type=dir;modify=20230102030405;perm=el;unix.mode=2755; sub\r\n");
  out.clear();
  append_mlsx_line(out, d, fact_type, "", ".", "cdir");
  EXPECT_EQ(out, "type=cdir; .\r\n");
  out.clear();
  append_mlsx_line(out, d, fact_type | fact_perm, "", "..", "pdir");
  EXPECT_EQ(out, "type=pdir;perm=; ..\r\n");
}

TEST(Mlsx, SymlinkAndOther) {
  FileInfo l = file("l", 3, kJan2, 0777);
  l.type = FileType::symlink;
  std::string out;
  append_mlsx_line(out, l, fact_type | fact_size, "r", "l");
  EXPECT_EQ(out, "type=OS.unix=slink;size=3; l\r\n");
  l.type = FileType::other;
  out.clear();
  append_mlsx_line(out, l, fact_type, "r", "l");
  EXPECT_EQ(out, "type=OS.unix=special; l\r\n");
}

TEST(Mlsx, NoFacts) {
  std::string out;
  append_mlsx_line(out, file("x", 1, 0), 0, "", "x");
  EXPECT_EQ(out, " x\r\n");
}

TEST(Mlsx, Perm) {
  EXPECT_EQ(mlsx_perm(FileType::file, "elradfmwMT"), "adfrw");
  EXPECT_EQ(mlsx_perm(FileType::directory, "elradfmwMT"), "cdeflmp");
  EXPECT_EQ(mlsx_perm(FileType::file, "elr"), "r");
  EXPECT_EQ(mlsx_perm(FileType::directory, "elr"), "el");
  EXPECT_EQ(mlsx_perm(FileType::directory, "w"), "c");
  EXPECT_EQ(mlsx_perm(FileType::file, ""), "");
  EXPECT_EQ(mlsx_perm(FileType::symlink, "rw"), "rw");
}

TEST(TimeVal, Format) {
  EXPECT_EQ(format_time_val(0), "19700101000000");
  EXPECT_EQ(format_time_val(kJan2), "20230102030405");
  EXPECT_EQ(format_time_val(951868799), "20000229235959");
  EXPECT_EQ(format_time_val(-1), "19691231235959");
  std::string out = "213 ";
  append_time_val(out, kJan2);
  EXPECT_EQ(out, "213 20230102030405");
}

TEST(TimeVal, Parse) {
  EXPECT_EQ(parse_time_val("20230102030405"), kJan2);
  EXPECT_EQ(parse_time_val("19700101000000"), 0);
  EXPECT_EQ(parse_time_val("20000229235959"), 951868799);
  EXPECT_EQ(parse_time_val("20240229000000"), 1709164800);
  EXPECT_EQ(parse_time_val("19691231235959"), -1);
  EXPECT_EQ(parse_time_val("20230102030405.123"), kJan2);
  EXPECT_EQ(parse_time_val("20230630235960"), 1688169600);  // leap second
  for (std::int64_t t : {std::int64_t{0}, kJan2, std::int64_t{4102444800}, std::int64_t{-86400}}) {
    EXPECT_EQ(parse_time_val(format_time_val(t)), t);
  }
}

TEST(TimeVal, Invalid) {
  for (const char* s : {"",
                        "2023010203040",
                        "202301020304056",
                        "20231302030405",
                        "20230002030405",
                        "20230230000000",
                        "20230229000000",
                        "19000229000000",
                        "20230100000000",
                        "20230132000000",
                        "20230102240000",
                        "20230102036000",
                        "20230102030461",
                        "2023010203040x",
                        "-2023010203040",
                        " 20230102030405",
                        "20230102030405.",
                        "20230102030405.1a",
                        "00000101000000",
                        "2023-01-02 03:04"}) {
    EXPECT_FALSE(parse_time_val(s)) << s;
  }
}
