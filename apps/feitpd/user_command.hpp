// `feitpd user add|del|passwd|enable|disable|mod|list|show NAME`: accounts in an SQLite or
// PostgreSQL store, managed like pure-pw manages PureDB.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace feitpd {

struct UserArgs {
  std::string action;
  std::string name;
  std::optional<std::string> home;
  std::optional<std::string> permissions;
  std::vector<std::string> directories;  // "/DIR=LETTERS"
  std::optional<std::uint64_t> quota_bytes, quota_files, upload_rate, download_rate;
  std::optional<std::uint32_t> max_sessions;
  bool require_tls = false;
  bool no_require_tls = false;
  std::vector<std::string> allow_networks;
  bool any_network = false;
  std::optional<std::string> expires;
  std::optional<std::string> host;
  bool disabled = false;
  std::string hash_method = "yescrypt";
};

// Adds the `user` subcommand and its options to `app`.
CLI::App* add_user_subcommand(CLI::App& app, UserArgs& args);

// Runs it on the store `store_text` ("sqlite:PATH", "postgresql://..."; "config" gets the
// message that config-file users are edited in the file `config_file`). `read_password` reads
// one password (prompt without echo on a terminal, else a line of standard input).
int run_user_command(const UserArgs& args, const std::string& store_text, const std::string& config_file,
                     std::uint32_t connect_timeout,
                     const std::function<std::optional<std::string>(const char* prompt)>& read_password);

}  // namespace feitpd
