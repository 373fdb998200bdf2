#include "net/send_queue.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>

namespace feitp::net {

std::optional<std::uint64_t> unacked_bytes(int fd) {
  if (fd < 0) return std::nullopt;
  int queued = 0;
  if (::ioctl(fd, SIOCOUTQ, &queued) != 0 || queued < 0) return std::nullopt;
  return static_cast<std::uint64_t>(queued);
}

}  // namespace feitp::net
