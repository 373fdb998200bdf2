// Fuzzes the argument parsers of proto/args.hpp against independent references: std::from_chars
// for REST offsets, parse_time_val/format_time_val for MFMT times, std::from_chars (base 8) for
// SITE CHMOD modes; TYPE/MODE/STRU must give one answer and views into their input.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include "proto/args.hpp"
#include "proto/listing.hpp"

using namespace feitp::proto;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_rest(std::string_view in) {
  const auto v = parse_rest_arg(in);
  bool digits = !in.empty() && in.size() <= 20;
  for (char c : in) digits = digits && c >= '0' && c <= '9';
  std::uint64_t ref = 0;
  const auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), ref);
  const bool ref_ok = digits && ec == std::errc() && end == in.data() + in.size();
  check(v.has_value() == ref_ok);
  if (!v) return;
  check(*v == ref);
  // Printing the offset back gives the input without its leading zeros.
  std::string_view trimmed = in;
  while (trimmed.size() > 1 && trimmed.front() == '0') trimmed.remove_prefix(1);
  check(std::to_string(*v) == trimmed);
}

void check_mfmt(std::string_view in) {
  const auto m = parse_mfmt_arg(in);
  if (!m) return;
  check(!m->path.empty() && m->path.front() != ' ');
  // The path is the tail of the argument (a view into it, nothing copied or changed).
  check(m->path.data() + m->path.size() == in.data() + in.size());
  const std::string_view word = in.substr(0, in.find(' '));
  check(word.size() >= 14);
  const auto t = parse_time_val(word);
  check(t && *t == m->mtime);
  // Years 1..9999 only: the time prints as 14 digits and parses back to itself.
  const std::string text = format_time_val(m->mtime);
  check(text.size() == 14);
  check(parse_time_val(text) == m->mtime);
}

void check_chmod(std::string_view in) {
  const auto a = parse_chmod_arg(in);
  if (!a) return;
  check(!a->path.empty() && a->path.front() != ' ');
  check(a->path.data() + a->path.size() == in.data() + in.size());
  const std::string_view word = in.substr(0, in.find(' '));
  unsigned ref = 0;
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), ref, 8);
  check(ec == std::errc() && end == word.data() + word.size() && word.front() != '-');
  check(word.size() <= 4 && a->mode == ref && a->mode <= 07777);
}

void check_words(std::string_view in) {
  const auto [first, rest] = split_word(in);
  check(first.data() == in.data() && first.find(' ') == std::string_view::npos);
  check(rest.empty() || (rest.front() != ' ' && rest.data() + rest.size() == in.data() + in.size()));
  const auto t = parse_type_arg(in);
  check(t <= TypeArg::unknown);
  // Only one letter (and its parameter) can be served.
  if (t == TypeArg::ascii || t == TypeArg::binary) check(first.size() == 1);
  if (parse_mode_arg(in) != Choice::unknown) check(in.size() == 1);
  if (parse_stru_arg(in) != Choice::unknown) check(in.size() == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_rest(in);
  check_mfmt(in);
  check_chmod(in);
  check_words(in);
  return 0;
}
