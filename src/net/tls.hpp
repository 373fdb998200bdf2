// TLS (OpenSSL 3) over the server's own non-blocking sockets: a context built from
// feitp::TlsOptions (certificates, versions, ciphers, session tickets, SNI), and a stream that
// runs a handshake, reads and writes as awaitables on the event loop, so no thread ever blocks
// on a peer. The session layer's ControlChannel and DataChannel own one stream each.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "feitp/options.hpp"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace feitp::net {

// Errors of a TLS stream, beyond the socket's own.
enum class TlsError {
  handshake_failed = 1,  // bad ClientHello, no shared cipher, a plain command after AUTH TLS ...
  truncated,             // the peer closed without close_notify
  protocol,              // a TLS error after the handshake
  foreign_session,       // a data connection resumed a session that is not its control's
  not_resumed,           // a data connection did a full handshake where resumption is required
};
const std::error_category& tls_category();
std::error_code make_error_code(TlsError e);

// What ties a data connection's TLS session to its control connection (see TlsStream::binding):
// every ticket issued on a control connection carries that connection's random token; a data
// connection that resumes a ticket must show its own control connection's token.
struct TlsBinding {
  using Token = std::array<unsigned char, 16>;
  Token token{};    // this control connection's
  Token resumed{};  // the token of the ticket this control connection resumed, if any
  bool has_resumed = false;
  const TlsBinding* control = nullptr;  // data connections: their control connection's binding
  DataSessionPolicy policy = DataSessionPolicy::own;
  bool foreign = false;  // a data connection offered another control connection's ticket
};

class TlsContext {
 public:
  // Loads certificates and keys and applies the options; throws std::runtime_error with one
  // line naming the file and the problem (missing, unreadable, expired, key mismatch).
  explicit TlsContext(const TlsOptions& o);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A new server-side SSL for `fd`; `host` (from HOST) picks a [[tls.host]] certificate, SNI in
  // the handshake may pick another. Data connections get no tickets of their own.
  [[nodiscard]] SSL* new_ssl(int fd, std::string_view host, bool data) const;
  [[nodiscard]] const TlsOptions& options() const { return opts_; }

 private:
  struct Ctx;
  static SSL_CTX* make_ctx(const TlsOptions& o, const std::string& cert, const std::string& key,
                           const std::string& chain, TlsContext* owner);
  TlsOptions opts_;
  SSL_CTX* main_ = nullptr;
  std::vector<std::pair<std::string, SSL_CTX*>> hosts_;  // lower-case name -> context

  friend int tls_servername_cb(SSL*, int*, void*);
  friend int tls_ticket_key_cb(SSL*, unsigned char*, unsigned char*, void*, void*, int);
  std::shared_ptr<TicketKeySource> keys_;
};

// "" when every certificate/key of `o` loads, matches and is within its validity period; else
// one line naming the file and what is wrong (feitpd --check and start).
std::string check_tls(const TlsOptions& o);

class TlsStream {
 public:
  // Takes ownership of `ssl` (from TlsContext::new_ssl) over `sock`, which must outlive it.
  // `bulk` (data connections): big writes go out several records per send().
  TlsStream(SSL* ssl, asio::ip::tcp::socket& sock, bool bulk = false);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  TlsBinding& binding() { return binding_; }

  asio::awaitable<std::error_code> handshake();
  // Reads what is there (waiting for it); 0 with asio::error::eof after the peer's
  // close_notify, TlsError::truncated at a bare end of the connection.
  asio::awaitable<std::size_t> read_some(void* buf, std::size_t n, std::error_code& ec);
  asio::awaitable<std::size_t> write_some(const void* buf, std::size_t n, std::error_code& ec);
  // Writes without waiting: would_block when nothing could be written now.
  std::size_t try_write(const void* buf, std::size_t n, std::error_code& ec);
  // Sends close_notify; with `wait_peer`, then waits for the peer's (or the end of the
  // connection). Errors are the peer's business: nothing is reported.
  asio::awaitable<void> shutdown(bool wait_peer);
  // Sends close_notify if it can, without waiting.
  void shutdown_now();

  [[nodiscard]] bool resumed() const;
  [[nodiscard]] bool peer_closed() const { return peer_closed_; }
  [[nodiscard]] std::string version() const;
  [[nodiscard]] std::string cipher() const;
  // The SNI name the client sent, or "".
  [[nodiscard]] std::string server_name() const;

 private:
  // Waits for what OpenSSL asked for after `ret`; false (ec set) when the call failed.
  asio::awaitable<bool> wait_for(int ret, std::error_code& ec);
  // Copies records already read ahead into `buf`, without waiting; the bytes copied.
  std::size_t read_buffered(char* buf, std::size_t n);
  // Sends what the write buffer holds; false (ec set) when the connection failed.
  asio::awaitable<bool> flush(std::error_code& ec);
  void batch_writes();
  SSL* ssl_;
  asio::ip::tcp::socket& sock_;
  TlsBinding binding_;
  bool bulk_;  // may still get a write buffer
  bool peer_closed_ = false;
};

}  // namespace feitp::net

template <>
struct std::is_error_code_enum<feitp::net::TlsError> : std::true_type {};
