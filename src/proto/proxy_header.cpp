// PROXY protocol header parsing (versions 1 and 2), per HAProxy's proxy-protocol.txt.
#include "proto/proxy_header.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace feitp::proto {

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

ProxyHeader incomplete(int version) {
  ProxyHeader h;
  h.version = version;
  return h;
}

ProxyHeader invalid(int version, std::string_view why) {
  ProxyHeader h;
  h.status = ProxyHeader::Status::invalid;
  h.version = version;
  h.error = why;
  return h;
}

// True when `in` is a (possibly partial) beginning of `whole`.
bool starts_like(std::string_view in, std::string_view whole) {
  const std::size_t n = std::min(in.size(), whole.size());
  return in.substr(0, n) == whole.substr(0, n);
}

bool parse_v1_address(std::string_view text, bool v6, ProxyEndpoint& out) {
  // 39 characters is the longest IPv6 text inet_pton accepts for a TCP6 line (no zone ids).
  char buf[48];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  out.v6 = v6;
  return ::inet_pton(v6 ? AF_INET6 : AF_INET, buf, out.addr.data()) == 1;
}

// 0..65535 in decimal, no sign, no leading zero (the spec's form).
bool parse_v1_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  std::uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

ProxyHeader parse_v1(std::string_view in) {
  // "PROXY TCP4 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN[ anything]\r\n", at most 107 bytes.
  const std::size_t lf = in.substr(0, kProxyV1MaxLine).find('\n');
  if (lf == std::string_view::npos) {
    if (in.size() >= kProxyV1MaxLine) return invalid(1, "PROXY v1 line longer than 107 bytes");
    return incomplete(1);
  }
  if (lf == 0 || in[lf - 1] != '\r') return invalid(1, "PROXY v1 line does not end with CRLF");
  std::string_view line = in.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  ProxyHeader h;
  h.version = 1;
  h.length = lf + 1;
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) {
    h.status = ProxyHeader::Status::done;
    h.local = true;
    return h;
  }
  std::string_view fields[5];
  for (int i = 0; i < 5; ++i) {
    const std::size_t sp = line.find(' ');
    if (i < 4) {
      if (sp == std::string_view::npos) return invalid(1, "PROXY v1 line has too few fields");
      fields[i] = line.substr(0, sp);
      line.remove_prefix(sp + 1);
    } else {
      if (sp != std::string_view::npos) return invalid(1, "PROXY v1 line has too many fields");
      fields[i] = line;
    }
  }
  bool v6 = false;
  if (fields[0] == "TCP6") {
    v6 = true;
  } else if (fields[0] != "TCP4") {
    return invalid(1, "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (!parse_v1_address(fields[1], v6, h.source) || !parse_v1_address(fields[2], v6, h.destination)) {
    return invalid(1, "PROXY v1 address is malformed or of the wrong family");
  }
  if (!parse_v1_port(fields[3], h.source.port) || !parse_v1_port(fields[4], h.destination.port)) {
    return invalid(1, "PROXY v1 port is malformed");
  }
  h.status = ProxyHeader::Status::done;
  return h;
}

std::uint16_t be16(const unsigned char* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

ProxyHeader parse_v2(std::string_view in) {
  ProxyHeader h;
  h.version = 2;
  if (in.size() < 16) return h;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const unsigned ver = p[12] >> 4;
  const unsigned cmd = p[12] & 0x0f;
  const unsigned family = p[13] >> 4;
  const unsigned transport = p[13] & 0x0f;
  const std::size_t block = be16(p + 14);
  if (ver != 2) return invalid(2, "PROXY v2 header has an unknown version");
  if (cmd > 1) return invalid(2, "PROXY v2 command is neither LOCAL nor PROXY");
  if (block > kProxyV2MaxBlock) return invalid(2, "PROXY v2 address block is too long");
  if (in.size() < 16 + block) return h;
  h.length = 16 + block;
  const unsigned char* a = p + 16;
  if (cmd == 0) {
    // LOCAL: the proxy speaking for itself (health checks); the address block is ignored.
    h.status = ProxyHeader::Status::done;
    h.local = true;
    return h;
  }
  if (family == 0) {
    // UNSPEC with PROXY: the spec lets the receiver use the real endpoints.
    h.status = ProxyHeader::Status::done;
    h.local = true;
    return h;
  }
  if (transport != 1) return invalid(2, "PROXY v2 transport is not STREAM");
  if (family == 1) {
    if (block < 12) return invalid(2, "PROXY v2 address block too short for TCP4");
    std::memcpy(h.source.addr.data(), a, 4);
    std::memcpy(h.destination.addr.data(), a + 4, 4);
    h.source.port = be16(a + 8);
    h.destination.port = be16(a + 10);
  } else if (family == 2) {
    if (block < 36) return invalid(2, "PROXY v2 address block too short for TCP6");
    h.source.v6 = h.destination.v6 = true;
    std::memcpy(h.source.addr.data(), a, 16);
    std::memcpy(h.destination.addr.data(), a + 16, 16);
    h.source.port = be16(a + 32);
    h.destination.port = be16(a + 34);
  } else {
    return invalid(2, "PROXY v2 family is not TCP4 or TCP6");
  }
  h.status = ProxyHeader::Status::done;
  return h;
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view in) {
  if (in.empty()) return {};
  if (starts_like(in, kV1Prefix)) {
    if (in.size() < kV1Prefix.size()) return incomplete(1);
    return parse_v1(in);
  }
  if (starts_like(in, kV2Signature)) {
    if (in.size() < kV2Signature.size()) return incomplete(2);
    return parse_v2(in);
  }
  return invalid(0, "not a PROXY protocol header");
}

std::string proxy_address_text(const ProxyEndpoint& e) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(e.v6 ? AF_INET6 : AF_INET, e.addr.data(), buf, sizeof buf) == nullptr) return {};
  return buf;
}

}  // namespace feitp::proto
