// Cluster-wide admission state in one shared anonymous mapping, made by the master before any
// fork, so every worker sees the same connection counts, per-user session counts, failed-login
// scores and bans. One process-shared robust mutex guards it (a worker that dies holding it does
// not wedge the others).
//
// Counts are kept in one column per worker slot and summed on read, so when a worker dies the
// master zeroes its column and the entries it held are released exactly.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "feitp/server.hpp"

namespace feitp::runtime {

// Counters a worker keeps in its column (metrics read their sum).
enum class Counter : std::uint32_t {
  admitted,
  refused_limit,
  refused_banned,
  login_failures,
  bans,
  sessions_total,  // copied from Server::stats() by the worker
  logins,
  uploads,
  downloads,
  bytes_in,
  bytes_out,
  count_
};
inline constexpr std::size_t kCounters = static_cast<std::size_t>(Counter::count_);
using Counters = std::array<std::uint64_t, kCounters>;
const char* counter_name(Counter c);

struct BanPolicy {
  std::uint32_t after_failures = 10;  // 0 = never ban
  std::chrono::milliseconds window{600'000};
  std::chrono::milliseconds first_ban{300'000};  // doubles for each repeat, capped at one day
};

class SharedState {
 public:
  // slots: worker columns; addresses/users: table capacities (rounded up to powers of two).
  // Throws std::system_error when the mapping cannot be made.
  SharedState(std::uint32_t slots, std::uint32_t addresses, std::uint32_t users);
  ~SharedState();
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

  [[nodiscard]] std::uint32_t slots() const;
  [[nodiscard]] std::size_t bytes() const { return bytes_; }

  // --- Used by SharedAdmission (any process) ---------------------------------------------
  bool admit(std::uint32_t slot, std::string_view address, std::uint32_t max_total,
             std::uint32_t max_per_address);
  void release(std::uint32_t slot, std::string_view address);
  bool banned(std::uint32_t slot, std::string_view address);
  // Returns the ban length when this failure started a ban (0 = no ban).
  std::chrono::milliseconds login_failed(std::uint32_t slot, std::string_view address,
                                         const BanPolicy& policy);
  bool user_login(std::uint32_t slot, std::string_view user, std::uint32_t max);
  void user_logout(std::uint32_t slot, std::string_view user);
  void set_counter(std::uint32_t slot, Counter c, std::uint64_t value);

  // --- Read side (any process) ------------------------------------------------------------
  [[nodiscard]] std::uint32_t connections();                       // cluster total
  [[nodiscard]] std::uint32_t connections(std::string_view address);
  [[nodiscard]] std::uint32_t sessions(std::string_view user);
  [[nodiscard]] Counters counters();  // every worker's column, plus those of dead workers

  // --- Master only --------------------------------------------------------------------------
  // Releases everything the (dead) worker in `slot` held and keeps its counters in the total.
  void clear_slot(std::uint32_t slot);

  struct Layout;

 private:
  Layout* map_ = nullptr;
  std::size_t bytes_ = 0;
};

// The Admission a worker's Server uses: decisions against the shared state, in its own column.
class SharedAdmission final : public Admission {
 public:
  SharedAdmission(std::shared_ptr<SharedState> state, std::uint32_t slot, std::uint32_t max_total,
                  std::uint32_t max_per_address, BanPolicy bans);
  bool admit(std::string_view peer_address) override;
  void release(std::string_view peer_address) override;
  bool banned(std::string_view peer_address) override;
  void login_failed(std::string_view peer_address) override;
  bool user_login(std::string_view user, std::uint32_t max) override;
  void user_logout(std::string_view user) override;

 private:
  std::shared_ptr<SharedState> state_;
  std::uint32_t slot_;
  std::uint32_t max_total_, max_per_address_;
  BanPolicy bans_;
};

}  // namespace feitp::runtime
