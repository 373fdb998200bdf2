// How database stores keep the parts of an account that are lists: the per-directory rules
// ("DIR=LETTERS" lines) and the allowed networks (comma-separated CIDR). Shared by the SQLite
// and PostgreSQL stores and the `feitpd user` command, so they read what the others write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "feitp/auth.hpp"

namespace feitp::auth {

// The schema this build reads and writes; a store whose schema_version is higher is refused.
inline constexpr int kSchemaVersion = 1;

// The column list every store selects, in this order.
inline constexpr std::string_view kAccountColumns =
    "name, password_hash, home, permissions, directories, enabled, expires, allowed_networks, "
    "max_sessions, quota_bytes, quota_files, upload_rate, download_rate, require_tls, host";

std::string encode_directories(const Permissions& p);
// Throws std::invalid_argument on a malformed line or letter.
Permissions decode_permissions(std::string_view letters, std::string_view directories);
std::string encode_networks(const std::vector<std::string>& nets);
std::vector<std::string> decode_networks(std::string_view text);

// "" or what is wrong with the entry before it is stored (name, hash, home, letters, networks).
std::string check_entry(const UserEntry& e);

}  // namespace feitp::auth
