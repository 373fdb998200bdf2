// The two channels of an FTP session, each a TCP socket that may carry TLS: the protocol code
// reads and writes through them and does not know whether the bytes are encrypted. Both live on
// the session's event-loop thread; the TLS state (net::TlsStream) belongs to the channel that
// owns the descriptor. The plain data path keeps its zero-copy helpers (splice) and takes them
// only when the channel has no TLS.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "net/tls.hpp"

namespace feitp::session {

class ControlChannel {
 public:
  explicit ControlChannel(asio::ip::tcp::socket sock);

  asio::ip::tcp::socket& socket() { return sock_; }
  [[nodiscard]] bool is_open() const { return sock_.is_open(); }
  // The connection is protected now (not after a CCC).
  [[nodiscard]] bool tls() const { return tls_ != nullptr && secured_ && !cleared_; }
  [[nodiscard]] bool cleared() const { return cleared_; }  // by CCC
  // Commands are read straight from the socket (no TLS layer, nothing left of one to read).
  [[nodiscard]] bool plain() const { return tls_ == nullptr || (cleared_ && peer_cleared_); }
  // The handshake's TLS state; it outlives a CCC (data connections still resume its session).
  [[nodiscard]] net::TlsStream* tls_stream() { return tls_.get(); }

  // Reads what the client sent: waits for it. would_block (retry) may come with 0 bytes.
  asio::awaitable<std::size_t> read(char* buf, std::size_t n, std::error_code& ec);
  // Writes what it can now, without waiting.
  std::size_t write_now(std::string_view data, std::error_code& ec);
  // Writes all of `data`, waiting as needed.
  asio::awaitable<void> write_all(std::string_view data, std::error_code& ec);

  // AUTH TLS / implicit TLS: the handshake on this connection (bounded by the caller's clock).
  asio::awaitable<std::error_code> start_tls(const net::TlsContext& ctx, std::string_view host);
  // CCC (RFC 4217 section 12.4), once its 200 is out: sends close_notify and goes on in clear
  // text. The client may answer with its own close_notify (curl's "active" CCC mode) or not
  // ("passive", its default): read() takes the client's if it comes first, and else the bytes
  // are commands.
  void clear_tls();

  // Before close() when the server ends the session while the client's bytes are still
  // unread (a 421, a timeout while it pipelines): close() would then send a reset that also
  // throws away the replies not yet on the wire, the 421 first. So: close_notify and the FIN
  // now, then read and drop what the client still sends until it closes, `max_wait` passes or
  // `max_bytes` were dropped (nginx's lingering close). Returns at once when nothing is unread.
  asio::awaitable<void> linger(std::chrono::milliseconds max_wait, std::size_t max_bytes);
  // Ends the connection: close_notify when it is TLS (without waiting), then the FIN.
  void close();
  // Wakes a pending read and stops both directions (the session then tears down).
  void hang_up();

 private:
  bool drop_input(std::size_t& budget, std::error_code& ec);

  asio::ip::tcp::socket sock_;
  std::unique_ptr<net::TlsStream> tls_;
  bool secured_ = false;       // the handshake has completed
  bool notified_ = false;      // close_notify sent
  bool cleared_ = false;       // CCC: clear text from now on
  bool peer_cleared_ = false;  // ... and the client's close_notify (if any) is read
};

class DataChannel {
 public:
  explicit DataChannel(asio::io_context& io) : sock_(io) {}

  asio::ip::tcp::socket& socket() { return sock_; }
  [[nodiscard]] bool is_open() const { return sock_.is_open(); }
  [[nodiscard]] int native_handle() { return sock_.native_handle(); }
  [[nodiscard]] bool tls() const { return tls_ != nullptr; }
  [[nodiscard]] net::TlsStream* tls_stream() { return tls_.get(); }

  // PROT P: the handshake, the data connection's session checked against the control
  // connection's (`control`, per `policy`).
  asio::awaitable<std::error_code> start_tls(const net::TlsContext& ctx, std::string_view host,
                                             net::TlsBinding& control, DataSessionPolicy policy);

  asio::awaitable<std::size_t> read_some(void* buf, std::size_t n, std::error_code& ec);
  asio::awaitable<std::size_t> write_some(const void* buf, std::size_t n, std::error_code& ec);
  // The end of a download: close_notify (TLS) or FIN, then, under TLS, the client's close_notify.
  asio::awaitable<void> finish_send();
  // The end of an upload under TLS: our close_notify after the client's.
  asio::awaitable<void> finish_receive();

  // ABOR, a timeout, the end: the descriptor goes (TLS state stays until reset()).
  void close();
  void shutdown();

 private:
  asio::ip::tcp::socket sock_;
  std::unique_ptr<net::TlsStream> tls_;
};

}  // namespace feitp::session
