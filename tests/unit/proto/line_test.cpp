#include "proto/line.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using feitp::proto::LineAssembler;
using Status = LineAssembler::Status;

namespace {

// Feeds everything, collecting lines ("<too long>" for a too_long report).
std::vector<std::string> feed_all(LineAssembler& la, std::string_view in) {
  std::vector<std::string> out;
  while (!in.empty()) {
    auto r = la.feed(in);
    EXPECT_LE(r.consumed, in.size());
    in.remove_prefix(r.consumed);
    if (r.status == Status::line) out.emplace_back(la.line());
    if (r.status == Status::too_long) out.emplace_back("<too long>");
    if (r.status == Status::need_more) { EXPECT_TRUE(in.empty()); }
  }
  return out;
}

std::vector<std::string> feed_split(std::size_t max, std::string_view in, std::size_t at) {
  LineAssembler la(max);
  auto a = feed_all(la, in.substr(0, at));
  auto b = feed_all(la, in.substr(at));
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> feed_bytewise(std::size_t max, std::string_view in) {
  LineAssembler la(max);
  std::vector<std::string> out;
  for (char c : in) {
    auto more = feed_all(la, std::string_view(&c, 1));
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

const std::string kIacIp = "\xFF\xF4";
const std::string kIacDm = "\xFF\xF2";

}  // namespace

TEST(LineAssembler, CrlfAndBareLf) {
  LineAssembler la(512);
  auto lines = feed_all(la, "USER bob\r\nPASS x\nNOOP\r\n");
  EXPECT_EQ(lines, (std::vector<std::string>{"USER bob", "PASS x", "NOOP"}));
  EXPECT_EQ(la.pending(), 0u);
}

TEST(LineAssembler, NeedMoreKeepsPartial) {
  LineAssembler la(512);
  auto r = la.feed("RETR fi");
  EXPECT_EQ(r.status, Status::need_more);
  EXPECT_EQ(r.consumed, 7u);
  EXPECT_EQ(la.pending(), 7u);
  r = la.feed("le\r\n");
  EXPECT_EQ(r.status, Status::line);
  EXPECT_EQ(r.consumed, 4u);
  EXPECT_EQ(la.line(), "RETR file");
}

TEST(LineAssembler, StopsAfterEachLine) {
  LineAssembler la(512);
  auto r = la.feed("A\r\nB\r\n");
  EXPECT_EQ(r.status, Status::line);
  EXPECT_EQ(r.consumed, 3u);
  EXPECT_EQ(la.line(), "A");
  r = la.feed("B\r\n");
  EXPECT_EQ(la.line(), "B");
}

TEST(LineAssembler, EmptyLineAndOnlyOneCrStripped) {
  LineAssembler la(512);
  EXPECT_EQ(feed_all(la, "\r\n"), std::vector<std::string>{""});
  EXPECT_EQ(feed_all(la, "A\r\r\n"), std::vector<std::string>{"A\r"});
  EXPECT_EQ(feed_all(la, "A\rB\r\n"), std::vector<std::string>{"A\rB"});
}

TEST(LineAssembler, TrailingSpacesKept) {
  LineAssembler la(512);
  EXPECT_EQ(feed_all(la, "STOR name  \r\n"), std::vector<std::string>{"STOR name  "});
}

TEST(LineAssembler, NulKept) {
  LineAssembler la(512);
  auto lines = feed_all(la, std::string("RETR a\0b\r\n", 10));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], std::string("RETR a\0b", 8));
}

TEST(LineAssembler, SplitAtEveryBytePosition) {
  const std::string in = "USER anonymous\r\n" + kIacIp + kIacDm + "ABOR\r\nOPTS \xFF\xFFx\r\nCWD a\nPWD\r\n";
  const std::vector<std::string> want = {"USER anonymous", "ABOR", "OPTS \xFFx", "CWD a", "PWD"};
  for (std::size_t at = 0; at <= in.size(); ++at) {
    EXPECT_EQ(feed_split(512, in, at), want) << "split at " << at;
  }
  EXPECT_EQ(feed_bytewise(512, in), want);
}

TEST(LineAssembler, IacIpDmBeforeAbor) {
  LineAssembler la(512);
  EXPECT_EQ(feed_all(la, kIacIp + kIacDm + "ABOR\r\n"), std::vector<std::string>{"ABOR"});
}

TEST(LineAssembler, DmRemovedAsUrgentData) {
  // Without SO_OOBINLINE the kernel removes the urgent DM byte: "IAC IP IAC" then "ABOR".
  LineAssembler la(512);
  EXPECT_EQ(feed_all(la, kIacIp + "\xFF" + "ABOR\r\n"), std::vector<std::string>{"ABOR"});
  EXPECT_EQ(feed_bytewise(512, kIacIp + "\xFF" + "ABOR\r\n"), std::vector<std::string>{"ABOR"});
}

TEST(LineAssembler, BareDmByteIsData) {
  // A DM that reached us without its IAC (urgent byte delivered in-band alone) is just a byte.
  LineAssembler la(512);
  EXPECT_EQ(feed_all(la, kIacIp + "\xF2" + "ABOR\r\n"), std::vector<std::string>{"\xF2"
                                                                                 "ABOR"});
}

TEST(LineAssembler, NegotiationDropped) {
  LineAssembler la(512);
  // IAC WILL 1, IAC DO 3, IAC WONT 0x0A (option byte is an LF: not a line end), IAC DONT 0xFF.
  const std::string in = "NO\xFF\xFB\x01O\xFF\xFD\x03P\xFF\xFC\n\xFF\xFE\xFF\r\n";
  EXPECT_EQ(feed_all(la, in), std::vector<std::string>{"NOOP"});
  for (std::size_t at = 0; at <= in.size(); ++at) {
    EXPECT_EQ(feed_split(512, in, at), std::vector<std::string>{"NOOP"}) << at;
  }
}

TEST(LineAssembler, IacIacIsLiteral) {
  LineAssembler la(512);
  EXPECT_EQ(feed_all(la, "STOR \xFF\xFF\xFF\xFF\r\n"), std::vector<std::string>{"STOR \xFF\xFF"});
}

TEST(LineAssembler, IacBeforeLfHidesIt) {
  // "IAC LF": the IAC is dropped (LF is not a Telnet command) and the LF still ends the line.
  LineAssembler la(512);
  EXPECT_EQ(feed_all(la, "NOOP\xFF\n"), std::vector<std::string>{"NOOP"});
}

TEST(LineAssembler, ExactlyMaxLength) {
  const std::string body(10, 'x');
  for (const char* end : {"\r\n", "\n"}) {
    LineAssembler la(10);
    EXPECT_EQ(feed_all(la, body + end), std::vector<std::string>{body});
    for (std::size_t at = 0; at <= 12; ++at) {
      EXPECT_EQ(feed_split(10, body + "\r\n", at), std::vector<std::string>{body});
    }
  }
}

TEST(LineAssembler, TooLongReportedOnceThenDiscarded) {
  LineAssembler la(10);
  const std::string in = std::string(11, 'x') + "\r\nNOOP\r\n";
  EXPECT_EQ(feed_all(la, in), (std::vector<std::string>{"<too long>", "NOOP"}));
  const std::string huge = std::string(100000, 'y') + "\r\nPWD\r\n";
  EXPECT_EQ(feed_bytewise(10, huge), (std::vector<std::string>{"<too long>", "PWD"}));
  for (std::size_t at = 0; at <= in.size(); ++at) {
    EXPECT_EQ(feed_split(10, in, at), (std::vector<std::string>{"<too long>", "NOOP"})) << at;
  }
}

TEST(LineAssembler, TooLongCrNotAllowedTwice) {
  // 10 bytes, CR, then one more data byte: 11 bytes of content.
  LineAssembler la(10);
  EXPECT_EQ(feed_all(la, std::string(10, 'x') + "\rx\r\nA\r\n"),
            (std::vector<std::string>{"<too long>", "A"}));
}

TEST(LineAssembler, MemoryStaysBounded) {
  LineAssembler la(64);
  const std::string junk(1 << 20, 'z');
  auto r = la.feed(junk);
  EXPECT_EQ(r.status, Status::too_long);
  EXPECT_EQ(r.consumed, 65u);
  r = la.feed(std::string_view(junk).substr(r.consumed));
  EXPECT_EQ(r.status, Status::need_more);
  EXPECT_EQ(la.pending(), 0u);
}

TEST(LineAssembler, ShrinkKeepsPartial) {
  LineAssembler la(512);
  la.feed("US");
  la.shrink();
  EXPECT_EQ(la.pending(), 2u);
  la.feed("ER x\r\n");
  EXPECT_EQ(la.line(), "USER x");
  la.shrink();
  EXPECT_EQ(la.pending(), 0u);
  EXPECT_EQ(feed_all(la, "PWD\r\n"), std::vector<std::string>{"PWD"});
}
