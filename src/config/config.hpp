// The daemon's configuration: one TOML file -> DaemonConfig, with validation whose messages
// name the file, the key and what is wrong ("feitpd.toml: limits.max_per_ip: must be ...").
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "feitp/auth.hpp"
#include "feitp/options.hpp"
#include "proto/value_checks.hpp"

namespace feitp::config {

struct LogConfig {
  std::string level = "info";   // trace debug info warn error off
  std::string format = "text";  // text | json
  std::string file;             // "" = stderr
  std::string xferlog;          // wu-ftpd xferlog path, "" = off
  // [log] protocol is Options::protocol_log (the session writes it).
};

// External programs run on events (see docs/configuration.md, [hooks]).
struct HookPrograms {
  std::map<std::string, std::string> programs;  // event name -> program path
  std::chrono::seconds timeout{30};
  std::uint32_t queue = 256;
};

// [metrics] and [admin]: the monitoring listeners, served by a process of their own.
struct MonitorConfig {
  std::string metrics_listen;       // [metrics] listen, "" = off
  std::string admin_listen;         // [admin] listen, "" = off
  std::string admin_token_file;     // [admin] token_file (required with admin_listen)
  bool admin_allow_remote = false;  // [admin] allow_remote: a non-loopback admin address
  std::string admin_tls_cert;       // [admin] tls_cert / tls_key: HTTPS on the admin listener
  std::string admin_tls_key;
};

// [accounts]: where users come from (docs/accounts.md).
struct AccountsConfig {
  std::string store = "config";       // config | sqlite:PATH | postgresql://... | pam[:SERVICE]
  std::uint32_t pool_size = 4;        // PostgreSQL connections per worker at most
  std::uint32_t connect_timeout = 5;  // seconds: connecting to and each query of the database
  // Directories the database accounts' homes lie beneath: under Landlock (root without run_as)
  // workers may write there only.
  std::vector<std::string> homes;
  std::string permissions = "elr";  // the letters of PAM (system) users
};

// [[hosts]]: a virtual host selected by HOST (RFC 7151). Its users are the [users.NAME] with
// host = its name; anonymous logins on it (when [anonymous] is enabled) get `root`.
struct HostConfig {
  std::string name;
  std::string banner;                       // the 220 reply to HOST ("" = "Host accepted.")
  std::string root;                         // anonymous home on this host ("" = no anonymous login on it)
  std::uint64_t session_upload_rate = 0;    // 0 = [limits] session_upload_rate
  std::uint64_t session_download_rate = 0;  // 0 = [limits] session_download_rate
};

struct DaemonConfig {
  std::string source;  // the file it came from ("" = command line only)
  Options server;      // listen, banner, passive, limits, timeouts
  std::vector<UserEntry> users;
  std::optional<AnonymousEntry> anonymous;
  std::vector<HostConfig> hosts;
  bool anonymous_allow_write = false;  // [anonymous] allow_write: may grant a, d, f, m, w, M, T
  bool atomic_uploads = true;          // STOR writes a temporary and renames it when complete
  bool create_homes = true;            // mkdir -p user homes at start
  std::uint32_t umask = 022;           // new files 0666 & ~umask, directories 0777 & ~umask

  // Runtime (multi-process).
  std::uint32_t workers = 0;  // 0 = one per core; 1 = single process
  std::string run_as;         // drop privileges to this user when started as root
  bool sandbox = true;        // no_new_privs + seccomp filter in serving processes
  std::string pid_file;
  std::chrono::seconds shutdown_grace{30};
  std::uint64_t max_open_files = 0;  // RLIMIT_NOFILE to set (0 = leave)
  // Entries of the shared address table (connection counts per address, ban records);
  // 0 = derived from max_connections. Bans live in Options (server.ban_*).
  std::uint32_t address_table_size = 0;
  std::uint32_t max_sessions_per_user = 0;  // default for users without their own

  LogConfig log;
  HookPrograms hooks;
  MonitorConfig monitor;
  AccountsConfig accounts;
};

struct LoadResult {
  std::optional<DaemonConfig> config;
  std::string error;  // one line: "FILE: KEY: problem"
};

// Parses TOML text; `source` names it in messages.
LoadResult parse_config(std::string_view toml_text, std::string_view source);
LoadResult load_config_file(const std::string& path);

// Checks a config built or changed in code (after command-line overrides): "" or the problem.
std::string validate(const DaemonConfig& cfg);
// The same; require_login = false skips "no one can log in", for a file whose users may come
// from the command line (--user, --anonymous): parse_config() uses it, and feitpd validates
// again after applying its flags.
std::string validate(const DaemonConfig& cfg, bool require_login);
// What a valid config does that an operator should know about (one line each, naming the file
// and key): feitpd prints them at --check and at start. Today: anonymous users who may write.
std::vector<std::string> warnings(const DaemonConfig& cfg);

// feitpd --check: every file and program the configuration will open or run, as it is now
// (log and xferlog and pid file: directory exists and is writable; hook programs: exist and
// are executable; homes: exist, or can be created when storage.create_homes). One line per
// problem ("FILE: KEY: PATH: what is wrong"); empty when all is well. Changes nothing.
std::vector<std::string> check_paths(const DaemonConfig& cfg);

// --- Helpers shared with the command line (feitpd's flags use the same rules) -------------

// "" when `text` is "ADDR:PORT" (numeric IPv4) or "[V6ADDR]:PORT", else what is wrong (the
// rule of feitp::validate(const Options&), proto/value_checks.hpp).
using proto::check_listen_address;
// "" when the monitoring settings are usable: addresses as check_listen_address wants, the
// admin listener on loopback unless allow_remote, and a token file with it. Messages start
// with the key ("admin.listen: ...").
std::string check_monitor(const MonitorConfig& m);
// Parses "MIN-MAX" (1..65535, MIN <= MAX; "" or "0" = let the kernel pick: 0/0).
// "" on success, else what is wrong.
std::string parse_port_range(std::string_view text, std::uint16_t& min, std::uint16_t& max);
// Parses a umask: "022", "0077", "7" (octal digits, at most 0777). "" or what is wrong.
std::string parse_umask(std::string_view text, std::uint32_t& out);
// True when `text` is an IPv4/IPv6 address or CIDR network ("10.0.0.0/8", "::1").
bool check_network(std::string_view text);
// The event names accepted in [hooks] are feitp::hook_event_names (feitp/hooks.hpp).

}  // namespace feitp::config
