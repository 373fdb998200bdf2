// FTP command parsing and the command table.
#include "proto/command.hpp"

#include "proto/args.hpp"
#include "proto/listing.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

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
  bool help;
};

constexpr std::size_t kVerbs = 1 + [] {
  std::size_t n = 0;
#define FEITP_VERB_COUNT(...) ++n;
  FEITP_VERBS(FEITP_VERB_COUNT)
#undef FEITP_VERB_COUNT
  return n;
}();

// Row 0 is Verb::unknown: answered 500 whatever the login state.
constexpr std::array<Entry, kVerbs> kTable{{{"", {false, false, PathArg::none, 0, Reach::follow}, false},
#define FEITP_VERB_ROW(v, login, arg, path, perm, reach, help, ...) \
  {#v, {login, arg, PathArg::path, perm, Reach::reach}, help},
                                            FEITP_VERBS(FEITP_VERB_ROW)
#undef FEITP_VERB_ROW
}};

constexpr Verb lookup(std::uint64_t key) {
  switch (key) {
#define FEITP_VERB_CASE(v, ...) \
  case pack(#v): return Verb::v;
    FEITP_VERBS(FEITP_VERB_CASE)
#undef FEITP_VERB_CASE
    default: return Verb::unknown;
  }
}

// The enum and the table come from the same rows; this checks that the names parse back.
constexpr bool table_is_consistent() {
  for (std::size_t i = 1; i < kTable.size(); ++i) {
    if (kTable[i].name.size() > kMaxVerb) return false;
    if (static_cast<std::size_t>(lookup(pack(kTable[i].name))) != i) return false;
  }
  return true;
}
static_assert(table_is_consistent(), "every verb's name must parse back to it");

// HELP: the listed verbs in alphabetical order, 13 to a line.
std::string make_help(bool tls) {
  std::vector<std::string_view> names;
  for (std::size_t i = 1; i < kTable.size(); ++i) {
    if (listed_by_help(static_cast<Verb>(i), tls)) names.push_back(kTable[i].name);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += names[i];
    out += (i % 13 == 12 || i + 1 == names.size()) ? '\n' : ' ';
  }
  return out;
}

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
  return i < kTable.size() ? kTable[i].info : kTable[0].info;
}

std::optional<std::string_view> path_text(Verb v, std::string_view arg) {
  const auto or_cwd = [](std::string_view p) { return p.empty() ? std::string_view(".") : p; };
  switch (verb_info(v).path) {
    case PathArg::none: return std::nullopt;
    case PathArg::path: return arg;
    case PathArg::optional: return or_cwd(arg);
    case PathArg::parent: return std::string_view("..");
    case PathArg::listing: return or_cwd(parse_list_args(arg).path);
    case PathArg::status:
      if (arg.empty()) return std::nullopt;
      return or_cwd(parse_list_args(arg).path);
    case PathArg::mfmt:
      if (auto m = parse_mfmt_arg(arg)) return m->path;
      return std::nullopt;
    case PathArg::unique: return arg.empty() ? std::string_view("file") : arg;
  }
  return std::nullopt;
}

bool needs_tls(Verb v) { return v == Verb::AUTH || v == Verb::PBSZ || v == Verb::PROT || v == Verb::CCC; }

bool listed_by_help(Verb v, bool tls) {
  const auto i = static_cast<std::size_t>(v);
  return i > 0 && i < kTable.size() && kTable[i].help && (tls || !needs_tls(v));
}

std::string_view help_text(bool tls) {
  static const std::string with_tls = make_help(true);
  static const std::string without_tls = make_help(false);
  return tls ? with_tls : without_tls;
}

}  // namespace feitp::proto
