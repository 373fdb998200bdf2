// feitp os: a pipe whose two ends close themselves (the middle of a splice() from a socket to a
// file).
#pragma once

#include <cstddef>

#include "os/unique_fd.hpp"

namespace feitp::os {

struct Pipe {
  UniqueFd r;
  UniqueFd w;

  // Both ends non-blocking and close-on-exec; on failure both stay invalid (errno is kept).
  static Pipe open();
  // Asks the kernel for a buffer of `bytes` (F_SETPIPE_SZ); a pipe that cannot grow (pipe-max-size,
  // the per-user pipe quota) keeps its 64 KiB. False when it did not grow.
  bool grow(std::size_t bytes) const noexcept;
};

}  // namespace feitp::os
