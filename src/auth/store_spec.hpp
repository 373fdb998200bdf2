// `[accounts] store` / `--accounts`: which account store, parsed in one place for the config
// reader, the server and `feitpd user`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace feitp::auth {

struct StoreSpec {
  enum class Kind { config, sqlite, postgresql, pam };
  Kind kind = Kind::config;
  std::string target;  // sqlite: the file; postgresql: the conninfo URI; pam: the service name
};

// "config", "sqlite:PATH", "postgresql://..." (or "postgres://..."), "pam" or "pam:SERVICE".
// "" on success, else what is wrong (one line).
std::string parse_store_spec(std::string_view text, StoreSpec& out);

// Unix time from "never" (0), "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SS[Z]" (UTC);
// "" on success, else what is wrong.
std::string parse_expiry(std::string_view text, std::int64_t& out);
// The reverse: "never" or "YYYY-MM-DDTHH:MM:SSZ".
std::string format_expiry(std::int64_t t);

}  // namespace feitp::auth
