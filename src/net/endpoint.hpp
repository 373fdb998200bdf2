// Listening sockets: address parsing, binding, passive listeners.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include <asio/ip/tcp.hpp>

namespace feitp::net {

// "1.2.3.4:21", "[::1]:2121", "*:2121" (all IPv4), "[::]:2121". nullopt when malformed.
std::optional<asio::ip::tcp::endpoint> parse_listen_address(std::string_view text);

// Opens, binds and listens. SO_REUSEADDR always; SO_REUSEPORT when asked (one socket per
// worker). Throws std::system_error naming the address on failure.
asio::ip::tcp::acceptor open_listener(asio::io_context& io, const asio::ip::tcp::endpoint& ep,
                                      bool reuse_port, int backlog = 1024);

// A passive-mode data listener on `local` (the control connection's local address) with a port
// picked at random from [min, max] (0/0: kernel's choice): a raw non-blocking, close-on-exec
// descriptor with SO_REUSEADDR, never SO_REUSEPORT, listening with a backlog of 1. A busy port
// is retried on the same socket. On success returns the descriptor and sets `port`; on failure
// returns -1 and sets `ec` to the error of the last attempt.
int open_passive_socket(const asio::ip::address& local, std::uint16_t min, std::uint16_t max,
                        std::mt19937& rng, std::uint16_t& port, std::error_code& ec);

// Textual form of an address, IPv4-mapped IPv6 shown as IPv4.
std::string address_text(const asio::ip::address& a);
// IPv4-mapped IPv6 -> IPv4; others unchanged.
asio::ip::address unmapped(const asio::ip::address& a);

}  // namespace feitp::net
