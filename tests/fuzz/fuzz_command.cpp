// Fuzzes the control-connection path: bytes -> LineAssembler (split where the input says) ->
// parse_command -> command table and reply formatting.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/command.hpp"
#include "proto/line.hpp"
#include "proto/listing.hpp"
#include "proto/reply.hpp"

using namespace feitp::proto;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void on_line(std::string_view line, std::size_t max_line) {
  check(line.size() <= max_line);
  check(line.find('\n') == std::string_view::npos);
  const Command c = parse_command(line);
  check(c.name.data() == line.data() || line.empty());
  check(c.name.size() <= line.size());
  if (!c.arg.empty()) check(c.arg.data() + c.arg.size() == line.data() + line.size());
  if (c.verb != Verb::unknown) {
    check(c.name.size() >= 3 && c.name.size() <= 8);
    check(c.name.size() == verb_name(c.verb).size());
    check(line.find('\0') == std::string_view::npos);
  }
  (void)verb_info(c.verb);
  std::string out;
  append_reply(out, 500, c.name);
  append_reply(out, 550, c.arg);
  // A reply never carries a bare CR or NUL from the input, and ends with CRLF.
  check(out.size() >= 2 && out.substr(out.size() - 2) == "\r\n");
  check(out.find('\0') == std::string::npos);
  const ListArgs la = parse_list_args(c.arg);
  check(la.path.size() <= c.arg.size());
  (void)parse_mlst_opts(c.arg);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // First byte: chunk size for feeding; second: line limit.
  const std::size_t chunk = static_cast<std::size_t>(data[0] % 17) + 1;
  const std::size_t max_line = static_cast<std::size_t>(data[1]) + 1;
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  LineAssembler la(max_line);
  while (!in.empty()) {
    std::string_view piece = in.substr(0, chunk);
    in.remove_prefix(piece.size());
    while (!piece.empty()) {
      const auto r = la.feed(piece);
      check(r.consumed <= piece.size());
      check(la.pending() <= max_line + 1);
      piece.remove_prefix(r.consumed);
      if (r.status == LineAssembler::Status::line) {
        on_line(la.line(), max_line);
      } else if (r.status == LineAssembler::Status::need_more) {
        check(piece.empty());
      } else {
        check(r.consumed > 0);
      }
    }
  }
  // The same bytes handed over whole, as a plain command line, must be safe too.
  std::string_view whole(reinterpret_cast<const char*>(data), size);
  const Command c = parse_command(whole);
  (void)verb_info(c.verb);
  la.shrink();
  return 0;
}
