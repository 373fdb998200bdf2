// PROXY protocol on accepted control connections: which peers must send a header, and reading
// it without blocking the event loop (bounded size, bounded time, nothing read past it).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

namespace feitp::net {

// The networks whose connections come through a load balancer (Options::proxy_protocol_from).
class ProxyTrust {
 public:
  explicit ProxyTrust(std::vector<std::string> cidrs) : cidrs_(std::move(cidrs)) {}
  [[nodiscard]] bool empty() const { return cidrs_.empty(); }
  // `ip` as net::address_text gives it.
  [[nodiscard]] bool trusted(std::string_view ip) const;

 private:
  std::vector<std::string> cidrs_;
};

struct ProxyOutcome {
  // The client's address and port: the header's source, or the connection's own peer for a
  // LOCAL / UNKNOWN header. nullopt when the connection must be closed (`error` says why).
  std::optional<asio::ip::tcp::endpoint> client;
  int version = 0;
  bool local = false;
  std::string error;
  bool silent = false;  // closed without sending a byte (a plain TCP health check)
};

// Reads the header at the start of `sock` (peeking, then consuming exactly the header's bytes,
// so whatever the client sends next, even a TLS ClientHello, stays in the socket). Gives up
// after `timeout` or at the first byte that cannot begin a header.
asio::awaitable<ProxyOutcome> read_proxy_header(asio::ip::tcp::socket& sock,
                                                const asio::ip::tcp::endpoint& peer,
                                                std::chrono::milliseconds timeout);

}  // namespace feitp::net
