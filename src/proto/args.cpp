#include "proto/args.hpp"

#include "proto/listing.hpp"

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

}  // namespace feitp::proto
