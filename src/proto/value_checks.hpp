// Checks of setting values, shared by feitp::validate(const Options&) (what a Server is given)
// and the daemon's configuration (src/config, which adds file and key to the messages). Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace feitp::proto {

// A decimal number of 1 to 10 digits that fits in 32 bits (no sign, no spaces).
bool parse_u32(std::string_view s, std::uint32_t& out);
// Numeric addresses only (inet_pton).
bool is_ipv4(std::string_view s);
bool is_ipv6(std::string_view s);
// "a.b.c.d/n", "x::/n" or a bare address.
bool is_cidr(std::string_view s);
// The text in double quotes, with quotes, backslashes and control characters escaped.
std::string quote(std::string_view s);
// "" when `text` is "ADDR:PORT" (numeric IPv4) or "[V6ADDR]:PORT", else what is wrong.
std::string check_listen_address(std::string_view text);
// One of "SHA-256", "SHA-1", "SHA-512", "MD5", "CRC32" (exactly so written).
bool valid_hash_name(std::string_view name);

}  // namespace feitp::proto
