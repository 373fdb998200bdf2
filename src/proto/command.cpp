// FTP command parsing and the command table.
#include "proto/command.hpp"

#include <array>
#include <cstring>

namespace feitp::proto {
namespace {

constexpr std::size_t kMaxVerb = 8;

// Packs up to 8 upper-case ASCII characters into one integer, so a verb is matched with a
// single switch instead of string compares.
constexpr std::uint64_t pack(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

struct Entry {
  std::string_view name;
  VerbInfo info;
};

// Permission letters follow include/feitp/auth.hpp (pyftpdlib's letters).
//                               login  arg    path   perm
constexpr VerbInfo kFree{false, false, false, 0};   // before login, no argument
constexpr VerbInfo kFreeArg{false, true, false, 0};  // before login, argument required
constexpr VerbInfo kPlain{true, false, false, 0};
constexpr VerbInfo kArg{true, true, false, 0};

constexpr std::array<Entry, static_cast<std::size_t>(Verb::SMNT) + 1> kTable{{
    {"", kFree},  // unknown: answered 500 whatever the login state
    {"USER", kFreeArg},
    {"PASS", kFree},  // an empty password is allowed (anonymous)
    {"ACCT", kFreeArg},
    {"REIN", kFree},
    {"QUIT", kFree},
    {"HOST", kFreeArg},
    {"CWD", {true, true, true, 'e'}},
    {"CDUP", {true, false, false, 'e'}},
    {"XCWD", {true, true, true, 'e'}},
    {"XCUP", {true, false, false, 'e'}},
    {"PWD", kPlain},
    {"XPWD", kPlain},
    {"MKD", {true, true, true, 'm'}},
    {"XMKD", {true, true, true, 'm'}},
    {"RMD", {true, true, true, 'd'}},
    {"XRMD", {true, true, true, 'd'}},
    {"DELE", {true, true, true, 'd'}},
    {"RNFR", {true, true, true, 'f'}},
    {"RNTO", {true, true, true, 'f'}},
    {"RETR", {true, true, true, 'r'}},
    {"STOR", {true, true, true, 'w'}},
    {"STOU", {true, false, true, 'w'}},  // the optional argument is a name hint
    {"APPE", {true, true, true, 'a'}},
    {"REST", kArg},
    {"ALLO", kArg},
    {"ABOR", kPlain},
    {"LIST", {true, false, true, 'l'}},  // argument: ls flags then a path (parse_list_args)
    {"NLST", {true, false, true, 'l'}},
    {"MLSD", {true, false, true, 'l'}},
    {"MLST", {true, false, true, 'l'}},
    {"SIZE", {true, true, true, 'l'}},
    {"MDTM", {true, true, true, 'l'}},
    {"MFMT", {true, true, false, 'T'}},  // "time path": the argument is not a bare path
    {"STAT", {true, false, true, 'l'}},  // 'l' applies to "STAT path" only
    {"SYST", kFree},
    {"HELP", kFree},
    {"NOOP", kFree},
    {"SITE", kArg},  // each SITE command checks its own letter (CHMOD: M, UTIME: T)
    {"FEAT", kFree},
    {"OPTS", kFreeArg},
    {"TYPE", kArg},
    {"MODE", kArg},
    {"STRU", kArg},
    {"PORT", kArg},
    {"PASV", kPlain},
    {"EPRT", kArg},
    {"EPSV", kPlain},
    {"HASH", {true, true, true, 'r'}},
    {"XCRC", {true, true, false, 'r'}},  // "path [start [end]]": not a bare path
    {"XMD5", {true, true, false, 'r'}},
    {"XSHA1", {true, true, false, 'r'}},
    {"XSHA256", {true, true, false, 'r'}},
    {"XSHA512", {true, true, false, 'r'}},
    {"AUTH", kFreeArg},
    {"PBSZ", kFreeArg},
    {"PROT", kFreeArg},
    {"CCC", kFree},
    {"ADAT", kArg},
    {"MIC", kArg},
    {"CONF", kArg},
    {"ENC", kArg},
    {"LANG", kFree},  // without an argument: back to the default language
    {"CLNT", kFreeArg},
    {"PRET", kArg},
    {"SMNT", {true, true, true, 'e'}},
}};

// clang-format off: a table laid out by hand
constexpr Verb lookup(std::uint64_t key) {
  switch (key) {
#define FEITP_VERB(v) \
  case pack(#v):      \
    return Verb::v;
    FEITP_VERB(USER) FEITP_VERB(PASS) FEITP_VERB(ACCT) FEITP_VERB(REIN) FEITP_VERB(QUIT)
    FEITP_VERB(HOST) FEITP_VERB(CWD) FEITP_VERB(CDUP) FEITP_VERB(XCWD) FEITP_VERB(XCUP)
    FEITP_VERB(PWD) FEITP_VERB(XPWD) FEITP_VERB(MKD) FEITP_VERB(XMKD) FEITP_VERB(RMD)
    FEITP_VERB(XRMD) FEITP_VERB(DELE) FEITP_VERB(RNFR) FEITP_VERB(RNTO) FEITP_VERB(RETR)
    FEITP_VERB(STOR) FEITP_VERB(STOU) FEITP_VERB(APPE) FEITP_VERB(REST) FEITP_VERB(ALLO)
    FEITP_VERB(ABOR) FEITP_VERB(LIST) FEITP_VERB(NLST) FEITP_VERB(MLSD) FEITP_VERB(MLST)
    FEITP_VERB(SIZE) FEITP_VERB(MDTM) FEITP_VERB(MFMT) FEITP_VERB(STAT) FEITP_VERB(SYST)
    FEITP_VERB(HELP) FEITP_VERB(NOOP) FEITP_VERB(SITE) FEITP_VERB(FEAT) FEITP_VERB(OPTS)
    FEITP_VERB(TYPE) FEITP_VERB(MODE) FEITP_VERB(STRU) FEITP_VERB(PORT) FEITP_VERB(PASV)
    FEITP_VERB(EPRT) FEITP_VERB(EPSV) FEITP_VERB(HASH) FEITP_VERB(XCRC) FEITP_VERB(XMD5)
    FEITP_VERB(XSHA1) FEITP_VERB(XSHA256) FEITP_VERB(XSHA512) FEITP_VERB(AUTH) FEITP_VERB(PBSZ)
    FEITP_VERB(PROT) FEITP_VERB(CCC) FEITP_VERB(ADAT) FEITP_VERB(MIC) FEITP_VERB(CONF)
    FEITP_VERB(ENC) FEITP_VERB(LANG) FEITP_VERB(CLNT) FEITP_VERB(PRET) FEITP_VERB(SMNT)
#undef FEITP_VERB
    default:
      return Verb::unknown;
  }
}
// clang-format on

// Every table entry must sit at the index of the verb its name parses to.
constexpr bool table_is_consistent() {
  for (std::size_t i = 1; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(lookup(pack(kTable[i].name))) != i) return false;
  }
  return true;
}
static_assert(table_is_consistent(), "kTable order must follow enum Verb");

constexpr std::string_view kHelp =
    "ABOR ACCT ALLO APPE AUTH CCC CDUP CLNT CWD DELE EPRT EPSV FEAT\n"
    "HASH HELP HOST LANG LIST MDTM MFMT MKD MLSD MLST MODE NLST NOOP\n"
    "OPTS PASS PASV PBSZ PORT PROT PWD QUIT REIN REST RETR RMD RNFR\n"
    "RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\n"
    "XPWD XRMD\n";

}  // namespace

Command parse_command(std::string_view line) {
  Command cmd;
  const std::size_t sp = line.find(' ');
  const std::string_view verb = line.substr(0, sp);
  cmd.name = verb;
  if (sp != std::string_view::npos) cmd.arg = line.substr(sp + 1);

  if (verb.empty() || verb.size() > kMaxVerb) return cmd;
  if (std::memchr(line.data(), '\0', line.size()) != nullptr) return cmd;

  std::uint64_t key = 0;
  for (std::size_t i = 0; i < verb.size(); ++i) {
    auto c = static_cast<unsigned char>(verb[i]);
    if (c >= 'a' && c <= 'z') {
      c = static_cast<unsigned char>(c - ('a' - 'A'));
    } else if (c >= 'A' && c <= 'Z') {
      // letter
    } else if (c >= '0' && c <= '9' && i >= 3) {
      // digits only in the XSHA1/XSHA256/XSHA512 family, never leading
    } else {
      return cmd;
    }
    key = (key << 8) | c;
  }
  cmd.verb = lookup(key);
  return cmd;
}

std::string_view verb_name(Verb v) {
  const auto i = static_cast<std::size_t>(v);
  return i < kTable.size() ? kTable[i].name : std::string_view{};
}

VerbInfo verb_info(Verb v) {
  const auto i = static_cast<std::size_t>(v);
  return i < kTable.size() ? kTable[i].info : kFree;
}

std::string_view help_text() { return kHelp; }

}  // namespace feitp::proto
