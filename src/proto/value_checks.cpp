// Checks of setting values shared by the library's Options validation and the daemon's config.
#include "proto/value_checks.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstdint>

namespace feitp::proto {

bool parse_u32(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

bool is_ipv4(std::string_view s) {
  std::string z(s);
  in_addr a{};
  return inet_pton(AF_INET, z.c_str(), &a) == 1;
}

bool is_ipv6(std::string_view s) {
  std::string z(s);
  in6_addr a{};
  return inet_pton(AF_INET6, z.c_str(), &a) == 1;
}

bool is_cidr(std::string_view s) {
  auto slash = s.find('/');
  std::string_view addr = s.substr(0, slash);
  bool v4 = is_ipv4(addr);
  if (!v4 && !is_ipv6(addr)) return false;
  if (slash == std::string_view::npos) return true;
  std::uint32_t len = 0;
  if (!parse_u32(s.substr(slash + 1), len)) return false;
  return len <= (v4 ? 32U : 128U);
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string check_listen_address(std::string_view text) {
  const std::string problem = quote(text) + " is not ADDR:PORT or [IPV6]:PORT with a numeric address " +
                              "(e.g. \"0.0.0.0:2121\", \"[::]:2121\")";
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string_view::npos) return problem;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!is_ipv6(host)) return problem;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return problem;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (!is_ipv4(host)) return problem;
  }
  std::uint32_t p = 0;
  if (!parse_u32(port, p) || p > 65535) return quote(text) + ": the port must be 0 to 65535";
  return {};
}

bool valid_hash_name(std::string_view name) {
  static constexpr std::array<std::string_view, 5> kNames = {"SHA-256", "SHA-1", "SHA-512", "MD5", "CRC32"};
  for (auto n : kNames) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace feitp::proto
