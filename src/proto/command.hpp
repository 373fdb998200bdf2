// FTP command parsing and the command table (RFC 959, 2389, 2428, 3659, 7151, MFMT, HASH).
#pragma once

#include <cstdint>
#include <string_view>

namespace feitp::proto {

// clang-format off: a table laid out by hand
enum class Verb : std::uint8_t {
  unknown,
  USER, PASS, ACCT, REIN, QUIT, HOST,
  CWD, CDUP, XCWD, XCUP, PWD, XPWD, MKD, XMKD, RMD, XRMD, DELE, RNFR, RNTO,
  RETR, STOR, STOU, APPE, REST, ALLO, ABOR,
  LIST, NLST, MLSD, MLST, SIZE, MDTM, MFMT,
  STAT, SYST, HELP, NOOP, SITE, FEAT, OPTS,
  TYPE, MODE, STRU,
  PORT, PASV, EPRT, EPSV,
  HASH, XCRC, XMD5, XSHA1, XSHA256, XSHA512,
  AUTH, PBSZ, PROT, CCC, ADAT, MIC, CONF, ENC, LANG, CLNT, PRET, SMNT,
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
  bool needs_login;   // answered 530 before login
  bool needs_arg;     // answered 501 without an argument
  bool takes_path;    // the argument is an FTP path
  char permission;    // pyftpdlib letter checked, or 0
};
VerbInfo verb_info(Verb v);

// The commands HELP lists, as one block of text (lines of names).
std::string_view help_text();

}  // namespace feitp::proto
