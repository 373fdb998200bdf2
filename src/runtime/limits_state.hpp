// Quotas and bandwidth buckets shared by every worker: one anonymous shared mapping made before
// any fork (prepare_shared_limits), holding an open-addressing table keyed by user (quota_key)
// with each user's usage (bytes, files) and upload/download bucket words, and the server-wide
// bucket words. Everything in it is a lock-free atomic: no mutex a dying worker could hold.
//
// Workers write it and may be compromised (F9), so it is never trusted for anything but the
// numbers themselves: the master never reads it, indices are masked with this process's private
// capacity, probes are bounded, keys are compared within their fixed size. A hostile worker can
// only falsify users' counts and buckets, which it could bypass anyway by writing files itself.
//
// Entries are never removed while the daemon runs; a full table (kCapacity users with a quota
// or a rate) leaves further users with counters and buckets of their own worker, and says so
// once in the log.
#pragma once

#include <cstdint>
#include <memory>

#include "feitp/limits.hpp"

namespace feitp::runtime {

inline constexpr std::uint32_t kLimitsCapacity = 65536;  // entries of 128 bytes, touched as used

// Makes the mapping (once per process tree; later calls do nothing). Call before forking.
void prepare_shared_limits();
// The ledger and bucket words over the mapping; with no mapping (not prepared), in-process ones.
std::shared_ptr<QuotaLedger> shared_quota_ledger();
std::shared_ptr<RateStates> shared_rate_states();

}  // namespace feitp::runtime
