// Reply formatting (RFC 959 §4.2): single and multi-line replies.
#pragma once

#include <string>
#include <string_view>

namespace feitp::proto {

// Reply codes by what they mean, so the session says `reply(code::not_logged_in, ...)` rather
// than a bare number (RFC 959 4.2; RFC 2228 and 4217 for 234, 521, 534, 536; RFC 2428 for
// 229, 522; RFC 3659 for 213 with SIZE/MDTM, 554 for REST).
namespace code {
inline constexpr int opening_data = 150;  // file status okay; about to open data connection
inline constexpr int ok = 200;
inline constexpr int superfluous = 202;  // not implemented, superfluous at this site
inline constexpr int system_status = 211;
inline constexpr int file_status = 213;
inline constexpr int help = 214;
inline constexpr int system_type = 215;
inline constexpr int ready = 220;              // service ready for new user
inline constexpr int goodbye = 221;            // closing the control connection
inline constexpr int no_transfer = 225;        // data connection open; no transfer in progress
inline constexpr int transfer_complete = 226;  // closing the data connection; action successful
inline constexpr int passive = 227;
inline constexpr int extended_passive = 229;
inline constexpr int logged_in = 230;
inline constexpr int security_accepted = 234;  // AUTH accepted: the handshake follows
inline constexpr int file_action_ok = 250;
inline constexpr int path_created = 257;
inline constexpr int need_password = 331;
inline constexpr int pending = 350;      // action pending further information (RNFR, REST)
inline constexpr int unavailable = 421;  // service not available, closing
inline constexpr int cannot_open_data = 425;
inline constexpr int transfer_aborted = 426;
inline constexpr int file_busy = 450;
inline constexpr int local_error = 451;
inline constexpr int insufficient_storage = 452;
inline constexpr int unknown_command = 500;
inline constexpr int bad_arguments = 501;
inline constexpr int not_implemented = 502;
inline constexpr int bad_sequence = 503;
inline constexpr int not_for_parameter = 504;
inline constexpr int protection_required = 521;  // data connection refused at this PROT level
inline constexpr int protocol_not_supported = 522;
inline constexpr int not_logged_in = 530;
inline constexpr int policy_denied = 534;
inline constexpr int protection_not_supported = 536;
inline constexpr int file_unavailable = 550;
inline constexpr int exceeded_storage = 552;
inline constexpr int bad_file_name = 553;
inline constexpr int bad_rest = 554;  // invalid REST parameter (RFC 3659 5.3)
}  // namespace code

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
