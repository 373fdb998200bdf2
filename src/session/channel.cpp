#include "session/channel.hpp"

#include <array>

#include <sys/socket.h>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace feitp::session {

using asio::use_awaitable;

// --- control --------------------------------------------------------------------------------

ControlChannel::ControlChannel(asio::ip::tcp::socket sock) : sock_(std::move(sock)) {
  std::error_code ec;
  sock_.non_blocking(true, ec);
}

asio::awaitable<std::size_t> ControlChannel::read(char* buf, std::size_t n, std::error_code& ec) {
  ec.clear();
  if (tls_ && !cleared_) co_return co_await tls_->read_some(buf, n, ec);
  co_await sock_.async_wait(asio::socket_base::wait_read, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return 0;
  if (!plain()) {
    // After CCC: a TLS record first is the client's close_notify (content type 21, or 23 in
    // TLS 1.3, where alerts travel as encrypted application data); a command never starts
    // with a byte from 20 to 23.
    unsigned char first = 0;
    const auto peeked = ::recv(sock_.native_handle(), &first, 1, MSG_PEEK);
    if (peeked == 1 && first >= 20 && first <= 23) {
      co_await tls_->shutdown(true);
      peer_cleared_ = true;
      ec = asio::error::would_block;  // nothing for the caller yet: read again
      co_return 0;
    }
    if (peeked == 1) peer_cleared_ = true;
  }
  const std::size_t got = sock_.read_some(asio::buffer(buf, n), ec);
  if (!ec && got == 0) ec = asio::error::eof;
  co_return got;
}

std::size_t ControlChannel::write_now(std::string_view data, std::error_code& ec) {
  if (tls_ && !cleared_) return tls_->try_write(data.data(), data.size(), ec);
  return sock_.write_some(asio::buffer(data), ec);
}

asio::awaitable<void> ControlChannel::write_all(std::string_view data, std::error_code& ec) {
  ec.clear();
  if (!tls_ || cleared_) {
    co_await asio::async_write(sock_, asio::buffer(data), asio::redirect_error(use_awaitable, ec));
    co_return;
  }
  while (!data.empty()) {
    const std::size_t n = co_await tls_->write_some(data.data(), data.size(), ec);
    if (ec) co_return;
    data.remove_prefix(n);
  }
}

asio::awaitable<std::error_code> ControlChannel::start_tls(const net::TlsContext& ctx,
                                                           std::string_view host) {
  SSL* ssl = ctx.new_ssl(sock_.native_handle(), host, false);
  if (ssl == nullptr) co_return net::make_error_code(net::TlsError::handshake_failed);
  tls_ = std::make_unique<net::TlsStream>(ssl, sock_);
  notified_ = cleared_ = peer_cleared_ = false;
  const std::error_code ec = co_await tls_->handshake();
  if (!ec) secured_ = true;
  co_return ec;
}

void ControlChannel::clear_tls() {
  if (!tls()) return;
  tls_->shutdown_now();
  notified_ = true;
  cleared_ = true;
}

// Reads and drops what is there now; false when the connection ended or `budget` ran out.
bool ControlChannel::drop_input(std::size_t& budget, std::error_code& ec) {
  std::array<char, 4096> sink;
  for (;;) {
    const std::size_t n = sock_.read_some(asio::buffer(sink), ec);
    if (ec) return ec == asio::error::would_block || ec == asio::error::try_again;
    if (n == 0 || n >= budget) return false;
    budget -= n;
  }
}

asio::awaitable<void> ControlChannel::linger(std::chrono::milliseconds max_wait, std::size_t max_bytes) {
  std::error_code ec;
  if (!sock_.is_open() || sock_.available(ec) == 0 || ec) co_return;
  if (tls_ && secured_ && !notified_) {
    tls_->shutdown_now();
    notified_ = true;
  }
  sock_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) co_return;
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  asio::steady_timer timer(sock_.get_executor());
  // The timer's handler may run after this frame is gone (it was already due when the wait
  // completed): `waiting` tells it whether the socket wait is still there to cancel.
  auto waiting = std::make_shared<bool>(false);
  auto* s = &sock_;
  std::size_t budget = max_bytes;
  while (drop_input(budget, ec) && std::chrono::steady_clock::now() < deadline) {
    timer.expires_at(deadline);
    *waiting = true;
    timer.async_wait([waiting, s](std::error_code e) {
      if (e || !*waiting) return;
      std::error_code ignored;
      s->cancel(ignored);
    });
    co_await sock_.async_wait(asio::socket_base::wait_read, asio::redirect_error(use_awaitable, ec));
    *waiting = false;
    timer.cancel();
    if (ec) co_return;
  }
}

void ControlChannel::close() {
  std::error_code ec;
  if (tls_ && secured_ && !notified_ && sock_.is_open()) tls_->shutdown_now();
  // close() alone sends the FIN (a shutdown() first would only cost a system call).
  if (sock_.is_open()) sock_.close(ec);
}

void ControlChannel::hang_up() {
  std::error_code ec;
  if (tls_ && secured_ && !notified_ && sock_.is_open()) {
    tls_->shutdown_now();
    notified_ = true;
  }
  sock_.shutdown(asio::socket_base::shutdown_both, ec);
  sock_.cancel(ec);
}

// --- data -----------------------------------------------------------------------------------

asio::awaitable<std::error_code> DataChannel::start_tls(const net::TlsContext& ctx, std::string_view host,
                                                        net::TlsBinding& control, DataSessionPolicy policy) {
  std::error_code ec;
  sock_.non_blocking(true, ec);
  SSL* ssl = ctx.new_ssl(sock_.native_handle(), host, true);
  if (ssl == nullptr) co_return net::make_error_code(net::TlsError::handshake_failed);
  tls_ = std::make_unique<net::TlsStream>(ssl, sock_, true);
  tls_->binding().control = &control;
  tls_->binding().policy = policy;
  ec = co_await tls_->handshake();
  if (ec) co_return ec;
  if (policy == DataSessionPolicy::required && !tls_->resumed()) {
    co_return net::make_error_code(net::TlsError::not_resumed);
  }
  co_return std::error_code{};
}

asio::awaitable<std::size_t> DataChannel::read_some(void* buf, std::size_t n, std::error_code& ec) {
  if (tls_) co_return co_await tls_->read_some(buf, n, ec);
  ec.clear();
  co_return co_await sock_.async_read_some(asio::buffer(buf, n), asio::redirect_error(use_awaitable, ec));
}

asio::awaitable<std::size_t> DataChannel::write_some(const void* buf, std::size_t n, std::error_code& ec) {
  if (tls_) co_return co_await tls_->write_some(buf, n, ec);
  ec.clear();
  co_return co_await sock_.async_write_some(asio::buffer(buf, n), asio::redirect_error(use_awaitable, ec));
}

asio::awaitable<void> DataChannel::finish_send() {
  if (!sock_.is_open()) co_return;
  std::error_code ignored;
  if (!tls_) {
    sock_.shutdown(asio::socket_base::shutdown_send, ignored);
    co_return;
  }
  // close_notify, then our FIN so that a client that waits for the end of the data without
  // answering close_notify still sees it; then the client's close_notify (or its FIN), within
  // the transfer's stall clock.
  co_await tls_->shutdown(false);
  sock_.shutdown(asio::socket_base::shutdown_send, ignored);
  co_await tls_->shutdown(true);
}

asio::awaitable<void> DataChannel::finish_receive() {
  if (tls_ && sock_.is_open()) co_await tls_->shutdown(false);
}

void DataChannel::close() {
  std::error_code ec;
  if (sock_.is_open()) sock_.close(ec);
}

void DataChannel::shutdown() {
  std::error_code ec;
  if (sock_.is_open()) sock_.shutdown(asio::socket_base::shutdown_both, ec);
}

}  // namespace feitp::session
