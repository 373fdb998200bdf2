// FTP command parsing and the command table (RFC 959, 2389, 2428, 3659, 7151, MFMT, HASH).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace feitp::proto {

// Where a command's argument names the path its permission letter applies to (path_text()).
enum class PathArg : std::uint8_t {
  none,      // no path
  path,      // the argument is the path
  optional,  // the argument, or the current directory when there is none (MLSD, MLST)
  parent,    // the parent directory, whatever the argument (CDUP)
  listing,   // ls-style flags, then an optional path, the current directory by default (LIST)
  status,    // STAT: like listing when there is an argument; none without (the server's status)
  mfmt,      // "time path": the path after the time; none when the argument does not parse
  unique,    // STOU: an optional name hint, "file" by default (the unique name is made from it)
};

// Where the letter applies when the path is a symlink (per-directory rules, F1): on what the
// link leads to (follow), on the name itself (name: mkdir, remove, set a time), or on the name
// and everything beneath it (tree: a directory removed or renamed).
enum class Reach : std::uint8_t { follow, name, tree };

// A table laid out by hand:
// clang-format off
// The command table, the single source of truth for the verbs: the enum, the name lookup, the
// generic steps the session's entry applies (Session::handle_line: login, argument; then
// Session::command_path: the path and its permission letter), and the HELP list are all made
// from these rows. Adding a command adds a row here and its handler in the session
// (CONTRIBUTING.md).
// X(VERB, needs login, needs an argument, where the argument names a path (PathArg),
//   permission letter on that path (pyftpdlib's letters, include/feitp/auth.hpp; 0 = none),
//   where the letter applies when the path is a symlink (Reach), listed by HELP)
#define FEITP_VERBS(X) \
  X(USER,    false, true,  none,     0,   follow, true) \
  X(PASS,    false, false, none,     0,   follow, true)  /* an empty password is allowed (anonymous) */ \
  X(ACCT,    false, true,  none,     0,   follow, true) \
  X(REIN,    false, false, none,     0,   follow, true) \
  X(QUIT,    false, false, none,     0,   follow, true) \
  X(HOST,    false, true,  none,     0,   follow, true) \
  X(CWD,     true,  true,  path,     'e', follow, true) \
  X(CDUP,    true,  false, parent,   'e', follow, true) \
  X(XCWD,    true,  true,  path,     'e', follow, true) \
  X(XCUP,    true,  false, parent,   'e', follow, true) \
  X(PWD,     true,  false, none,     0,   follow, true) \
  X(XPWD,    true,  false, none,     0,   follow, true) \
  X(MKD,     true,  true,  path,     'm', name,   true) \
  X(XMKD,    true,  true,  path,     'm', name,   true) \
  X(RMD,     true,  true,  path,     'd', tree,   true) \
  X(XRMD,    true,  true,  path,     'd', tree,   true) \
  X(DELE,    true,  true,  path,     'd', name,   true) \
  X(RNFR,    true,  true,  path,     'f', tree,   true) \
  X(RNTO,    true,  true,  path,     'f', tree,   true) \
  X(RETR,    true,  true,  path,     'r', follow, true) \
  X(STOR,    true,  true,  path,     'w', follow, true) \
  X(STOU,    true,  false, unique,   'w', follow, true)  /* an optional name hint; the permission applies to it */ \
  X(APPE,    true,  true,  path,     'a', follow, true) \
  X(REST,    true,  true,  none,     0,   follow, true) \
  X(ALLO,    true,  true,  none,     0,   follow, true) \
  X(ABOR,    true,  false, none,     0,   follow, true) \
  X(LIST,    true,  false, listing,  'l', follow, true)  /* ls flags, then a path (parse_list_args) */ \
  X(NLST,    true,  false, listing,  'l', follow, true) \
  X(MLSD,    true,  false, optional, 'l', follow, true) \
  X(MLST,    true,  false, optional, 'l', follow, true) \
  X(SIZE,    true,  true,  path,     'l', follow, true) \
  X(MDTM,    true,  true,  path,     'l', follow, true) \
  X(MFMT,    true,  true,  mfmt,     'T', name,   true)  /* "time path" */ \
  X(STAT,    true,  false, status,   'l', follow, true)  /* "STAT path" lists; "STAT" alone is the status */ \
  X(SYST,    false, false, none,     0,   follow, true) \
  X(HELP,    false, false, none,     0,   follow, true) \
  X(NOOP,    false, false, none,     0,   follow, true) \
  X(SITE,    true,  true,  none,     0,   follow, true)  /* each SITE command checks its own letter (CHMOD: M) */ \
  X(FEAT,    false, false, none,     0,   follow, true) \
  X(OPTS,    false, true,  none,     0,   follow, true) \
  X(TYPE,    true,  true,  none,     0,   follow, true) \
  X(MODE,    true,  true,  none,     0,   follow, true) \
  X(STRU,    true,  true,  none,     0,   follow, true) \
  X(PORT,    true,  true,  none,     0,   follow, true) \
  X(PASV,    true,  false, none,     0,   follow, true) \
  X(EPRT,    true,  true,  none,     0,   follow, true) \
  X(EPSV,    true,  false, none,     0,   follow, true) \
  X(HASH,    true,  true,  path,     'r', follow, true) \
  X(XCRC,    true,  true,  path,     'r', follow, false)  /* not listed by HELP, like the other X hashes */ \
  X(XMD5,    true,  true,  path,     'r', follow, false) \
  X(XSHA1,   true,  true,  path,     'r', follow, false) \
  X(XSHA256, true,  true,  path,     'r', follow, false) \
  X(XSHA512, true,  true,  path,     'r', follow, false) \
  X(AUTH,    false, true,  none,     0,   follow, true) \
  X(PBSZ,    false, true,  none,     0,   follow, true) \
  X(PROT,    false, true,  none,     0,   follow, true) \
  X(CCC,     false, false, none,     0,   follow, true) \
  X(ADAT,    true,  true,  none,     0,   follow, false) \
  X(MIC,     true,  true,  none,     0,   follow, false) \
  X(CONF,    true,  true,  none,     0,   follow, false) \
  X(ENC,     true,  true,  none,     0,   follow, false) \
  X(LANG,    false, false, none,     0,   follow, true)  /* without an argument: back to the default language */ \
  X(CLNT,    false, true,  none,     0,   follow, true) \
  X(PRET,    true,  true,  none,     0,   follow, false) \
  X(SMNT,    true,  true,  none,     0,   follow, false)  /* answered 502: not a path command here */

enum class Verb : std::uint8_t {
  unknown,
#define FEITP_VERB_ENUM(v, ...) v,
  FEITP_VERBS(FEITP_VERB_ENUM)
#undef FEITP_VERB_ENUM
};
// clang-format on

struct Command {
  Verb verb = Verb::unknown;
  std::string_view name;  // the verb as sent (not upper-cased), for "unknown command" replies
  std::string_view arg;   // everything after the first space, as sent (may contain spaces)
};

// Splits a line into verb and argument. The verb is matched case-insensitively. A line
// containing NUL, or with a verb longer than 8 characters or with non-letters, gives
// Verb::unknown. Leading spaces are not allowed (RFC 959); a single space separates verb and arg.
Command parse_command(std::string_view line);

// Upper-case canonical name ("USER"); "" for unknown.
std::string_view verb_name(Verb v);

struct VerbInfo {
  bool needs_login;  // answered 530 before login
  bool needs_arg;    // answered 501 without an argument
  PathArg path;      // where the argument names a path
  char permission;   // pyftpdlib letter checked on that path, or 0
  Reach reach;       // where the letter applies when the path is a symlink
};
VerbInfo verb_info(Verb v);

// The text of the path a command acts on, taken from its argument as its row's PathArg says
// (not yet resolved against the current directory); nullopt when this command, with this
// argument, names no path.
std::optional<std::string_view> path_text(Verb v, std::string_view arg);

// The commands HELP lists, as one block of text (lines of names).
std::string_view help_text();

}  // namespace feitp::proto
