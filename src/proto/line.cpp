// Control-connection line assembly: Telnet filtering, CRLF/LF line ends, a hard length cap.
#include "proto/line.hpp"

namespace feitp::proto {
namespace {

// Telnet (RFC 854) bytes that matter here.
constexpr unsigned char kIac = 0xFF;
constexpr unsigned char kWill = 0xFB;
constexpr unsigned char kDont = 0xFE;
constexpr unsigned char kFirstCommand = 0xF0;  // SE; every Telnet command byte is >= this

// telnet_state_ values.
constexpr int kData = 0;      // ordinary bytes
constexpr int kAfterIac = 1;  // an IAC was seen
constexpr int kOption = 2;    // IAC WILL/WONT/DO/DONT seen: the option byte follows

}  // namespace

LineAssembler::FeedResult LineAssembler::feed(std::string_view input) {
  if (line_ready_) {
    line_.clear();
    line_ready_ = false;
  }
  std::size_t i = 0;
  const std::size_t n = input.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(input[i]);
    ++i;

    if (telnet_state_ == kOption) {  // the option byte of WILL/WONT/DO/DONT: dropped
      telnet_state_ = kData;
      continue;
    }
    if (telnet_state_ == kAfterIac) {
      telnet_state_ = kData;
      if (c >= kWill && c <= kDont) {
        telnet_state_ = kOption;
        continue;
      }
      if (c >= kFirstCommand && c != kIac) continue;  // IP, DM, AO, AYT, NOP, ...: dropped
      if (c != kIac) {
        // Not a Telnet command: the IAC alone is dropped and this byte is data. This is what a
        // client's "IAC IP IAC <DM as urgent data>" looks like when the kernel removed the
        // urgent byte from the stream: the ABOR that follows must survive intact.
        --i;
        continue;
      }
      // IAC IAC: a literal 0xFF, handled as data below.
    } else if (c == kIac) {
      telnet_state_ = kAfterIac;
      continue;
    }

    if (c == '\n') {
      if (discarding_) {  // the end of an over-long line: it was already reported
        discarding_ = false;
        continue;
      }
      if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
      line_.swap(partial_);  // both buffers keep their capacity: no allocation per line
      partial_.clear();
      line_ready_ = true;
      return {i, Status::line};
    }
    if (discarding_) continue;

    // A line holds at most max_line_ bytes; one more is allowed only for the CR of its CRLF.
    if (partial_.size() >= max_line_ && !(partial_.size() == max_line_ && c == '\r')) {
      partial_.clear();
      discarding_ = true;
      return {i, Status::too_long};
    }
    partial_.push_back(static_cast<char>(c));
  }
  return {i, Status::need_more};
}

void LineAssembler::shrink() {
  std::string().swap(line_);
  line_ready_ = false;
  if (partial_.empty()) {
    std::string().swap(partial_);
  } else {
    partial_.shrink_to_fit();
  }
}

}  // namespace feitp::proto
