#include "proto/address.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace feitp::proto;

TEST(Port, Parse) {
  auto hp = parse_port_arg("192,168,1,2,4,1");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "192.168.1.2");
  EXPECT_EQ(hp->port, 1025);
  EXPECT_FALSE(hp->v6);
  hp = parse_port_arg(" 10 , 0,0, 1,255 , 255 ");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "10.0.0.1");
  EXPECT_EQ(hp->port, 65535);
  hp = parse_port_arg("010,000,000,001,0,21");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "10.0.0.1");
  EXPECT_EQ(hp->port, 21);
}

TEST(Port, Malformed) {
  for (const char* s :
       {"", "1,2,3,4,5", "1,2,3,4,5,6,7", "256,0,0,1,0,21", "1,2,3,4,256,1", "1,2,3,4,1,256", "1,2,3,4,0,0",
        "-1,2,3,4,5,6", "1,2,3,4,5,", ",1,2,3,4,5", "1,,3,4,5,6", "1,2,3,4,5,6x", "a,b,c,d,e,f",
        "1.2.3.4,5,6", "1,2,3,4,0001,1", "1,2,3,4,5,6,", "1 2,3,4,5,6,7", "(1,2,3,4,5,6)"}) {
    EXPECT_FALSE(parse_port_arg(s)) << s;
  }
  EXPECT_FALSE(parse_port_arg(std::string("1,2,3,4,5,6\0", 12)));
}

TEST(Eprt, Ipv4AndIpv6) {
  auto hp = parse_eprt_arg("|1|132.235.1.2|6275|");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "132.235.1.2");
  EXPECT_EQ(hp->port, 6275);
  EXPECT_FALSE(hp->v6);
  hp = parse_eprt_arg("|2|1080::8:800:200C:417A|5282|");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "1080::8:800:200c:417a");
  EXPECT_EQ(hp->port, 5282);
  EXPECT_TRUE(hp->v6);
  hp = parse_eprt_arg("!2!::1!21!");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::1");
  hp = parse_eprt_arg("|2|::ffff:1.2.3.4|1|");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::ffff:1.2.3.4");
  EXPECT_TRUE(hp->v6);
}

TEST(Eprt, UnsupportedFamily) {
  bool unsupported = false;
  EXPECT_FALSE(parse_eprt_arg("|3|1.2.3.4|21|", &unsupported));
  EXPECT_TRUE(unsupported);
  EXPECT_FALSE(parse_eprt_arg("|1|1.2.3.4|21", &unsupported));
  EXPECT_FALSE(unsupported);
  EXPECT_FALSE(parse_eprt_arg("|x|1.2.3.4|21|", &unsupported));
  EXPECT_FALSE(unsupported);
}

TEST(Eprt, Malformed) {
  for (const char* s : {"",
                        "|1|1.2.3.4|21",
                        "1|1.2.3.4|21|",
                        "|1|1.2.3.4|21|x",
                        "|1|1.2.3.4|0|",
                        "|1|1.2.3.4|65536|",
                        "|1|1.2.3.4|-1|",
                        "|1|1.2.3.4||",
                        "|1||21|",
                        "|1|::1|21|",
                        "|2|1.2.3.4|21|",
                        "|1|1.2.3|21|",
                        "|1|1.2.3.4|21|21|",
                        "|1|256.1.1.1|21|",
                        "|2|fe80::1%eth0|21|",
                        "|1| 1.2.3.4|21|",
                        "111.2.3.41211",
                        ":1:1.2.3.4:21:",
                        ".1.1.2.3.4.21.",
                        "a1a1.2.3.4a21a",
                        " 1 1.2.3.4 21 ",
                        "|1|1.2.3.4|021000|"}) {
    EXPECT_FALSE(parse_eprt_arg(s)) << s;
  }
}

TEST(Pasv, ReplyText) {
  EXPECT_EQ(pasv_reply_text("192.168.1.2", 1025), "Entering Passive Mode (192,168,1,2,4,1).");
  EXPECT_EQ(pasv_reply_text("::ffff:10.0.0.1", 65535), "Entering Passive Mode (10,0,0,1,255,255).");
  EXPECT_EQ(pasv_reply_text("garbage", 21), "Entering Passive Mode (0,0,0,0,0,21).");
}

TEST(Epsv, ReplyAndArg) {
  EXPECT_EQ(epsv_reply_text(50000), "Entering Extended Passive Mode (|||50000|)");
  EXPECT_EQ(parse_epsv_arg(""), EpsvArg::none);
  EXPECT_EQ(parse_epsv_arg("ALL"), EpsvArg::all);
  EXPECT_EQ(parse_epsv_arg("all"), EpsvArg::all);
  EXPECT_EQ(parse_epsv_arg("1"), EpsvArg::ipv4);
  EXPECT_EQ(parse_epsv_arg("2"), EpsvArg::ipv6);
  EXPECT_EQ(parse_epsv_arg("3"), EpsvArg::bad);
  EXPECT_EQ(parse_epsv_arg("ALLX"), EpsvArg::bad);
}

TEST(Cidr, V4) {
  EXPECT_TRUE(cidr_contains("10.0.0.0/8", "10.1.2.3"));
  EXPECT_FALSE(cidr_contains("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(cidr_contains("192.168.1.0/25", "192.168.1.127"));
  EXPECT_FALSE(cidr_contains("192.168.1.0/25", "192.168.1.128"));
  EXPECT_TRUE(cidr_contains("1.2.3.4", "1.2.3.4"));
  EXPECT_FALSE(cidr_contains("1.2.3.4", "1.2.3.5"));
  EXPECT_TRUE(cidr_contains("1.2.3.4/32", "1.2.3.4"));
  EXPECT_TRUE(cidr_contains("0.0.0.0/0", "8.8.8.8"));
  EXPECT_FALSE(cidr_contains("0.0.0.0/0", "::1"));
  EXPECT_TRUE(cidr_contains("", "8.8.8.8"));
  EXPECT_TRUE(cidr_contains("", "garbage"));
}

TEST(Cidr, V6) {
  EXPECT_TRUE(cidr_contains("2001:db8::/32", "2001:db8:1::5"));
  EXPECT_FALSE(cidr_contains("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(cidr_contains("::1", "::1"));
  EXPECT_TRUE(cidr_contains("::/0", "fe80::1"));
  EXPECT_TRUE(cidr_contains("fe80::/10", "febf::1"));
  EXPECT_FALSE(cidr_contains("fe80::/10", "fec0::1"));
  EXPECT_FALSE(cidr_contains("2001:db8::/32", "10.0.0.1"));
}

TEST(Cidr, V4Mapped) {
  EXPECT_TRUE(cidr_contains("10.0.0.0/8", "::ffff:10.9.8.7"));
  EXPECT_FALSE(cidr_contains("10.0.0.0/8", "::ffff:11.9.8.7"));
  EXPECT_TRUE(cidr_contains("::ffff:10.0.0.0/104", "10.1.1.1"));
  EXPECT_TRUE(cidr_contains("127.0.0.1", "::FFFF:127.0.0.1"));
}

TEST(Cidr, Malformed) {
  EXPECT_FALSE(cidr_contains("10.0.0.0/33", "10.0.0.1"));
  EXPECT_FALSE(cidr_contains("::/129", "::1"));
  EXPECT_FALSE(cidr_contains("10.0.0.0/", "10.0.0.1"));
  EXPECT_FALSE(cidr_contains("10.0.0.0/a", "10.0.0.1"));
  EXPECT_FALSE(cidr_contains("10.0.0/8", "10.0.0.1"));
  EXPECT_FALSE(cidr_contains("10.0.0.0/8", "not-an-ip"));
  EXPECT_FALSE(cidr_contains("10.0.0.0/8", ""));
  EXPECT_TRUE(valid_cidr("10.0.0.0/8"));
  EXPECT_TRUE(valid_cidr("::1"));
  EXPECT_TRUE(valid_cidr("2001:db8::/48"));
  EXPECT_FALSE(valid_cidr(""));
  EXPECT_FALSE(valid_cidr("10.0.0.0/-1"));
  EXPECT_FALSE(valid_cidr("10.0.0.0/8/8"));
  EXPECT_FALSE(valid_cidr("host.example"));
}

TEST(Unmap, V4Mapped) {
  EXPECT_EQ(unmap_v4("::ffff:1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(unmap_v4("::FFFF:1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(unmap_v4("1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(unmap_v4("::1"), "::1");
  EXPECT_EQ(unmap_v4("::ffff:"), "::ffff:");
  EXPECT_EQ(unmap_v4("::ffff:1:2"), "::ffff:1:2");
}
