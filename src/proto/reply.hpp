// Reply formatting (RFC 959 §4.2): single and multi-line replies.
#pragma once

#include <string>
#include <string_view>

namespace feitp::proto {

// Appends "CODE TEXT\r\n"; when text has '\n', a multi-line reply:
// "CODE-first\r\n", middle lines as-is (a middle line that starts with a digit gets a leading
// space so clients cannot mistake it for the end), "CODE last\r\n". Other control characters in
// the text (CR, NUL, TAB, ESC...) are escaped as \xNN (proto/text.hpp, append_escaped); a
// trailing '\n' is ignored.
void append_reply(std::string& out, int code, std::string_view text);
std::string format_reply(int code, std::string_view text);

// For 257 replies: the path in double quotes with embedded '"' doubled (RFC 959 Appendix II).
std::string quote_path(std::string_view path);

// Multi-line reply "CODE-head\r\n <line>\r\n ...\r\nCODE tail\r\n" with each item prefixed by one
// space (FEAT, HELP, STAT, MLST): append_reply_items(out, 211, "Features:", items, "End").
void append_reply_items(std::string& out, int code, std::string_view head,
                        std::string_view items_newline_separated, std::string_view tail);

}  // namespace feitp::proto
