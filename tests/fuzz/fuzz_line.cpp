// Fuzzes proto::LineAssembler (Telnet IAC filtering, CRLF/LF ends, the line cap) against a
// reference model written differently: the model filters the whole input at once, then splits
// it at LF; the assembler is fed in chunks whose size the input chooses. Both must report the
// same lines and over-long lines, whatever the chunking.
// Input: byte 0: chunk size, byte 1: line limit, rest: the control stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proto/line.hpp"

using feitp::proto::LineAssembler;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr unsigned char kIac = 0xFF;
const std::string kTooLong = "<too long>";

// RFC 854 filtering with lookahead over the whole input (the assembler keeps a state instead).
std::string telnet_filter(std::string_view in) {
  std::string out;
  std::size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c != kIac) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (i + 1 == in.size()) break;  // a trailing IAC waits for its next byte
    const auto d = static_cast<unsigned char>(in[i + 1]);
    if (d == kIac) {
      out.push_back(static_cast<char>(kIac));  // IAC IAC: a literal 0xFF
      i += 2;
    } else if (d >= 0xFB && d <= 0xFE) {
      i += 3;  // WILL/WONT/DO/DONT + option byte
    } else if (d >= 0xF0) {
      i += 2;  // IP, DM, NOP, ...
    } else {
      i += 1;  // IAC before a plain byte: only the IAC goes
    }
  }
  return out;
}

// A line is too long when it holds more than max bytes without its final CR.
bool too_long(std::string_view body, std::size_t max) {
  return body.size() > max && !(body.size() == max + 1 && body.back() == '\r');
}

std::vector<std::string> model(std::string_view in, std::size_t max) {
  const std::string data = telnet_filter(in);
  std::vector<std::string> events;
  std::string_view rest = data;
  for (std::size_t lf = rest.find('\n'); lf != std::string_view::npos; lf = rest.find('\n')) {
    std::string_view body = rest.substr(0, lf);
    rest.remove_prefix(lf + 1);
    if (too_long(body, max)) {
      events.push_back(kTooLong);
      continue;
    }
    if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
    events.emplace_back(body);
  }
  if (too_long(rest, max)) events.push_back(kTooLong);  // reported before its LF arrives
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = static_cast<std::size_t>(data[0] % 33) + 1;
  const std::size_t max_line = static_cast<std::size_t>(data[1]) + 1;
  const std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);

  LineAssembler la(max_line);
  std::vector<std::string> events;
  std::string_view rest = in;
  while (!rest.empty()) {
    std::string_view piece = rest.substr(0, chunk);
    rest.remove_prefix(piece.size());
    while (!piece.empty()) {
      const auto r = la.feed(piece);
      check(r.consumed <= piece.size());
      check(la.pending() <= max_line + 1);  // memory stays bounded by the cap
      piece.remove_prefix(r.consumed);
      if (r.status == LineAssembler::Status::line) {
        const std::string_view line = la.line();
        check(line.size() <= max_line);
        check(line.find('\n') == std::string_view::npos);
        events.emplace_back(line);
      } else if (r.status == LineAssembler::Status::too_long) {
        check(r.consumed > 0);
        events.push_back(kTooLong);
      } else {
        check(piece.empty());
      }
      la.shrink();  // an idle session frees its buffers; a pending line must survive that
    }
  }
  check(events == model(in, max_line));
  return 0;
}
