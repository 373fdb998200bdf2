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
// Session::target_of: the path and its permission letter), the HELP list and the session's
// handler table (Session::handler_of) are all made from these rows. Adding a command adds a
// row here and its handler in the session (CONTRIBUTING.md).
// X(VERB, needs login, needs an argument, where the argument names a path (PathArg),
//   permission letter on that path (pyftpdlib's letters, include/feitp/auth.hpp; 0 = none),
//   where the letter applies when the path is a symlink (Reach), listed by HELP,
//   how the session runs the handler (loop: on the loop thread, session state only; storage:
//   calls the storage, on the pool when the storage may block; wait: a coroutine that waits
//   for the network, hooks or the pool itself), the handler (Session::cmd_<handler>))
// The proto layer reads the first seven columns; the last two are names in the session layer.
#define FEITP_VERBS(X) \
  X(USER,    false, true,  none,     0,   follow, true,  loop,    user) \
  X(PASS,    false, false, none,     0,   follow, true,  wait,    pass)  /* an empty password is allowed (anonymous) */ \
  X(ACCT,    false, true,  none,     0,   follow, true,  loop,    acct) \
  X(REIN,    false, false, none,     0,   follow, true,  wait,    rein) \
  X(QUIT,    false, false, none,     0,   follow, true,  wait,    quit) \
  X(HOST,    false, true,  none,     0,   follow, true,  loop,    host) \
  X(CWD,     true,  true,  path,     'e', follow, true,  storage, cwd) \
  X(CDUP,    true,  false, parent,   'e', follow, true,  storage, cwd) \
  X(XCWD,    true,  true,  path,     'e', follow, true,  storage, cwd) \
  X(XCUP,    true,  false, parent,   'e', follow, true,  storage, cwd) \
  X(PWD,     true,  false, none,     0,   follow, true,  loop,    pwd) \
  X(XPWD,    true,  false, none,     0,   follow, true,  loop,    pwd) \
  X(MKD,     true,  true,  path,     'm', name,   true,  storage, mkd) \
  X(XMKD,    true,  true,  path,     'm', name,   true,  storage, mkd) \
  X(RMD,     true,  true,  path,     'd', tree,   true,  storage, rmd) \
  X(XRMD,    true,  true,  path,     'd', tree,   true,  storage, rmd) \
  X(DELE,    true,  true,  path,     'd', name,   true,  storage, dele) \
  X(RNFR,    true,  true,  path,     'f', tree,   true,  storage, rnfr) \
  X(RNTO,    true,  true,  path,     'f', tree,   true,  storage, rnto) \
  X(RETR,    true,  true,  path,     'r', follow, true,  wait,    transfer) \
  X(STOR,    true,  true,  path,     'w', follow, true,  wait,    transfer) \
  X(STOU,    true,  false, unique,   'w', follow, true,  wait,    transfer)  /* an optional name hint; the permission applies to it */ \
  X(APPE,    true,  true,  path,     'a', follow, true,  wait,    transfer) \
  X(REST,    true,  true,  none,     0,   follow, true,  loop,    rest) \
  X(ALLO,    true,  true,  none,     0,   follow, true,  loop,    allo) \
  X(ABOR,    true,  false, none,     0,   follow, true,  loop,    abor) \
  X(LIST,    true,  false, listing,  'l', follow, true,  wait,    transfer)  /* ls flags, then a path (parse_list_args) */ \
  X(NLST,    true,  false, listing,  'l', follow, true,  wait,    transfer) \
  X(MLSD,    true,  false, optional, 'l', follow, true,  wait,    transfer) \
  X(MLST,    true,  false, optional, 'l', follow, true,  storage, mlst) \
  X(SIZE,    true,  true,  path,     'l', follow, true,  storage, size) \
  X(MDTM,    true,  true,  path,     'l', follow, true,  storage, mdtm) \
  X(MFMT,    true,  true,  mfmt,     'T', name,   true,  storage, mfmt)  /* "time path" */ \
  X(STAT,    true,  false, status,   'l', follow, true,  storage, stat)  /* "STAT path" lists; "STAT" alone is the status */ \
  X(SYST,    false, false, none,     0,   follow, true,  loop,    syst) \
  X(HELP,    false, false, none,     0,   follow, true,  loop,    help) \
  X(NOOP,    false, false, none,     0,   follow, true,  loop,    noop) \
  X(SITE,    true,  true,  none,     0,   follow, true,  wait,    site)  /* each SITE command checks its own letter (CHMOD: M) */ \
  X(FEAT,    false, false, none,     0,   follow, true,  loop,    feat) \
  X(OPTS,    false, true,  none,     0,   follow, true,  loop,    opts) \
  X(TYPE,    true,  true,  none,     0,   follow, true,  loop,    type) \
  X(MODE,    true,  true,  none,     0,   follow, true,  loop,    mode) \
  X(STRU,    true,  true,  none,     0,   follow, true,  loop,    stru) \
  X(PORT,    true,  true,  none,     0,   follow, true,  loop,    port) \
  X(PASV,    true,  false, none,     0,   follow, true,  wait,    pasv) \
  X(EPRT,    true,  true,  none,     0,   follow, true,  loop,    port) \
  X(EPSV,    true,  false, none,     0,   follow, true,  wait,    pasv) \
  X(HASH,    true,  true,  path,     'r', follow, true,  wait,    hash) \
  X(XCRC,    true,  true,  path,     'r', follow, false, wait,    hash)  /* not listed by HELP, like the other X hashes */ \
  X(XMD5,    true,  true,  path,     'r', follow, false, wait,    hash) \
  X(XSHA1,   true,  true,  path,     'r', follow, false, wait,    hash) \
  X(XSHA256, true,  true,  path,     'r', follow, false, wait,    hash) \
  X(XSHA512, true,  true,  path,     'r', follow, false, wait,    hash) \
  X(AUTH,    false, true,  none,     0,   follow, true,  wait,    auth) \
  X(PBSZ,    false, true,  none,     0,   follow, true,  loop,    pbsz) \
  X(PROT,    false, true,  none,     0,   follow, true,  loop,    prot) \
  X(CCC,     false, false, none,     0,   follow, true,  loop,    ccc) \
  X(ADAT,    true,  true,  none,     0,   follow, false, loop,    security_data) \
  X(MIC,     true,  true,  none,     0,   follow, false, loop,    security_data) \
  X(CONF,    true,  true,  none,     0,   follow, false, loop,    security_data) \
  X(ENC,     true,  true,  none,     0,   follow, false, loop,    security_data) \
  X(LANG,    false, false, none,     0,   follow, false, loop,    not_implemented)  /* RFC 2640's languages: answered 502 */ \
  X(CLNT,    false, true,  none,     0,   follow, true,  loop,    clnt) \
  X(PRET,    true,  true,  none,     0,   follow, false, loop,    not_implemented) \
  X(SMNT,    true,  true,  none,     0,   follow, false, loop,    not_implemented)  /* answered 502: not a path command here */

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

// The RFC 4217 commands (AUTH, PBSZ, PROT, CCC): served only by a server with TLS.
bool needs_tls(Verb v);

// Whether HELP lists `v`: its row says so and, for a command that needs TLS, the server has it.
bool listed_by_help(Verb v, bool tls);

// The commands HELP lists, as one block of text (lines of names).
std::string_view help_text(bool tls);

}  // namespace feitp::proto
