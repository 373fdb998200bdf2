// Argument parsing for REST, MFMT, TYPE, MODE, STRU and SITE CHMOD: pure functions (text in,
// value out), so the session only decides what to reply and the fuzzers can reach the parsers
// without a connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace feitp::proto {

// REST (RFC 3659 stream mode): a decimal byte offset, 1..20 digits, no sign, no spaces, that
// fits in 64 bits. nullopt when anything else (the session answers 501).
std::optional<std::uint64_t> parse_rest_arg(std::string_view arg);

struct MfmtArg {
  std::int64_t mtime;     // seconds since the epoch, UTC
  std::string_view path;  // the rest of the argument after the spaces; never empty
};
// MFMT (draft-somers-ftp-mfxx): "YYYYMMDDHHMMSS[.sss] path". The time is the first word; the
// path is everything after the spaces that follow it (it may itself contain spaces).
// nullopt when the time is malformed or there is no path.
std::optional<MfmtArg> parse_mfmt_arg(std::string_view arg);

// "WORD rest" -> (WORD, rest without its leading spaces); no space: (s, "").
std::pair<std::string_view, std::string_view> split_word(std::string_view s);

// TYPE (RFC 959 3.1.1): "A [N]", "I", "L 8" are served; "A T|C" (a format other than
// non-print), "L n" with another byte size and "E" are known but refused (504); anything else
// is unknown (501). Letters in any case.
enum class TypeArg : std::uint8_t {
  ascii,
  binary,
  ascii_format_refused,
  byte_size_refused,
  ebcdic_refused,
  unknown
};
TypeArg parse_type_arg(std::string_view arg);

// MODE and STRU: the one value served (S, F), the other values RFC 959 defines (B C, and Z of
// RFC 468 for MODE; R P for STRU: 504), or unknown (501). Letters in any case.
enum class Choice : std::uint8_t { served, refused, unknown };
Choice parse_mode_arg(std::string_view arg);
Choice parse_stru_arg(std::string_view arg);

// SITE CHMOD's arguments: "<octal mode> <path>", 1 to 4 octal digits. The mode may carry the
// setuid, setgid and sticky bits (07000): refusing those is the session's policy. nullopt when
// the mode is not octal or there is no path.
struct ChmodArg {
  unsigned mode;
  std::string_view path;  // the rest of the argument (may contain spaces); never empty
};
std::optional<ChmodArg> parse_chmod_arg(std::string_view arg);

}  // namespace feitp::proto
