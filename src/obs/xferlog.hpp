// The transfer log in the wu-ftpd xferlog format (xferlog(5)), one line per finished transfer,
// complete or not, for existing analysers and fail2ban:
//
//   current-time transfer-time remote-host file-size filename transfer-type special-action-flag
//   direction access-mode username service-name authentication-method authenticated-user-id
//   completion-status
//
// e.g. "Tue Mar  5 14:03:30 2024 2 192.0.2.7 1048576 /in/report.pdf b _ i r alice ftp 0 * c".
// Choices: the time is local time ("DDD MMM dd hh:mm:ss YYYY", day space-padded as ctime does);
// transfer-time is whole seconds, rounded, at least 1 (analysers divide by it); file-size is the
// bytes moved by this transfer; filename is the FTP path as the user sees it, with spaces and
// control characters replaced by '_'; transfer-type is 'b' (the event does not say ASCII);
// access-mode 'a' for anonymous users, else 'r'; service "ftp"; method 0; user id '*'; status
// 'c' for complete, 'i' for anything else (aborted, client gone, failed, refused by a check).
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "feitp/hooks.hpp"

namespace feitp::obs {

struct XferlogEntry {
  std::time_t when = 0;
  std::string_view remote_host;
  std::string_view user;
  bool anonymous = false;
  bool ascii = false;
};

// One line, with its trailing '\n'.
std::string format_xferlog_line(const XferlogEntry& who, const TransferEvent& ev);

// Appends to `path` (created 0640 if missing; O_APPEND, one write(2) per line, so several
// worker processes can share the file). Throws std::runtime_error naming the file when it cannot
// be opened. Not blocking: an append to a local file is as fast as the server's own logging.
std::shared_ptr<Hooks> make_xferlog_hooks(const std::string& path);

}  // namespace feitp::obs
