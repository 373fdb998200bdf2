// The two operations a quota counter needs, on bare atomic words, so that the in-process counter
// and feitpd's shared-memory one (src/runtime/limits_state) behave the same.
#pragma once

#include <atomic>
#include <cstdint>

namespace feitp::storage {

// Adds `add` unless the result would pass `limit` (0 = no limit). Lock-free.
inline bool try_add_word(std::atomic<std::uint64_t>& w, std::uint64_t add, std::uint64_t limit) {
  if (add == 0) return true;
  std::uint64_t cur = w.load(std::memory_order_relaxed);
  for (;;) {
    if (limit != 0 && (cur > limit || add > limit - cur)) return false;
    if (w.compare_exchange_weak(cur, cur + add, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      return true;
    }
  }
}

// Adds a signed delta, floored at 0.
inline void adjust_word(std::atomic<std::uint64_t>& w, std::int64_t delta) {
  if (delta == 0) return;
  std::uint64_t cur = w.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t next;
    if (delta >= 0) {
      next = cur + static_cast<std::uint64_t>(delta);
    } else {
      const auto sub = static_cast<std::uint64_t>(-(delta + 1)) + 1;
      next = cur > sub ? cur - sub : 0;
    }
    if (w.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_relaxed)) return;
  }
}

// Both limits or neither: bytes first, then files, the bytes given back if the files fail.
inline bool try_add_pair(std::atomic<std::uint64_t>& bytes, std::atomic<std::uint64_t>& files,
                         std::uint64_t add_bytes, std::uint64_t add_files, std::uint64_t limit_bytes,
                         std::uint64_t limit_files) {
  if (!try_add_word(bytes, add_bytes, limit_bytes)) return false;
  if (!try_add_word(files, add_files, limit_files)) {
    adjust_word(bytes, -static_cast<std::int64_t>(add_bytes));
    return false;
  }
  return true;
}

}  // namespace feitp::storage
