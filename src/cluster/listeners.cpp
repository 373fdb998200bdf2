// Binding the SO_REUSEPORT listener sets (net::open_listener does the socket work; the
// descriptors are then released from the short-lived io_context used to make them).
#include "cluster/listeners.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <stdexcept>
#include <system_error>

#include "net/endpoint.hpp"

namespace feitp::cluster {

namespace {

// Binds (never listens) a socket without SO_REUSEPORT: EADDRINUSE if anyone listens there.
void check_port_free(asio::io_context& io, const asio::ip::tcp::endpoint& ep, const std::string& name) {
  asio::ip::tcp::acceptor probe(io);
  std::error_code ec;
  probe.open(ep.protocol(), ec);
  if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) {
    int on = 1;
    ::setsockopt(probe.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  if (!ec) probe.bind(ep, ec);
  if (ec) throw std::system_error(ec, "cannot listen on " + name);
}

}  // namespace

ListenerSet bind_listener_set(const std::vector<std::string>& listen, const std::vector<std::uint16_t>& ports,
                              bool exclusive) {
  ListenerSet out;
  asio::io_context io;
  try {
    for (std::size_t i = 0; i < listen.size(); ++i) {
      auto ep = net::parse_listen_address(listen[i]);
      if (!ep) {
        throw std::runtime_error("invalid listen address '" + listen[i] +
                                 "' (expected ADDR:PORT or [V6ADDR]:PORT)");
      }
      if (i < ports.size()) ep->port(ports[i]);
      if (exclusive && ep->port() != 0) check_port_free(io, *ep, listen[i]);
      auto acc = net::open_listener(io, *ep, /*reuse_port=*/true);
      std::error_code ec;
      out.push_back(acc.release(ec));
      if (ec) throw std::system_error(ec, "cannot take the listening socket of " + listen[i]);
    }
  } catch (...) {
    close_listener_set(out);
    throw;
  }
  return out;
}

std::vector<std::uint16_t> listener_ports(const ListenerSet& set) {
  std::vector<std::uint16_t> out;
  for (int fd : set) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    std::uint16_t port = 0;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (ss.ss_family == AF_INET) port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      if (ss.ss_family == AF_INET6) port = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    }
    out.push_back(port);
  }
  return out;
}

void close_listener_set(ListenerSet& set) {
  for (int fd : set) {
    if (fd >= 0) ::close(fd);
  }
  set.clear();
}

std::string describe_listeners(const std::vector<std::string>& listen,
                               const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (std::size_t i = 0; i < listen.size(); ++i) {
    std::string a = listen[i];
    if (i < ports.size()) {
      auto colon = a.rfind(':');
      if (colon != std::string::npos) a = a.substr(0, colon + 1) + std::to_string(ports[i]);
    }
    out.append(out.empty() ? "" : ", ").append(a);
  }
  return out;
}

}  // namespace feitp::cluster
