#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "config/config.hpp"
#include "feitp/auth.hpp"

using namespace feitp;
using namespace feitp::config;

namespace {

// A real yescrypt hash (of "pw"), valid for libcrypt.
const std::string kHash = "$y$j9T$1fSkS9N2wFNf6v90y3S9A0$k2aNBSTstvodkftafhq9ak.9Pb6ZtTaRHxPtajBD7S/";

std::string minimal_user() {
  return "[users.alice]\npassword_hash = \"" + kHash + "\"\nhome = \"/srv/ftp/alice\"\n";
}

std::string error_of(const std::string& text) {
  auto r = parse_config(text, "feitpd.toml");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
  return r.error;
}

}  // namespace

TEST(Config, FullValidFile) {
  const std::string text = R"(
[server]
listen = ["127.0.0.1:2121", "[::1]:2122"]
banner = "hello"
workers = 2
pid_file = "/run/feitpd.pid"
shutdown_grace = 5
blocking_threads = 8

[passive]
ports = "30000-30100"
masquerade_address = "203.0.113.10"
[[passive.masquerade]]
network = "10.0.0.0/8"
address = "10.0.0.5"

[limits]
max_connections = 500
max_per_ip = 10
max_sessions_per_user = 4
max_login_attempts = 5
login_failure_delay_ms = 250
max_unknown_before_login = 3
max_line = 4096
ban_after_failures = 20
ban_window = 60
ban_time = 120
max_open_files = 65536

[timeouts]
idle = 100
login = 20
data_accept = 10
data_stall = 15

[security]
allow_foreign_active = true
allow_foreign_passive = true
allow_privileged_active_port = true

[storage]
atomic_uploads = true
create_homes = false
transfer_buffer = 65536
listing_utc = false
listing_cache = false
default_hash = "SHA-512"

[log]
level = "debug"
format = "json"
file = "/var/log/feitpd.log"
xferlog = "/var/log/xferlog"

[anonymous]
home = "/srv/ftp/pub"
permissions = "el"
allow_write = true
[anonymous.directories]
"/incoming" = "elw"

[users.alice]
password_hash = ")" + kHash +
                           R"("
home = "/srv/ftp/alice"
permissions = "elradfmwMT"
max_sessions = 2
[users.alice.directories]
"/archive" = "elr"

[users."bob.smith"]
password_hash = ")" + kHash +
                           R"("
home = "/srv/ftp/bob"

[hooks]
on_file_received = "/usr/local/bin/notify"
check_upload = "/usr/local/bin/scan"
timeout = 7
queue = 32
)";
  auto r = parse_config(text, "feitpd.toml");
  ASSERT_TRUE(r.config.has_value()) << r.error;
  const DaemonConfig& c = *r.config;
  EXPECT_EQ(c.source, "feitpd.toml");
  EXPECT_EQ(c.server.listen, (std::vector<std::string>{"127.0.0.1:2121", "[::1]:2122"}));
  EXPECT_EQ(c.server.banner, "hello");
  EXPECT_EQ(c.workers, 2U);
  EXPECT_EQ(c.pid_file, "/run/feitpd.pid");
  EXPECT_EQ(c.shutdown_grace.count(), 5);
  EXPECT_EQ(c.server.blocking_threads, 8U);
  EXPECT_EQ(c.server.passive_port_min, 30000);
  EXPECT_EQ(c.server.passive_port_max, 30100);
  ASSERT_EQ(c.server.masquerade.size(), 2U);
  EXPECT_EQ(c.server.masquerade[0].network, "10.0.0.0/8");
  EXPECT_EQ(c.server.masquerade[0].address, "10.0.0.5");
  EXPECT_EQ(c.server.masquerade[1].network, "");
  EXPECT_EQ(c.server.masquerade[1].address, "203.0.113.10");
  EXPECT_EQ(c.server.max_connections, 500U);
  EXPECT_EQ(c.server.max_per_ip, 10U);
  EXPECT_EQ(c.max_sessions_per_user, 4U);
  EXPECT_EQ(c.server.max_login_attempts, 5U);
  EXPECT_EQ(c.server.login_failure_delay.count(), 250);
  EXPECT_EQ(c.server.max_unknown_before_login, 3U);
  EXPECT_EQ(c.server.max_line, 4096U);
  EXPECT_EQ(c.server.ban_after_failures, 20U);
  EXPECT_EQ(c.server.ban_window.count(), 60);
  EXPECT_EQ(c.server.ban_time.count(), 120);
  EXPECT_EQ(c.max_open_files, 65536U);
  EXPECT_EQ(c.server.idle_timeout.count(), 100);
  EXPECT_EQ(c.server.login_timeout.count(), 20);
  EXPECT_EQ(c.server.data_accept_timeout.count(), 10);
  EXPECT_EQ(c.server.data_stall_timeout.count(), 15);
  EXPECT_TRUE(c.server.allow_foreign_active);
  EXPECT_TRUE(c.server.allow_foreign_passive);
  EXPECT_TRUE(c.server.allow_privileged_active_port);
  EXPECT_TRUE(c.atomic_uploads);
  EXPECT_FALSE(c.create_homes);
  EXPECT_EQ(c.server.transfer_buffer, 65536U);
  EXPECT_FALSE(c.server.listing_utc);
  EXPECT_FALSE(c.server.listing_cache);
  EXPECT_EQ(c.server.default_hash, "SHA-512");
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.log.file, "/var/log/feitpd.log");
  EXPECT_EQ(c.log.xferlog, "/var/log/xferlog");
  ASSERT_TRUE(c.anonymous.has_value());
  EXPECT_EQ(c.anonymous->home, "/srv/ftp/pub");
  EXPECT_EQ(c.anonymous->permissions.letters(), "el");
  EXPECT_TRUE(c.anonymous->permissions.allows('w', "/incoming/x"));
  EXPECT_FALSE(c.anonymous->permissions.allows('w', "/x"));
  ASSERT_EQ(c.users.size(), 2U);
  const UserEntry* alice = nullptr;
  const UserEntry* bob = nullptr;
  for (const auto& u : c.users) (u.name == "alice" ? alice : bob) = &u;
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(bob->name, "bob.smith");
  EXPECT_EQ(alice->password_hash, kHash);
  EXPECT_EQ(alice->home, "/srv/ftp/alice");
  EXPECT_EQ(alice->max_sessions, 2U);
  EXPECT_TRUE(alice->permissions.allows('w', "/x"));
  EXPECT_FALSE(alice->permissions.allows('w', "/archive/x"));
  EXPECT_EQ(bob->permissions.letters(), "elr");
  EXPECT_EQ(c.hooks.programs.at("on_file_received"), "/usr/local/bin/notify");
  EXPECT_EQ(c.hooks.programs.at("check_upload"), "/usr/local/bin/scan");
  EXPECT_EQ(c.hooks.timeout.count(), 7);
  EXPECT_EQ(c.hooks.queue, 32U);
}

TEST(Config, DefaultsWithMinimalFile) {
  auto r = parse_config(minimal_user(), "feitpd.toml");
  ASSERT_TRUE(r.config.has_value()) << r.error;
  Options defaults;
  EXPECT_EQ(r.config->server.listen, defaults.listen);
  EXPECT_EQ(r.config->server.max_per_ip, defaults.max_per_ip);
  EXPECT_FALSE(r.config->anonymous.has_value());
  EXPECT_EQ(r.config->log.level, "info");
}

TEST(Config, StorageUmaskAndAtomicDefaults) {
  // Audit F3 and F16: uploads are atomic and new files 0644 unless the operator says otherwise.
  auto r = parse_config(minimal_user(), "feitpd.toml");
  ASSERT_TRUE(r.config.has_value()) << r.error;
  EXPECT_TRUE(r.config->atomic_uploads);
  EXPECT_EQ(r.config->umask, 022U);
  for (const auto& [text, value] : {std::pair{"077", 077U}, {"0027", 027U}, {"0", 0U}}) {
    auto u = parse_config(std::string("[storage]\numask = \"") + text + "\"\n" + minimal_user(), "f");
    ASSERT_TRUE(u.config.has_value()) << u.error;
    EXPECT_EQ(u.config->umask, value) << text;
  }
  EXPECT_EQ(error_of("[storage]\numask = \"0999\"\n" + minimal_user()),
            "feitpd.toml: storage.umask: must be an octal string of 1 to 4 digits, at most 0777 "
            "(e.g. \"022\" or \"0077\"), got \"0999\"");
  EXPECT_EQ(
      error_of("[storage]\numask = \"7777\"\n" + minimal_user()).rfind("feitpd.toml: storage.umask: ", 0),
      0U);
  EXPECT_EQ(error_of("[storage]\numask = 18\n" + minimal_user()),
            "feitpd.toml: storage.umask: must be an octal string like \"022\", got 18");
}

TEST(Config, SamplePackagingFileParses) {
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../../packaging/feitpd.toml";
  auto r = load_config_file(path.lexically_normal().string());
  ASSERT_TRUE(r.config.has_value()) << r.error;
  EXPECT_TRUE(r.config->anonymous.has_value());
}

TEST(ConfigErrors, UnknownKey) {
  EXPECT_EQ(error_of("[limits]\nmax_per_iq = 3\n" + minimal_user()),
            "feitpd.toml: limits.max_per_iq: unknown key (did you mean \"max_per_ip\"?)");
  EXPECT_EQ(error_of("[limitz]\n" + minimal_user()),
            "feitpd.toml: limitz: unknown key (did you mean \"limits\"?)");
  EXPECT_EQ(error_of(minimal_user() + "colour = \"red\"\n"), "feitpd.toml: users.alice.colour: unknown key");
  EXPECT_EQ(error_of("[hooks]\non_upload = \"/bin/true\"\n" + minimal_user())
                .rfind("feitpd.toml: hooks.on_upload: unknown hook event (events: on_connect, ", 0),
            0U);
}

TEST(ConfigErrors, WrongType) {
  EXPECT_EQ(error_of("[limits]\nmax_per_ip = \"ten\"\n" + minimal_user()),
            "feitpd.toml: limits.max_per_ip: must be an integer between 0 and 100000, got \"ten\"");
  EXPECT_EQ(error_of("[security]\nallow_foreign_active = 1\n" + minimal_user()),
            "feitpd.toml: security.allow_foreign_active: must be true or false, got 1");
  EXPECT_EQ(error_of("[server]\nbanner = 3\n" + minimal_user()),
            "feitpd.toml: server.banner: must be a string, got 3");
  EXPECT_EQ(error_of("limits = 3\n" + minimal_user()),
            "feitpd.toml: limits: must be a table ([limits]), got 3");
  EXPECT_EQ(error_of("[timeouts]\nidle = 1.5\n" + minimal_user()),
            "feitpd.toml: timeouts.idle: must be an integer between 0 and 604800, got 1.5");
}

TEST(ConfigErrors, BadRange) {
  EXPECT_EQ(error_of("[limits]\nmax_per_ip = 100001\n" + minimal_user()),
            "feitpd.toml: limits.max_per_ip: must be an integer between 0 and 100000, got 100001");
  EXPECT_EQ(error_of("[limits]\nmax_line = 10\n" + minimal_user()),
            "feitpd.toml: limits.max_line: must be an integer between 256 and 65536, got 10");
  EXPECT_EQ(error_of("[passive]\nports = \"3000-2000\"\n" + minimal_user()),
            "feitpd.toml: passive.ports: the first port must not exceed the second, got \"3000-2000\"");
  EXPECT_EQ(
      error_of("[passive]\nports = \"0-70000\"\n" + minimal_user()),
      "feitpd.toml: passive.ports: must be \"MIN-MAX\" with ports 1 to 65535 (e.g. \"30000-30100\"), got \"0-70000\"");
  EXPECT_EQ(
      error_of("[log]\nlevel = \"loud\"\n" + minimal_user()),
      "feitpd.toml: log.level: must be one of trace, debug, info, warn, error, critical, off, got \"loud\"");
}

TEST(ConfigErrors, BadAddress) {
  EXPECT_EQ(error_of("[server]\nlisten = [\"localhost:21\"]\n" + minimal_user()),
            "feitpd.toml: server.listen: \"localhost:21\" is not ADDR:PORT or [IPV6]:PORT with a numeric "
            "address (e.g. \"0.0.0.0:2121\", \"[::]:2121\")");
  EXPECT_EQ(error_of("[server]\nlisten = \"1.2.3.4:99999\"\n" + minimal_user()),
            "feitpd.toml: server.listen: \"1.2.3.4:99999\": the port must be 0 to 65535");
  EXPECT_NE(error_of("[server]\nlisten = \"::1:21\"\n" + minimal_user()).find("server.listen: "),
            std::string::npos);
  EXPECT_EQ(error_of("[server]\nlisten = []\n" + minimal_user()),
            "feitpd.toml: server.listen: must name at least one address");
  EXPECT_EQ(error_of("[passive]\nmasquerade_address = \"::1\"\n" + minimal_user()),
            "feitpd.toml: passive.masquerade_address: must be a numeric IPv4 address, got \"::1\"");
  EXPECT_EQ(
      error_of("[[passive.masquerade]]\nnetwork = \"10.0.0.0/33\"\naddress = \"1.2.3.4\"\n" + minimal_user()),
      "feitpd.toml: passive.masquerade.network: must be an address or a CIDR network such as "
      "\"10.0.0.0/8\", got \"10.0.0.0/33\"");
}

TEST(ConfigErrors, PlaintextPassword) {
  EXPECT_EQ(error_of("[users.alice]\npassword = \"secret\"\nhome = \"/srv\"\n"),
            "feitpd.toml: users.alice.password: plaintext passwords are not accepted; use "
            "password_hash = \"$y$...\" (feitpd --hash-password)");
  EXPECT_EQ(error_of("[users.alice]\npassword_hash = \"secret\"\nhome = \"/srv\"\n"),
            "feitpd.toml: users.alice.password_hash: not a crypt(3) hash libcrypt can check "
            "(expected \"$y$...\", \"$6$...\" or \"$2b$...\"; make one with feitpd --hash-password)");
}

TEST(ConfigErrors, UsersAndHomes) {
  EXPECT_EQ(error_of("[users.alice]\npassword_hash = \"" + kHash + "\"\nhome = \"srv\"\n"),
            "feitpd.toml: users.alice.home: must be an absolute path, got \"srv\"");
  EXPECT_EQ(error_of("[users.alice]\npassword_hash = \"" + kHash + "\"\n"),
            "feitpd.toml: users.alice.home: is required");
  EXPECT_EQ(error_of(minimal_user() + "permissions = \"elrx\"\n"),
            "feitpd.toml: users.alice.permissions: unknown permission letter 'x' (allowed: elradfmwMT)");
  EXPECT_EQ(error_of(minimal_user() + "[users.alice.directories]\n\"/pub\" = \"z\"\n"),
            "feitpd.toml: users.alice.directories.\"/pub\": unknown permission letter 'z' (allowed: "
            "elradfmwMT)");
  EXPECT_EQ(error_of("[users.\"al ice\"]\npassword_hash = \"" + kHash + "\"\nhome = \"/srv\"\n"),
            "feitpd.toml: users.\"al ice\": user names may hold letters, digits and . _ - @ + (1 to 64 "
            "characters)");
  // A file with no users parses (they may come from --user); validate() then refuses it.
  auto no_users = parse_config("[server]\nbanner = \"x\"\n", "feitpd.toml");
  ASSERT_TRUE(no_users.config.has_value()) << no_users.error;
  EXPECT_EQ(validate(*no_users.config),
            "feitpd.toml: users: no one can log in: add a [users.NAME] table or enable [anonymous]");
  EXPECT_EQ(error_of("[anonymous]\nenabled = true\n"),
            "feitpd.toml: anonymous.home: is required when anonymous login is enabled");
  auto anon_off = parse_config("[anonymous]\nenabled = false\nhome = \"/srv\"\n", "feitpd.toml");
  ASSERT_TRUE(anon_off.config.has_value()) << anon_off.error;
  EXPECT_EQ(validate(*anon_off.config),
            "feitpd.toml: users: no one can log in: add a [users.NAME] table or enable [anonymous]");
}

TEST(ConfigErrors, SyntaxErrorNamesLine) {
  std::string e = error_of("[server]\nbanner = \"x\"\nworkers = = 3\n");
  EXPECT_EQ(e.rfind("feitpd.toml:3:", 0), 0U) << e;
  e = error_of("[server\n");
  EXPECT_EQ(e.rfind("feitpd.toml:1:", 0), 0U) << e;
}

TEST(ConfigErrors, MissingFile) {
  auto r = load_config_file("/nonexistent/feitpd.toml");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.error, "/nonexistent/feitpd.toml: cannot open: No such file or directory");
}

TEST(Validate, OverridesAreRechecked) {
  auto r = parse_config(minimal_user(), "feitpd.toml");
  ASSERT_TRUE(r.config.has_value()) << r.error;
  DaemonConfig c = *r.config;
  EXPECT_EQ(validate(c), "");
  c.server.listen = {"127.0.0.1:0"};
  c.server.passive_port_min = 40000;
  c.server.passive_port_max = 40010;
  EXPECT_EQ(validate(c), "");
  c.server.passive_port_max = 30000;
  EXPECT_EQ(validate(c).rfind("feitpd.toml: passive.ports: ", 0), 0U) << validate(c);
  c.server.passive_port_max = 40010;
  c.server.listen.push_back("nowhere");
  EXPECT_EQ(validate(c).rfind("feitpd.toml: server.listen: \"nowhere\"", 0), 0U);
  c.server.listen.pop_back();
  c.log.level = "chatty";
  EXPECT_EQ(validate(c).rfind("feitpd.toml: log.level:", 0), 0U);
  c.log.level = "warn";
  c.users[0].password_hash = "plain";
  EXPECT_EQ(validate(c).rfind("feitpd.toml: users.alice.password_hash:", 0), 0U);
  c.users.clear();
  c.anonymous = AnonymousEntry{"/srv/ftp", Permissions{}};
  EXPECT_EQ(validate(c), "");
  c.anonymous->home = "";
  EXPECT_EQ(validate(c), "feitpd.toml: anonymous.home: must not be empty");
  c.source.clear();
  EXPECT_EQ(validate(c), "anonymous.home: must not be empty");
}

// The values that end in Options are checked by feitp::validate(const Options&), the library's
// own rules; the messages name this file's keys, not the C++ fields.
TEST(Validate, OptionsProblemsUseTheFileKeys) {
  auto r = parse_config(minimal_user(), "feitpd.toml");
  ASSERT_TRUE(r.config.has_value()) << r.error;
  const DaemonConfig good = *r.config;
  const auto problem_of = [&](const std::function<void(DaemonConfig&)>& change) {
    DaemonConfig c = good;
    change(c);
    return validate(c);
  };
  EXPECT_EQ(problem_of([](DaemonConfig& c) {
              c.server.masquerade = {{"", "::1"}};
            }).rfind("feitpd.toml: passive.masquerade_address: must be a numeric IPv4 address", 0),
            0U);
  EXPECT_EQ(problem_of([](DaemonConfig& c) {
              c.server.masquerade = {{"10.0.0.0/8", "1.2.3.4"}, {"10.1.0.0/16", "x"}};
            }).rfind("feitpd.toml: passive.masquerade.address: ", 0),
            0U);
  EXPECT_EQ(problem_of([](DaemonConfig& c) { c.server.transfer_buffer = 1; }),
            "feitpd.toml: storage.transfer_buffer: must be 4096 to 67108864 bytes");
  EXPECT_EQ(problem_of([](DaemonConfig& c) { c.server.idle_timeout = std::chrono::seconds{-5}; }),
            "feitpd.toml: timeouts.idle: must not be negative, got -5");
  EXPECT_EQ(problem_of([](DaemonConfig& c) { c.server.blocking_threads = 0; }),
            "feitpd.toml: server.blocking_threads: must be 1 to 256");
  EXPECT_EQ(problem_of([](DaemonConfig& c) {
              c.server.tls.cert_file = "/etc/c.pem";
            }).rfind("feitpd.toml: tls.key: is required", 0),
            0U);
  EXPECT_EQ(problem_of([](DaemonConfig& c) {
              c.server.tls.required = TlsRequired::all;
            }).rfind("feitpd.toml: tls.required: ", 0),
            0U);
  EXPECT_EQ(problem_of([](DaemonConfig& c) { c.server.tls.min_version = "1.0"; }),
            "feitpd.toml: tls.min_version: must be \"1.2\" or \"1.3\", got \"1.0\"");
}

TEST(Helpers, ListenAndPortRange) {
  EXPECT_EQ(check_listen_address("0.0.0.0:21"), "");
  EXPECT_EQ(check_listen_address("[::]:2121"), "");
  EXPECT_EQ(check_listen_address("[::ffff:1.2.3.4]:0"), "");
  EXPECT_NE(check_listen_address("0.0.0.0"), "");
  EXPECT_NE(check_listen_address("[::]"), "");
  EXPECT_NE(check_listen_address("1.2.3:21"), "");
  EXPECT_NE(check_listen_address("1.2.3.4:+21"), "");
  EXPECT_NE(check_listen_address(":21"), "");
  std::uint16_t lo = 1;
  std::uint16_t hi = 1;
  EXPECT_EQ(parse_port_range("50000-50010", lo, hi), "");
  EXPECT_EQ(lo, 50000);
  EXPECT_EQ(hi, 50010);
  EXPECT_EQ(parse_port_range("", lo, hi), "");
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(parse_port_range("2121", lo, hi), "");
  EXPECT_EQ(lo, 2121);
  EXPECT_EQ(hi, 2121);
  EXPECT_NE(parse_port_range("a-b", lo, hi), "");
  EXPECT_NE(parse_port_range("10-", lo, hi), "");
}

TEST(Config, ProxyProtocolAndProtocolLog) {
  auto r = parse_config(minimal_user() +
                            "[proxy_protocol]\nfrom = [\"10.0.0.0/8\", \"::1\"]\ntimeout = 2\n"
                            "[log]\nprotocol = true\n",
                        "feitpd.toml");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->server.proxy_protocol_from, (std::vector<std::string>{"10.0.0.0/8", "::1"}));
  EXPECT_EQ(r.config->server.proxy_protocol_timeout, std::chrono::seconds{2});
  EXPECT_TRUE(r.config->server.protocol_log);
  // Defaults: nobody trusted, 5 s, no protocol log.
  auto d = parse_config(minimal_user(), "feitpd.toml");
  ASSERT_TRUE(d.config) << d.error;
  EXPECT_TRUE(d.config->server.proxy_protocol_from.empty());
  EXPECT_EQ(d.config->server.proxy_protocol_timeout, std::chrono::seconds{5});
  EXPECT_FALSE(d.config->server.protocol_log);

  EXPECT_NE(
      error_of(minimal_user() + "[proxy_protocol]\nfrom = [\"10.0.0.0/33\"]\n").find("proxy_protocol.from"),
      std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[proxy_protocol]\nfrom = \"10.0.0.1\"\n").find("proxy_protocol.from"),
            std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[proxy_protocol]\ntimeout = 0\n").find("proxy_protocol.timeout"),
            std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[proxy_protocol]\nfrm = []\n").find("proxy_protocol.frm"),
            std::string::npos);
}

TEST(Config, CheckPathsNamesEveryProblemAndCreatesNothing) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("feitp-check-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "home");
  const fs::path not_exec = dir / "hook.sh";
  std::ofstream(not_exec) << "#!/bin/sh\n";
  fs::permissions(not_exec, fs::perms::owner_read | fs::perms::owner_write);

  DaemonConfig cfg;
  cfg.source = "feitpd.toml";
  cfg.create_homes = false;
  cfg.log.file = (dir / "missing" / "feitpd.log").string();
  cfg.log.xferlog = (dir / "home").string();  // a directory
  cfg.hooks.programs["on_login"] = (dir / "nope").string();
  cfg.hooks.programs["on_logout"] = not_exec.string();
  UserEntry ok;
  ok.name = "ok";
  ok.home = (dir / "home").string();
  UserEntry gone;
  gone.name = "gone";
  gone.home = (dir / "gone").string();
  cfg.users = {ok, gone};

  const auto problems = check_paths(cfg);
  ASSERT_EQ(problems.size(), 5u);
  auto has = [&](const std::string& key, const std::string& what) {
    for (const auto& p : problems) {
      if (p.starts_with("feitpd.toml: " + key + ": ") && p.find(what) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("log.file", "does not exist"));
  EXPECT_TRUE(has("log.xferlog", "is a directory"));
  EXPECT_TRUE(has("hooks.on_login", "No such file"));
  EXPECT_TRUE(has("hooks.on_logout", "not executable"));
  EXPECT_TRUE(has("users.gone.home", "does not exist"));
  EXPECT_FALSE(fs::exists(dir / "missing"));
  EXPECT_FALSE(fs::exists(dir / "gone"));

  // With create_homes, a missing home under a writable directory is fine.
  cfg.create_homes = true;
  cfg.log = {};
  cfg.hooks.programs.clear();
  EXPECT_TRUE(check_paths(cfg).empty());
  EXPECT_FALSE(fs::exists(dir / "gone"));
  fs::remove_all(dir);
}

TEST(Config, TlsTable) {
  auto r = parse_config(minimal_user() + R"(
[tls]
cert = "/etc/c.pem"
key = "/etc/k.pem"
required = "all"
min_version = "1.3"
data_session = "required"
implicit_listen = ["127.0.0.1:990", "[::1]:990"]
handshake_timeout = 3
[[tls.host]]
name = "a.example"
cert = "/etc/a.pem"
key = "/etc/a.key"
)",
                        "feitpd.toml");
  ASSERT_TRUE(r.config) << r.error;
  const auto& t = r.config->server.tls;
  EXPECT_TRUE(t.enabled());
  EXPECT_EQ(t.required, TlsRequired::all);
  EXPECT_EQ(t.min_version, "1.3");
  EXPECT_EQ(t.data_session, DataSessionPolicy::required);
  EXPECT_EQ(t.implicit_listen.size(), 2U);
  EXPECT_EQ(t.handshake_timeout.count(), 3);
  ASSERT_EQ(t.hosts.size(), 1U);
  EXPECT_EQ(t.hosts[0].name, "a.example");
}

TEST(Config, TlsDefaults) {
  auto r = parse_config(minimal_user(), "feitpd.toml");
  ASSERT_TRUE(r.config) << r.error;
  const auto& t = r.config->server.tls;
  EXPECT_FALSE(t.enabled());
  EXPECT_EQ(t.required, TlsRequired::off);
  EXPECT_EQ(t.data_session, DataSessionPolicy::own);
  EXPECT_EQ(t.min_version, "1.2");
}

TEST(ConfigErrors, TlsValues) {
  EXPECT_NE(error_of(minimal_user() + "[tls]\ncert = \"/c\"\nkey = \"/k\"\ndata_session = \"maybe\"\n")
                .find("tls.data_session"),
            std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[tls]\ncert = \"/c\"\n").find("tls.key: is required"),
            std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[tls]\nrequired = \"yes\"\n").find("tls.required"), std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[tls]\nmin_version = \"1.1\"\n").find("tls.min_version"),
            std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[tls]\nimplicit_listen = \"nowhere\"\n").find("tls.implicit_listen"),
            std::string::npos);
}

TEST(Config, QuotasRatesAndHosts) {
  const std::string text = minimal_user() + R"(quota_bytes = 1000000
quota_files = 100
upload_rate = 2000
download_rate = 3000
host = "Alpha.example"

[limits]
upload_rate = 10
download_rate = 20
session_upload_rate = 30
session_download_rate = 40

[[hosts]]
name = "alpha.example"
banner = "Alpha here."
root = "/srv/ftp/alpha"
session_download_rate = 50

[[hosts]]
name = "beta.example"
)";
  auto r = parse_config(text, "feitpd.toml");
  ASSERT_TRUE(r.config.has_value()) << r.error;
  const auto& c = *r.config;
  ASSERT_EQ(c.users.size(), 1U);
  EXPECT_EQ(c.users[0].quota_bytes, 1000000U);
  EXPECT_EQ(c.users[0].quota_files, 100U);
  EXPECT_EQ(c.users[0].upload_rate, 2000U);
  EXPECT_EQ(c.users[0].download_rate, 3000U);
  EXPECT_EQ(c.users[0].host, "Alpha.example");
  EXPECT_EQ(c.server.upload_rate, 10U);
  EXPECT_EQ(c.server.download_rate, 20U);
  EXPECT_EQ(c.server.session_upload_rate, 30U);
  EXPECT_EQ(c.server.session_download_rate, 40U);
  ASSERT_EQ(c.hosts.size(), 2U);
  EXPECT_EQ(c.hosts[0].name, "alpha.example");
  EXPECT_EQ(c.hosts[0].banner, "Alpha here.");
  EXPECT_EQ(c.hosts[0].root, "/srv/ftp/alpha");
  EXPECT_EQ(c.hosts[0].session_download_rate, 50U);
  EXPECT_EQ(c.hosts[1].name, "beta.example");
}

TEST(ConfigErrors, HostsAndLimits) {
  EXPECT_EQ(error_of(minimal_user() + "host = \"nowhere\"\n"),
            "feitpd.toml: users.alice.host: names no [[hosts]] entry: \"nowhere\"");
  EXPECT_EQ(error_of(minimal_user() + "[[hosts]]\nbanner = \"x\"\n"),
            "feitpd.toml: hosts[0].name: is required");
  EXPECT_EQ(error_of(minimal_user() + "[[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"A\"\n"),
            "feitpd.toml: hosts[1].name: names a host twice: \"A\"");
  EXPECT_NE(error_of(minimal_user() + "[[hosts]]\nname = \"a b\"\n").find("hosts[0].name"),
            std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "quota_bytes = -1\n").find("users.alice.quota_bytes"),
            std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[limits]\nupload_rate = \"fast\"\n").find("limits.upload_rate"),
            std::string::npos);
  EXPECT_NE(error_of(minimal_user() + "[[hosts]]\nname = \"a\"\nroot = \"relative\"\n").find("hosts[0].root"),
            std::string::npos);
}
