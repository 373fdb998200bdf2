#include "proto/proxy_header.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace feitp::proto;
using Status = ProxyHeader::Status;

namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: ver_cmd, fam, then the address block.
std::string v2(unsigned char ver_cmd, unsigned char fam, const std::string& block) {
  std::string h = kSig;
  h.push_back(static_cast<char>(ver_cmd));
  h.push_back(static_cast<char>(fam));
  h.push_back(static_cast<char>(block.size() >> 8));
  h.push_back(static_cast<char>(block.size() & 0xff));
  return h + block;
}

std::string tcp4_block(const std::string& ignored_tlv = "") {
  // 192.0.2.7:51000 -> 198.51.100.1:21
  std::string b = {'\xc0', '\x00', '\x02', '\x07', '\xc6', '\x33',
                   '\x64', '\x01', '\xc7', '\x38', '\x00', '\x15'};
  return b + ignored_tlv;
}

}  // namespace

TEST(ProxyV1, Tcp4) {
  const std::string in = "PROXY TCP4 192.0.2.7 198.51.100.1 51000 21\r\nUSER x\r\n";
  auto h = parse_proxy_header(in);
  ASSERT_EQ(h.status, Status::done) << h.error;
  EXPECT_EQ(h.version, 1);
  EXPECT_FALSE(h.local);
  EXPECT_EQ(h.length, in.find("USER"));
  EXPECT_EQ(proxy_address_text(h.source), "192.0.2.7");
  EXPECT_EQ(h.source.port, 51000);
  EXPECT_EQ(proxy_address_text(h.destination), "198.51.100.1");
  EXPECT_EQ(h.destination.port, 21);
}

TEST(ProxyV1, Tcp6AndUnknown) {
  auto h = parse_proxy_header("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
  ASSERT_EQ(h.status, Status::done) << h.error;
  EXPECT_TRUE(h.source.v6);
  EXPECT_EQ(proxy_address_text(h.source), "2001:db8::1");
  EXPECT_EQ(h.source.port, 65535);
  h = parse_proxy_header("PROXY UNKNOWN\r\n");
  ASSERT_EQ(h.status, Status::done);
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.length, 15u);
  h = parse_proxy_header("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
  ASSERT_EQ(h.status, Status::done);
  EXPECT_TRUE(h.local);
}

TEST(ProxyV1, Incomplete) {
  // "\r\n" may begin a v2 signature.
  for (const char* s :
       {"P", "PROX", "PROXY ", "PROXY TCP4 1.2.3.4", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "\r\n"}) {
    EXPECT_EQ(parse_proxy_header(s).status, Status::incomplete) << s;
  }
  EXPECT_EQ(parse_proxy_header("").status, Status::incomplete);
}

TEST(ProxyV1, Malformed) {
  for (const char* s : {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",        // LF without CR
                        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",        // too few fields
                        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",    // too many
                        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",     // double space
                        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",  // port range
                        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",     // leading zero
                        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
                        "PROXY TCP4 ::1 ::1 1 2\r\n",  // family mismatch
                        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
                        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
                        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",  // the signature is case-sensitive
                        "USER anonymous\r\n", "\r\n\r\nUSER x\r\n"}) {
    EXPECT_EQ(parse_proxy_header(s).status, Status::invalid) << s;
  }
  // No CRLF within 107 bytes.
  EXPECT_EQ(parse_proxy_header("PROXY UNKNOWN " + std::string(100, 'x')).status, Status::invalid);
  // 107 bytes including CRLF is the longest allowed line.
  std::string longest = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
  ASSERT_EQ(longest.size(), 107u);
  EXPECT_EQ(parse_proxy_header(longest).status, Status::done);
}

TEST(ProxyV2, Tcp4WithTlvs) {
  const std::string h2 = v2(0x21, 0x11, tcp4_block(std::string("\x04\x00\x01\x00", 4))) + "rest";
  auto h = parse_proxy_header(h2);
  ASSERT_EQ(h.status, Status::done) << h.error;
  EXPECT_EQ(h.version, 2);
  EXPECT_FALSE(h.local);
  EXPECT_EQ(h.length, 16u + 12u + 4u);
  EXPECT_EQ(proxy_address_text(h.source), "192.0.2.7");
  EXPECT_EQ(h.source.port, 51000);
  EXPECT_EQ(proxy_address_text(h.destination), "198.51.100.1");
  EXPECT_EQ(h.destination.port, 21);
}

TEST(ProxyV2, Tcp6) {
  std::string block(36, '\0');
  block[0] = '\x20';
  block[1] = '\x01';
  block[15] = '\x05';  // 2001::5
  block[31] = '\x01';  // ::1
  block[32] = '\x12';
  block[33] = '\x34';
  auto h = parse_proxy_header(v2(0x21, 0x21, block));
  ASSERT_EQ(h.status, Status::done) << h.error;
  EXPECT_TRUE(h.source.v6);
  EXPECT_EQ(proxy_address_text(h.source), "2001::5");
  EXPECT_EQ(proxy_address_text(h.destination), "::1");
  EXPECT_EQ(h.source.port, 0x1234);
}

TEST(ProxyV2, LocalAndUnspec) {
  // LOCAL (health check): the addresses, even of an odd family, are ignored.
  auto h = parse_proxy_header(v2(0x20, 0x00, ""));
  ASSERT_EQ(h.status, Status::done);
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.length, 16u);
  h = parse_proxy_header(v2(0x20, 0x11, tcp4_block()));
  ASSERT_EQ(h.status, Status::done);
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.length, 28u);
  // PROXY with UNSPEC: the real endpoints stand.
  h = parse_proxy_header(v2(0x21, 0x00, ""));
  ASSERT_EQ(h.status, Status::done);
  EXPECT_TRUE(h.local);
}

TEST(ProxyV2, Incomplete) {
  const std::string whole = v2(0x21, 0x11, tcp4_block());
  for (std::size_t n = 1; n < whole.size(); ++n) {
    EXPECT_EQ(parse_proxy_header(whole.substr(0, n)).status, Status::incomplete) << n;
  }
  EXPECT_EQ(parse_proxy_header(whole).status, Status::done);
}

TEST(ProxyV2, Malformed) {
  EXPECT_EQ(parse_proxy_header(v2(0x11, 0x11, tcp4_block())).status, Status::invalid);           // version 1
  EXPECT_EQ(parse_proxy_header(v2(0x22, 0x11, tcp4_block())).status, Status::invalid);           // command 2
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x12, tcp4_block())).status, Status::invalid);           // UDP
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x31, std::string(216, 'a'))).status, Status::invalid);  // UNIX
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x11, std::string(11, 'a'))).status, Status::invalid);   // short
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x21, std::string(35, 'a'))).status, Status::invalid);
  // A block longer than the cap is refused from the 16-byte head alone.
  std::string head = kSig + "\x21\x11";
  head += '\xff';
  head += '\xff';
  EXPECT_EQ(parse_proxy_header(head).status, Status::invalid);
  // A broken signature.
  std::string bad = v2(0x21, 0x11, tcp4_block());
  bad[5] = 'X';
  EXPECT_EQ(parse_proxy_header(bad).status, Status::invalid);
}
