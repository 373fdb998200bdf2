// PORT/EPRT/PASV/EPSV argument parsing and reply text (RFC 959, RFC 2428), and CIDR matching.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace feitp::proto {

struct HostPort {
  std::string host;  // textual, canonical (inet_ntop form)
  std::uint16_t port = 0;
  bool v6 = false;
};

// "h1,h2,h3,h4,p1,p2" (spaces around numbers tolerated); nullopt if malformed or out of range.
std::optional<HostPort> parse_port_arg(std::string_view arg);
// "<d><af><d><addr><d><port><d>" with af 1 (IPv4) or 2 (IPv6); nullopt if malformed.
// unsupported_af is set when only the family is wrong (reply 522).
std::optional<HostPort> parse_eprt_arg(std::string_view arg, bool* unsupported_af = nullptr);

// "Entering Passive Mode (h1,h2,h3,h4,p1,p2)." for an IPv4 address.
std::string pasv_reply_text(std::string_view ipv4, std::uint16_t port);
// "Entering Extended Passive Mode (|||port|)"
std::string epsv_reply_text(std::uint16_t port);

enum class EpsvArg { none, all, ipv4, ipv6, bad };
EpsvArg parse_epsv_arg(std::string_view arg);

// True when `ip` (textual v4 or v6; v4-mapped v6 counts as v4) is inside `cidr` ("a.b.c.d/n",
// "x::/n", or a bare address). An empty cidr matches everything. Malformed -> false.
bool cidr_contains(std::string_view cidr, std::string_view ip);
// True when the text is a valid IPv4/IPv6 address or CIDR (for config validation).
bool valid_cidr(std::string_view cidr);
// "::ffff:1.2.3.4" -> "1.2.3.4"; other addresses unchanged.
std::string_view unmap_v4(std::string_view ip);

}  // namespace feitp::proto
