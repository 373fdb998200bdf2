#include "os/pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace feitp::os {

Pipe Pipe::open() {
  Pipe p;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
    p.r.reset(fds[0]);
    p.w.reset(fds[1]);
  }
  return p;
}

bool Pipe::grow(std::size_t bytes) const noexcept {
  return ::fcntl(w.get(), F_SETPIPE_SZ, static_cast<int>(bytes)) >= 0;
}

}  // namespace feitp::os
