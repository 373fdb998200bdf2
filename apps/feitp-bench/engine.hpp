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
  connect,         // control connection refused or failed
  ctrl_closed,     // server closed the control connection unexpectedly
  ctrl_error,      // read/write error on the control connection
  reply_greeting,  // unexpected reply code, by the step that got it
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
  verify_missing,  // --verify-dir: a file reported as uploaded is not there
  verify_size,     // ... or has another byte count
  reply_auth,      // --tls: AUTH TLS not answered 234
  reply_pbsz,
  reply_prot,
  tls_handshake,  // control connection's TLS handshake failed
  tls_data_handshake,
  tls_error,        // TLS error after the handshake (control or data)
  tls_not_resumed,  // --tls-reconnect resume: the server resumed none of the sessions offered
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

// What the TLS layer did over the whole run (warm-up and end included): proves whether
// sessions were resumed, on which channel.
struct TlsStats {
  std::string version;  // of the first control handshake, e.g. "TLSv1.3"
  std::string cipher;
  std::uint64_t ctrl_handshakes = 0;
  std::uint64_t ctrl_resume_wanted = 0;   // reconnects that asked to resume (--tls-reconnect resume)
  std::uint64_t ctrl_resume_offered = 0;  // ... and had a resumable session to offer
  std::uint64_t ctrl_resumed = 0;
  std::uint64_t data_handshakes = 0;
  std::uint64_t data_resume_offered = 0;  // data connections that offered the control session
  std::uint64_t data_resumed = 0;
  std::uint64_t data_eof_without_close_notify = 0;  // downloads the server ended without close_notify
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
  std::vector<std::string> failure_samples;     // first few failures, in words
  std::array<std::uint64_t, 8> per_scenario{};  // mixed: transactions per scenario
  double cpu_user = 0, cpu_sys = 0;             // the generator's own CPU time (whole run)
  double wall = 0;                              // whole run, seconds
  std::uint64_t uploads_checked = 0;
  IdleMemory idle;
  TlsStats tls;
  [[nodiscard]] std::uint64_t failures_total() const noexcept {
    std::uint64_t n = 0;
    for (auto f : failures) n += f;
    return n;
  }
};

// Runs the scenario to its end; returns what happened.
Results run(const Options& opt);

}  // namespace feitp_bench
