// ASCII-mode line ending conversion (TYPE A) and hash algorithm names. Pure and streaming.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "feitp/storage.hpp"

namespace feitp::proto {

// Disk -> network (RETR in TYPE A): each LF not preceded by CR becomes CRLF. Streaming: pass each
// chunk in order with the same state.
struct ToCrlf {
  bool last_was_cr = false;
  void convert(std::string_view in, std::string& out);
};

// Network -> disk (STOR in TYPE A): CRLF becomes LF; a lone CR is kept. Streaming; call
// finish() at the end to flush a trailing CR.
struct FromCrlf {
  bool pending_cr = false;
  void convert(std::string_view in, std::string& out);
  void finish(std::string& out);
};

// "SHA-256", "SHA-1", "SHA-512", "MD5", "CRC32" (case-insensitive) <-> HashAlgo.
std::optional<HashAlgo> parse_hash_algo(std::string_view name);
std::string_view hash_algo_name(HashAlgo a);
// FEAT line value: "SHA-1;SHA-256*;SHA-512;MD5;CRC32" with '*' on the selected one.
std::string hash_feat_value(HashAlgo selected);
// Text of the 213 reply to HASH (draft-bryan-ftpext-hash): "<ALGO> <start>-<end> <hex> <path>",
// e.g. "SHA-256 0-1234 9f86d0... /dir/file". `end` is one past the last byte hashed (the file
// size for a whole file).
std::string hash_reply_text(HashAlgo a, std::uint64_t start, std::uint64_t end, std::string_view hex,
                            std::string_view path);

// Client text made safe to echo in a reply or write to a log: each control character (0x00 to
// 0x1f and 0x7f: CR, LF, TAB, ESC, NUL...) becomes "\xNN" (lowercase hex), the rest is kept
// (UTF-8 included). A raw CR could forge a reply or log line, an ESC drives the terminal of
// whoever reads it (audit F17). A backslash is kept as is: the result is for reading, not for
// parsing back.
void append_escaped(std::string& out, std::string_view text);
std::string escape_controls(std::string_view text);
// True when the text holds a character append_escaped() would change.
bool has_controls(std::string_view text);

// Case-insensitive ASCII compare.
bool iequals(std::string_view a, std::string_view b);

}  // namespace feitp::proto
