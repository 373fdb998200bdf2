// The shared admission state: layout, the two open-addressing tables (linear probing with
// backward-shift deletion, so no tombstones pile up) and the decisions made on them.
#include "runtime/shared_state.hpp"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

#include <spdlog/spdlog.h>

namespace feitp::runtime {

namespace {

constexpr std::uint32_t kMagic = 0x66745331;  // "ftS1"
constexpr std::int64_t kRememberOffenderMs = 24LL * 3600 * 1000;
constexpr std::int64_t kMaxBanMs = 24LL * 3600 * 1000;

std::int64_t now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::uint32_t round_pow2(std::uint32_t n) {
  std::uint32_t p = 1;
  while (p < n && p < (1U << 30)) p <<= 1;
  return p;
}

struct SlotRow {
  std::uint32_t total = 0;  // connections this worker holds
  std::uint32_t pad = 0;
  Counters counters{};
};

struct AddrEntry {
  std::uint64_t hash = 0;
  char key[48] = {};        // the address as text (INET6_ADDRSTRLEN fits)
  std::uint32_t used = 0;
  std::uint32_t fails = 0;  // failed logins in the current window
  std::int64_t fails_expire = 0;
  std::int64_t ban_until = 0;
  std::int64_t forget_at = 0;  // when a past offender's ban level is forgotten
  std::uint32_t level = 0;     // bans so far (the next one lasts first_ban << level)
  std::uint32_t pad = 0;
};

struct UserEntry {
  std::uint64_t hash = 0;  // of the whole name; the key holds its first bytes
  char key[56] = {};
  std::uint32_t used = 0;
  std::uint32_t pad = 0;
};

void set_key(char* dst, std::size_t cap, std::string_view s) {
  const std::size_t n = std::min(s.size(), cap - 1);
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

bool key_equals(const char* key, std::size_t cap, std::string_view s) {
  const std::size_t n = std::min(s.size(), cap - 1);
  return std::strncmp(key, s.data(), n) == 0 && key[n] == '\0';
}

}  // namespace

struct SharedState::Layout {
  std::uint32_t magic = kMagic;
  std::uint32_t slots = 0, addr_cap = 0, user_cap = 0;
  std::uint32_t addr_used = 0, user_used = 0;
  std::size_t slot_off = 0, addr_off = 0, addr_counts_off = 0, user_off = 0, user_counts_off = 0;
  pthread_mutex_t mu;
  Counters retired{};  // counters of workers that have exited

  template <class T>
  T* at(std::size_t off) {
    return reinterpret_cast<T*>(reinterpret_cast<char*>(this) + off);
  }
  SlotRow* slot_rows() { return at<SlotRow>(slot_off); }
  AddrEntry* addrs() { return at<AddrEntry>(addr_off); }
  std::uint32_t* addr_counts(std::uint32_t i) { return at<std::uint32_t>(addr_counts_off) + std::size_t{i} * slots; }
  UserEntry* users() { return at<UserEntry>(user_off); }
  std::uint32_t* user_counts(std::uint32_t i) { return at<std::uint32_t>(user_counts_off) + std::size_t{i} * slots; }

  std::uint32_t sum(const std::uint32_t* row) const {
    std::uint32_t s = 0;
    for (std::uint32_t i = 0; i < slots; ++i) s += row[i];
    return s;
  }
};

namespace {

using Layout = SharedState::Layout;

class Lock {
 public:
  explicit Lock(Layout* l) : m_(&l->mu) {
    if (::pthread_mutex_lock(m_) == EOWNERDEAD) {
      // A worker died inside a critical section. Every update below is a few stores that
      // leave the tables readable; the master clears that worker's column when it reaps it.
      ::pthread_mutex_consistent(m_);
    }
  }
  ~Lock() { ::pthread_mutex_unlock(m_); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  pthread_mutex_t* m_;
};

// One open-addressing table over Entry with a parallel counts array (one row per entry).
template <class Entry, std::size_t KeyCap>
class Table {
 public:
  Table(Layout* l, Entry* entries, std::uint32_t cap, std::uint32_t& used,
        std::uint32_t* (Layout::*row)(std::uint32_t))
      : l_(l), e_(entries), mask_(cap - 1), used_(used), row_(row) {}

  std::uint32_t* counts(std::uint32_t i) { return (l_->*row_)(i); }
  Entry& entry(std::uint32_t i) { return e_[i]; }

  // Index of the entry for `key`, or -1.
  std::int64_t find(std::string_view key) {
    const std::uint64_t h = fnv1a(key);
    for (std::uint32_t i = static_cast<std::uint32_t>(h) & mask_, n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      Entry& e = e_[i];
      if (!e.used) return -1;
      if (e.hash == h && key_equals(e.key, KeyCap, key)) return i;
    }
    return -1;
  }

  // Index of the entry for `key`, made if missing; -1 when the table is full.
  template <class Strict, class Pressure>
  std::int64_t find_or_insert(std::string_view key, Strict idle_strict, Pressure idle_pressure) {
    if (auto i = find(key); i >= 0) return i;
    const std::uint32_t cap = mask_ + 1;
    if (used_ >= cap / 4 * 3) sweep(idle_strict);
    if (used_ >= cap / 8 * 7) sweep(idle_pressure);
    if (used_ + 1 >= cap) return -1;
    const std::uint64_t h = fnv1a(key);
    std::uint32_t i = static_cast<std::uint32_t>(h) & mask_;
    while (e_[i].used) i = (i + 1) & mask_;
    e_[i] = Entry{};
    e_[i].used = 1;
    e_[i].hash = h;
    set_key(e_[i].key, KeyCap, key);
    std::fill_n(counts(i), l_->slots, 0U);
    ++used_;
    return i;
  }

  // Backward-shift deletion: later entries of the same probe run move into the hole.
  void erase(std::uint32_t i) {
    std::uint32_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      if (!e_[j].used) break;
      const std::uint32_t home = static_cast<std::uint32_t>(e_[j].hash) & mask_;
      const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      e_[i] = e_[j];
      std::copy_n(counts(j), l_->slots, counts(i));
      i = j;
    }
    e_[i] = Entry{};
    --used_;
  }

  template <class Idle>
  void sweep(Idle idle) {
    for (std::uint32_t i = 0; i <= mask_;) {
      if (e_[i].used && idle(i)) {
        erase(i);  // another entry may have moved into i: look again
      } else {
        ++i;
      }
    }
  }

 private:
  Layout* l_;
  Entry* e_;
  std::uint32_t mask_;
  std::uint32_t& used_;
  std::uint32_t* (Layout::*row_)(std::uint32_t);
};

using AddrTable = Table<AddrEntry, sizeof(AddrEntry::key)>;
using UserTable = Table<UserEntry, sizeof(UserEntry::key)>;

AddrTable addr_table(Layout* l) { return AddrTable(l, l->addrs(), l->addr_cap, l->addr_used, &Layout::addr_counts); }
UserTable user_table(Layout* l) { return UserTable(l, l->users(), l->user_cap, l->user_used, &Layout::user_counts); }

// An address entry that holds nothing worth keeping.
bool addr_idle(Layout* l, AddrTable& t, std::uint32_t i, std::int64_t now, bool pressure) {
  const AddrEntry& e = t.entry(i);
  if (l->sum(t.counts(i)) != 0 || e.ban_until > now) return false;
  if (pressure) return true;  // forget failure scores and past offences before refusing work
  return e.fails_expire <= now && (e.level == 0 || e.forget_at <= now);
}

std::size_t align64(std::size_t n) { return (n + 63) & ~std::size_t{63}; }

}  // namespace

const char* counter_name(Counter c) {
  switch (c) {
    case Counter::admitted: return "connections_admitted";
    case Counter::refused_limit: return "connections_refused_limit";
    case Counter::refused_banned: return "connections_refused_banned";
    case Counter::login_failures: return "login_failures";
    case Counter::bans: return "bans";
    case Counter::sessions_total: return "sessions_total";
    case Counter::logins: return "logins";
    case Counter::uploads: return "uploads";
    case Counter::downloads: return "downloads";
    case Counter::bytes_in: return "bytes_in";
    case Counter::bytes_out: return "bytes_out";
    case Counter::count_: break;
  }
  return "?";
}

SharedState::SharedState(std::uint32_t slots, std::uint32_t addresses, std::uint32_t users) {
  slots = std::max<std::uint32_t>(slots, 1);
  const std::uint32_t addr_cap = round_pow2(std::max<std::uint32_t>(addresses, 64));
  const std::uint32_t user_cap = round_pow2(std::max<std::uint32_t>(users, 64));
  std::size_t off = align64(sizeof(Layout));
  const std::size_t slot_off = off;
  off = align64(off + sizeof(SlotRow) * slots);
  const std::size_t addr_off = off;
  off = align64(off + sizeof(AddrEntry) * addr_cap);
  const std::size_t addr_counts_off = off;
  off = align64(off + sizeof(std::uint32_t) * std::size_t{addr_cap} * slots);
  const std::size_t user_off = off;
  off = align64(off + sizeof(UserEntry) * user_cap);
  const std::size_t user_counts_off = off;
  off = align64(off + sizeof(std::uint32_t) * std::size_t{user_cap} * slots);

  void* p = ::mmap(nullptr, off, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot map " + std::to_string(off) + " bytes of shared memory");
  }
  bytes_ = off;
  // The mapping is zero-filled; the tables and rows start empty.
  map_ = new (p) Layout;
  map_->slots = slots;
  map_->addr_cap = addr_cap;
  map_->user_cap = user_cap;
  map_->slot_off = slot_off;
  map_->addr_off = addr_off;
  map_->addr_counts_off = addr_counts_off;
  map_->user_off = user_off;
  map_->user_counts_off = user_counts_off;

  pthread_mutexattr_t attr;
  ::pthread_mutexattr_init(&attr);
  ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  const int rc = ::pthread_mutex_init(&map_->mu, &attr);
  ::pthread_mutexattr_destroy(&attr);
  if (rc != 0) {
    ::munmap(p, off);
    throw std::system_error(rc, std::generic_category(), "cannot make the shared-memory mutex");
  }
}

SharedState::~SharedState() {
  // The mutex lives on in children that still map the region; only unmap here.
  if (map_ != nullptr) ::munmap(map_, bytes_);
}

std::uint32_t SharedState::slots() const { return map_->slots; }

bool SharedState::admit(std::uint32_t slot, std::string_view address, std::uint32_t max_total,
                        std::uint32_t max_per_address) {
  Lock lock(map_);
  SlotRow& me = map_->slot_rows()[slot];
  if (max_total != 0) {
    std::uint32_t total = 0;
    for (std::uint32_t s = 0; s < map_->slots; ++s) total += map_->slot_rows()[s].total;
    if (total >= max_total) {
      ++me.counters[static_cast<std::size_t>(Counter::refused_limit)];
      return false;
    }
  }
  auto t = addr_table(map_);
  const std::int64_t now = now_ms();
  auto strict = [&](std::uint32_t i) { return addr_idle(map_, t, i, now, false); };
  auto pressure = [&](std::uint32_t i) { return addr_idle(map_, t, i, now, true); };
  const std::int64_t i = t.find_or_insert(address, strict, pressure);
  if (i < 0) {
    // Table full of live entries: without a per-address cap the connection is still fine.
    if (max_per_address != 0) {
      ++me.counters[static_cast<std::size_t>(Counter::refused_limit)];
      return false;
    }
  } else {
    std::uint32_t* row = t.counts(static_cast<std::uint32_t>(i));
    if (max_per_address != 0 && map_->sum(row) >= max_per_address) {
      ++me.counters[static_cast<std::size_t>(Counter::refused_limit)];
      if (addr_idle(map_, t, static_cast<std::uint32_t>(i), now, false)) t.erase(static_cast<std::uint32_t>(i));
      return false;
    }
    ++row[slot];
  }
  ++me.total;
  ++me.counters[static_cast<std::size_t>(Counter::admitted)];
  return true;
}

void SharedState::release(std::uint32_t slot, std::string_view address) {
  Lock lock(map_);
  SlotRow& me = map_->slot_rows()[slot];
  if (me.total != 0) --me.total;
  auto t = addr_table(map_);
  const std::int64_t i = t.find(address);
  if (i < 0) return;
  std::uint32_t* row = t.counts(static_cast<std::uint32_t>(i));
  // Only this worker's own column: a count it never took is never given back.
  if (row[slot] != 0) --row[slot];
  if (addr_idle(map_, t, static_cast<std::uint32_t>(i), now_ms(), false)) t.erase(static_cast<std::uint32_t>(i));
}

bool SharedState::banned(std::uint32_t slot, std::string_view address) {
  Lock lock(map_);
  auto t = addr_table(map_);
  const std::int64_t i = t.find(address);
  if (i < 0) return false;
  if (t.entry(static_cast<std::uint32_t>(i)).ban_until <= now_ms()) return false;
  ++map_->slot_rows()[slot].counters[static_cast<std::size_t>(Counter::refused_banned)];
  return true;
}

std::chrono::milliseconds SharedState::login_failed(std::uint32_t slot, std::string_view address,
                                                    const BanPolicy& policy) {
  Lock lock(map_);
  SlotRow& me = map_->slot_rows()[slot];
  ++me.counters[static_cast<std::size_t>(Counter::login_failures)];
  if (policy.after_failures == 0) return std::chrono::milliseconds{0};
  auto t = addr_table(map_);
  const std::int64_t now = now_ms();
  auto strict = [&](std::uint32_t i) { return addr_idle(map_, t, i, now, false); };
  auto pressure = [&](std::uint32_t i) { return addr_idle(map_, t, i, now, true); };
  const std::int64_t i = t.find_or_insert(address, strict, pressure);
  if (i < 0) return std::chrono::milliseconds{0};
  AddrEntry& e = t.entry(static_cast<std::uint32_t>(i));
  if (e.fails_expire <= now) {
    e.fails = 0;
    e.fails_expire = now + policy.window.count();
  }
  if (++e.fails < policy.after_failures) return std::chrono::milliseconds{0};
  // Banned: first_ban, doubled for each earlier ban still remembered, at most a day.
  if (e.level != 0 && e.forget_at <= now) e.level = 0;
  std::int64_t length = policy.first_ban.count();
  for (std::uint32_t k = 0; k < e.level && length < kMaxBanMs; ++k) length *= 2;
  length = std::min(length, kMaxBanMs);
  e.ban_until = now + length;
  e.forget_at = e.ban_until + kRememberOffenderMs;
  ++e.level;
  e.fails = 0;
  e.fails_expire = 0;
  ++me.counters[static_cast<std::size_t>(Counter::bans)];
  return std::chrono::milliseconds{length};
}

bool SharedState::user_login(std::uint32_t slot, std::string_view user, std::uint32_t max) {
  Lock lock(map_);
  auto t = user_table(map_);
  auto idle = [&](std::uint32_t i) { return map_->sum(t.counts(i)) == 0; };
  const std::int64_t i = t.find_or_insert(user, idle, idle);
  if (i < 0) return max == 0;
  std::uint32_t* row = t.counts(static_cast<std::uint32_t>(i));
  if (max != 0 && map_->sum(row) >= max) {
    if (map_->sum(row) == 0) t.erase(static_cast<std::uint32_t>(i));
    return false;
  }
  ++row[slot];
  return true;
}

void SharedState::user_logout(std::uint32_t slot, std::string_view user) {
  Lock lock(map_);
  auto t = user_table(map_);
  const std::int64_t i = t.find(user);
  if (i < 0) return;
  std::uint32_t* row = t.counts(static_cast<std::uint32_t>(i));
  if (row[slot] != 0) --row[slot];
  if (map_->sum(row) == 0) t.erase(static_cast<std::uint32_t>(i));
}

void SharedState::set_counter(std::uint32_t slot, Counter c, std::uint64_t value) {
  Lock lock(map_);
  map_->slot_rows()[slot].counters[static_cast<std::size_t>(c)] = value;
}

std::uint32_t SharedState::connections() {
  Lock lock(map_);
  std::uint32_t total = 0;
  for (std::uint32_t s = 0; s < map_->slots; ++s) total += map_->slot_rows()[s].total;
  return total;
}

std::uint32_t SharedState::connections(std::string_view address) {
  Lock lock(map_);
  auto t = addr_table(map_);
  const std::int64_t i = t.find(address);
  return i < 0 ? 0 : map_->sum(t.counts(static_cast<std::uint32_t>(i)));
}

std::uint32_t SharedState::sessions(std::string_view user) {
  Lock lock(map_);
  auto t = user_table(map_);
  const std::int64_t i = t.find(user);
  return i < 0 ? 0 : map_->sum(t.counts(static_cast<std::uint32_t>(i)));
}

Counters SharedState::counters() {
  Lock lock(map_);
  Counters out = map_->retired;
  for (std::uint32_t s = 0; s < map_->slots; ++s) {
    for (std::size_t c = 0; c < kCounters; ++c) out[c] += map_->slot_rows()[s].counters[c];
  }
  return out;
}

void SharedState::clear_slot(std::uint32_t slot) {
  Lock lock(map_);
  SlotRow& row = map_->slot_rows()[slot];
  for (std::size_t c = 0; c < kCounters; ++c) map_->retired[c] += row.counters[c];
  row = SlotRow{};
  const std::int64_t now = now_ms();
  auto a = addr_table(map_);
  for (std::uint32_t i = 0; i < map_->addr_cap; ++i) {
    if (a.entry(i).used) a.counts(i)[slot] = 0;
  }
  a.sweep([&](std::uint32_t i) { return addr_idle(map_, a, i, now, false); });
  auto u = user_table(map_);
  for (std::uint32_t i = 0; i < map_->user_cap; ++i) {
    if (u.entry(i).used) u.counts(i)[slot] = 0;
  }
  u.sweep([&](std::uint32_t i) { return map_->sum(u.counts(i)) == 0; });
}

// --- SharedAdmission -------------------------------------------------------------------------

SharedAdmission::SharedAdmission(std::shared_ptr<SharedState> state, std::uint32_t slot,
                                 std::uint32_t max_total, std::uint32_t max_per_address,
                                 BanPolicy bans)
    : state_(std::move(state)), slot_(slot), max_total_(max_total),
      max_per_address_(max_per_address), bans_(bans) {}

bool SharedAdmission::admit(std::string_view peer) {
  return state_->admit(slot_, peer, max_total_, max_per_address_);
}

void SharedAdmission::release(std::string_view peer) { state_->release(slot_, peer); }

bool SharedAdmission::banned(std::string_view peer) { return state_->banned(slot_, peer); }

void SharedAdmission::login_failed(std::string_view peer) {
  const auto ban = state_->login_failed(slot_, peer, bans_);
  if (ban.count() > 0) {
    spdlog::warn("banning {} for {} s after {} failed logins", peer, (ban.count() + 999) / 1000,
                 bans_.after_failures);
  }
}

bool SharedAdmission::user_login(std::string_view user, std::uint32_t max) {
  return state_->user_login(slot_, user, max);
}

void SharedAdmission::user_logout(std::string_view user) { state_->user_logout(slot_, user); }

}  // namespace feitp::runtime
