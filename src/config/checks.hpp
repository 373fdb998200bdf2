// Small value checks used by the TOML reader and validate() (internal to src/config).
#pragma once

#include <string>
#include <string_view>

#include "proto/value_checks.hpp"

namespace feitp::config {

// Shared with the library's Options validation (proto/value_checks.hpp).
using proto::is_cidr;
using proto::is_ipv4;
using proto::is_ipv6;
using proto::quote;
using proto::valid_hash_name;

bool valid_user_name(std::string_view name);
// "" or the problem with a home directory (absolute, non-empty).
std::string check_home(std::string_view home);
// "" or the problem with an FTP directory used in a permissions override.
std::string check_ftp_dir(std::string_view dir);
// "" or the problem with a stored password hash.
std::string check_hash(std::string_view hash);
bool valid_log_level(std::string_view level);
bool system_user_exists(const std::string& name);

}  // namespace feitp::config
