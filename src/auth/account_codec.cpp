#include "auth/account_codec.hpp"

#include <stdexcept>

#include "proto/address.hpp"

namespace feitp::auth {

std::string encode_directories(const Permissions& p) {
  std::string out;
  // Shortest first, so reading them back in order gives the same rules.
  const auto& o = p.overrides();
  for (auto it = o.rbegin(); it != o.rend(); ++it) {
    if (!out.empty()) out += '\n';
    out += it->first + "=" + it->second;
  }
  return out;
}

Permissions decode_permissions(std::string_view letters, std::string_view directories) {
  Permissions p(letters);
  while (!directories.empty()) {
    const auto nl = directories.find('\n');
    std::string_view line = directories.substr(0, nl);
    directories = nl == std::string_view::npos ? std::string_view{} : directories.substr(nl + 1);
    if (line.empty()) continue;
    const auto eq = line.rfind('=');
    if (eq == std::string_view::npos || eq == 0 || line.front() != '/') {
      throw std::invalid_argument("directory rule \"" + std::string(line) + "\" is not /DIR=LETTERS");
    }
    p.set_override(line.substr(0, eq), line.substr(eq + 1));
  }
  return p;
}

std::string encode_networks(const std::vector<std::string>& nets) {
  std::string out;
  for (const auto& n : nets) {
    if (!out.empty()) out += ',';
    out += n;
  }
  return out;
}

std::vector<std::string> decode_networks(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

std::string check_entry(const UserEntry& e) {
  if (auto p = check_account_name(e.name); !p.empty()) return p;
  if (!is_crypt_hash(e.password_hash)) return "the password hash is not a crypt(3) hash";
  if (e.home.empty() || e.home.front() != '/') return "the home must be an absolute path";
  if (e.home.find('\0') != std::string::npos || e.home.find('\n') != std::string::npos) {
    return "the home holds a control character";
  }
  if (auto p = Permissions::validate(e.permissions.letters()); !p.empty()) return p;
  for (const auto& [dir, letters] : e.permissions.overrides()) {
    if (dir.find('\n') != std::string::npos || dir.find('\0') != std::string::npos) {
      return "a directory rule holds a control character";
    }
  }
  for (const auto& n : e.allowed_networks) {
    if (!proto::valid_cidr(n)) return "\"" + n + "\" is not an address or CIDR network";
  }
  if (e.host.find('\0') != std::string::npos) return "the host holds a NUL byte";
  return {};
}

}  // namespace feitp::auth
