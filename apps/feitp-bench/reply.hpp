// Pure helpers for reading FTP replies: no sockets, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace feitp_bench {

// Reply code of a line "DDD " / "DDD-" or 0 when the line does not start with three digits.
inline int reply_code(std::string_view line) noexcept {
  if (line.size() < 3) return 0;
  int code = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const char ch = line[i];
    if (ch < '0' || ch > '9') return 0;
    code = code * 10 + (ch - '0');
  }
  return code;
}

// Incremental multi-line reply assembler (RFC 959 section 4.2): feed it complete lines,
// it returns the code when a reply is complete, 0 while a multi-line reply continues.
// A line that starts no reply and continues none is reported as -1 (protocol error).
class ReplyAssembler {
 public:
  int feed(std::string_view line) noexcept {
    const int code = reply_code(line);
    const char sep = line.size() > 3 ? line[3] : ' ';
    if (multi_ != 0) {
      if (code == multi_ && sep == ' ') {
        multi_ = 0;
        return code;
      }
      return 0;  // a continuation line, whatever it holds
    }
    if (code < 100 || code > 599) return -1;
    if (sep == '-') {
      multi_ = code;
      return 0;
    }
    return code;
  }
  void reset() noexcept { multi_ = 0; }

 private:
  int multi_ = 0;
};

// Port from "229 Entering Extended Passive Mode (|||PORT|)".
inline std::optional<std::uint16_t> parse_epsv(std::string_view line) noexcept {
  const auto open = line.find('(');
  if (open == std::string_view::npos || open + 4 >= line.size()) return std::nullopt;
  const char d = line[open + 1];
  if (line[open + 2] != d || line[open + 3] != d) return std::nullopt;
  std::uint32_t port = 0;
  std::size_t i = open + 4;
  std::size_t digits = 0;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 6; ++i, ++digits)
    port = port * 10 + static_cast<std::uint32_t>(line[i] - '0');
  if (digits == 0 || i >= line.size() || line[i] != d || port == 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

// Port from "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)". The address is not used: the
// generator only ever connects to the loopback host it was given.
inline std::optional<std::uint16_t> parse_pasv(std::string_view line) noexcept {
  std::size_t i = 4;
  while (i < line.size() && (line[i] < '0' || line[i] > '9')) ++i;
  std::uint32_t n[6] = {};
  for (int k = 0; k < 6; ++k) {
    std::size_t digits = 0;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 3) {
      n[k] = n[k] * 10 + static_cast<std::uint32_t>(line[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || n[k] > 255) return std::nullopt;
    if (k < 5) {
      if (i >= line.size() || line[i] != ',') return std::nullopt;
      ++i;
    }
  }
  const std::uint32_t port = n[4] * 256 + n[5];
  if (port == 0) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

}  // namespace feitp_bench
