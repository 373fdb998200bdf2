// Value checks shared by the TOML reader, validate() and the command line.
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/store_spec.hpp"
#include "config/checks.hpp"
#include "config/config.hpp"
#include "feitp/hooks.hpp"

namespace feitp::config {

using proto::parse_u32;

namespace {
// The host part of a valid listen address is loopback: 127.0.0.0/8 or ::1.
bool loopback_listen(std::string_view text) {
  if (text.starts_with("[")) return text.starts_with("[::1]:");
  return text.starts_with("127.");
}
}  // namespace

std::string check_monitor(const MonitorConfig& m) {
  if (!m.metrics_listen.empty()) {
    if (auto p = check_listen_address(m.metrics_listen); !p.empty()) return "metrics.listen: " + p;
  }
  if (m.admin_listen.empty()) return {};
  if (auto p = check_listen_address(m.admin_listen); !p.empty()) return "admin.listen: " + p;
  if (!m.admin_allow_remote && !loopback_listen(m.admin_listen)) {
    return "admin.listen: " + quote(m.admin_listen) +
           " is not a loopback address; the admin API can kick sessions and ban addresses, so "
           "it listens on 127.0.0.1 or [::1] unless admin.allow_remote = true "
           "(--admin-allow-remote)";
  }
  if (m.admin_token_file.empty()) {
    return "admin.token_file: required with admin.listen (a file whose first line is the bearer "
           "token, e.g. from `openssl rand -hex 32`)";
  }
  if (m.admin_tls_cert.empty() != m.admin_tls_key.empty()) {
    return std::string(m.admin_tls_cert.empty() ? "admin.tls_cert" : "admin.tls_key") +
           ": admin.tls_cert and admin.tls_key go together (PEM certificate chain and its key)";
  }
  if (!m.metrics_listen.empty() && m.metrics_listen == m.admin_listen) {
    return "admin.listen: the same address as metrics.listen (" + quote(m.admin_listen) + ")";
  }
  return {};
}

std::string parse_port_range(std::string_view text, std::uint16_t& min, std::uint16_t& max) {
  if (text.empty() || text == "0" || text == "0-0") {
    min = max = 0;
    return {};
  }
  auto dash = text.find('-');
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  bool ok = dash == std::string_view::npos
                ? parse_u32(text, lo) && (hi = lo, true)
                : parse_u32(text.substr(0, dash), lo) && parse_u32(text.substr(dash + 1), hi);
  if (!ok || lo < 1 || hi > 65535) {
    return "must be \"MIN-MAX\" with ports 1 to 65535 (e.g. \"30000-30100\"), got " + quote(text);
  }
  if (lo > hi) return "the first port must not exceed the second, got " + quote(text);
  min = static_cast<std::uint16_t>(lo);
  max = static_cast<std::uint16_t>(hi);
  return {};
}

std::string parse_umask(std::string_view text, std::uint32_t& out) {
  const std::string problem =
      "must be an octal string of 1 to 4 digits, at most 0777 (e.g. \"022\" "
      "or \"0077\"), got " +
      quote(text);
  if (text.empty() || text.size() > 4) return problem;
  std::uint32_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '7') return problem;
    v = v * 8 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 0777) return problem;
  out = v;
  return {};
}

bool check_network(std::string_view text) { return is_cidr(text); }

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '@' || c == '+';
    if (!ok) return false;
  }
  return true;
}

std::string check_home(std::string_view home) {
  if (home.empty()) return "must not be empty";
  if (home.front() != '/') return "must be an absolute path, got " + quote(home);
  if (home.find('\0') != std::string_view::npos) return "must not contain a NUL byte";
  return {};
}

std::string check_ftp_dir(std::string_view dir) {
  if (dir.empty() || dir.front() != '/') return "directories are absolute FTP paths such as \"/pub\"";
  for (std::size_t i = 0; i < dir.size();) {
    auto next = dir.find('/', i + 1);
    std::string_view part = dir.substr(i + 1, next == std::string_view::npos ? next : next - i - 1);
    if (part == "." || part == "..") return "\".\" and \"..\" are not allowed in directory names";
    if (next == std::string_view::npos) break;
    i = next;
  }
  return {};
}

std::string check_hash(std::string_view hash) {
  if (is_crypt_hash(hash)) return {};
  return "not a crypt(3) hash libcrypt can check (expected \"$y$...\", \"$6$...\" or \"$2b$...\"; "
         "make one with feitpd --hash-password)";
}

bool valid_log_level(std::string_view level) {
  static constexpr std::array<std::string_view, 8> kLevels = {"trace",   "debug", "info",     "warn",
                                                              "warning", "error", "critical", "off"};
  for (auto l : kLevels) {
    if (l == level) return true;
  }
  return false;
}

bool system_user_exists(const std::string& name) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384U);
  passwd pw{};
  passwd* found = nullptr;
  return getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr;
}

namespace {

std::string check_permissions(const Permissions& p) { return Permissions::validate(p.letters()); }

// The write letters (everything but e, l, r) granted anywhere: "\"w\" below /incoming, \"M\"".
std::string write_grants(const Permissions& p) {
  const auto writes = [](std::string_view letters) {
    std::string w;
    for (char c : letters) {
      if (Permissions::kReadOnly.find(c) == std::string_view::npos) w.push_back(c);
    }
    return w;
  };
  std::string out;
  const auto add = [&](const std::string& w, std::string_view where) {
    if (w.empty()) return;
    if (!out.empty()) out += ", ";
    out += quote(w);
    if (!where.empty()) out.append(" below ").append(where);
  };
  add(writes(p.letters()), "");
  for (const auto& [dir, letters] : p.overrides()) add(writes(letters), dir);
  return out;
}

}  // namespace

std::vector<std::string> warnings(const DaemonConfig& cfg) {
  std::vector<std::string> out;
  if (cfg.anonymous) {
    if (auto w = write_grants(cfg.anonymous->permissions); !w.empty()) {
      std::string line = cfg.source.empty() ? std::string() : cfg.source + ": ";
      line += "anonymous.allow_write: anonymous users may write (" + w + ")";
      out.push_back(std::move(line));
    }
  }
  return out;
}

namespace {

// A line of feitp::validate(const Options&) ("masquerade[1].address: must be ...") as this file's
// key and the problem ("passive.masquerade.address", "must be ...").
std::pair<std::string, std::string> config_key(const std::string& line, const Options& o) {
  const auto colon = line.find(": ");
  std::string field = line.substr(0, colon);
  std::string problem = colon == std::string::npos ? std::string() : line.substr(colon + 2);
  // "masquerade[1].address" -> "masquerade.address", remembering 1.
  std::size_t index = 0;
  if (auto open = field.find('['); open != std::string::npos) {
    const auto close = field.find(']', open);
    index = std::strtoul(field.c_str() + open + 1, nullptr, 10);
    field.erase(open, close == std::string::npos ? std::string::npos : close - open + 1);
  }
  static const std::map<std::string, std::string, std::less<>> kKeys = {
      {"listen", "server.listen"},
      {"listen_fds", "server.listen"},
      {"banner", "server.banner"},
      {"blocking_threads", "server.blocking_threads"},
      {"passive_port_min, passive_port_max", "passive.ports"},
      {"masquerade.network", "passive.masquerade.network"},
      {"masquerade.address", "passive.masquerade.address"},
      {"proxy_protocol_from", "proxy_protocol.from"},
      {"proxy_protocol_timeout", "proxy_protocol.timeout"},
      {"login_failure_delay", "limits.login_failure_delay_ms"},
      {"ban_window", "limits.ban_window"},
      {"ban_time", "limits.ban_time"},
      {"max_line", "limits.max_line"},
      {"idle_timeout", "timeouts.idle"},
      {"login_timeout", "timeouts.login"},
      {"data_accept_timeout", "timeouts.data_accept"},
      {"data_stall_timeout", "timeouts.data_stall"},
      {"transfer_buffer", "storage.transfer_buffer"},
      {"default_hash", "storage.default_hash"},
      {"tls.cert_file", "tls.cert"},
      {"tls.key_file", "tls.key"},
      {"tls.hosts.name", "tls.host.name"},
      {"tls.hosts.cert_file", "tls.host.cert"},
      {"tls.hosts.key_file", "tls.host.key"},
  };
  // [passive] masquerade_address is the rule for everyone (no network).
  if (field == "masquerade.address" && index < o.masquerade.size() && o.masquerade[index].network.empty()) {
    return {"passive.masquerade_address", problem};
  }
  if (auto it = kKeys.find(field); it != kKeys.end()) return {it->second, problem};
  return {field, problem};  // the same name in both ("tls.min_version", ...)
}

}  // namespace

std::string validate(const DaemonConfig& cfg) { return validate(cfg, true); }

std::string validate(const DaemonConfig& cfg, bool require_login) {
  auto fail = [&](std::string_view key, const std::string& problem) {
    std::string out;
    if (!cfg.source.empty()) out = cfg.source + ": ";
    out.append(key).append(": ").append(problem);
    return out;
  };
  const Options& o = cfg.server;

  // What ends in Options is checked by the library's own rules, under this file's keys.
  if (auto problems = feitp::validate(o); !problems.empty()) {
    const auto [key, problem] = config_key(problems.front(), o);
    return fail(key, problem);
  }
  if (cfg.workers > 1024) return fail("server.workers", "must be 0 (one per core) to 1024");
  if (!cfg.run_as.empty() && !system_user_exists(cfg.run_as)) {
    return fail("server.run_as", "no such system user " + quote(cfg.run_as));
  }
  if (!cfg.pid_file.empty() && cfg.pid_file.front() != '/') {
    return fail("server.pid_file", "must be an absolute path, got " + quote(cfg.pid_file));
  }

  if (auto p = check_monitor(cfg.monitor); !p.empty()) {
    const auto colon = p.find(": ");
    return fail(p.substr(0, colon), p.substr(colon + 2));
  }

  if (!valid_log_level(cfg.log.level)) {
    return fail("log.level",
                "must be one of trace, debug, info, warn, error, critical, off, got " + quote(cfg.log.level));
  }
  if (cfg.log.format != "text" && cfg.log.format != "json") {
    return fail("log.format", "must be \"text\" or \"json\", got " + quote(cfg.log.format));
  }

  for (const auto& [event, program] : cfg.hooks.programs) {
    bool known = false;
    for (auto n : hook_event_names) known = known || n == event;
    if (!known) return fail("hooks." + event, "unknown hook event");
    if (program.empty() || program.front() != '/') {
      return fail("hooks." + event, "must be an absolute program path, got " + quote(program));
    }
  }
  if (cfg.hooks.queue < 1) return fail("hooks.queue", "must be at least 1");

  if (cfg.anonymous) {
    if (auto p = check_home(cfg.anonymous->home); !p.empty()) return fail("anonymous.home", p);
    if (auto p = check_permissions(cfg.anonymous->permissions); !p.empty()) {
      return fail("anonymous.permissions", p);
    }
    // Anonymous write access is one typo away from "elr": it takes an explicit opt-in (F18).
    if (auto w = write_grants(cfg.anonymous->permissions); !w.empty() && !cfg.anonymous_allow_write) {
      return fail("anonymous.permissions", "grants anonymous users write access (" + w +
                                               "); set anonymous.allow_write = true if intended");
    }
  }
  std::vector<std::string_view> seen;
  for (const auto& u : cfg.users) {
    std::string key = "users." + u.name;
    if (!valid_user_name(u.name)) {
      return fail("users." + quote(u.name),
                  "user names may hold letters, digits and . _ - @ + (1 to 64 characters)");
    }
    for (auto s : seen) {
      if (s == u.name) return fail(key, "the user is defined twice");
    }
    seen.push_back(u.name);
    if (auto p = check_hash(u.password_hash); !p.empty()) return fail(key + ".password_hash", p);
    if (auto p = check_home(u.home); !p.empty()) return fail(key + ".home", p);
    if (auto p = check_permissions(u.permissions); !p.empty()) return fail(key + ".permissions", p);
  }
  auth::StoreSpec store;
  if (auto p = auth::parse_store_spec(cfg.accounts.store, store); !p.empty()) {
    return fail("accounts.store", p);
  }
  if (store.kind != auth::StoreSpec::Kind::config && !cfg.users.empty()) {
    return fail("users." + cfg.users.front().name,
                "config-file users are not read with accounts.store = " + quote(cfg.accounts.store) +
                    ": add them to that store (feitpd user add) or use store = \"config\"");
  }
  if (require_login && store.kind == auth::StoreSpec::Kind::config && cfg.users.empty() && !cfg.anonymous) {
    return fail("users", "no one can log in: add a [users.NAME] table or enable [anonymous]");
  }
  return {};
}

}  // namespace feitp::config
