// feitp::validate(const Options&): one line per problem, each naming the field.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "feitp/options.hpp"

namespace feitp {
namespace {

// The one problem `o` has (fails the test when it has none or several).
std::string only_problem(const Options& o) {
  const auto p = validate(o);
  EXPECT_EQ(p.size(), 1U) << testing::PrintToString(p);
  return p.empty() ? std::string() : p.front();
}

bool starts(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

TEST(ValidateOptions, DefaultsAreValid) { EXPECT_TRUE(validate(Options{}).empty()); }

TEST(ValidateOptions, ZeroMeaningUnlimitedIsFine) {
  Options o;
  o.max_connections = 0;
  o.max_per_ip = 0;
  o.max_login_attempts = 0;
  o.idle_timeout = std::chrono::seconds{0};
  o.max_hash_bytes = 0;
  o.max_listing_entries = 0;
  EXPECT_TRUE(validate(o).empty());
}

TEST(ValidateOptions, Listen) {
  Options o;
  o.listen.clear();
  EXPECT_EQ(only_problem(o), "listen: must name at least one address");
  o.listen_fds = {3};
  EXPECT_TRUE(validate(o).empty());  // a master's sockets stand for the addresses
  o.listen_fds = {-1};
  EXPECT_TRUE(starts(only_problem(o), "listen_fds[0]: "));
  o = Options{};
  o.listen = {"127.0.0.1:21", "nowhere", "[::1]:70000"};
  const auto p = validate(o);
  ASSERT_EQ(p.size(), 2U);
  EXPECT_TRUE(starts(p[0], "listen[1]: \"nowhere\" is not ADDR:PORT")) << p[0];
  EXPECT_EQ(p[1], "listen[2]: \"[::1]:70000\": the port must be 0 to 65535");
}

TEST(ValidateOptions, PassivePorts) {
  Options o;
  o.passive_port_min = 3000;
  o.passive_port_max = 2000;
  EXPECT_TRUE(starts(only_problem(o), "passive_port_min, passive_port_max: must be MIN-MAX"))
      << only_problem(o);
  o.passive_port_min = 0;
  EXPECT_NE(only_problem(o).find("got 0-2000"), std::string::npos);
  o.passive_port_min = 2000;
  EXPECT_TRUE(validate(o).empty());
}

TEST(ValidateOptions, Networks) {
  Options o;
  o.masquerade = {{"10.0.0.0/33", "1.2.3.4"}, {"", "::1"}};
  o.proxy_protocol_from = {"10.0.0.1", "lb"};
  const auto p = validate(o);
  ASSERT_EQ(p.size(), 3U) << testing::PrintToString(p);
  EXPECT_EQ(p[0], "proxy_protocol_from[1]: not an address or CIDR network: \"lb\"");
  EXPECT_EQ(p[1], "masquerade[0].network: not an address or CIDR network: \"10.0.0.0/33\"");
  EXPECT_TRUE(starts(p[2], "masquerade[1].address: must be a numeric IPv4 address"));
}

TEST(ValidateOptions, Limits) {
  Options o;
  o.max_line = 10;
  EXPECT_EQ(only_problem(o), "max_line: must be 256 to 65536");
  o = Options{};
  o.transfer_buffer = 0;
  EXPECT_EQ(only_problem(o), "transfer_buffer: must be 4096 to 67108864 bytes");
  o = Options{};
  o.blocking_threads = 0;
  EXPECT_EQ(only_problem(o), "blocking_threads: must be 1 to 256");
  o = Options{};
  o.default_hash = "SHA-3";
  EXPECT_TRUE(starts(only_problem(o), "default_hash: must be one of SHA-256"));
  o = Options{};
  o.ban_after_failures = 5;
  o.ban_window = std::chrono::seconds{0};
  EXPECT_EQ(only_problem(o), "ban_window: must be at least 1 second when ban_after_failures is set");
  o = Options{};
  o.idle_timeout = std::chrono::seconds{-1};
  EXPECT_EQ(only_problem(o), "idle_timeout: must not be negative, got -1");
  o = Options{};
  o.proxy_protocol_timeout = std::chrono::milliseconds{0};
  EXPECT_EQ(only_problem(o), "proxy_protocol_timeout: must be more than 0");
  o = Options{};
  o.banner = "hello\r\n220 forged";
  EXPECT_EQ(only_problem(o), "banner: must not contain carriage returns or NUL bytes");
}

TEST(ValidateOptions, Tls) {
  Options o;
  o.tls.cert_file = "/etc/c.pem";
  EXPECT_TRUE(starts(only_problem(o), "tls.key_file: is required"));
  o.tls.key_file = "/etc/k.pem";
  EXPECT_TRUE(validate(o).empty());  // files are read by the Server, not here
  o.tls.min_version = "1.1";
  EXPECT_EQ(only_problem(o), "tls.min_version: must be \"1.2\" or \"1.3\", got \"1.1\"");
  o = Options{};
  o.tls.required = TlsRequired::login;
  EXPECT_TRUE(starts(only_problem(o), "tls.required: "));
  o = Options{};
  o.tls.implicit_listen = {"127.0.0.1:990"};
  EXPECT_TRUE(starts(only_problem(o), "tls.implicit_listen: "));
  o.tls.cert_file = "/c";
  o.tls.key_file = "/k";
  o.tls.implicit_listen = {"990"};
  EXPECT_TRUE(starts(only_problem(o), "tls.implicit_listen[0]: "));
  o.tls.implicit_listen.clear();
  o.tls.hosts = {TlsHost{"a.example", "", "/k"}};
  EXPECT_EQ(only_problem(o), "tls.hosts[0].cert_file: is required");
}

TEST(ValidateOptions, EveryProblemIsReported) {
  Options o;
  o.listen = {"x"};
  o.max_line = 1;
  o.blocking_threads = 0;
  EXPECT_EQ(validate(o).size(), 3U);
}

}  // namespace
}  // namespace feitp
