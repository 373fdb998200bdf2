#include "proto/text.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace feitp::proto;
using feitp::HashAlgo;

namespace {

std::string to_crlf_split(std::string_view in, std::size_t at) {
  ToCrlf c;
  std::string out;
  c.convert(in.substr(0, at), out);
  c.convert(in.substr(at), out);
  return out;
}

std::string from_crlf_split(std::string_view in, std::size_t at) {
  FromCrlf c;
  std::string out;
  c.convert(in.substr(0, at), out);
  c.convert(in.substr(at), out);
  c.finish(out);
  return out;
}

}  // namespace

TEST(ToCrlf, Converts) {
  const std::string in = "a\nb\r\nc\n\nd\r";
  const std::string want = "a\r\nb\r\nc\r\n\r\nd\r";
  for (std::size_t at = 0; at <= in.size(); ++at) { EXPECT_EQ(to_crlf_split(in, at), want) << at; }
}

TEST(ToCrlf, CrAtChunkEndThenLf) {
  ToCrlf c;
  std::string out;
  c.convert("x\r", out);
  c.convert("", out);
  c.convert("\ny", out);
  EXPECT_EQ(out, "x\r\ny");
  c.convert("\n", out);
  EXPECT_EQ(out, "x\r\ny\r\n");
}

TEST(FromCrlf, Converts) {
  const std::string in = "a\r\nb\rc\r\r\nd\n\r";
  const std::string want = "a\nb\rc\r\nd\n\r";
  for (std::size_t at = 0; at <= in.size(); ++at) { EXPECT_EQ(from_crlf_split(in, at), want) << at; }
}

TEST(FromCrlf, ByteByByte) {
  const std::string in = "l1\r\nl2\r\r\n\r";
  FromCrlf c;
  std::string out;
  for (char ch : in) c.convert(std::string_view(&ch, 1), out);
  c.finish(out);
  EXPECT_EQ(out, "l1\nl2\r\n\r");
  c.finish(out);  // idempotent
  EXPECT_EQ(out, "l1\nl2\r\n\r");
}

TEST(Hash, Names) {
  EXPECT_EQ(parse_hash_algo("SHA-256"), HashAlgo::sha256);
  EXPECT_EQ(parse_hash_algo("sha-1"), HashAlgo::sha1);
  EXPECT_EQ(parse_hash_algo("Sha-512"), HashAlgo::sha512);
  EXPECT_EQ(parse_hash_algo("md5"), HashAlgo::md5);
  EXPECT_EQ(parse_hash_algo("CRC32"), HashAlgo::crc32);
  EXPECT_FALSE(parse_hash_algo("SHA256"));
  EXPECT_FALSE(parse_hash_algo("SHA-384"));
  EXPECT_FALSE(parse_hash_algo(""));
  for (auto a : {HashAlgo::sha256, HashAlgo::sha1, HashAlgo::sha512, HashAlgo::md5, HashAlgo::crc32}) {
    EXPECT_EQ(parse_hash_algo(hash_algo_name(a)), a);
  }
  EXPECT_EQ(hash_algo_name(HashAlgo::sha256), "SHA-256");
}

TEST(Hash, FeatValue) {
  EXPECT_EQ(hash_feat_value(HashAlgo::sha256), "SHA-1;SHA-256*;SHA-512;MD5;CRC32");
  EXPECT_EQ(hash_feat_value(HashAlgo::crc32), "SHA-1;SHA-256;SHA-512;MD5;CRC32*");
}

TEST(Hash, ReplyText) {
  EXPECT_EQ(hash_reply_text(HashAlgo::md5, 0, 5000000000ULL, "d41d8cd9", "/dir/a b.txt"),
            "MD5 0-5000000000 d41d8cd9 /dir/a b.txt");
}

TEST(Text, Iequals) {
  EXPECT_TRUE(iequals("UTF8", "utf8"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("abc", "abd"));
  EXPECT_FALSE(iequals("abc", "ab"));
  EXPECT_FALSE(iequals("[", "{"));  // only letters fold
}

// F17: one helper escapes client text for replies and logs.
TEST(Text, EscapeControls) {
  EXPECT_EQ(escape_controls("plain /path é"), "plain /path é");
  EXPECT_EQ(escape_controls(""), "");
  EXPECT_EQ(escape_controls("a\rb\nc\td"), "a\\x0db\\x0ac\\x09d");
  EXPECT_EQ(escape_controls("\x1b[2K"), "\\x1b[2K");
  EXPECT_EQ(escape_controls(std::string("\0\x1f\x7f\x20", 4)), "\\x00\\x1f\\x7f ");
  EXPECT_EQ(escape_controls("back\\slash"), "back\\slash");
  std::string out = "x:";
  append_escaped(out, "\r");
  EXPECT_EQ(out, "x:\\x0d");
  EXPECT_TRUE(has_controls("a\x1b"));
  EXPECT_TRUE(has_controls(std::string("\0", 1)));
  EXPECT_FALSE(has_controls("caf\xc3\xa9 ~"));
}
