// Argument parsing for REST and MFMT: pure functions (text in, value out), so the session
// only decides what to reply and the fuzzers can reach the parsers without a connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

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

}  // namespace feitp::proto
