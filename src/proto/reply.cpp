// Reply formatting (RFC 959 §4.2).
#include "proto/reply.hpp"

#include <charconv>

#include "proto/text.hpp"

namespace feitp::proto {
namespace {

void append_code(std::string& out, int code, char sep) {
  char buf[16];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, code);
  if (ec != std::errc{}) end = buf;
  out.append(buf, end);
  out.push_back(sep);
}

// Appends one line of text with every control character escaped (\xNN): replies echo client
// text (paths, names), and a CR, NUL or ESC would corrupt the control stream or the terminal.
void append_clean(std::string& out, std::string_view text) { append_escaped(out, text); }

}  // namespace

void append_reply(std::string& out, int code, std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::size_t nl = text.find('\n');
  if (nl == std::string_view::npos) {
    append_code(out, code, ' ');
    append_clean(out, text);
    out.append("\r\n", 2);
    return;
  }
  append_code(out, code, '-');
  append_clean(out, text.substr(0, nl));
  out.append("\r\n", 2);
  text.remove_prefix(nl + 1);
  while ((nl = text.find('\n')) != std::string_view::npos) {
    const std::string_view mid = text.substr(0, nl);
    // A middle line starting with a digit could read as "CODE " and end the reply early.
    if (!mid.empty() && mid.front() >= '0' && mid.front() <= '9') out.push_back(' ');
    append_clean(out, mid);
    out.append("\r\n", 2);
    text.remove_prefix(nl + 1);
  }
  append_code(out, code, ' ');
  append_clean(out, text);
  out.append("\r\n", 2);
}

std::string format_reply(int code, std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  append_reply(out, code, text);
  return out;
}

std::string quote_path(std::string_view path) {
  std::string out;
  out.reserve(path.size() + 2);
  out.push_back('"');
  for (char c : path) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void append_reply_items(std::string& out, int code, std::string_view head,
                        std::string_view items_newline_separated, std::string_view tail) {
  append_code(out, code, '-');
  append_clean(out, head);
  out.append("\r\n", 2);
  std::string_view items = items_newline_separated;
  while (!items.empty()) {
    std::size_t nl = items.find('\n');
    const std::string_view item = items.substr(0, nl);
    if (!item.empty()) {
      out.push_back(' ');
      append_clean(out, item);
      out.append("\r\n", 2);
    }
    if (nl == std::string_view::npos) break;
    items.remove_prefix(nl + 1);
  }
  append_code(out, code, ' ');
  append_clean(out, tail);
  out.append("\r\n", 2);
}

}  // namespace feitp::proto
