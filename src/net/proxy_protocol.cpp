// Reading a PROXY protocol header from a fresh control connection.
#include "net/proxy_protocol.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <memory>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "proto/address.hpp"
#include "proto/proxy_header.hpp"

namespace feitp::net {

bool ProxyTrust::trusted(std::string_view ip) const {
  for (const auto& c : cidrs_) {
    if (proto::cidr_contains(c, ip)) return true;
  }
  return false;
}

namespace {

asio::ip::address to_address(const proto::ProxyEndpoint& e) {
  if (e.v6) {
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), e.addr.data(), 16);
    return asio::ip::address_v6(b);
  }
  asio::ip::address_v4::bytes_type b;
  std::memcpy(b.data(), e.addr.data(), 4);
  return asio::ip::address_v4(b);
}

}  // namespace

asio::awaitable<ProxyOutcome> read_proxy_header(asio::ip::tcp::socket& sock,
                                                const asio::ip::tcp::endpoint& peer,
                                                std::chrono::milliseconds timeout) {
  ProxyOutcome out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer timer(sock.get_executor());
  // The deadline cancels a pending readiness wait. `waiting` tells the timer's handler whether
  // the wait (and with it `sock`) is still there; shared because the handler may run after
  // this frame is gone (a cancelled timer still calls it, with an error).
  auto waiting = std::make_shared<bool>(false);
  auto* s = &sock;
  std::array<char, proto::kProxyMaxHeader> buf;
  std::size_t seen = 0;  // bytes peeked last time
  for (;;) {
    std::error_code ec;
    if (seen > 0) {
      // The header's start is there but not its end: readiness would fire at once for the
      // bytes already peeked, so wait a little before looking again (a proxy sends the header
      // in one write; this path is for slow or split senders, bounded by the timeout).
      timer.expires_at(std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(10)));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (std::chrono::steady_clock::now() >= deadline) {
        out.error = "timed out waiting for the PROXY header";
        co_return out;
      }
    } else {
      timer.expires_at(deadline);
      *waiting = true;
      timer.async_wait([waiting, s](std::error_code e) {
        if (e || !*waiting) return;
        std::error_code ignored;
        s->cancel(ignored);
      });
      co_await sock.async_wait(asio::socket_base::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      *waiting = false;
      timer.cancel();
      if (ec == asio::error::operation_aborted || std::chrono::steady_clock::now() >= deadline) {
        out.error = "timed out waiting for the PROXY header";
        co_return out;
      }
      if (ec) {
        out.error = "connection failed before the PROXY header: " + ec.message();
        co_return out;
      }
    }
    const ssize_t n = ::recv(sock.native_handle(), buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        seen = 0;
        continue;
      }
      out.error = std::string("connection failed before the PROXY header: ") + std::strerror(errno);
      co_return out;
    }
    if (n == 0) {
      out.silent = seen == 0;
      out.error = "connection closed before the PROXY header";
      co_return out;
    }
    const auto h = proto::parse_proxy_header(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (h.status == proto::ProxyHeader::Status::invalid) {
      out.error = std::string(h.error);
      co_return out;
    }
    if (h.status == proto::ProxyHeader::Status::incomplete) {
      seen = static_cast<std::size_t>(n);
      continue;
    }
    // Consume exactly the header; the peek showed that many bytes are there.
    const ssize_t m = ::recv(sock.native_handle(), buf.data(), h.length, MSG_DONTWAIT);
    if (m != static_cast<ssize_t>(h.length)) {
      out.error = "connection failed while reading the PROXY header";
      co_return out;
    }
    out.version = h.version;
    out.local = h.local;
    out.client = h.local ? peer : asio::ip::tcp::endpoint(to_address(h.source), h.source.port);
    co_return out;
  }
}

}  // namespace feitp::net
