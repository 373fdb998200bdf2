// Control-connection line assembly: Telnet filtering (RFC 854 IAC sequences, as sent before
// ABOR), CRLF or bare LF line ends, and a hard length cap. Pure: bytes in, lines out.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace feitp::proto {

class LineAssembler {
 public:
  enum class Status { need_more, line, too_long };
  struct FeedResult {
    std::size_t consumed;  // bytes of the input used
    Status status;
  };

  explicit LineAssembler(std::size_t max_line) : max_line_(max_line) {}

  // Consumes input until one complete line is assembled (status line: read it with line()),
  // an over-long line is detected (too_long: the rest of that line up to its LF is then
  // discarded silently by later calls), or the input is used up (need_more).
  // IAC IAC yields a literal 0xFF; IAC WILL/WONT/DO/DONT x and IAC <command byte 0xF0..0xFE>
  // (IP, DM, ...) are dropped. IAC followed by a non-command byte (< 0xF0) drops only the IAC:
  // that is "IAC IP IAC" + "ABOR" when the kernel removed the urgent DM byte from the stream
  // (no SO_OOBINLINE), and ABOR must survive. A lone DM (0xF2) without IAC is an ordinary byte.
  // A line holds at most max_line bytes, not counting its CR LF.
  // A NUL byte in a line is kept (the command parser rejects it).
  FeedResult feed(std::string_view input);

  // The last assembled line without its CR/LF; valid until the next feed().
  [[nodiscard]] std::string_view line() const { return line_; }
  // Bytes held for a line not yet complete.
  [[nodiscard]] std::size_t pending() const { return partial_.size(); }
  // Frees the memory held between lines (idle sessions keep nothing).
  void shrink();

 private:
  std::size_t max_line_;
  std::string partial_;
  std::string line_;
  int telnet_state_ = 0;
  bool discarding_ = false;
  bool line_ready_ = false;
};

}  // namespace feitp::proto
