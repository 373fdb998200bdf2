// Directory listing formats: LIST (ls -l), NLST, MLSx facts (RFC 3659 §7), time values.
#include "proto/listing.hpp"

#include <fmt/format.h>

#include <ctime>
#include <iterator>

#include "proto/text.hpp"

namespace feitp::proto {
namespace {

constexpr std::string_view kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// ls(1) shows the time of day for files changed within the last half Gregorian year.
constexpr std::int64_t kRecentPast = 31556952 / 2;
// Files "from the future" by clock skew (a client's MFMT, another host's NFS clock) up to a
// day still show the time of day; further ahead they show the year, like ls.
constexpr std::int64_t kRecentFuture = 86400;

std::tm to_tm(std::int64_t t, bool utc) {
  std::tm tm{};
  const auto tt = static_cast<std::time_t>(t);
  const bool ok = utc ? gmtime_r(&tt, &tm) != nullptr : localtime_r(&tt, &tm) != nullptr;
  if (!ok) {
    const std::time_t zero = 0;
    gmtime_r(&zero, &tm);
  }
  return tm;
}

// Names go out on a CRLF-delimited stream: a CR or LF inside one would forge extra entries.
void append_name(std::string& out, std::string_view name) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '\r' || name[i] == '\n') {
      out.append(name.data() + start, i - start);
      out.push_back('?');
      start = i + 1;
    }
  }
  out.append(name.data() + start, name.size() - start);
}

void append_mode_string(std::string& out, const FileInfo& fi) {
  char s[10];
  switch (fi.type) {
    case FileType::directory: s[0] = 'd'; break;
    case FileType::symlink: s[0] = 'l'; break;
    default: s[0] = '-'; break;
  }
  const std::uint32_t m = fi.mode;
  s[1] = (m & 0400) ? 'r' : '-';
  s[2] = (m & 0200) ? 'w' : '-';
  s[3] = (m & 04000) ? ((m & 0100) ? 's' : 'S') : ((m & 0100) ? 'x' : '-');
  s[4] = (m & 040) ? 'r' : '-';
  s[5] = (m & 020) ? 'w' : '-';
  s[6] = (m & 02000) ? ((m & 010) ? 's' : 'S') : ((m & 010) ? 'x' : '-');
  s[7] = (m & 04) ? 'r' : '-';
  s[8] = (m & 02) ? 'w' : '-';
  s[9] = (m & 01000) ? ((m & 01) ? 't' : 'T') : ((m & 01) ? 'x' : '-');
  out.append(s, sizeof s);
}

constexpr bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr int days_in_month(std::int64_t y, int m) {
  constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's civil-days method).
constexpr std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}
static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);

struct FactName {
  Fact bit;
  std::string_view name;
};
constexpr FactName kFacts[] = {{fact_type, "type"}, {fact_size, "size"},     {fact_modify, "modify"},
                               {fact_perm, "perm"}, {fact_unique, "unique"}, {fact_unix_mode, "unix.mode"}};

}  // namespace

void append_list_line(std::string& out, const FileInfo& fi, std::int64_t now, bool utc) {
  append_mode_string(out, fi);
  const std::tm tm = to_tm(fi.mtime, utc);
  const std::string_view month = kMonths[tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0];
  const bool recent = fi.mtime > now - kRecentPast && fi.mtime <= now + kRecentFuture;
  auto it = std::back_inserter(out);
  it = fmt::format_to(it, " {:>3} {:<8} {:<8} {:>8} {} {:>2} ", fi.nlink, fi.uid, fi.gid, fi.size, month,
                      tm.tm_mday);
  if (recent) {
    fmt::format_to(it, "{:02}:{:02} ", tm.tm_hour, tm.tm_min);
  } else {
    fmt::format_to(it, "{:>5} ", static_cast<long long>(tm.tm_year) + 1900);
  }
  append_name(out, fi.name);
  if (fi.type == FileType::symlink && !fi.link_target.empty()) {
    out.append(" -> ", 4);
    append_name(out, fi.link_target);
  }
  out.append("\r\n", 2);
}

void append_nlst_line(std::string& out, std::string_view name) {
  append_name(out, name);
  out.append("\r\n", 2);
}

ListArgs parse_list_args(std::string_view arg) {
  ListArgs a;
  while (arg.size() >= 2 && arg.front() == '-') {
    const std::size_t sp = arg.find(' ');
    const std::string_view word = arg.substr(0, sp);
    arg.remove_prefix(sp == std::string_view::npos ? arg.size() : sp);
    while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
    if (word == "--") break;  // end of options: the rest is the path even if it starts with '-'
    for (char c : word.substr(1)) {
      switch (c) {
        case 'a':
        case 'A': a.all = true; break;
        case 'l': a.long_form = true; break;
        case 'd': a.directory = true; break;
        case 'R': a.recursive = true; break;
        default: break;  // other ls flags (-t, -F, -h, ...) are accepted and ignored
      }
    }
  }
  a.path = arg;
  return a;
}

std::string mlst_feat_line(unsigned enabled) {
  std::string out;
  for (const auto& f : kFacts) {
    out.append(f.name);
    if (enabled & f.bit) out.push_back('*');
    out.push_back(';');
  }
  return out;
}

unsigned parse_mlst_opts(std::string_view arg) {
  unsigned set = 0;
  while (!arg.empty()) {
    const std::size_t semi = arg.find(';');
    const std::string_view name = arg.substr(0, semi);
    arg.remove_prefix(semi == std::string_view::npos ? arg.size() : semi + 1);
    for (const auto& f : kFacts) {
      if (iequals(name, f.name)) set |= f.bit;
    }
  }
  return set;
}

std::string mlst_facts_string(unsigned enabled) {
  std::string out;
  for (const auto& f : kFacts) {
    if (enabled & f.bit) {
      out.append(f.name);
      out.push_back(';');
    }
  }
  return out;
}

void append_mlsx_line(std::string& out, const FileInfo& fi, unsigned facts, std::string_view perm,
                      std::string_view name, std::string_view type_override) {
  auto it = std::back_inserter(out);
  if (facts & fact_type) {
    out.append("type=", 5);
    if (!type_override.empty()) {
      out.append(type_override);
    } else {
      switch (fi.type) {
        case FileType::file: out.append("file", 4); break;
        case FileType::directory: out.append("dir", 3); break;
        case FileType::symlink: out.append("OS.unix=slink", 13); break;
        case FileType::other: out.append("OS.unix=special", 15); break;
      }
    }
    out.push_back(';');
  }
  // A directory's size is not its content's: RFC 3659 leaves it out for directories.
  if ((facts & fact_size) && fi.type != FileType::directory) { fmt::format_to(it, "size={};", fi.size); }
  if (facts & fact_modify) {
    out.append("modify=", 7);
    append_time_val(out, fi.mtime);
    out.push_back(';');
  }
  if (facts & fact_perm) {
    out.append("perm=", 5);
    out.append(perm);
    out.push_back(';');
  }
  if ((facts & fact_unique) && fi.unique != 0) fmt::format_to(it, "unique={:x};", fi.unique);
  if (facts & fact_unix_mode) fmt::format_to(it, "unix.mode={:04o};", fi.mode & 07777);
  out.push_back(' ');
  append_name(out, name);
  out.append("\r\n", 2);
}

std::string mlsx_perm(FileType type, std::string_view user_letters) {
  const auto has = [&](char c) { return user_letters.find(c) != std::string_view::npos; };
  std::string p;
  if (type == FileType::directory) {
    if (has('w')) p.push_back('c');
    if (has('d')) p.push_back('d');
    if (has('e')) p.push_back('e');
    if (has('f')) p.push_back('f');
    if (has('l')) p.push_back('l');
    if (has('m')) p.push_back('m');
    if (has('d')) p.push_back('p');
  } else {
    if (has('a')) p.push_back('a');
    if (has('d')) p.push_back('d');
    if (has('f')) p.push_back('f');
    if (has('r')) p.push_back('r');
    if (has('w')) p.push_back('w');
  }
  return p;
}

void append_time_val(std::string& out, std::int64_t t) {
  const std::tm tm = to_tm(t, true);
  fmt::format_to(std::back_inserter(out), "{:04}{:02}{:02}{:02}{:02}{:02}",
                 static_cast<long long>(tm.tm_year) + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
}

std::string format_time_val(std::int64_t t) {
  std::string out;
  out.reserve(14);
  append_time_val(out, t);
  return out;
}

std::optional<std::int64_t> parse_time_val(std::string_view s) {
  if (s.size() < 14) return std::nullopt;
  if (s.size() > 14) {
    // Optional ".sss" fraction (RFC 3659 time-val), at least one digit; ignored.
    if (s[14] != '.' || s.size() == 15) return std::nullopt;
    for (char c : s.substr(15)) {
      if (c < '0' || c > '9') return std::nullopt;
    }
  }
  std::int64_t v[14];
  for (int i = 0; i < 14; ++i) {
    if (s[static_cast<std::size_t>(i)] < '0' || s[static_cast<std::size_t>(i)] > '9') { return std::nullopt; }
    v[i] = s[static_cast<std::size_t>(i)] - '0';
  }
  const std::int64_t year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
  const auto month = static_cast<int>(v[4] * 10 + v[5]);
  const auto day = static_cast<int>(v[6] * 10 + v[7]);
  const std::int64_t hour = v[8] * 10 + v[9];
  const std::int64_t minute = v[10] * 10 + v[11];
  const std::int64_t second = v[12] * 10 + v[13];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60) {  // 60: a leap second
    return std::nullopt;
  }
  return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace feitp::proto
