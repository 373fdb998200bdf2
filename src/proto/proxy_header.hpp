// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a load
// balancer puts in front of a forwarded connection to say who the client really is. Pure:
// bytes in, values out; the socket side (who is trusted, reading with a timeout) is in
// net/proxy_protocol.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace feitp::proto {

// Version 1 is one text line of at most 107 bytes; version 2 is a 16-byte binary head and an
// address block whose length it states (TLVs after the addresses are skipped). A version 2
// block longer than kProxyV2MaxBlock is refused, so a reader never needs more than
// kProxyMaxHeader bytes.
inline constexpr std::size_t kProxyV1MaxLine = 107;
inline constexpr std::size_t kProxyV2MaxBlock = 2048;
inline constexpr std::size_t kProxyMaxHeader = 16 + kProxyV2MaxBlock;

struct ProxyEndpoint {
  bool v6 = false;
  std::array<std::uint8_t, 16> addr{};  // network order; IPv4 uses the first 4 bytes
  std::uint16_t port = 0;
};

struct ProxyHeader {
  enum class Status : std::uint8_t { incomplete, invalid, done };
  Status status = Status::incomplete;
  int version = 0;  // 1 or 2 once known
  // The connection's own addresses stand: a v2 LOCAL command (the proxy's health check), a v1
  // "UNKNOWN" or a v2 UNSPEC family. The header is still consumed.
  bool local = false;
  ProxyEndpoint source;       // the client (when done and !local)
  ProxyEndpoint destination;  // the address the client connected to at the proxy
  std::size_t length = 0;     // bytes the header takes (when done)
  std::string_view error;     // what is wrong (when invalid): a static text
};

// Parses the start of a connection's bytes. `incomplete` means that what is there is a
// valid beginning and more bytes are needed; `invalid` that it is not a PROXY header (or a
// malformed or unsupported one). Never reads past `in`; never more than kProxyMaxHeader bytes.
ProxyHeader parse_proxy_header(std::string_view in);

// "192.0.2.1", "2001:db8::1" (canonical, inet_ntop form; IPv4-mapped IPv6 kept as is).
std::string proxy_address_text(const ProxyEndpoint& e);

}  // namespace feitp::proto
