// What a connected TCP socket still holds for its peer.
#pragma once

#include <cstdint>
#include <optional>

namespace feitp::net {

// Bytes written to TCP socket `fd` that the peer has not acknowledged yet (sent or not:
// SIOCOUTQ). Written bytes minus this is how far the peer has taken the data, which moves even
// while a writer waits for the kernel to wake it. nullopt when `fd` is not a TCP socket.
std::optional<std::uint64_t> unacked_bytes(int fd);

}  // namespace feitp::net
