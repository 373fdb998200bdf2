// The control listeners the master binds before forking: one SO_REUSEPORT socket per address
// per worker, all on the same ports, so the kernel spreads connections over the workers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace feitp::cluster {

// One worker's sockets, in the order of the listen addresses.
using ListenerSet = std::vector<int>;

// Binds one set. `ports` (same length as `listen`, or empty) overrides each address's port, so
// that ":0" resolves once and every later set shares the kernel's choice. Throws
// std::runtime_error naming the address on failure.
//
// `exclusive` (the first set a server binds): first make sure nothing listens on each address
// yet. SO_REUSEPORT lets any process of the same user join a port, so a second server started
// on a port in use would not fail but silently take part of the first one's connections; a
// probe bound without SO_REUSEPORT meets EADDRINUSE instead, which is reported.
ListenerSet bind_listener_set(const std::vector<std::string>& listen, const std::vector<std::uint16_t>& ports,
                              bool exclusive = false);
// The bound ports of a set.
std::vector<std::uint16_t> listener_ports(const ListenerSet& set);
void close_listener_set(ListenerSet& set);
// "127.0.0.1:2121, [::1]:2121" with the real ports.
std::string describe_listeners(const std::vector<std::string>& listen,
                               const std::vector<std::uint16_t>& ports);

}  // namespace feitp::cluster
