#include "auth/store_spec.hpp"

#include <cstdio>
#include <ctime>

namespace feitp::auth {

std::string parse_store_spec(std::string_view text, StoreSpec& out) {
  out = StoreSpec{};
  if (text == "config") return {};
  if (text.starts_with("sqlite:")) {
    out.kind = StoreSpec::Kind::sqlite;
    out.target = std::string(text.substr(7));
    if (out.target.empty()) return "sqlite: needs a file: \"sqlite:/var/lib/feitpd/users.db\"";
    if (out.target.find('\0') != std::string::npos) return "the SQLite path holds a NUL byte";
    return {};
  }
  if (text.starts_with("postgresql://") || text.starts_with("postgres://")) {
    out.kind = StoreSpec::Kind::postgresql;
    out.target = std::string(text);
    return {};
  }
  if (text == "pam" || text.starts_with("pam:")) {
    out.kind = StoreSpec::Kind::pam;
    out.target = text == "pam" ? "feitpd" : std::string(text.substr(4));
    if (out.target.empty() || out.target.find('/') != std::string::npos ||
        out.target.find('\0') != std::string::npos) {
      return "pam:SERVICE needs a PAM service name (a file in /etc/pam.d)";
    }
    return {};
  }
  return "unknown account store \"" + std::string(text) +
         "\" (use \"config\", \"sqlite:PATH\", \"postgresql://...\" or \"pam\")";
}

std::string parse_expiry(std::string_view text, std::int64_t& out) {
  if (text == "never" || text.empty()) {
    out = 0;
    return {};
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail[4] = {};
  const std::string t(text);
  int n = std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%3s", &y, &mo, &d, &h, &mi, &s, tail);
  const bool date_only = n == 3 && t.size() == 10;
  const bool full = n == 6 || (n == 7 && std::string_view(tail) == "Z");
  if ((!date_only && !full) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 ||
      y < 1970) {
    return "expiry \"" + t + "\" is not \"never\", YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)";
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  out = static_cast<std::int64_t>(::timegm(&tm));
  return {};
}

std::string format_expiry(std::int64_t t) {
  if (t == 0) return "never";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace feitp::auth
