// The load engine: one epoll loop, one non-blocking state machine per client.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "options.hpp"

namespace feitp_bench {

enum class Fail : std::uint8_t {
  connect,        // control connection refused or failed
  ctrl_closed,    // server closed the control connection unexpectedly
  ctrl_error,     // read/write error on the control connection
  reply_greeting, // unexpected reply code, by the step that got it
  reply_user,
  reply_pass,
  reply_type,
  reply_pasv,
  reply_transfer_start,
  reply_transfer_end,
  reply_quit,
  reply_malformed,
  data_connect,
  data_error,
  timeout,
  verify_missing, // --verify-dir: a file reported as uploaded is not there
  verify_size,    // ... or has another byte count
  count_
};
const char* fail_name(Fail f) noexcept;

struct IdleMemory {
  bool measured = false;
  unsigned sessions = 0;
  std::uint64_t pss_before_kib = 0;
  std::uint64_t pss_after_kib = 0;
  std::size_t processes_before = 0;
  std::size_t processes_after = 0;
};

struct Results {
  double elapsed = 0;  // seconds of measurement
  std::uint64_t transactions = 0;
  std::uint64_t bytes = 0;  // data bytes moved during the measurement
  // Everything the run did, warm-up and end included: what a server's CPU time over the
  // whole run divides by.
  std::uint64_t all_transactions = 0;
  std::uint64_t all_bytes = 0;
  Histogram latency;
  std::array<std::uint64_t, static_cast<std::size_t>(Fail::count_)> failures{};
  std::vector<std::string> failure_samples;  // first few failures, in words
  std::array<std::uint64_t, 8> per_scenario{};  // mixed: transactions per scenario
  double cpu_user = 0, cpu_sys = 0;           // the generator's own CPU time (whole run)
  double wall = 0;                            // whole run, seconds
  std::uint64_t uploads_checked = 0;
  IdleMemory idle;
  [[nodiscard]] std::uint64_t failures_total() const noexcept {
    std::uint64_t n = 0;
    for (auto f : failures) n += f;
    return n;
  }
};

// Runs the scenario to its end; returns what happened.
Results run(const Options& opt);

}  // namespace feitp_bench
