// feitp: quotas and bandwidth limits as parts an embedder can use or replace.
//
// Quotas: make_quota_storage() wraps any Storage and keeps a user's files within a number of
// bytes and files, counted in a QuotaCounter that every session of the user shares (feitpd keeps
// the counters in shared memory, so sessions on different workers count together). Uploads are
// charged while the bytes arrive: the write that would pass the quota fails with EDQUOT (the
// server's 552) and the server then discards the upload.
//
// Bandwidth: RateLimiter is a token bucket in GCRA form whose whole state is one 64-bit atomic
// word, so it can live in shared memory; a Throttle charges several of them (session, user,
// server) and says how long to wait. A server with no rate set builds no Throttle at all.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "feitp/auth.hpp"
#include "feitp/result.hpp"
#include "feitp/storage.hpp"

namespace feitp {

// --- Quotas -------------------------------------------------------------------------------------

// One user's usage, shared by all that user's storages. Implementations must be atomic against
// concurrent calls (threads, and processes when it lives in shared memory).
class QuotaCounter {
 public:
  virtual ~QuotaCounter() = default;
  // Adds `bytes` and `files` when the result stays within `limits` (a limit of 0 is none);
  // otherwise changes nothing and returns false.
  virtual bool try_add(std::uint64_t bytes, std::uint64_t files, const QuotaLimits& limits) = 0;
  // Adds signed deltas without any check (frees, corrections); results are floored at 0.
  virtual void adjust(std::int64_t bytes, std::int64_t files) = 0;
  [[nodiscard]] virtual QuotaUsage usage() const = 0;
};

// A counter in this process, starting at `initial`.
std::shared_ptr<QuotaCounter> make_quota_counter(QuotaUsage initial = {});

// Gives each user's counter. `measure` finds the usage on disk; a ledger calls it when it has no
// count for the user yet (first use since start), exactly once however many sessions log in at
// the same time, and the others wait for it.
class QuotaLedger {
 public:
  virtual ~QuotaLedger() = default;
  virtual Result<std::shared_ptr<QuotaCounter>> counter(const User& user,
                                                        const std::function<QuotaUsage()>& measure) = 0;
};

// Counters in this process, keyed by user name and host; never forgotten while it lives.
std::shared_ptr<QuotaLedger> make_quota_ledger();

// Walks `storage` from "/" (through list(), symlinks not followed) and sums its regular files;
// upload temporaries (".feitp-upload.*") are not counted. Stops after `max_entries` entries.
QuotaUsage measure_usage(Storage& storage, std::size_t max_entries = 1000000);

// Keeps the files under `inner` within `limits`, counted in `counter`:
// - an upload is charged as its bytes arrive (only what it adds beyond the file it replaces);
//   the write that would pass quota_bytes fails with EDQUOT, and a new file is refused at
//   open_write with EDQUOT when quota_files is reached;
// - a finished upload, a delete and a rename over a file adjust the count; a failed or aborted
//   upload gives back what it charged (checked against the file left behind);
// - its writers have no native_handle() (the server then does not splice() around them);
// - quota() reports the limits and the counter.
std::unique_ptr<Storage> make_quota_storage(std::unique_ptr<Storage> inner,
                                            std::shared_ptr<QuotaCounter> counter, QuotaLimits limits);

// Wraps a factory: a user with quota_bytes or quota_files gets make_quota_storage() over the
// inner storage, with the ledger's counter (measured with measure_usage() at first use); other
// users get the inner storage untouched.
std::shared_ptr<StorageFactory> make_quota_storage_factory(std::shared_ptr<StorageFactory> inner,
                                                           std::shared_ptr<QuotaLedger> ledger);

// The key a ledger files a user under: "name", or "name@host" for an account of a virtual host.
std::string quota_key(const User& user);

// --- Bandwidth ----------------------------------------------------------------------------------

// A token bucket (the generic cell rate algorithm): `rate` bytes per second, with a credit of
// `burst` worth of time after an idle period. Its state is one word, the theoretical arrival
// time in nanoseconds of CLOCK_MONOTONIC, changed only by compare-and-swap, so a word in shared
// memory makes one bucket for several processes. Bytes are charged after they moved.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // state == nullptr: the limiter keeps its own word.
  explicit RateLimiter(std::uint64_t rate, std::atomic<std::int64_t>* state = nullptr,
                       std::chrono::nanoseconds burst = std::chrono::milliseconds{0});
  // Charges n bytes that have just moved; returns how long to wait before moving more.
  std::chrono::nanoseconds charge(std::uint64_t n, Clock::time_point now = Clock::now());
  [[nodiscard]] std::uint64_t rate() const { return rate_; }

 private:
  std::uint64_t rate_;
  std::int64_t burst_ns_;
  std::atomic<std::int64_t> own_{0};
  std::atomic<std::int64_t>* state_;
};

// Several limiters charged together (a session's, its user's, the server's): a transfer waits
// for the slowest.
class Throttle {
 public:
  void add(std::shared_ptr<RateLimiter> limiter);
  [[nodiscard]] bool empty() const { return limiters_.empty(); }
  std::chrono::nanoseconds charge(std::uint64_t n,
                                  RateLimiter::Clock::time_point now = RateLimiter::Clock::now());
  // How many bytes to move at a time: about 1/20 s at the lowest rate, within [1 KiB, max].
  [[nodiscard]] std::size_t chunk(std::size_t max) const;

 private:
  std::vector<std::shared_ptr<RateLimiter>> limiters_;
};

// Where the buckets that span sessions keep their state word: key "" is the whole server,
// any other key a user (quota_key()); a separate word for each direction. The words must stay
// valid while the object lives. feitpd's lives in shared memory; nullptr (table full) leaves
// that bucket out.
class RateStates {
 public:
  virtual ~RateStates() = default;
  virtual std::atomic<std::int64_t>* state(std::string_view key, bool upload) = 0;
};

// Words in this process (one per key and direction, kept while it lives).
std::shared_ptr<RateStates> make_rate_states();

}  // namespace feitp
