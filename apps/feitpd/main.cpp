// feitpd: the feitp FTP daemon's command line.
//   feitpd --config /etc/feitpd.toml            serve from a configuration file
//   feitpd --root /srv/ftp --user alice:secret  quick start without a file (the password is
//                                               scrubbed from argv; --password-file is better)
//   feitpd --hash-password < pw.txt             print a crypt(3) hash for the file
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "feitp/auth.hpp"
#include "net/tls.hpp"
#include "runtime/logging.hpp"
#include "runtime/daemon_server.hpp"
#include "runtime/master.hpp"
#include "user_command.hpp"

#ifndef FEITP_VERSION
#define FEITP_VERSION "0.0.0"
#endif

namespace {

struct Flags {
  std::string config;
  bool check = false;
  std::vector<std::string> listen;
  std::optional<std::string> root;
  std::vector<std::string> users;  // NAME:PASSWORD or NAME (password from a file or stdin)
  std::optional<std::string> password_file;
  bool password_stdin = false;
  std::optional<std::string> run_as;
  bool write = false;
  bool anonymous = false;
  std::optional<std::string> passive_ports;
  std::optional<std::uint32_t> idle_timeout;
  std::optional<std::uint32_t> data_timeout;
  std::optional<std::uint32_t> max_per_ip;
  std::optional<std::uint64_t> upload_rate, download_rate;
  std::optional<std::string> log_level;
  std::optional<std::uint32_t> workers;
  std::optional<std::string> umask;
  bool hash_password = false;
  std::string hash_method = "yescrypt";
  std::vector<std::string> proxy_protocol_from;
  bool protocol_log = false;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  bool tls_required = false;
  std::vector<std::string> implicit_tls_listen;
  std::optional<std::string> metrics_listen;
  std::optional<std::string> admin_listen;
  std::optional<std::string> admin_token_file;
  bool admin_allow_remote = false;
  std::optional<std::string> admin_tls_cert;
  std::optional<std::string> admin_tls_key;
  std::optional<std::string> accounts;  // overrides [accounts] store
};

int fail(const std::string& message) {
  std::fprintf(stderr, "feitpd: %s\n", message.c_str());
  return 1;
}

// Overwrites a secret in place (explicit_bzero is not optimised away), then empties it.
void wipe(std::string& secret) {
  ::explicit_bzero(secret.data(), secret.size());
  secret.clear();
}

constexpr std::size_t kMaxSecretLine = 4096;

// One line from `fd`, a byte at a time into storage reserved up front: no stdio buffer and no
// reallocation leaves a copy of a password behind in freed memory. nullopt at end of file
// before any byte, or when the line is too long (`error` says which).
std::optional<std::string> read_secret_line(int fd, std::string& error) {
  std::string line;
  line.reserve(kMaxSecretLine);
  char c = 0;
  bool any = false;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      wipe(line);
      return std::nullopt;
    }
    if (n == 0 || c == '\n') break;
    any = true;
    if (line.size() + 1 >= kMaxSecretLine) {
      error = "line longer than " + std::to_string(kMaxSecretLine - 1) + " bytes";
      wipe(line);
      return std::nullopt;
    }
    line.push_back(c);
  }
  if (!any && line.empty()) {
    error = "empty";
    return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// One line from standard input, without echo when it is a terminal.
std::optional<std::string> read_password(const char* prompt = "Password: ") {
  const bool tty = ::isatty(STDIN_FILENO) != 0;
  termios saved{};
  if (tty) {
    std::fprintf(stderr, "%s", prompt);
    std::fflush(stderr);
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string error;
  auto line = read_secret_line(STDIN_FILENO, error);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::fprintf(stderr, "\n");
  }
  return line;
}

// F13: /proc/PID/cmdline (mode 0444, inherited by every worker) shows the original argv
// memory. Overwrite the PASSWORD part of every NAME:PASSWORD there, once CLI11 has copied it.
void scrub_passwords_from_argv(int argc, char** argv, const std::vector<std::string>& users) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::size_t skip = 0;
    if (arg.starts_with("--user=")) skip = 7;
    for (const auto& spec : users) {
      const auto colon = spec.find(':');
      if (colon == std::string::npos || arg.substr(skip) != spec) continue;
      std::memset(argv[i] + skip + colon + 1, '*', spec.size() - colon - 1);
      break;
    }
  }
}

// The first line of `path`, without its line end.
std::optional<std::string> read_password_file(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "--password-file " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  auto line = read_secret_line(fd, error);
  ::close(fd);
  if (!line) error = "--password-file " + path + ": " + error;
  return line;
}

int hash_password_command(const std::string& method) {
  auto pw = read_password();
  if (!pw || pw->empty()) return fail("--hash-password: no password on standard input");
  try {
    std::printf("%s\n", feitp::hash_password(*pw, method).c_str());
  } catch (const std::exception& e) { return fail(std::string("--hash-password: ") + e.what()); }
  return 0;
}

// The --user and --anonymous accounts, hashed once at start: a reload re-applies these, so no
// plaintext password stays in memory (and --password-stdin is not read twice).
struct CommandLineLogins {
  std::vector<feitp::UserEntry> users;
  std::optional<feitp::AnonymousEntry> anonymous;
};

// Hashes the --user passwords (from NAME:PASSWORD, --password-file or --password-stdin) and
// wipes the plaintext from `f`. Returns "" or a one-line problem.
std::string prepare_logins(Flags& f, CommandLineLogins& out) {
  namespace fs = std::filesystem;
  if (f.root && f.users.empty() && !f.anonymous) {
    return "--root sets the home of --user and --anonymous; give one of them too";
  }
  const bool bare_name = std::any_of(f.users.begin(), f.users.end(),
                                     [](const std::string& u) { return u.find(':') == std::string::npos; });
  if (f.password_file && f.password_stdin) return "give --password-file or --password-stdin, not both";
  if ((f.password_file || f.password_stdin) && !bare_name) {
    return std::string(f.password_file ? "--password-file" : "--password-stdin") +
           ": no --user NAME (without :PASSWORD) to use it for";
  }
  std::optional<std::string> shared;
  if (bare_name) {
    std::string error;
    if (f.password_file) {
      shared = read_password_file(*f.password_file, error);
    } else if (f.password_stdin) {
      shared = read_password();
      if (!shared) error = "--password-stdin: no password on standard input";
    } else {
      error = "--user NAME needs a password: NAME:PASSWORD, --password-file FILE or --password-stdin";
    }
    if (!shared) return error;
    if (shared->empty()) return "--user: the password is empty";
  }
  if (f.users.empty() && !f.anonymous) return {};

  std::error_code ec;
  fs::path root = fs::absolute(f.root.value_or("."), ec);
  if (ec) return "--root: " + ec.message();
  root = root.lexically_normal();
  if (root.has_filename() == false && root != root.root_path()) root = root.parent_path();
  if (!f.users.empty() && !f.check) {  // --check changes nothing: a missing root is reported
    fs::create_directories(root, ec);
    if (ec) return "--root: cannot create " + root.string() + ": " + ec.message();
  }
  if (!fs::is_directory(root, ec)) {
    return "--root: " + root.string() + (fs::exists(root, ec) ? " is not a directory" : " does not exist");
  }

  const std::string_view letters = f.write ? feitp::Permissions::kAll : feitp::Permissions::kReadOnly;
  std::string problem;
  for (auto& spec : f.users) {
    const auto colon = spec.find(':');
    if (colon == 0) {
      problem = "--user: expected NAME:PASSWORD or NAME, got an empty NAME";
      break;
    }
    feitp::UserEntry u;
    u.name = spec.substr(0, colon);
    u.home = root.string();
    u.permissions = feitp::Permissions(letters);
    std::string password = colon == std::string::npos ? *shared : spec.substr(colon + 1);
    try {
      u.password_hash = feitp::hash_password(password);
    } catch (const std::exception& e) { problem = std::string("--user: ") + e.what(); }
    wipe(password);
    if (!problem.empty()) break;
    std::erase_if(out.users, [&](const feitp::UserEntry& x) { return x.name == u.name; });
    out.users.push_back(std::move(u));
  }
  if (shared) wipe(*shared);
  for (auto& spec : f.users) wipe(spec);
  f.users.clear();
  if (!problem.empty()) return problem;
  if (f.anonymous) out.anonymous = feitp::AnonymousEntry{root.string(), feitp::Permissions{}};
  return {};
}

// Applies the command-line flags over the file's (or the default) configuration.
// Returns "" or a one-line problem.
std::string apply_flags(const Flags& f, const CommandLineLogins& logins, feitp::config::DaemonConfig& cfg) {
  namespace fs = std::filesystem;
  if (!f.listen.empty()) {
    for (const auto& l : f.listen) {
      if (auto p = feitp::config::check_listen_address(l); !p.empty()) return "--listen: " + p;
    }
    cfg.server.listen = f.listen;
  }
  if (f.passive_ports) {
    if (auto p = feitp::config::parse_port_range(*f.passive_ports, cfg.server.passive_port_min,
                                                 cfg.server.passive_port_max);
        !p.empty()) {
      return "--passive-ports: " + p;
    }
  }
  if (f.idle_timeout) cfg.server.idle_timeout = std::chrono::seconds{*f.idle_timeout};
  if (f.data_timeout) {
    cfg.server.data_accept_timeout = std::chrono::seconds{*f.data_timeout};
    cfg.server.data_stall_timeout = std::chrono::seconds{*f.data_timeout};
  }
  if (f.max_per_ip) cfg.server.max_per_ip = *f.max_per_ip;
  if (f.upload_rate) cfg.server.upload_rate = *f.upload_rate;
  if (f.download_rate) cfg.server.download_rate = *f.download_rate;
  if (f.log_level) cfg.log.level = *f.log_level;
  if (f.workers) cfg.workers = *f.workers;
  if (f.umask) {
    if (auto p = feitp::config::parse_umask(*f.umask, cfg.umask); !p.empty()) return "--umask: " + p;
  }
  if (f.run_as) cfg.run_as = *f.run_as;
  if (!f.proxy_protocol_from.empty()) {
    for (const auto& net : f.proxy_protocol_from) {
      if (!feitp::config::check_network(net)) {
        return "--proxy-protocol-from: expected a network such as 10.0.0.0/8 or ::1, got \"" + net + "\"";
      }
    }
    cfg.server.proxy_protocol_from = f.proxy_protocol_from;
  }
  if (f.protocol_log) cfg.server.protocol_log = true;
  if (f.tls_cert) cfg.server.tls.cert_file = *f.tls_cert;
  if (f.tls_key) cfg.server.tls.key_file = *f.tls_key;
  if (f.tls_required) cfg.server.tls.required = feitp::TlsRequired::all;
  if (!f.implicit_tls_listen.empty()) {
    for (const auto& l : f.implicit_tls_listen) {
      if (auto p = feitp::config::check_listen_address(l); !p.empty()) return "--implicit-tls-listen: " + p;
    }
    cfg.server.tls.implicit_listen = f.implicit_tls_listen;
  }
  // Certificates and keys: loaded, matched and dated here, so a bad one is a one-line error
  // at start, at --check and at a reload (which then keeps the running configuration).
  if (auto p = feitp::net::check_tls(cfg.server.tls); !p.empty()) return p;
  if (f.metrics_listen) cfg.monitor.metrics_listen = *f.metrics_listen;
  if (f.admin_listen) cfg.monitor.admin_listen = *f.admin_listen;
  if (f.admin_token_file) cfg.monitor.admin_token_file = *f.admin_token_file;
  if (f.admin_allow_remote) cfg.monitor.admin_allow_remote = true;
  if (f.admin_tls_cert) cfg.monitor.admin_tls_cert = *f.admin_tls_cert;
  if (f.admin_tls_key) cfg.monitor.admin_tls_key = *f.admin_tls_key;
  if (f.accounts) cfg.accounts.store = *f.accounts;
  for (const auto& u : logins.users) {
    std::erase_if(cfg.users, [&](const feitp::UserEntry& x) { return x.name == u.name; });
    cfg.users.push_back(u);
  }
  if (logins.anonymous) cfg.anonymous = logins.anonymous;
  return {};
}

// The one place that decides how the daemon runs: workers = 1 serves in this process; any
// other count (0 = one per core) runs the master, which re-reads the file and re-applies these
// flags on SIGHUP.
int run(const feitp::config::DaemonConfig& cfg, const Flags& f, const CommandLineLogins& logins) {
  if (cfg.workers == 1) return feitp::runtime::serve_single_process(cfg);
  auto reload = [f, logins]() -> feitp::config::LoadResult {
    feitp::config::DaemonConfig next;
    if (!f.config.empty()) {
      auto loaded = feitp::config::load_config_file(f.config);
      if (!loaded.config) return loaded;
      next = std::move(*loaded.config);
    }
    if (auto problem = apply_flags(f, logins, next); !problem.empty()) return {std::nullopt, problem};
    if (auto problem = feitp::config::validate(next); !problem.empty()) return {std::nullopt, problem};
    std::string note;  // a new store: created or migrated before the new workers read it
    if (auto problem = feitp::runtime::prepare_account_store(next, false, note); !problem.empty()) {
      return {std::nullopt, problem};
    }
    return {std::move(next), {}};
  };
  return feitp::runtime::serve_master(cfg, reload);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"feitpd: the feitp FTP server", "feitpd"};
  app.set_version_flag("--version", "feitpd " FEITP_VERSION);
  app.add_option("--config", f.config, "TOML configuration file")->check(CLI::ExistingFile);
  app.add_flag("--check", f.check, "Validate the configuration and exit (0 = valid)");
  app.add_option("--listen", f.listen,
                 "Control address ADDR:PORT or [V6]:PORT (repeatable; default 0.0.0.0:2121)");
  app.add_option("--root", f.root, "Home of --user and --anonymous (default: current directory)");
  app.add_option("--user", f.users,
                 "NAME:PASSWORD or NAME (with --password-file/--password-stdin), hashed in memory "
                 "at start (repeatable)");
  app.add_option("--password-file", f.password_file,
                 "Password of each --user NAME given without one: the file's first line");
  app.add_flag("--password-stdin", f.password_stdin,
               "Read the password of each --user NAME given without one from standard input");
  app.add_option("--run-as", f.run_as,
                 "Serve as this system user when started as root (server.run_as; \"root\" keeps "
                 "full root; default: none)");
  app.add_flag("--write", f.write, "--user users may write (elradfmwMT instead of elr)");
  app.add_flag("--anonymous", f.anonymous, "Allow read-only anonymous login rooted at --root");
  app.add_option("--passive-ports", f.passive_ports,
                 "Passive port range MIN-MAX (default: a port the kernel picks)");
  app.add_option("--idle-timeout", f.idle_timeout, "Idle control connection timeout, seconds (default 300)")
      ->check(CLI::Range(0, 7 * 24 * 3600));
  app.add_option(
         "--data-timeout", f.data_timeout,
         "Data connection accept and stall timeout, seconds (default 30 to connect, 60 without a byte)")
      ->check(CLI::Range(0, 7 * 24 * 3600));
  app.add_option("--max-per-ip", f.max_per_ip, "Connections per client address (default 0 = unlimited)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--upload-rate", f.upload_rate,
                 "Upload bandwidth of the whole server, bytes/s ([limits] upload_rate; 0 = unlimited)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 40));
  app.add_option("--download-rate", f.download_rate,
                 "Download bandwidth of the whole server, bytes/s ([limits] download_rate; 0 = unlimited)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 40));
  app.add_option("--log-level", f.log_level, "trace debug info warn error critical off (default info)");
  app.add_option("--workers", f.workers, "Worker processes (default 0 = one per core)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--umask", f.umask,
                 "Mode bits removed from new files (0666) and dirs (0777), octal (default 022)");
  app.add_option("--proxy-protocol-from", f.proxy_protocol_from,
                 "Connections from this network (CIDR or address) must start with a PROXY "
                 "protocol v1/v2 header naming the client (repeatable; default: none)");
  app.add_flag("--protocol-log", f.protocol_log,
               "Log every command and reply at info level, passwords masked (default: off)");
  app.add_option("--tls-cert", f.tls_cert, "PEM certificate (chain): turns FTPS on (tls.cert)");
  app.add_option("--tls-key", f.tls_key, "PEM private key of --tls-cert (tls.key)");
  app.add_flag("--tls-required", f.tls_required,
               "Refuse logins and data transfers without TLS (tls.required = \"all\")");
  app.add_option(
      "--implicit-tls-listen", f.implicit_tls_listen,
      "Implicit FTPS address ADDR:PORT, TLS from the first byte (repeatable; tls.implicit_listen)");
  app.add_option("--metrics-listen", f.metrics_listen,
                 "Serve Prometheus /metrics on ADDR:PORT ([metrics] listen; default off)");
  app.add_option("--admin-listen", f.admin_listen,
                 "Serve the admin API and web page on ADDR:PORT ([admin] listen; loopback only "
                 "unless --admin-allow-remote; default off)");
  app.add_option("--admin-token-file", f.admin_token_file,
                 "File whose first line is the admin API's bearer token ([admin] token_file)");
  app.add_flag("--admin-allow-remote", f.admin_allow_remote,
               "Allow --admin-listen on a non-loopback address ([admin] allow_remote)");
  app.add_option("--admin-tls-cert", f.admin_tls_cert,
                 "PEM certificate chain: the admin listener speaks HTTPS ([admin] tls_cert)");
  app.add_option("--admin-tls-key", f.admin_tls_key, "PEM private key of --admin-tls-cert ([admin] tls_key)");
  app.add_flag("--hash-password", f.hash_password,
               "Read a password from standard input, print its hash and exit");
  app.add_option("--hash-method", f.hash_method, "yescrypt, sha512 or bcrypt")
      ->check(CLI::IsMember({"yescrypt", "sha512", "bcrypt"}))
      ->capture_default_str();
  app.footer(
      "Flags override the file given with --config. Every flag and configuration key, with its "
      "default: docs/configuration.md in the source, and the manual pages "
      "feitpd(8) and feitpd.toml(5).");
  app.add_option(
      "--accounts", f.accounts,
      "Account store: config, sqlite:PATH, postgresql://... or pam[:SERVICE] (overrides [accounts] store; default config)");
  feitpd::UserArgs user_args;
  CLI::App* user_cmd = feitpd::add_user_subcommand(app, user_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) { return app.exit(e); } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) { return fail(e.what()); }
  scrub_passwords_from_argv(argc, argv, f.users);
  // CLI11 keeps its own copies of what it parsed.
  if (auto* opt = app.get_option_no_throw("--user")) {
    for (auto& r : const_cast<CLI::results_t&>(opt->results())) wipe(r);
  }

  if (f.hash_password) return hash_password_command(f.hash_method);

  if (user_cmd->parsed()) {
    std::string store = f.accounts.value_or("config");
    std::uint32_t timeout = 5;
    if (!f.config.empty()) {
      auto loaded = feitp::config::load_config_file(f.config);
      if (!loaded.config) {
        std::fprintf(stderr, "%s\n", loaded.error.c_str());
        return 1;
      }
      if (!f.accounts) store = loaded.config->accounts.store;
      timeout = loaded.config->accounts.connect_timeout;
    }
    return feitpd::run_user_command(user_args, store, f.config, timeout,
                                    [](const char* prompt) { return read_password(prompt); });
  }

  feitp::config::DaemonConfig cfg;
  if (!f.config.empty()) {
    auto loaded = feitp::config::load_config_file(f.config);
    if (!loaded.config) {
      std::fprintf(stderr, "%s\n", loaded.error.c_str());
      return 1;
    }
    cfg = std::move(*loaded.config);
  } else if (f.users.empty() && !f.anonymous && !f.accounts) {
    return fail(
        "nothing to serve: pass --config FILE, --accounts STORE, or --user NAME:PASSWORD "
        "and/or --anonymous (with --root DIR, default the current directory)");
  }

  CommandLineLogins logins;
  if (auto problem = prepare_logins(f, logins); !problem.empty()) return fail(problem);
  if (auto problem = apply_flags(f, logins, cfg); !problem.empty()) return fail(problem);
  if (auto problem = feitp::config::validate(cfg); !problem.empty()) {
    if (cfg.source.empty()) return fail(problem);
    std::fprintf(stderr, "%s\n", problem.c_str());
    return 1;
  }
  for (const auto& w : feitp::config::warnings(cfg)) std::fprintf(stderr, "warning: %s\n", w.c_str());
  {
    // The account store answers now, or the start stops with its one-line problem.
    std::string note;
    if (auto problem = feitp::runtime::prepare_account_store(cfg, f.check, note); !problem.empty()) {
      return fail(problem);
    }
    if (!note.empty()) std::fprintf(stderr, "warning: %s\n", note.c_str());
  }
  if (f.check) {
    const auto problems = feitp::config::check_paths(cfg);
    for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
    if (!problems.empty()) return 1;
    std::printf("%s: configuration OK\n", cfg.source.empty() ? "command line" : cfg.source.c_str());
    return 0;
  }

  try {
    feitp::runtime::setup_logging(cfg.log.level, cfg.log.format, cfg.log.file);
  } catch (const std::exception& e) { return fail(e.what()); }
  return run(cfg, f, logins);
}
