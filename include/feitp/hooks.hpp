// feitp: the extension API. Override what you need; every method has a no-op default.
// Names follow pyftpdlib's FTPHandler callbacks.
#pragma once

#include <any>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace feitp {

struct User;

// A view of one control connection (an FTP session), valid for the duration of the call it is
// passed to.
class Connection {
 public:
  virtual ~Connection() = default;
  [[nodiscard]] virtual std::uint64_t id() const = 0;  // unique within the process
  [[nodiscard]] virtual std::string_view peer_address() const = 0;
  [[nodiscard]] virtual std::uint16_t peer_port() const = 0;
  [[nodiscard]] virtual std::string_view local_address() const = 0;
  [[nodiscard]] virtual bool logged_in() const = 0;
  [[nodiscard]] virtual std::string_view user_name() const = 0;  // "" before login
  [[nodiscard]] virtual const User* user() const = 0;            // nullptr before login
  [[nodiscard]] virtual bool tls() const = 0;
  [[nodiscard]] virtual std::string_view cwd() const = 0;
  // The application's own per-session data; lives as long as the session.
  virtual std::any& app_data() = 0;
};

enum class TransferOutcome : std::uint8_t {
  complete,     // all bytes moved, final reply 226
  aborted,      // ABOR
  client_gone,  // the data or control connection closed or timed out
  failed,       // storage error (disk full, I/O error)
  refused,      // a check_upload hook refused it
};
// The enumerator's name: "complete", "aborted", "client_gone", "failed", "refused".
[[nodiscard]] std::string_view to_string(TransferOutcome outcome);

struct TransferEvent {
  std::string path;          // absolute FTP path
  std::uint64_t bytes = 0;   // bytes moved in this transfer
  std::uint64_t offset = 0;  // REST offset it started at (resumed transfers), or file size for APPE
  double seconds = 0;        // duration of the data transfer
  TransferOutcome outcome = TransferOutcome::complete;
  bool upload = false;
  std::string error;  // what went wrong, for incomplete transfers
};

// A hook's answer at a decision point.
struct Decision {
  enum class Kind : std::uint8_t { proceed, reply, disconnect };
  Kind kind = Kind::proceed;
  int code = 0;      // reply code (for reply), e.g. 550
  std::string text;  // reply text; '\n' makes a multi-line reply

  static Decision proceed() { return {}; }
  static Decision reply(int c, std::string t) { return {Kind::reply, c, std::move(t)}; }
  static Decision refuse(std::string why) { return {Kind::reply, 550, std::move(why)}; }
  static Decision disconnect(std::string t = "Closing control connection.") {
    return {Kind::disconnect, 421, std::move(t)};
  }
  [[nodiscard]] bool proceeds() const { return kind == Kind::proceed; }
};
// "proceed", "reply", "disconnect".
[[nodiscard]] std::string_view to_string(Decision::Kind kind);

// The Hooks callbacks by name, in the order they are declared below: first the twelve
// notifications (on_connect to on_rename), then the four that decide (before_command to
// check_upload). The daemon's [hooks] keys, the program hooks' FEITP_EVENT and the Python
// package's method names are these.
inline constexpr std::array<std::string_view, 16> hook_event_names = {"on_connect",
                                                                      "on_disconnect",
                                                                      "on_login",
                                                                      "on_login_failed",
                                                                      "on_logout",
                                                                      "on_file_sent",
                                                                      "on_file_received",
                                                                      "on_incomplete_file_sent",
                                                                      "on_incomplete_file_received",
                                                                      "on_mkdir",
                                                                      "on_remove",
                                                                      "on_rename",
                                                                      "before_command",
                                                                      "before_upload",
                                                                      "before_download",
                                                                      "check_upload"};

class Hooks {
 public:
  virtual ~Hooks() = default;

  // True when any method may block (database, network, a slow scan): the server then calls this
  // object's methods on its thread pool and the session waits without holding the event loop.
  [[nodiscard]] virtual bool blocking() const { return false; }

  // --- Events (notify only) ---
  virtual void on_connect(Connection&) {}
  virtual void on_disconnect(Connection&) {}
  virtual void on_login(Connection&) {}
  virtual void on_login_failed(Connection&, std::string_view /*user*/) {}
  virtual void on_logout(Connection&) {}
  virtual void on_file_sent(Connection&, const TransferEvent&) {}
  virtual void on_file_received(Connection&, const TransferEvent&) {}
  virtual void on_incomplete_file_sent(Connection&, const TransferEvent&) {}
  virtual void on_incomplete_file_received(Connection&, const TransferEvent&) {}
  virtual void on_mkdir(Connection&, std::string_view /*path*/) {}
  virtual void on_remove(Connection&, std::string_view /*path*/) {}
  virtual void on_rename(Connection&, std::string_view /*from*/, std::string_view /*to*/) {}

  // --- Decision points (a non-proceed answer stops the chain) ---
  // Every command, before the server acts on it. verb is upper case; arg is the rest of the line.
  virtual Decision before_command(Connection&, std::string_view /*verb*/, std::string_view /*arg*/) {
    return Decision::proceed();
  }
  virtual Decision before_upload(Connection&, std::string_view /*path*/) { return Decision::proceed(); }
  virtual Decision before_download(Connection&, std::string_view /*path*/) { return Decision::proceed(); }
  // After the last byte of an upload is stored, before the final reply. A refusal removes the
  // file (or restores the previous one with atomic uploads) and answers with the decision's code
  // (550 by default) and text.
  virtual Decision check_upload(Connection&, const TransferEvent&) { return Decision::proceed(); }
};

// A reply from a custom SITE command.
struct Reply {
  int code = 200;
  std::string text;  // '\n' makes a multi-line reply
};

}  // namespace feitp
