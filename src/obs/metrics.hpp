// What the workers publish for /metrics and the admin API, in one shared anonymous mapping made
// by the master before any fork (only when [metrics] or [admin] is on): per worker slot, a
// shard of histograms (relaxed atomics, no lock: a command costs two fetch_adds) and a table of
// session records, each behind a seqlock so a reader copies a consistent record or retries.
//
// As with the shared admission state (cluster/shared_state.hpp), every worker can write this
// mapping, so nothing read from it is trusted: the geometry lives in this object's private
// memory, strings are copied into fixed arrays and cut at their end, numbers are only summed,
// compared or shown, and a reader gives up on a record that keeps changing.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "feitp/monitor.hpp"

namespace feitp::obs {

// Upper bounds of the histogram buckets, in seconds (the +Inf bucket follows).
inline constexpr std::array<double, 12> kTransferBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                         0.5,   1,    2.5,   10,   60,  300};
inline constexpr std::array<double, 12> kCommandBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                        0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
inline constexpr std::size_t kBuckets = 13;  // 12 bounds + Inf
// Verbs with their own command histogram: index 0 is "unknown", then proto::Verb's order.
std::size_t verb_count();
std::string_view verb_at(std::size_t i);

// Sessions each worker publishes (the admin API lists at most this many per worker).
inline constexpr std::size_t kSessionsPerWorker = 512;

// One session as a reader sees it (copied out of the mapping, strings cut at their end).
struct SessionRecord {
  std::uint64_t id = 0;                  // 0 = empty
  std::int64_t connected_ms = 0;         // CLOCK_MONOTONIC milliseconds
  std::int64_t transfer_started_ms = 0;  // 0 = no transfer
  std::uint64_t bytes = 0;
  std::uint64_t size = 0;
  std::uint16_t peer_port = 0;
  std::uint8_t tls = 0, transferring = 0, upload = 0, listing = 0;
  std::uint16_t pad = 0;
  char command[8] = {};
  char user[64] = {};
  char peer[48] = {};
  char path[256] = {};
};

// Histogram counts as read: buckets are per bucket (not cumulative), sum in nanoseconds.
struct HistogramCounts {
  std::array<std::uint64_t, kBuckets> buckets{};
  std::uint64_t sum_ns = 0;
  HistogramCounts& operator+=(const HistogramCounts& o);
};

struct ShardTotals {
  std::uint64_t sessions = 0, transfers = 0;  // gauges the workers publish
  HistogramCounts transfer[2];                // [0] = download, [1] = upload
  std::vector<HistogramCounts> command;       // per verb_at(i)
};

std::int64_t monotonic_ms();

class MonitorState {
 public:
  // `slots`: worker columns, as in SharedState. Throws std::system_error when unmappable.
  explicit MonitorState(std::uint32_t slots);
  ~MonitorState();
  MonitorState(const MonitorState&) = delete;
  MonitorState& operator=(const MonitorState&) = delete;

  [[nodiscard]] std::uint32_t slots() const { return slots_; }

  // --- Master ---------------------------------------------------------------------------
  // A worker started in `slot` (its pid is shown by the admin API) / ended (its sessions go;
  // its histograms stay, so the totals keep counting what it did).
  void worker_started(std::uint32_t slot, pid_t pid);
  void worker_ended(std::uint32_t slot);
  void count_worker_restart();

  // --- Readers (the admin process) ------------------------------------------------------
  [[nodiscard]] std::uint64_t worker_restarts() const;
  [[nodiscard]] pid_t worker_pid(std::uint32_t slot) const;
  // Sums of every shard.
  [[nodiscard]] ShardTotals totals() const;
  // The sessions `slot` publishes (consistent copies; a record that keeps changing is skipped).
  [[nodiscard]] std::vector<SessionRecord> sessions(std::uint32_t slot) const;
  // Asks the worker in `slot` to close session `id` (it checks at its next publish); false
  // when no such session is published there.
  bool request_kick(std::uint32_t slot, std::uint64_t id);

  // The Monitor a worker in `slot` gives its Server. `sessions`: publish session records
  // (the admin API is on), else only the gauges.
  std::shared_ptr<Monitor> make_worker_monitor(std::uint32_t slot, bool sessions);

  struct Shard;
  struct Header;

 private:
  Shard* shard(std::uint32_t slot) const;
  void* region_ = nullptr;
  std::size_t region_bytes_ = 0;
  char* base_ = nullptr;
  std::uint32_t slots_ = 0;  // private geometry
  std::size_t shard_bytes_ = 0;
};

}  // namespace feitp::obs
