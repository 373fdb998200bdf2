// Small value checks used by the TOML reader and validate() (internal to src/config).
#pragma once

#include <string>
#include <string_view>

namespace feitp::config {

bool is_ipv4(std::string_view s);
bool is_ipv6(std::string_view s);
// "a.b.c.d/n", "x::/n" or a bare address.
bool is_cidr(std::string_view s);
// The text in double quotes, with quotes, backslashes and control characters escaped.
std::string quote(std::string_view s);
bool valid_user_name(std::string_view name);
// "" or the problem with a home directory (absolute, non-empty).
std::string check_home(std::string_view home);
// "" or the problem with an FTP directory used in a permissions override.
std::string check_ftp_dir(std::string_view dir);
// "" or the problem with a stored password hash.
std::string check_hash(std::string_view hash);
bool valid_log_level(std::string_view level);
bool valid_hash_name(std::string_view name);
bool system_user_exists(const std::string& name);

}  // namespace feitp::config
