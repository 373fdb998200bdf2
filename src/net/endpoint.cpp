#include "net/endpoint.hpp"

#include <cerrno>
#include <charconv>
#include <stdexcept>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>

namespace feitp::net {

std::optional<asio::ip::tcp::endpoint> parse_listen_address(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || p != port_text.data() + port_text.size() || port > 65535 || port_text.empty()) {
    return std::nullopt;
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  std::error_code aec;
  auto addr = asio::ip::make_address(std::string(host), aec);
  if (aec) return std::nullopt;
  return asio::ip::tcp::endpoint(addr, static_cast<std::uint16_t>(port));
}

asio::ip::tcp::acceptor open_listener(asio::io_context& io, const asio::ip::tcp::endpoint& ep,
                                      bool reuse_port, int backlog) {
  asio::ip::tcp::acceptor acc(io);
  std::error_code ec;
  auto fail = [&](const char* what) {
    throw std::system_error(
        ec, std::string("cannot ") + what + " " + ep.address().to_string() + ":" + std::to_string(ep.port()));
  };
  acc.open(ep.protocol(), ec);
  if (ec) fail("open a socket for");
  acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) fail("set SO_REUSEADDR on");
  if (ep.address().is_v6()) {
    // Dual-stack only when explicitly asked with "[::]": keep v6 sockets v6-only so that a
    // separate IPv4 listener on the same port works.
    int on = 1;
    ::setsockopt(acc.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  if (reuse_port) {
    int on = 1;
    if (::setsockopt(acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      ec = {errno, std::generic_category()};
      fail("set SO_REUSEPORT on");
    }
  }
  acc.bind(ep, ec);
  if (ec) fail("listen on");
  acc.listen(backlog, ec);
  if (ec) fail("listen on");
  acc.non_blocking(true, ec);
  return acc;
}

int open_passive_socket(const asio::ip::address& local, std::uint16_t min, std::uint16_t max,
                        std::mt19937& rng, std::uint16_t& port, std::error_code& ec) {
  // Raw socket calls: the session accepts with accept4() as soon as the client has connected,
  // so in the common case the listener never needs the event loop (no epoll registration, no
  // FIONBIO ioctl); the port is known without getsockname() when it was picked here.
  asio::ip::tcp::endpoint ep(local, 0);
  const bool ranged = min != 0 && max >= min;
  const unsigned span = ranged ? static_cast<unsigned>(max - min) + 1 : 1;
  // Random start, then walk the range: every port is tried at most once.
  const unsigned start = ranged ? std::uniform_int_distribution<unsigned>(0, span - 1)(rng) : 0;
  int fd = -1;
  int err = 0;
  for (unsigned i = 0; i < span; ++i) {
    if (fd < 0) {
      fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        err = errno;
        break;
      }
      // SO_REUSEADDR lets a port in TIME_WAIT from an earlier transfer be reused at once.
      const int on = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    }
    if (ranged) ep.port(static_cast<std::uint16_t>(min + (start + i) % span));
    // A failed bind() leaves the socket unbound: the next port is tried on the same socket.
    if (::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
      err = errno;
      if (err != EADDRINUSE && err != EADDRNOTAVAIL) break;
      continue;
    }
    if (::listen(fd, 1) == 0) {
      err = 0;
      break;
    }
    // listen() checks the port again, more strictly than bind() with SO_REUSEADDR; a bound
    // socket cannot be bound again, so the next port needs a new one.
    err = errno;
    ::close(fd);
    fd = -1;
    if (err != EADDRINUSE) break;
  }
  if (err == 0 && !ranged) {
    asio::ip::tcp::endpoint bound;
    socklen_t len = static_cast<socklen_t>(bound.capacity());
    if (::getsockname(fd, bound.data(), &len) != 0) err = errno;
    bound.resize(len);
    ep = bound;
  }
  if (err != 0 || fd < 0) {
    if (fd >= 0) ::close(fd);
    ec = {err != 0 ? err : EADDRINUSE, std::system_category()};
    return -1;
  }
  port = ep.port();
  ec.clear();
  return fd;
}

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::string address_text(const asio::ip::address& a) { return unmapped(a).to_string(); }

}  // namespace feitp::net
