#include "proto/reply.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace feitp::proto;

TEST(Reply, SingleLine) {
  EXPECT_EQ(format_reply(200, "OK"), "200 OK\r\n");
  EXPECT_EQ(format_reply(200, "OK\n"), "200 OK\r\n");
  EXPECT_EQ(format_reply(226, ""), "226 \r\n");
}

TEST(Reply, AppendsToExisting) {
  std::string out = "150 x\r\n";
  append_reply(out, 226, "Transfer complete");
  EXPECT_EQ(out, "150 x\r\n226 Transfer complete\r\n");
}

TEST(Reply, MultiLine) {
  EXPECT_EQ(format_reply(230, "Welcome\nsecond line\nLogged in"),
            "230-Welcome\r\nsecond line\r\n230 Logged in\r\n");
  EXPECT_EQ(format_reply(230, "a\nb\n"), "230-a\r\n230 b\r\n");
}

TEST(Reply, MiddleLineStartingWithDigitIsIndented) {
  EXPECT_EQ(format_reply(211, "Status\n230 fake end\n42\nEnd"),
            "211-Status\r\n 230 fake end\r\n 42\r\n211 End\r\n");
}

// F17: client text echoed in a reply carries no raw control character.
TEST(Reply, ControlCharactersAreEscaped) {
  EXPECT_EQ(format_reply(550, std::string("a\rb\0c", 5)), "550 a\\x0db\\x00c\r\n");
  EXPECT_EQ(format_reply(550, "x\r\ny"), "550-x\\x0d\r\n550 y\r\n");
  EXPECT_EQ(format_reply(257, "\"/esc\x1b[31mred\tx\" created."),
            "257 \"/esc\\x1b[31mred\\x09x\" created.\r\n");
  std::string out;
  append_reply_items(out, 211, "h\x1b", "a\rb\nc\x7f", "e\x01");
  EXPECT_EQ(out, "211-h\\x1b\r\n a\\x0db\r\n c\\x7f\r\n211 e\\x01\r\n");
}

TEST(Reply, QuotePath) {
  EXPECT_EQ(quote_path("/a/b"), "\"/a/b\"");
  EXPECT_EQ(quote_path("/say \"hi\""), "\"/say \"\"hi\"\"\"");
  EXPECT_EQ(quote_path(""), "\"\"");
  std::string out;
  append_reply(out, 257, quote_path("/d\"q") + " created");
  EXPECT_EQ(out, "257 \"/d\"\"q\" created\r\n");
}

TEST(Reply, Items) {
  std::string out;
  append_reply_items(out, 211, "Features:", "EPSV\nMDTM\nMLST type*;size*;\n", "End");
  EXPECT_EQ(out, "211-Features:\r\n EPSV\r\n MDTM\r\n MLST type*;size*;\r\n211 End\r\n");
  out.clear();
  append_reply_items(out, 211, "Features:", "", "End");
  EXPECT_EQ(out, "211-Features:\r\n211 End\r\n");
  out.clear();
  append_reply_items(out, 214, "Help", "a\n\nb", "ok");
  EXPECT_EQ(out, "214-Help\r\n a\r\n b\r\n214 ok\r\n");
}
