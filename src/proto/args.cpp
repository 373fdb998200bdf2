#include "proto/args.hpp"

#include "proto/listing.hpp"
#include "proto/text.hpp"

namespace feitp::proto {

std::optional<std::uint64_t> parse_rest_arg(std::string_view arg) {
  if (arg.empty() || arg.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : arg) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;  // would overflow
    v = v * 10 + d;
  }
  return v;
}

std::optional<MfmtArg> parse_mfmt_arg(std::string_view arg) {
  const std::size_t sp = arg.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  std::string_view path = arg.substr(sp + 1);
  while (!path.empty() && path.front() == ' ') path.remove_prefix(1);
  const auto t = parse_time_val(arg.substr(0, sp));
  if (!t || path.empty()) return std::nullopt;
  return MfmtArg{*t, path};
}

std::pair<std::string_view, std::string_view> split_word(std::string_view s) {
  const auto sp = s.find(' ');
  if (sp == std::string_view::npos) return {s, {}};
  auto rest = s.substr(sp + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  return {s.substr(0, sp), rest};
}

TypeArg parse_type_arg(std::string_view arg) {
  const auto [code, param] = split_word(arg);
  if (iequals(code, "A"))
    return param.empty() || iequals(param, "N") ? TypeArg::ascii : TypeArg::ascii_format_refused;
  if (iequals(code, "I")) return TypeArg::binary;  // a stray parameter is ignored, as before
  if (iequals(code, "L")) return param == "8" ? TypeArg::binary : TypeArg::byte_size_refused;
  if (iequals(code, "E")) return TypeArg::ebcdic_refused;
  return TypeArg::unknown;
}

Choice parse_mode_arg(std::string_view arg) {
  if (iequals(arg, "S")) return Choice::served;
  if (iequals(arg, "B") || iequals(arg, "C") || iequals(arg, "Z")) return Choice::refused;
  return Choice::unknown;
}

Choice parse_stru_arg(std::string_view arg) {
  if (iequals(arg, "F")) return Choice::served;
  if (iequals(arg, "R") || iequals(arg, "P")) return Choice::refused;
  return Choice::unknown;
}

std::optional<ChmodArg> parse_chmod_arg(std::string_view arg) {
  const auto [mode_text, path] = split_word(arg);
  if (mode_text.empty() || mode_text.size() > 4 || path.empty()) return std::nullopt;
  unsigned mode = 0;
  for (char c : mode_text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<unsigned>(c - '0');
  }
  return ChmodArg{mode, path};
}

}  // namespace feitp::proto
