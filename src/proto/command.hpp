// FTP command parsing and the command table (RFC 959, 2389, 2428, 3659, 7151, MFMT, HASH).
#pragma once

#include <cstdint>
#include <string_view>

namespace feitp::proto {

// A table laid out by hand:
// clang-format off
// The command table, the single source of truth for the verbs: the enum, the name lookup, the
// login/argument rules the session's entry applies (Session::handle_line), the permission
// letter and the HELP list are all made from these rows. Adding a command adds a row here and
// its handler in the session (CONTRIBUTING.md).
// X(VERB, needs login, needs an argument, the argument is a path, permission letter (pyftpdlib's
//   letters, include/feitp/auth.hpp; 0 = none), listed by HELP)
#define FEITP_VERBS(X) \
  X(USER,    false, true,  false, 0,   true) \
  X(PASS,    false, false, false, 0,   true)  /* an empty password is allowed (anonymous) */ \
  X(ACCT,    false, true,  false, 0,   true) \
  X(REIN,    false, false, false, 0,   true) \
  X(QUIT,    false, false, false, 0,   true) \
  X(HOST,    false, true,  false, 0,   true) \
  X(CWD,     true,  true,  true,  'e', true) \
  X(CDUP,    true,  false, false, 'e', true) \
  X(XCWD,    true,  true,  true,  'e', true) \
  X(XCUP,    true,  false, false, 'e', true) \
  X(PWD,     true,  false, false, 0,   true) \
  X(XPWD,    true,  false, false, 0,   true) \
  X(MKD,     true,  true,  true,  'm', true) \
  X(XMKD,    true,  true,  true,  'm', true) \
  X(RMD,     true,  true,  true,  'd', true) \
  X(XRMD,    true,  true,  true,  'd', true) \
  X(DELE,    true,  true,  true,  'd', true) \
  X(RNFR,    true,  true,  true,  'f', true) \
  X(RNTO,    true,  true,  true,  'f', true) \
  X(RETR,    true,  true,  true,  'r', true) \
  X(STOR,    true,  true,  true,  'w', true) \
  X(STOU,    true,  false, true,  'w', true)  /* the optional argument is a name hint */ \
  X(APPE,    true,  true,  true,  'a', true) \
  X(REST,    true,  true,  false, 0,   true) \
  X(ALLO,    true,  true,  false, 0,   true) \
  X(ABOR,    true,  false, false, 0,   true) \
  X(LIST,    true,  false, true,  'l', true)  /* argument: ls flags then a path (parse_list_args) */ \
  X(NLST,    true,  false, true,  'l', true) \
  X(MLSD,    true,  false, true,  'l', true) \
  X(MLST,    true,  false, true,  'l', true) \
  X(SIZE,    true,  true,  true,  'l', true) \
  X(MDTM,    true,  true,  true,  'l', true) \
  X(MFMT,    true,  true,  false, 'T', true)  /* "time path": the argument is not a bare path */ \
  X(STAT,    true,  false, true,  'l', true)  /* 'l' applies to "STAT path" only */ \
  X(SYST,    false, false, false, 0,   true) \
  X(HELP,    false, false, false, 0,   true) \
  X(NOOP,    false, false, false, 0,   true) \
  X(SITE,    true,  true,  false, 0,   true)  /* each SITE command checks its own letter (CHMOD: M, UTIME: T) */ \
  X(FEAT,    false, false, false, 0,   true) \
  X(OPTS,    false, true,  false, 0,   true) \
  X(TYPE,    true,  true,  false, 0,   true) \
  X(MODE,    true,  true,  false, 0,   true) \
  X(STRU,    true,  true,  false, 0,   true) \
  X(PORT,    true,  true,  false, 0,   true) \
  X(PASV,    true,  false, false, 0,   true) \
  X(EPRT,    true,  true,  false, 0,   true) \
  X(EPSV,    true,  false, false, 0,   true) \
  X(HASH,    true,  true,  true,  'r', true) \
  X(XCRC,    true,  true,  false, 'r', false)  /* "path [start [end]]": not a bare path */ \
  X(XMD5,    true,  true,  false, 'r', false) \
  X(XSHA1,   true,  true,  false, 'r', false) \
  X(XSHA256, true,  true,  false, 'r', false) \
  X(XSHA512, true,  true,  false, 'r', false) \
  X(AUTH,    false, true,  false, 0,   true) \
  X(PBSZ,    false, true,  false, 0,   true) \
  X(PROT,    false, true,  false, 0,   true) \
  X(CCC,     false, false, false, 0,   true) \
  X(ADAT,    true,  true,  false, 0,   false) \
  X(MIC,     true,  true,  false, 0,   false) \
  X(CONF,    true,  true,  false, 0,   false) \
  X(ENC,     true,  true,  false, 0,   false) \
  X(LANG,    false, false, false, 0,   true)  /* without an argument: back to the default language */ \
  X(CLNT,    false, true,  false, 0,   true) \
  X(PRET,    true,  true,  false, 0,   false) \
  X(SMNT,    true,  true,  true,  'e', false)

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
  bool takes_path;   // the argument is an FTP path
  char permission;   // pyftpdlib letter checked, or 0
};
VerbInfo verb_info(Verb v);

// The commands HELP lists, as one block of text (lines of names).
std::string_view help_text();

}  // namespace feitp::proto
