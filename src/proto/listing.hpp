// Directory listing formats: LIST (ls -l), NLST, MLSD/MLST facts (RFC 3659 §7), and times.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "feitp/storage.hpp"

namespace feitp::proto {

// One "ls -l" line with CRLF, e.g.
// "-rw-r--r--   1 1000     1000         1234 Jan  2 03:04 name\r\n"
// Date: "Mon DD HH:MM" when within half a year before `now` (up to a day ahead for clock skew),
// else "Mon DD  YYYY"; DD is space-padded like ls ("Jan  2"). CR/LF in names become '?'.
// English month names; UTC when utc, else local time. Symlinks end with " -> target".
// Owner/group are printed as the numeric ids.
void append_list_line(std::string& out, const FileInfo& fi, std::int64_t now, bool utc = true);

// NLST: the name with CRLF.
void append_nlst_line(std::string& out, std::string_view name);

// Parsed LIST/NLST argument: leading "-xyz" option words are taken as ls flags and dropped
// (clients send "LIST -la", "LIST -a dir", "NLST -d"); the rest is the path.
struct ListArgs {
  bool all = false;        // -a
  bool long_form = false;  // -l (NLST -l lists in LIST form)
  bool directory = false;  // -d
  bool recursive = false;  // -R (not honoured; accepted and ignored)
  std::string_view path;
};
ListArgs parse_list_args(std::string_view arg);

// MLSx facts, as a bit set.
enum Fact : unsigned {
  fact_type = 1u << 0,
  fact_size = 1u << 1,
  fact_modify = 1u << 2,
  fact_perm = 1u << 3,
  fact_unique = 1u << 4,
  fact_unix_mode = 1u << 5,
};
constexpr unsigned kDefaultFacts =
    fact_type | fact_size | fact_modify | fact_perm | fact_unique | fact_unix_mode;

// "type*;size*;modify*;perm*;unique*;unix.mode*;" for FEAT (a '*' marks enabled ones).
std::string mlst_feat_line(unsigned enabled);
// OPTS MLST argument ("type;size;" ...) -> enabled set; unknown facts are ignored (RFC 3659 7.9).
unsigned parse_mlst_opts(std::string_view arg);
// The facts accepted by OPTS MLST, for its reply: "type;size;".
std::string mlst_facts_string(unsigned enabled);

// MLSx "type" for a directory entry: cdir/pdir only via `type_override`.
// Appends "fact=value;...; name\r\n" (MLSD line). `perm` is the perm fact value (see mlsx_perm).
void append_mlsx_line(std::string& out, const FileInfo& fi, unsigned facts, std::string_view perm,
                      std::string_view name, std::string_view type_override = {});

// perm fact letters for an entry (RFC 3659 7.5.5) from the user's pyftpdlib letters in effect
// at that path: files: a(APPE) d(DELE) f(RNFR) r(RETR) w(STOR); dirs: c(STOR in) d e(CWD)
// f l(LIST) m(MKD) p(purge: d).
std::string mlsx_perm(FileType type, std::string_view user_letters);

// YYYYMMDDHHMMSS in UTC (MDTM, MLSx modify).
std::string format_time_val(std::int64_t t);
// The same, appended to `out` (no temporary string).
void append_time_val(std::string& out, std::int64_t t);
// Parses YYYYMMDDHHMMSS[.sss] (fraction ignored) as UTC; nullopt when malformed or invalid.
std::optional<std::int64_t> parse_time_val(std::string_view s);

}  // namespace feitp::proto
