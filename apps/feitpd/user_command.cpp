#include "user_command.hpp"

#include <string.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>

#include "auth/account_codec.hpp"
#include "auth/store_spec.hpp"
#include "feitp/auth.hpp"

namespace feitpd {

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "feitpd user: %s\n", message.c_str());
  return 1;
}

void wipe(std::string& s) {
  ::explicit_bzero(s.data(), s.size());
  s.clear();
}

// Applies the account flags given on the command line to `e`; "" or the problem.
std::string apply(const UserArgs& a, feitp::UserEntry& e) {
  if (a.home) e.home = *a.home;
  try {
    if (a.permissions || !a.directories.empty()) {
      feitp::Permissions p(a.permissions.value_or(e.permissions.letters()));
      if (a.directories.empty()) {
        for (const auto& [dir, letters] : e.permissions.overrides()) p.set_override(dir, letters);
      }
      for (const auto& d : a.directories) {
        const auto eq = d.rfind('=');
        if (eq == std::string::npos || d.empty() || d.front() != '/') {
          return "--directory " + d + ": expected /DIR=LETTERS";
        }
        p.set_override(d.substr(0, eq), d.substr(eq + 1));
      }
      e.permissions = p;
    }
  } catch (const std::invalid_argument& ex) { return ex.what(); }
  if (a.quota_bytes) e.quota_bytes = *a.quota_bytes;
  if (a.quota_files) e.quota_files = *a.quota_files;
  if (a.upload_rate) e.upload_rate = *a.upload_rate;
  if (a.download_rate) e.download_rate = *a.download_rate;
  if (a.max_sessions) e.max_sessions = *a.max_sessions;
  if (a.require_tls) e.require_tls = true;
  if (a.no_require_tls) e.require_tls = false;
  if (a.any_network) e.allowed_networks.clear();
  if (!a.allow_networks.empty()) e.allowed_networks = a.allow_networks;
  if (a.expires) {
    if (auto p = feitp::auth::parse_expiry(*a.expires, e.expires); !p.empty()) return "--expires: " + p;
  }
  if (a.host) e.host = *a.host;
  return {};
}

bool changes_account(const UserArgs& a) {
  return a.home || a.permissions || !a.directories.empty() || a.quota_bytes || a.quota_files ||
         a.upload_rate || a.download_rate || a.max_sessions || a.require_tls || a.no_require_tls ||
         !a.allow_networks.empty() || a.any_network || a.expires || a.host || a.disabled;
}

std::string method_of(const std::string& hash) {
  if (hash.starts_with("$y$")) return "yescrypt";
  if (hash.starts_with("$6$")) return "sha512-crypt";
  if (hash.starts_with("$5$")) return "sha256-crypt";
  if (hash.starts_with("$2")) return "bcrypt";
  return "other";
}

void show(const feitp::UserEntry& e) {
  std::printf("name: %s\n", e.name.c_str());
  std::printf("enabled: %s\n", e.enabled ? "yes" : "no");
  std::printf("password: %s hash\n", method_of(e.password_hash).c_str());
  std::printf("home: %s\n", e.home.c_str());
  std::printf("permissions: %s\n", e.permissions.letters().c_str());
  const auto& o = e.permissions.overrides();
  for (auto it = o.rbegin(); it != o.rend(); ++it) {
    std::printf("directory: %s=%s\n", it->first.c_str(), it->second.c_str());
  }
  std::printf("expires: %s\n", feitp::auth::format_expiry(e.expires).c_str());
  std::printf("allowed_networks: %s\n",
              e.allowed_networks.empty() ? "any" : feitp::auth::encode_networks(e.allowed_networks).c_str());
  std::printf("max_sessions: %u\n", e.max_sessions);
  std::printf("quota_bytes: %llu\n", static_cast<unsigned long long>(e.quota_bytes));
  std::printf("quota_files: %llu\n", static_cast<unsigned long long>(e.quota_files));
  std::printf("upload_rate: %llu\n", static_cast<unsigned long long>(e.upload_rate));
  std::printf("download_rate: %llu\n", static_cast<unsigned long long>(e.download_rate));
  std::printf("require_tls: %s\n", e.require_tls ? "yes" : "no");
  std::printf("host: %s\n", e.host.c_str());
}

}  // namespace

CLI::App* add_user_subcommand(CLI::App& app, UserArgs& a) {
  CLI::App* u = app.add_subcommand(
      "user",
      "Manage the accounts of an SQLite or PostgreSQL store (--accounts STORE or the "
      "config's [accounts] store); passwords are read from the terminal or standard input");
  u->add_option("action", a.action, "add | del | passwd | enable | disable | mod | list | show")
      ->required()
      ->check(CLI::IsMember({"add", "del", "passwd", "enable", "disable", "mod", "list", "show"}));
  u->add_option("name", a.name, "The user name");
  u->add_option("--home", a.home, "Home directory (absolute); required by add");
  u->add_option("--permissions", a.permissions, "Permission letters (default elr)");
  u->add_option("--directory", a.directories, "Per-directory letters /DIR=LETTERS (repeatable)");
  u->add_option("--quota-bytes", a.quota_bytes, "Bytes the user may store (0 = no quota)");
  u->add_option("--quota-files", a.quota_files, "Files the user may store (0 = no quota)");
  u->add_option("--upload-rate", a.upload_rate, "Upload limit, bytes per second (0 = none)");
  u->add_option("--download-rate", a.download_rate, "Download limit, bytes per second (0 = none)");
  u->add_option("--max-sessions", a.max_sessions, "Sessions at once (0 = limits.max_sessions_per_user)");
  u->add_flag("--require-tls", a.require_tls, "Log in and transfer only over TLS");
  u->add_flag("--no-require-tls", a.no_require_tls, "Clear --require-tls");
  u->add_option("--allow-network", a.allow_networks,
                "Log in only from this address or CIDR network (repeatable; replaces the list)");
  u->add_flag("--any-network", a.any_network, "Clear the allowed networks (log in from anywhere)");
  u->add_option("--expires", a.expires, "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC), or never");
  u->add_option("--host", a.host, "Virtual host (RFC 7151 HOST) of the account");
  u->add_flag("--disabled", a.disabled, "add: create the account disabled");
  u->add_option("--hash-method", a.hash_method, "yescrypt (default), sha512 or bcrypt")
      ->check(CLI::IsMember({"yescrypt", "sha512", "bcrypt"}));
  return u;
}

int run_user_command(const UserArgs& a, const std::string& store_text, const std::string& config_file,
                     std::uint32_t connect_timeout,
                     const std::function<std::optional<std::string>(const char*)>& read_password) {
  feitp::auth::StoreSpec spec;
  if (auto p = feitp::auth::parse_store_spec(store_text, spec); !p.empty()) return fail("--accounts: " + p);
  if (spec.kind == feitp::auth::StoreSpec::Kind::config) {
    return fail("the account store is \"config\": config-file users are edited in the file (" +
                (config_file.empty() ? std::string("--config FILE") : config_file) +
                ", [users.NAME] with feitpd --hash-password); give --accounts sqlite:PATH or "
                "postgresql://..., or set [accounts] store");
  }
  if (spec.kind == feitp::auth::StoreSpec::Kind::pam) {
    return fail(
        "the account store is PAM: system accounts are managed with useradd, passwd, "
        "usermod -L (feitpd user works on sqlite:PATH and postgresql:// stores)");
  }
  if (a.action != "list" && a.name.empty()) return fail(a.action + ": give the user NAME");
  if (a.action == "list" && !a.name.empty()) return fail("list takes no NAME");
  if (!a.name.empty()) {
    if (auto p = feitp::check_account_name(a.name); !p.empty()) return fail("\"" + a.name + "\": " + p);
  }
  if (changes_account(a) && a.action != "add" && a.action != "mod") {
    return fail(a.action + " takes no account options (use mod to change an account)");
  }

  std::shared_ptr<feitp::ManagedAccountStore> store;
  try {
    if (spec.kind == feitp::auth::StoreSpec::Kind::sqlite) {
      const bool exists = ::access(spec.target.c_str(), F_OK) == 0;
      if (!exists && a.action != "add") {
        return fail("sqlite:" + spec.target + ": no such file (user add creates it)");
      }
      store = feitp::open_sqlite_store(spec.target, a.action == "add", false);
    } else {
      store = feitp::open_postgresql_store(spec.target, 1, connect_timeout, true);
    }

    if (a.action == "list") {
      for (const auto& e : store->list()) {
        std::printf("%s\t%s\t%s\n", e.name.c_str(), e.enabled ? "enabled" : "disabled", e.home.c_str());
      }
      return 0;
    }
    if (a.action == "del") {
      store->remove(a.name);
      std::printf("user %s deleted\n", a.name.c_str());
      return 0;
    }
    auto current = a.action == "add" ? std::nullopt : store->find(a.name);
    if (a.action != "add" && !current) return fail("no user \"" + a.name + "\"");
    if (a.action == "add" && store->find(a.name)) return fail("user \"" + a.name + "\" exists already");
    if (a.action == "show") {
      show(*current);
      return 0;
    }
    feitp::UserEntry e = current.value_or(feitp::UserEntry{});
    if (a.action == "enable" || a.action == "disable") {
      e.enabled = a.action == "enable";
      store->update(e);
      std::printf("user %s %s\n", a.name.c_str(), e.enabled ? "enabled" : "disabled");
      return 0;
    }
    if (a.action == "add") {
      e.name = a.name;
      e.enabled = !a.disabled;
      if (!a.home) return fail("add: --home DIR is required");
    }
    if (auto p = apply(a, e); !p.empty()) return fail(p);
    if (a.action == "add" || a.action == "passwd") {
      auto pw = read_password("Password: ");
      if (!pw || pw->empty()) return fail("no password given (terminal or standard input)");
      if (::isatty(STDIN_FILENO) != 0) {
        auto again = read_password("Again: ");
        const bool same = again && *again == *pw;
        if (again) wipe(*again);
        if (!same) {
          wipe(*pw);
          return fail("the passwords differ");
        }
      }
      try {
        e.password_hash = feitp::hash_password(*pw, a.hash_method);
      } catch (const std::exception& ex) {
        wipe(*pw);
        return fail(ex.what());
      }
      wipe(*pw);
    }
    if (auto p = feitp::auth::check_entry(e); !p.empty()) return fail(p);
    if (a.action == "add") {
      store->add(e);
      std::printf("user %s added\n", a.name.c_str());
    } else {
      store->update(e);
      std::printf("user %s %s\n", a.name.c_str(), a.action == "passwd" ? "password changed" : "changed");
    }
    return 0;
  } catch (const feitp::StoreUnavailable& e) {
    return fail(e.what());
  } catch (const std::invalid_argument& e) { return fail(e.what()); }
}

}  // namespace feitpd
