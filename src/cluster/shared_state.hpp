// Cluster-wide admission state in one shared anonymous mapping, made by the master before any
// fork, so every worker sees the same connection counts, per-user session counts, failed-login
// records and bans. One process-shared robust mutex guards it (a worker that dies holding it does
// not wedge the others).
//
// Counts are kept in one column per worker slot and summed on read, so when a worker dies the
// master zeroes its column and the entries it held are released exactly.
//
// The mapping is writable by every (unprivileged) worker, so nothing in it is trusted (F9): the
// geometry (slot count, table capacities, offsets) lives in this object, in each process's
// private memory, copied at fork; every index read from the mapping is masked or bounded, every
// loop over it is bounded by the capacity; the master only ever takes the mutex with a short
// timeout; and the mapping sits between two inaccessible guard pages.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include <string_view>

#include "feitp/server.hpp"
#include "session/login_guard.hpp"

namespace feitp::cluster {

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

class SharedState {
 public:
  // slots: worker columns; addresses/users: table capacities (rounded up to powers of two, at
  // least 64). Throws std::system_error when the mapping cannot be made.
  SharedState(std::uint32_t slots, std::uint32_t addresses, std::uint32_t users);
  ~SharedState();
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

  [[nodiscard]] std::uint32_t slots() const { return g_.slots; }
  [[nodiscard]] std::uint32_t address_capacity() const { return g_.addr_cap; }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }

  // --- Used by SharedAdmission (any process) ---------------------------------------------
  // max_per_address = 0 keeps no per-address count. A full table never refuses: the oldest
  // ban record is evicted, else the connection is admitted uncounted (fails open, F12), which
  // is logged once per process to `log` (null: obs::default_logger()).
  bool admit(std::uint32_t slot, std::string_view address, std::uint32_t max_total,
             std::uint32_t max_per_address, spdlog::logger* log = nullptr);
  void release(std::uint32_t slot, std::string_view address);
  // Login records are keyed by session::login_key (IPv4 address, IPv6 /64).
  bool banned(std::uint32_t slot, std::string_view address);
  bool login_attempt(std::uint32_t slot, std::string_view address, const session::LoginPolicy& policy);
  void login_succeeded(std::uint32_t slot, std::string_view address, const session::LoginPolicy& policy,
                       bool trust);
  // Returns the ban length when this failure started a ban (0 = no ban).
  std::chrono::milliseconds login_failed(std::uint32_t slot, std::string_view address,
                                         const session::LoginPolicy& policy);
  std::chrono::milliseconds failure_delay(std::string_view address, const session::LoginPolicy& policy);
  bool user_login(std::uint32_t slot, std::string_view user, std::uint32_t max);
  void user_logout(std::uint32_t slot, std::string_view user);
  void set_counter(std::uint32_t slot, Counter c, std::uint64_t value);

  // --- Read side (any process) ------------------------------------------------------------
  [[nodiscard]] std::uint32_t connections();  // cluster total
  [[nodiscard]] std::uint32_t connections(std::string_view address);
  [[nodiscard]] std::uint32_t sessions(std::string_view user);
  // Every worker's column, plus those of dead workers; nullopt when the mutex stays taken
  // (the master never waits on a worker).
  [[nodiscard]] std::optional<Counters> counters();

  // --- Monitoring and the operator's bans (the admin process) -------------------------------
  struct Snapshot {
    Counters counters{};
    std::uint32_t connections = 0;  // cluster total now
    std::uint32_t bans_active = 0;  // addresses banned now (after failed logins or by hand)
  };
  // Like counters(), with the same short timeout.
  [[nodiscard]] std::optional<Snapshot> snapshot();
  struct Ban {
    std::string address;  // the record key (IPv4 address, IPv6 /64)
    std::int64_t seconds_left = 0;
  };
  [[nodiscard]] std::optional<std::vector<Ban>> bans();
  // Bans `address` (keyed like failed-login bans) for `length`, whatever limits.ban_* say;
  // false when the table has no room. unban() ends its ban (and its failure score); false
  // when it was not banned.
  bool ban(std::string_view address, std::chrono::seconds length);
  bool unban(std::string_view address);
  // True once an operator has banned an address: workers then check bans at connect even
  // when limits.ban_after_failures is 0 (a relaxed load, no lock).
  [[nodiscard]] bool operator_bans() const;

  // --- Master only --------------------------------------------------------------------------
  // Releases everything the (dead) worker in `slot` held and keeps its counters in the total.
  // false = the mutex stayed taken for kMasterLockTimeout (a stopped or hostile worker holds
  // it): nothing was cleared, call again later and keep the slot out of use until then.
  [[nodiscard]] bool clear_slot(std::uint32_t slot);
  static constexpr std::chrono::milliseconds kMasterLockTimeout{20};

  // --- Tests only: the bytes a worker can write, and the mutex -----------------------------
  [[nodiscard]] std::span<std::byte> mapping_for_test() const;
  [[nodiscard]] pthread_mutex_t* mutex_for_test() const;

  struct Layout;
  struct Geometry {
    std::uint32_t slots = 0, addr_cap = 0, user_cap = 0;
    std::size_t slot_off = 0, addr_off = 0, addr_counts_off = 0, user_off = 0, user_counts_off = 0;
  };

 private:
  Layout* map_ = nullptr;
  void* region_ = nullptr;  // the mapping with its guard pages
  std::size_t region_bytes_ = 0;
  std::size_t bytes_ = 0;
  // Private geometry (never read back from the mapping).
  Geometry g_;
  bool warned_full_ = false;  // "table full, admitting uncounted" is logged once per process
};

// The Admission a worker's Server uses: decisions against the shared state, in its own column.
// Its warnings (bans, a full address table) go to `log` (null: obs::default_logger()): give
// the logger of the worker's Server (Options::logger).
class SharedAdmission final : public Admission {
 public:
  SharedAdmission(std::shared_ptr<SharedState> state, std::uint32_t slot, std::uint32_t max_total,
                  std::uint32_t max_per_address, session::LoginPolicy bans,
                  std::shared_ptr<spdlog::logger> log = nullptr);
  bool admit(std::string_view peer_address) override;
  void release(std::string_view peer_address) override;
  bool banned(std::string_view peer_address) override;
  bool login_attempt(std::string_view peer_address) override;
  void login_succeeded(std::string_view peer_address, const User& user) override;
  void login_failed(std::string_view peer_address) override;
  std::chrono::milliseconds failure_delay(std::string_view peer_address) override;
  bool user_login(std::string_view user, std::uint32_t max) override;
  void user_logout(std::string_view user) override;

 private:
  std::shared_ptr<SharedState> state_;
  std::uint32_t slot_;
  std::uint32_t max_total_, max_per_address_;
  session::LoginPolicy bans_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace feitp::cluster
