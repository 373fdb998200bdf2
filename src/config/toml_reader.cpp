// TOML text -> DaemonConfig. Every problem becomes one line: "FILE: KEY: problem"
// (syntax errors: "FILE:LINE:COL: description"). Unknown keys are errors, to catch typos.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/store_spec.hpp"
#include "config/checks.hpp"
#include "config/config.hpp"
#include "feitp/hooks.hpp"

namespace feitp::config {

namespace {

constexpr std::int64_t kMaxSeconds = 7 * 24 * 3600;

// Thrown inside the reader; carries "KEY: problem".
struct Problem {
  std::string text;
};

[[noreturn]] void fail(const std::string& key, const std::string& problem) {
  throw Problem{key + ": " + problem};
}

bool bare_key(std::string_view k) {
  if (k.empty()) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// "limits" + "max_per_ip" -> "limits.max_per_ip"; keys that are not bare are quoted.
std::string join(std::string_view path, std::string_view key) {
  std::string k = bare_key(key) ? std::string(key) : quote(key);
  return path.empty() ? k : std::string(path) + "." + k;
}

// How a value is shown after "got".
std::string show(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return quote(n.as_string()->get());
    case toml::node_type::integer: return std::to_string(n.as_integer()->get());
    case toml::node_type::boolean: return n.as_boolean()->get() ? "true" : "false";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: {
      std::ostringstream os;
      n.visit([&](const auto& v) { os << v; });
      return os.str();
    }
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0U : 1U)});
      diag = up;
    }
  }
  return row[b.size()];
}

void known_keys(const toml::table& t, std::string_view path, std::initializer_list<std::string_view> known) {
  for (auto&& [k, v] : t) {
    std::string_view key = k.str();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string problem = "unknown key";
    std::string_view best;
    std::size_t best_d = 3;
    for (auto cand : known) {
      std::size_t d = edit_distance(key, cand);
      if (d < best_d) {
        best_d = d;
        best = cand;
      }
    }
    if (!best.empty()) problem += " (did you mean \"" + std::string(best) + "\"?)";
    fail(join(path, key), problem);
  }
}

const toml::table* sub_table(const toml::table& t, std::string_view path, std::string_view key) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) fail(join(path, key), "must be a table ([" + join(path, key) + "]), got " + show(*n));
  return n->as_table();
}

template <class T>
void get_int(const toml::table& t, std::string_view path, std::string_view key, std::int64_t min,
             std::int64_t max, T& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return;
  if (!n->is_integer() || n->as_integer()->get() < min || n->as_integer()->get() > max) {
    fail(join(path, key), "must be an integer between " + std::to_string(min) + " and " +
                              std::to_string(max) + ", got " + show(*n));
  }
  out = static_cast<T>(n->as_integer()->get());
}

void get_seconds(const toml::table& t, std::string_view path, std::string_view key, std::int64_t min,
                 std::chrono::seconds& out) {
  std::int64_t v = out.count();
  get_int(t, path, key, min, kMaxSeconds, v);
  out = std::chrono::seconds{v};
}

void get_bool(const toml::table& t, std::string_view path, std::string_view key, bool& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return;
  if (!n->is_boolean()) fail(join(path, key), "must be true or false, got " + show(*n));
  out = n->as_boolean()->get();
}

bool get_string(const toml::table& t, std::string_view path, std::string_view key, std::string& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return false;
  if (!n->is_string()) fail(join(path, key), "must be a string, got " + show(*n));
  out = n->as_string()->get();
  return true;
}

void check_or_fail(const std::string& key, const std::string& problem) {
  if (!problem.empty()) fail(key, problem);
}

// --- Sections --------------------------------------------------------------------------------

void read_server(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "server";
  known_keys(
      t, p,
      {"listen", "banner", "workers", "run_as", "pid_file", "shutdown_grace", "blocking_threads", "sandbox"});
  if (const toml::node* n = t.get("listen")) {
    std::vector<std::string> listen;
    if (n->is_string()) {
      listen.push_back(n->as_string()->get());
    } else if (n->is_array()) {
      for (const toml::node& e : *n->as_array()) {
        if (!e.is_string()) fail(join(p, "listen"), "must hold strings \"ADDR:PORT\", got " + show(e));
        listen.push_back(e.as_string()->get());
      }
    } else {
      fail(join(p, "listen"), "must be a string or an array of strings, got " + show(*n));
    }
    if (listen.empty()) fail(join(p, "listen"), "must name at least one address");
    for (const auto& l : listen) check_or_fail(join(p, "listen"), check_listen_address(l));
    cfg.server.listen = std::move(listen);
  }
  get_string(t, p, "banner", cfg.server.banner);
  get_int(t, p, "workers", 0, 1024, cfg.workers);
  if (get_string(t, p, "run_as", cfg.run_as) && cfg.run_as.empty()) {
    fail(join(p, "run_as"), "must name a system user (or be left out)");
  }
  get_string(t, p, "pid_file", cfg.pid_file);
  get_bool(t, p, "sandbox", cfg.sandbox);
  get_seconds(t, p, "shutdown_grace", 0, cfg.shutdown_grace);
  get_int(t, p, "blocking_threads", 1, 256, cfg.server.blocking_threads);
}

void read_passive(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "passive";
  known_keys(t, p, {"ports", "masquerade_address", "masquerade"});
  std::string ports;
  if (get_string(t, p, "ports", ports)) {
    check_or_fail(join(p, "ports"),
                  parse_port_range(ports, cfg.server.passive_port_min, cfg.server.passive_port_max));
  }
  std::vector<MasqueradeRule> rules;
  if (const toml::node* n = t.get("masquerade")) {
    const std::string mp = join(p, "masquerade");
    if (!n->is_array() || !n->as_array()->is_array_of_tables()) {
      fail(mp,
           "must be an array of tables ([[passive.masquerade]] with network and address), got " + show(*n));
    }
    for (const toml::node& e : *n->as_array()) {
      const toml::table& r = *e.as_table();
      known_keys(r, mp, {"network", "address"});
      MasqueradeRule rule;
      get_string(r, mp, "network", rule.network);
      if (!get_string(r, mp, "address", rule.address)) fail(join(mp, "address"), "is required");
      if (!rule.network.empty() && !is_cidr(rule.network)) {
        fail(join(mp, "network"),
             "must be an address or a CIDR network such as \"10.0.0.0/8\", got " + quote(rule.network));
      }
      if (!is_ipv4(rule.address)) {
        fail(join(mp, "address"), "must be a numeric IPv4 address, got " + quote(rule.address));
      }
      rules.push_back(std::move(rule));
    }
  }
  std::string everyone;
  if (get_string(t, p, "masquerade_address", everyone)) {
    if (!is_ipv4(everyone)) {
      fail(join(p, "masquerade_address"), "must be a numeric IPv4 address, got " + quote(everyone));
    }
    rules.push_back(MasqueradeRule{"", everyone});  // last: the rules above are more specific
  }
  cfg.server.masquerade = std::move(rules);
}

void read_limits(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "limits";
  known_keys(
      t, p,
      {"max_connections", "max_per_ip", "max_sessions_per_user", "max_login_attempts",
       "login_failure_delay_ms", "max_unknown_before_login", "max_line", "ban_after_failures", "ban_window",
       "ban_time", "max_open_files", "address_table_size", "max_hash_size", "max_listing_entries",
       "upload_rate", "download_rate", "session_upload_rate", "session_download_rate"});
  Options& o = cfg.server;
  get_int(t, p, "max_connections", 0, 1000000, o.max_connections);
  get_int(t, p, "max_per_ip", 0, 100000, o.max_per_ip);
  get_int(t, p, "max_sessions_per_user", 0, 100000, cfg.max_sessions_per_user);
  get_int(t, p, "max_login_attempts", 0, 1000, o.max_login_attempts);
  std::int64_t delay = o.login_failure_delay.count();
  get_int(t, p, "login_failure_delay_ms", 0, 60000, delay);
  o.login_failure_delay = std::chrono::milliseconds{delay};
  get_int(t, p, "max_unknown_before_login", 0, 100000, o.max_unknown_before_login);
  get_int(t, p, "max_line", 256, 65536, o.max_line);
  get_int(t, p, "ban_after_failures", 0, 1000000, o.ban_after_failures);
  get_seconds(t, p, "ban_window", 1, o.ban_window);
  get_seconds(t, p, "ban_time", 1, o.ban_time);
  get_int(t, p, "address_table_size", 0, 1 << 20, cfg.address_table_size);
  get_int(t, p, "max_open_files", 0, 1 << 30, cfg.max_open_files);
  get_int(t, p, "max_hash_size", 0, std::int64_t{1} << 62, o.max_hash_bytes);
  get_int(t, p, "max_listing_entries", 0, 100000000, o.max_listing_entries);
  constexpr std::int64_t kMaxRate = std::int64_t{1} << 40;  // bytes per second
  get_int(t, p, "upload_rate", 0, kMaxRate, o.upload_rate);
  get_int(t, p, "download_rate", 0, kMaxRate, o.download_rate);
  get_int(t, p, "session_upload_rate", 0, kMaxRate, o.session_upload_rate);
  get_int(t, p, "session_download_rate", 0, kMaxRate, o.session_download_rate);
}

void read_timeouts(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "timeouts";
  known_keys(t, p, {"idle", "login", "data_accept", "data_stall"});
  get_seconds(t, p, "idle", 0, cfg.server.idle_timeout);
  get_seconds(t, p, "login", 0, cfg.server.login_timeout);
  get_seconds(t, p, "data_accept", 0, cfg.server.data_accept_timeout);
  get_seconds(t, p, "data_stall", 0, cfg.server.data_stall_timeout);
}

void read_security(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "security";
  known_keys(t, p, {"allow_foreign_active", "allow_foreign_passive", "allow_privileged_active_port"});
  get_bool(t, p, "allow_foreign_active", cfg.server.allow_foreign_active);
  get_bool(t, p, "allow_foreign_passive", cfg.server.allow_foreign_passive);
  get_bool(t, p, "allow_privileged_active_port", cfg.server.allow_privileged_active_port);
}

void read_storage(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "storage";
  known_keys(t, p,
             {"atomic_uploads", "create_homes", "transfer_buffer", "listing_utc", "listing_cache",
              "default_hash", "umask"});
  get_bool(t, p, "atomic_uploads", cfg.atomic_uploads);
  if (const toml::node* n = t.get("umask")) {
    // A string: a bare TOML integer 022 is not octal (and is refused by TOML itself).
    if (!n->is_string()) fail(join(p, "umask"), "must be an octal string like \"022\", got " + show(*n));
    check_or_fail(join(p, "umask"), parse_umask(n->as_string()->get(), cfg.umask));
  }
  get_bool(t, p, "create_homes", cfg.create_homes);
  get_int(t, p, "transfer_buffer", 4096, 64 << 20, cfg.server.transfer_buffer);
  get_bool(t, p, "listing_utc", cfg.server.listing_utc);
  get_bool(t, p, "listing_cache", cfg.server.listing_cache);
  if (get_string(t, p, "default_hash", cfg.server.default_hash) &&
      !valid_hash_name(cfg.server.default_hash)) {
    fail(join(p, "default_hash"),
         "must be one of SHA-256, SHA-1, SHA-512, MD5, CRC32, got " + quote(cfg.server.default_hash));
  }
}

void read_log(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "log";
  known_keys(t, p, {"level", "format", "file", "xferlog", "protocol"});
  if (get_string(t, p, "level", cfg.log.level) && !valid_log_level(cfg.log.level)) {
    fail(join(p, "level"),
         "must be one of trace, debug, info, warn, error, critical, off, got " + quote(cfg.log.level));
  }
  if (get_string(t, p, "format", cfg.log.format) && cfg.log.format != "text" && cfg.log.format != "json") {
    fail(join(p, "format"), "must be \"text\" or \"json\", got " + quote(cfg.log.format));
  }
  get_string(t, p, "file", cfg.log.file);
  get_string(t, p, "xferlog", cfg.log.xferlog);
  get_bool(t, p, "protocol", cfg.server.protocol_log);
}

void read_proxy_protocol(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "proxy_protocol";
  known_keys(t, p, {"from", "timeout"});
  if (const toml::node* n = t.get("from")) {
    const std::string key = join(p, "from");
    if (!n->is_array()) fail(key, "must be an array of networks (CIDR or address), got " + show(*n));
    std::vector<std::string> nets;
    for (const auto& v : *n->as_array()) {
      if (!v.is_string() || !is_cidr(v.as_string()->get())) {
        fail(key, "must hold networks such as \"10.0.0.0/8\" or \"::1\", got " + show(v));
      }
      nets.push_back(v.as_string()->get());
    }
    cfg.server.proxy_protocol_from = std::move(nets);
  }
  std::int64_t secs =
      std::chrono::duration_cast<std::chrono::seconds>(cfg.server.proxy_protocol_timeout).count();
  get_int(t, p, "timeout", 1, 3600, secs);
  cfg.server.proxy_protocol_timeout = std::chrono::seconds{secs};
}

// permissions = "elr" and [*.directories] "/pub" = "elrw".
Permissions read_permissions(const toml::table& t, const std::string& p, std::string_view fallback) {
  std::string letters(fallback);
  get_string(t, p, "permissions", letters);
  check_or_fail(join(p, "permissions"), Permissions::validate(letters));
  Permissions perms(letters);
  if (const toml::table* dirs = sub_table(t, p, "directories")) {
    const std::string dp = join(p, "directories");
    for (auto&& [k, v] : *dirs) {
      const std::string key = join(dp, k.str());
      check_or_fail(key, check_ftp_dir(k.str()));
      if (!v.is_string()) fail(key, "must be a string of permission letters, got " + show(v));
      const std::string& dl = v.as_string()->get();
      check_or_fail(key, Permissions::validate(dl));
      perms.set_override(k.str(), dl);
    }
  }
  return perms;
}

void read_anonymous(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "anonymous";
  known_keys(t, p, {"enabled", "home", "permissions", "directories", "allow_write"});
  bool enabled = true;  // a present [anonymous] table turns it on unless enabled = false
  get_bool(t, p, "enabled", enabled);
  get_bool(t, p, "allow_write", cfg.anonymous_allow_write);
  AnonymousEntry anon;
  bool has_home = get_string(t, p, "home", anon.home);
  anon.permissions = read_permissions(t, p, Permissions::kReadOnly);
  if (!enabled) {
    cfg.anonymous.reset();
    return;
  }
  if (!has_home) fail(join(p, "home"), "is required when anonymous login is enabled");
  check_or_fail(join(p, "home"), check_home(anon.home));
  cfg.anonymous = std::move(anon);
}

// The account keys every store shares (docs/accounts.md): enabled, expires, allowed_networks,
// quotas, rates, require_tls, host.
void read_account_policy(const toml::table& u, const std::string& p, UserEntry& e) {
  constexpr std::int64_t kMax = std::int64_t{1} << 62;
  get_bool(u, p, "enabled", e.enabled);
  if (const toml::node* n = u.get("expires")) {
    std::string text;
    if (n->is_string()) {
      text = n->as_string()->get();
    } else if (n->is_date()) {
      const auto& d = n->as_date()->get();
      char buf[16];
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
      text = buf;
    } else {
      fail(join(p, "expires"),
           "must be a date (2027-01-31), \"YYYY-MM-DDTHH:MM:SSZ\" or \"never\", got " + show(*n));
    }
    check_or_fail(join(p, "expires"), auth::parse_expiry(text, e.expires));
  }
  if (const toml::node* n = u.get("allowed_networks")) {
    if (!n->is_array())
      fail(join(p, "allowed_networks"), "must be an array of CIDR strings, got " + show(*n));
    for (const toml::node& x : *n->as_array()) {
      if (!x.is_string() || !is_cidr(x.as_string()->get())) {
        fail(join(p, "allowed_networks"),
             "must hold addresses or CIDR networks such as \"10.0.0.0/8\", got " + show(x));
      }
      e.allowed_networks.push_back(x.as_string()->get());
    }
  }
  get_int(u, p, "quota_bytes", 0, kMax, e.quota_bytes);
  get_int(u, p, "quota_files", 0, kMax, e.quota_files);
  get_int(u, p, "upload_rate", 0, kMax, e.upload_rate);
  get_int(u, p, "download_rate", 0, kMax, e.download_rate);
  get_bool(u, p, "require_tls", e.require_tls);
  get_string(u, p, "host", e.host);
}

void read_accounts(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "accounts";
  known_keys(t, p, {"store", "pool_size", "connect_timeout", "homes", "permissions"});
  if (get_string(t, p, "permissions", cfg.accounts.permissions)) {
    check_or_fail(join(p, "permissions"), Permissions::validate(cfg.accounts.permissions));
  }
  if (const toml::node* n = t.get("homes")) {
    if (!n->is_array()) fail(join(p, "homes"), "must be an array of absolute directories, got " + show(*n));
    for (const toml::node& x : *n->as_array()) {
      if (!x.is_string()) fail(join(p, "homes"), "must hold absolute directories, got " + show(x));
      check_or_fail(join(p, "homes"), check_home(x.as_string()->get()));
      cfg.accounts.homes.push_back(x.as_string()->get());
    }
  }
  if (get_string(t, p, "store", cfg.accounts.store)) {
    auth::StoreSpec spec;
    check_or_fail(join(p, "store"), auth::parse_store_spec(cfg.accounts.store, spec));
  }
  get_int(t, p, "pool_size", 1, 64, cfg.accounts.pool_size);
  get_int(t, p, "connect_timeout", 1, 60, cfg.accounts.connect_timeout);
}

void read_users(const toml::table& t, DaemonConfig& cfg) {
  for (auto&& [k, v] : t) {
    const std::string name(k.str());
    const std::string p = join("users", name);
    if (!v.is_table()) fail(p, "must be a table ([" + p + "] with password_hash and home), got " + show(v));
    if (!valid_user_name(name)) {
      fail(p, "user names may hold letters, digits and . _ - @ + (1 to 64 characters)");
    }
    const toml::table& u = *v.as_table();
    if (u.get("password") != nullptr) {
      fail(join(p, "password"),
           "plaintext passwords are not accepted; use password_hash = \"$y$...\" (feitpd --hash-password)");
    }
    known_keys(u, p,
               {"password_hash", "home", "permissions", "max_sessions", "directories", "enabled", "expires",
                "allowed_networks", "quota_bytes", "quota_files", "upload_rate", "download_rate",
                "require_tls", "host"});
    UserEntry e;
    e.name = name;
    if (!get_string(u, p, "password_hash", e.password_hash)) {
      fail(join(p, "password_hash"), "is required (make one with feitpd --hash-password)");
    }
    check_or_fail(join(p, "password_hash"), check_hash(e.password_hash));
    if (!get_string(u, p, "home", e.home)) fail(join(p, "home"), "is required");
    check_or_fail(join(p, "home"), check_home(e.home));
    e.permissions = read_permissions(u, p, Permissions::kReadOnly);
    get_int(u, p, "max_sessions", 0, 100000, e.max_sessions);
    read_account_policy(u, p, e);
    cfg.users.push_back(std::move(e));
  }
}

// Host names compare without regard to case (DNS).
bool same_host(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

void read_hosts(const toml::node& n, DaemonConfig& cfg) {
  const auto* arr = n.as_array();
  if (arr == nullptr) fail("hosts", "must be an array of tables ([[hosts]]), got " + show(n));
  std::size_t i = 0;
  for (auto&& v : *arr) {
    const std::string p = "hosts[" + std::to_string(i++) + "]";
    if (!v.is_table()) fail(p, "must be a table with name, banner, root, got " + show(v));
    const toml::table& h = *v.as_table();
    known_keys(h, p, {"name", "banner", "root", "session_upload_rate", "session_download_rate"});
    HostConfig host;
    if (!get_string(h, p, "name", host.name) || host.name.empty()) fail(join(p, "name"), "is required");
    for (char c : host.name) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
      if (!ok || host.name.size() > 253)
        fail(join(p, "name"), "must be a DNS name or an address, got " + quote(host.name));
    }
    for (const auto& other : cfg.hosts) {
      if (same_host(other.name, host.name)) fail(join(p, "name"), "names a host twice: " + quote(host.name));
    }
    get_string(h, p, "banner", host.banner);
    if (get_string(h, p, "root", host.root)) check_or_fail(join(p, "root"), check_home(host.root));
    get_int(h, p, "session_upload_rate", 0, std::int64_t{1} << 40, host.session_upload_rate);
    get_int(h, p, "session_download_rate", 0, std::int64_t{1} << 40, host.session_download_rate);
    cfg.hosts.push_back(std::move(host));
  }
}

void read_hooks(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "hooks";
  for (auto&& [k, v] : t) {
    std::string_view key = k.str();
    if (key == "timeout" || key == "queue") continue;
    const auto& names = hook_event_names;  // feitp/hooks.hpp
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      std::string list;
      for (auto n : names) list.append(list.empty() ? "" : ", ").append(n);
      fail(join(p, key), "unknown hook event (events: " + list + "; settings: timeout, queue)");
    }
    if (!v.is_string()) fail(join(p, key), "must be a program path (a string), got " + show(v));
    const std::string& prog = v.as_string()->get();
    if (prog.empty() || prog.front() != '/') {
      fail(join(p, key), "must be an absolute program path, got " + quote(prog));
    }
    cfg.hooks.programs[std::string(key)] = prog;
  }
  get_seconds(t, p, "timeout", 1, cfg.hooks.timeout);
  get_int(t, p, "queue", 1, 1000000, cfg.hooks.queue);
}

// [tls]: FTPS (files are checked by feitpd at start and by --check, net/tls.hpp check_tls).
void read_tls(const toml::table& t, DaemonConfig& cfg) {
  const std::string p = "tls";
  known_keys(t, p,
             {"cert", "key", "chain", "required", "min_version", "ciphers", "ciphersuites", "data_session",
              "implicit_listen", "handshake_timeout", "session_lifetime", "host"});
  TlsOptions& o = cfg.server.tls;
  get_string(t, p, "cert", o.cert_file);
  get_string(t, p, "key", o.key_file);
  get_string(t, p, "chain", o.chain_file);
  std::string v;
  if (get_string(t, p, "required", v)) {
    if (v == "off")
      o.required = TlsRequired::off;
    else if (v == "login")
      o.required = TlsRequired::login;
    else if (v == "all")
      o.required = TlsRequired::all;
    else
      fail(join(p, "required"), "must be \"off\", \"login\" or \"all\", got " + quote(v));
  }
  if (get_string(t, p, "min_version", o.min_version) && o.min_version != "1.2" && o.min_version != "1.3") {
    fail(join(p, "min_version"), "must be \"1.2\" or \"1.3\", got " + quote(o.min_version));
  }
  get_string(t, p, "ciphers", o.ciphers);
  get_string(t, p, "ciphersuites", o.ciphersuites);
  if (get_string(t, p, "data_session", v)) {
    if (v == "required")
      o.data_session = DataSessionPolicy::required;
    else if (v == "own")
      o.data_session = DataSessionPolicy::own;
    else if (v == "any")
      o.data_session = DataSessionPolicy::any;
    else
      fail(join(p, "data_session"), "must be \"required\", \"own\" or \"any\", got " + quote(v));
  }
  if (const toml::node* n = t.get("implicit_listen")) {
    std::vector<std::string> listen;
    if (n->is_string()) {
      listen.push_back(n->as_string()->get());
    } else if (n->is_array()) {
      for (const toml::node& e : *n->as_array()) {
        if (!e.is_string())
          fail(join(p, "implicit_listen"), "must hold strings \"ADDR:PORT\", got " + show(e));
        listen.push_back(e.as_string()->get());
      }
    } else {
      fail(join(p, "implicit_listen"), "must be a string or an array of strings, got " + show(*n));
    }
    for (const auto& l : listen) check_or_fail(join(p, "implicit_listen"), check_listen_address(l));
    o.implicit_listen = std::move(listen);
  }
  get_seconds(t, p, "handshake_timeout", 1, o.handshake_timeout);
  get_seconds(t, p, "session_lifetime", 60, o.session_lifetime);
  if (const toml::node* n = t.get("host")) {
    const std::string hp = join(p, "host");
    if (!n->is_array() || !n->as_array()->is_array_of_tables()) {
      fail(hp, "must be an array of tables ([[tls.host]] with name, cert and key), got " + show(*n));
    }
    for (const toml::node& e : *n->as_array()) {
      const toml::table& h = *e.as_table();
      known_keys(h, hp, {"name", "cert", "key"});
      TlsHost host;
      if (!get_string(h, hp, "name", host.name) || host.name.empty()) fail(join(hp, "name"), "is required");
      if (!get_string(h, hp, "cert", host.cert_file)) fail(join(hp, "cert"), "is required");
      if (!get_string(h, hp, "key", host.key_file)) fail(join(hp, "key"), "is required");
      o.hosts.push_back(std::move(host));
    }
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    fail(join(p, o.cert_file.empty() ? "cert" : "key"),
         "is required with tls." + std::string(o.cert_file.empty() ? "key" : "cert"));
  }
}

void read_metrics(const toml::table& t, DaemonConfig& cfg) {
  known_keys(t, "metrics", {"listen"});
  get_string(t, "metrics", "listen", cfg.monitor.metrics_listen);
}

void read_admin(const toml::table& t, DaemonConfig& cfg) {
  known_keys(t, "admin", {"listen", "token_file", "allow_remote", "tls_cert", "tls_key"});
  get_string(t, "admin", "tls_cert", cfg.monitor.admin_tls_cert);
  get_string(t, "admin", "tls_key", cfg.monitor.admin_tls_key);
  get_string(t, "admin", "listen", cfg.monitor.admin_listen);
  get_string(t, "admin", "token_file", cfg.monitor.admin_token_file);
  get_bool(t, "admin", "allow_remote", cfg.monitor.admin_allow_remote);
}

void read_root(const toml::table& root, DaemonConfig& cfg) {
  known_keys(root, "",
             {"server", "passive", "limits", "timeouts", "security", "storage", "log", "anonymous", "users",
              "hooks", "proxy_protocol", "tls", "metrics", "admin", "accounts", "hosts"});
  if (const auto* t = sub_table(root, "", "metrics")) read_metrics(*t, cfg);
  if (const auto* t = sub_table(root, "", "admin")) read_admin(*t, cfg);
  if (const auto* t = sub_table(root, "", "server")) read_server(*t, cfg);
  if (const auto* t = sub_table(root, "", "passive")) read_passive(*t, cfg);
  if (const auto* t = sub_table(root, "", "limits")) read_limits(*t, cfg);
  if (const auto* t = sub_table(root, "", "timeouts")) read_timeouts(*t, cfg);
  if (const auto* t = sub_table(root, "", "security")) read_security(*t, cfg);
  if (const auto* t = sub_table(root, "", "storage")) read_storage(*t, cfg);
  if (const auto* t = sub_table(root, "", "log")) read_log(*t, cfg);
  if (const auto* t = sub_table(root, "", "anonymous")) read_anonymous(*t, cfg);
  if (const auto* t = sub_table(root, "", "users")) read_users(*t, cfg);
  if (const auto* t = sub_table(root, "", "hooks")) read_hooks(*t, cfg);
  if (const auto* t = sub_table(root, "", "proxy_protocol")) read_proxy_protocol(*t, cfg);
  if (const auto* t = sub_table(root, "", "tls")) read_tls(*t, cfg);
  if (const auto* t = sub_table(root, "", "accounts")) read_accounts(*t, cfg);
  if (const auto* n = root.get("hosts")) read_hosts(*n, cfg);
  for (const auto& u : cfg.users) {
    if (u.host.empty()) continue;
    const bool known = std::any_of(cfg.hosts.begin(), cfg.hosts.end(),
                                   [&](const HostConfig& h) { return same_host(h.name, u.host); });
    if (!known) fail(join(join("users", u.name), "host"), "names no [[hosts]] entry: " + quote(u.host));
  }
}

// toml++ descriptions are single sentences; keep any stray line breaks out of the one line.
std::string one_line(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

}  // namespace

LoadResult parse_config(std::string_view toml_text, std::string_view source) {
  LoadResult result;
  const std::string src(source);
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    result.error = src + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
                   one_line(e.description());
    return result;
  }
  DaemonConfig cfg;
  cfg.source = src;
  try {
    read_root(root, cfg);
  } catch (const Problem& p) {
    result.error = src + ": " + one_line(p.text);
    return result;
  }
  if (std::string problem = validate(cfg, /*require_login=*/false); !problem.empty()) {
    result.error = one_line(problem);
    return result;
  }
  result.config = std::move(cfg);
  return result;
}

namespace {

// F22: root runs the hook programs the file names, so only root may be able to change it
// (vsftpd: "config file not owned by correct user, or not a file"). "" or what is wrong.
std::string refuse_unsafe_config(const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (::geteuid() != 0) return {};
  if (st.st_uid != 0) {
    return "owned by uid " + std::to_string(st.st_uid) +
           ", not root (feitpd runs as root: " + "chown root it)";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return std::string("writable by ") + ((st.st_mode & S_IWOTH) != 0 ? "others" : "its group") +
           " (feitpd runs as root: chmod go-w it)";
  }
  return {};
}

}  // namespace

LoadResult load_config_file(const std::string& path) {
  LoadResult r;
  // O_NONBLOCK: a FIFO is refused below instead of waiting here for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    r.error = path + ": cannot open: " + std::strerror(errno);
    return r;
  }
  struct stat st {};
  std::string problem =
      ::fstat(fd, &st) != 0 ? std::string("cannot stat: ") + std::strerror(errno) : refuse_unsafe_config(st);
  std::string text;
  char buf[65536];
  for (ssize_t n = 0; problem.empty();) {
    n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      problem = std::string("cannot read the file: ") + std::strerror(errno);
    }
  }
  ::close(fd);
  if (!problem.empty()) {
    r.error = path + ": " + problem;
    return r;
  }
  return parse_config(text, path);
}

}  // namespace feitp::config
