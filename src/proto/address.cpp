// PORT/EPRT/PASV/EPSV argument parsing and reply text (RFC 959, RFC 2428), CIDR matching.
#include "proto/address.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <iterator>

#include "proto/text.hpp"

namespace feitp::proto {
namespace {

// Longest textual address inet_pton is given; anything longer is malformed.
constexpr std::size_t kMaxAddrText = 64;

// inet_pton needs a NUL-terminated string: copies into a stack buffer (no allocation).
bool pton(int af, std::string_view text, void* dst) {
  if (text.empty() || text.size() >= kMaxAddrText) return false;
  if (text.find('\0') != std::string_view::npos) return false;
  char buf[kMaxAddrText];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return inet_pton(af, buf, dst) == 1;
}

std::string ntop(int af, const void* src) {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(af, src, buf, sizeof buf) == nullptr) return {};
  return buf;
}

// Decimal number of 1..max_digits digits, value <= max; nullopt otherwise.
std::optional<unsigned> parse_uint(std::string_view s, std::size_t max_digits, unsigned max) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// An address as 16 bytes (IPv4 as v4-mapped IPv6) so both families compare alike.
struct Addr16 {
  std::array<unsigned char, 16> b{};
};

bool parse_addr16(std::string_view text, Addr16& out) {
  unsigned char v4[4];
  if (pton(AF_INET, text, v4)) {
    out.b = {};
    out.b[10] = 0xff;
    out.b[11] = 0xff;
    std::memcpy(out.b.data() + 12, v4, 4);
    return true;
  }
  return pton(AF_INET6, text, out.b.data());
}

struct Cidr {
  Addr16 net;
  unsigned prefix = 128;
};

bool parse_cidr(std::string_view text, Cidr& out) {
  const std::size_t slash = text.find('/');
  const std::string_view addr = text.substr(0, slash);
  if (!parse_addr16(addr, out.net)) return false;
  const bool v4 = addr.find(':') == std::string_view::npos;
  if (slash == std::string_view::npos) {
    out.prefix = 128;
    return true;
  }
  const auto p = parse_uint(text.substr(slash + 1), 3, v4 ? 32 : 128);
  if (!p) return false;
  out.prefix = v4 ? *p + 96 : *p;
  return true;
}

bool prefix_equal(const Addr16& a, const Addr16& b, unsigned prefix) {
  const unsigned full = prefix / 8;
  if (std::memcmp(a.b.data(), b.b.data(), full) != 0) return false;
  const unsigned rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xFF00u >> rest);
  return (a.b[full] & mask) == (b.b[full] & mask);
}

}  // namespace

std::optional<HostPort> parse_port_arg(std::string_view arg) {
  unsigned n[6];
  for (int i = 0; i < 6; ++i) {
    const std::size_t comma = arg.find(',');
    if ((comma == std::string_view::npos) != (i == 5)) return std::nullopt;
    const auto v = parse_uint(trim_spaces(arg.substr(0, comma)), 3, 255);
    if (!v) return std::nullopt;
    n[i] = *v;
    arg.remove_prefix(comma == std::string_view::npos ? arg.size() : comma + 1);
  }
  const unsigned port = n[4] * 256 + n[5];
  if (port == 0) return std::nullopt;
  HostPort hp;
  hp.host = fmt::format("{}.{}.{}.{}", n[0], n[1], n[2], n[3]);
  hp.port = static_cast<std::uint16_t>(port);
  return hp;
}

std::optional<HostPort> parse_eprt_arg(std::string_view arg, bool* unsupported_af) {
  if (unsupported_af != nullptr) *unsupported_af = false;
  // "<d><af><d><addr><d><port><d>": the delimiter is any printable ASCII but never a character
  // that can occur in the fields themselves.
  if (arg.size() < 7) return std::nullopt;
  const char d = arg.front();
  if (d < 33 || d > 126 || (d >= '0' && d <= '9') || (d >= 'a' && d <= 'f') || (d >= 'A' && d <= 'F') ||
      d == '.' || d == ':' || d == '%') {
    return std::nullopt;
  }
  if (arg.back() != d) return std::nullopt;
  std::string_view rest = arg.substr(1, arg.size() - 2);
  std::string_view fields[3];
  for (int i = 0; i < 3; ++i) {
    const std::size_t p = rest.find(d);
    if ((p == std::string_view::npos) != (i == 2)) return std::nullopt;
    fields[i] = rest.substr(0, p);
    rest.remove_prefix(p == std::string_view::npos ? rest.size() : p + 1);
  }
  const auto af = parse_uint(fields[0], 3, 255);
  if (!af) return std::nullopt;
  const auto port = parse_uint(fields[2], 5, 65535);
  HostPort hp;
  if (*af == 1) {
    unsigned char a[4];
    if (!pton(AF_INET, fields[1], a)) return std::nullopt;
    hp.host = ntop(AF_INET, a);
  } else if (*af == 2) {
    unsigned char a[16];
    if (!pton(AF_INET6, fields[1], a)) return std::nullopt;
    hp.host = ntop(AF_INET6, a);
    hp.v6 = true;
  } else {
    if (unsupported_af != nullptr) *unsupported_af = true;
    return std::nullopt;
  }
  if (!port || *port == 0) return std::nullopt;
  hp.port = static_cast<std::uint16_t>(*port);
  return hp;
}

std::string pasv_reply_text(std::string_view ipv4, std::uint16_t port) {
  unsigned char a[4] = {0, 0, 0, 0};
  if (!pton(AF_INET, unmap_v4(ipv4), a)) std::memset(a, 0, sizeof a);
  return fmt::format("Entering Passive Mode ({},{},{},{},{},{}).", a[0], a[1], a[2], a[3], port >> 8,
                     port & 0xFF);
}

std::string epsv_reply_text(std::uint16_t port) {
  return fmt::format("Entering Extended Passive Mode (|||{}|)", port);
}

EpsvArg parse_epsv_arg(std::string_view arg) {
  if (arg.empty()) return EpsvArg::none;
  if (iequals(arg, "ALL")) return EpsvArg::all;
  if (arg == "1") return EpsvArg::ipv4;
  if (arg == "2") return EpsvArg::ipv6;
  return EpsvArg::bad;
}

bool cidr_contains(std::string_view cidr, std::string_view ip) {
  if (cidr.empty()) return true;
  Cidr c;
  Addr16 a;
  if (!parse_cidr(cidr, c) || !parse_addr16(ip, a)) return false;
  return prefix_equal(c.net, a, c.prefix);
}

bool valid_cidr(std::string_view cidr) {
  Cidr c;
  return parse_cidr(cidr, c);
}

std::string_view unmap_v4(std::string_view ip) {
  constexpr std::string_view kPrefix = "::ffff:";
  if (ip.size() <= kPrefix.size() || !iequals(ip.substr(0, kPrefix.size()), kPrefix)) return ip;
  const std::string_view v4 = ip.substr(kPrefix.size());
  unsigned char a[4];
  return pton(AF_INET, v4, a) ? v4 : ip;
}

}  // namespace feitp::proto
