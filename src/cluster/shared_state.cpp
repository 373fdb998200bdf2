// The shared admission state: layout, the two open-addressing tables (linear probing with
// backward-shift deletion, so no tombstones pile up) and the decisions made on them.
//
// Everything read from the mapping may have been written by a compromised worker (F9): indices
// are masked with this process's private capacity, loops are bounded by it, and values are only
// compared or summed, never used to compute an address.
#include "cluster/shared_state.hpp"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <atomic>
#include <new>
#include <system_error>

#include <spdlog/logger.h>

#include "obs/log.hpp"

namespace feitp::cluster {

namespace {

constexpr std::uint32_t kMagic = 0x66745332;  // "ftS2"
// How far from its home slot a new address looks for a ban record to evict when the table is full.
constexpr std::uint32_t kEvictScan = 256;

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
  char key[48] = {};  // the address as text (INET6_ADDRSTRLEN fits), or an IPv6 "prefix::/64"
  std::uint32_t used = 0;
  std::uint32_t pad = 0;
  session::LoginRecord login;  // failures, checks in flight, ban, trust
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

std::size_t align64(std::size_t n) { return (n + 63) & ~std::size_t{63}; }

}  // namespace

// Only what must be shared; the geometry is deliberately not here (see SharedState).
struct SharedState::Layout {
  pthread_mutex_t mu;
  std::uint32_t magic = kMagic;
  std::uint32_t addr_used = 0, user_used = 0;  // advisory: only compared, never trusted as a bound
  // Set once an operator bans by hand (never cleared: only a hint to check bans at connect).
  std::atomic<std::uint32_t> operator_bans{0};
  Counters retired{};  // counters of workers that have exited
};

namespace {

using Layout = SharedState::Layout;

// Takes the mutex, recovering it from a worker that died inside a critical section (every
// update below is a few stores that leave the tables readable; the master clears that
// worker's column when it reaps it). With a timeout (the master), it may fail: check ok().
class Lock {
 public:
  explicit Lock(Layout* l) : m_(&l->mu) { ok_ = settle(::pthread_mutex_lock(m_)); }
  Lock(Layout* l, std::chrono::milliseconds timeout) : m_(&l->mu) {
#if defined(__SANITIZE_THREAD__)
    // GCC 12's TSan does not intercept pthread_mutex_clocklock (it would then report every
    // unlock); the wall-clock variant is intercepted, and a clock step only matters for 20 ms.
    constexpr clockid_t clock = CLOCK_REALTIME;
#else
    constexpr clockid_t clock = CLOCK_MONOTONIC;
#endif
    timespec until{};
    ::clock_gettime(clock, &until);
    const auto ns = until.tv_nsec + std::chrono::nanoseconds(timeout).count();
    until.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
    until.tv_nsec = static_cast<long>(ns % 1'000'000'000);
#if defined(__SANITIZE_THREAD__)
    ok_ = settle(::pthread_mutex_timedlock(m_, &until));
#else
    ok_ = settle(::pthread_mutex_clocklock(m_, CLOCK_MONOTONIC, &until));
#endif
  }
  ~Lock() {
    if (ok_) ::pthread_mutex_unlock(m_);
  }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  bool settle(int rc) {
    if (rc == EOWNERDEAD) {
      ::pthread_mutex_consistent(m_);
      return true;
    }
    return rc == 0;
  }
  pthread_mutex_t* m_;
  bool ok_ = false;
};

// One open-addressing table over Entry with a parallel counts array (one row of `slots` per
// entry). cap and slots come from the private geometry; every probe is masked and bounded.
template <class Entry, std::size_t KeyCap>
class Table {
 public:
  Table(Entry* entries, std::uint32_t* counts, std::uint32_t cap, std::uint32_t slots, std::uint32_t& used)
      : e_(entries), counts_(counts), mask_(cap - 1), slots_(slots), used_(used) {}

  std::uint32_t capacity() const { return mask_ + 1; }
  std::uint32_t* counts(std::uint32_t i) { return counts_ + std::size_t{i & mask_} * slots_; }
  Entry& entry(std::uint32_t i) { return e_[i & mask_]; }
  std::uint32_t sum(std::uint32_t i) {
    const std::uint32_t* row = counts(i);
    std::uint32_t s = 0;
    for (std::uint32_t k = 0; k < slots_; ++k) s += row[k];
    return s;
  }
  std::uint32_t home(std::uint64_t h) const { return static_cast<std::uint32_t>(h) & mask_; }

  // Index of the entry for `key`, or -1.
  std::int64_t find(std::string_view key) {
    const std::uint64_t h = fnv1a(key);
    for (std::uint32_t i = home(h), n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      Entry& e = e_[i];
      if (!e.used) return -1;
      if (e.hash == h && key_equals(e.key, KeyCap, key)) return i;
    }
    return -1;
  }

  // A new entry for `key` (not present); -1 when no free entry is found.
  std::int64_t insert(std::string_view key) {
    const std::uint64_t h = fnv1a(key);
    for (std::uint32_t i = home(h), n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      if (e_[i].used) continue;
      e_[i] = Entry{};
      e_[i].used = 1;
      e_[i].hash = h;
      set_key(e_[i].key, KeyCap, key);
      std::fill_n(counts(i), slots_, 0U);
      ++used_;
      return i;
    }
    return -1;
  }

  // Index of the entry for `key`, made if missing (after sweeping idle entries above 3/4 load
  // and entries that hold little above 7/8); -1 when the table is full.
  template <class Strict, class Pressure>
  std::int64_t find_or_insert(std::string_view key, Strict idle_strict, Pressure idle_pressure) {
    if (auto i = find(key); i >= 0) return i;
    const std::uint32_t cap = mask_ + 1;
    if (used_ >= cap / 4 * 3) sweep(idle_strict);
    if (used_ >= cap / 8 * 7) sweep(idle_pressure);
    if (used_ + 1 >= cap) return -1;  // keep one hole so probes end
    return insert(key);
  }

  // Backward-shift deletion: later entries of the same probe run move into the hole.
  void erase(std::uint32_t i) {
    i &= mask_;
    std::uint32_t j = i;
    for (std::uint32_t n = 0; n < mask_; ++n) {
      j = (j + 1) & mask_;
      if (!e_[j].used) break;
      const std::uint32_t h = home(e_[j].hash);
      const bool stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      e_[i] = e_[j];
      std::copy_n(counts(j), slots_, counts(i));
      i = j;
    }
    e_[i] = Entry{};
    std::fill_n(counts(i), slots_, 0U);
    if (used_ != 0) --used_;
  }

  template <class Idle>
  void sweep(Idle idle) {
    // Each erase empties one entry, so at most cap erases: the loop ends even on garbage.
    for (std::uint32_t i = 0, erased = 0; i <= mask_ && erased <= mask_;) {
      if (e_[i].used && idle(i)) {
        erase(i);  // another entry may have moved into i: look again
        ++erased;
      } else {
        ++i;
      }
    }
  }

 private:
  Entry* e_;
  std::uint32_t* counts_;
  std::uint32_t mask_;
  std::uint32_t slots_;
  std::uint32_t& used_;
};

using AddrTable = Table<AddrEntry, sizeof(AddrEntry::key)>;
using UserTable = Table<UserEntry, sizeof(UserEntry::key)>;

// An address entry that holds nothing worth keeping. Under pressure, failure scores and
// remembered offences go too; live bans, trust and checks in flight stay.
bool addr_idle(AddrTable& t, std::uint32_t i, std::int64_t now, bool pressure) {
  const auto& r = t.entry(i).login;
  if (t.sum(i) != 0) return false;
  if (pressure) return r.ban_until <= now && r.trusted_until <= now && r.inflight_expire <= now;
  return session::login_idle(r, now);
}

// The table is full of live records: evict, near `key`'s home, the entry without connections
// whose ban ends first (untrusted before trusted). -1 when every scanned entry holds connections.
std::int64_t evict_for(AddrTable& t, std::string_view key, std::int64_t now) {
  std::int64_t best = -1;
  std::int64_t best_score = std::numeric_limits<std::int64_t>::max();
  const std::uint32_t start = t.home(fnv1a(key));
  const std::uint32_t scan = std::min(kEvictScan, t.capacity());
  for (std::uint32_t n = 0; n < scan; ++n) {
    const std::uint32_t i = (start + n) & (t.capacity() - 1);
    if (!t.entry(i).used || t.sum(i) != 0) continue;
    const auto& r = t.entry(i).login;
    const bool trusted = r.trusted_until > now;
    // Trusted records are the last to go: they are what keeps a shared address usable.
    const std::int64_t score = trusted ? std::numeric_limits<std::int64_t>::max() - 1 : r.ban_until;
    if (best < 0 || score < best_score) {
      best = i;
      best_score = score;
    }
  }
  if (best < 0) return -1;
  t.erase(static_cast<std::uint32_t>(best));
  return t.insert(key);
}

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
  g_.slots = std::max<std::uint32_t>(slots, 1);
  g_.addr_cap = round_pow2(std::max<std::uint32_t>(addresses, 64));
  g_.user_cap = round_pow2(std::max<std::uint32_t>(users, 64));
  std::size_t off = align64(sizeof(Layout));
  g_.slot_off = off;
  off = align64(off + sizeof(SlotRow) * g_.slots);
  g_.addr_off = off;
  off = align64(off + sizeof(AddrEntry) * g_.addr_cap);
  g_.addr_counts_off = off;
  off = align64(off + sizeof(std::uint32_t) * std::size_t{g_.addr_cap} * g_.slots);
  g_.user_off = off;
  off = align64(off + sizeof(UserEntry) * g_.user_cap);
  g_.user_counts_off = off;
  off = align64(off + sizeof(std::uint32_t) * std::size_t{g_.user_cap} * g_.slots);

  // Guard pages on both sides: a stray access just outside the tables faults instead of
  // reaching the master's other memory.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  bytes_ = (off + page - 1) / page * page;
  region_bytes_ = bytes_ + 2 * page;
  void* p = ::mmap(nullptr, region_bytes_, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot map " + std::to_string(region_bytes_) + " bytes of shared memory");
  }
  region_ = p;
  char* base = static_cast<char*>(p) + page;
  if (::mprotect(base, bytes_, PROT_READ | PROT_WRITE) != 0) {
    const int err = errno;
    ::munmap(p, region_bytes_);
    throw std::system_error(err, std::generic_category(), "cannot make shared memory writable");
  }
  // The mapping is zero-filled; the tables and rows start empty.
  map_ = new (base) Layout;

  pthread_mutexattr_t attr;
  ::pthread_mutexattr_init(&attr);
  ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  const int rc = ::pthread_mutex_init(&map_->mu, &attr);
  ::pthread_mutexattr_destroy(&attr);
  if (rc != 0) {
    ::munmap(p, region_bytes_);
    throw std::system_error(rc, std::generic_category(), "cannot make the shared-memory mutex");
  }
}

SharedState::~SharedState() {
  // The mutex lives on in children that still map the region; only unmap here.
  if (region_ != nullptr) ::munmap(region_, region_bytes_);
}

namespace {

// The tables of a mapping through a private geometry (offsets and sizes never come from the
// mapping itself).
struct View {
  SlotRow* rows;
  AddrTable addrs;
  UserTable users;
};

View view_of(Layout* map, const SharedState::Geometry& g) {
  char* base = reinterpret_cast<char*>(map);
  return View{reinterpret_cast<SlotRow*>(base + g.slot_off),
              AddrTable(reinterpret_cast<AddrEntry*>(base + g.addr_off),
                        reinterpret_cast<std::uint32_t*>(base + g.addr_counts_off), g.addr_cap, g.slots,
                        map->addr_used),
              UserTable(reinterpret_cast<UserEntry*>(base + g.user_off),
                        reinterpret_cast<std::uint32_t*>(base + g.user_counts_off), g.user_cap, g.slots,
                        map->user_used)};
}

}  // namespace

bool SharedState::admit(std::uint32_t slot, std::string_view address, std::uint32_t max_total,
                        std::uint32_t max_per_address, spdlog::logger* log) {
  Lock lock(map_);
  View v = view_of(map_, g_);
  slot %= g_.slots;
  SlotRow& me = v.rows[slot];
  if (max_total != 0) {
    std::uint32_t total = 0;
    for (std::uint32_t s = 0; s < g_.slots; ++s) total += v.rows[s].total;
    if (total >= max_total) {
      ++me.counters[static_cast<std::size_t>(Counter::refused_limit)];
      return false;
    }
  }
  if (max_per_address != 0) {
    auto& t = v.addrs;
    const std::int64_t now = now_ms();
    auto strict = [&](std::uint32_t i) { return addr_idle(t, i, now, false); };
    auto pressure = [&](std::uint32_t i) { return addr_idle(t, i, now, true); };
    std::int64_t i = t.find_or_insert(address, strict, pressure);
    if (i < 0) i = evict_for(t, address, now);
    if (i < 0) {
      // Full of live connections: admit uncounted rather than refuse every new address (F12).
      if (!warned_full_) {
        warned_full_ = true;
        spdlog::logger& out = log != nullptr ? *log : *obs::default_logger();
        out.warn(
            "address table full ({} entries): admitting new addresses without a "
            "per-address count (raise limits.address_table_size)",
            g_.addr_cap);
      }
    } else {
      std::uint32_t* row = t.counts(static_cast<std::uint32_t>(i));
      if (t.sum(static_cast<std::uint32_t>(i)) >= max_per_address) {
        ++me.counters[static_cast<std::size_t>(Counter::refused_limit)];
        if (addr_idle(t, static_cast<std::uint32_t>(i), now, false)) t.erase(static_cast<std::uint32_t>(i));
        return false;
      }
      ++row[slot];
    }
  }
  ++me.total;
  ++me.counters[static_cast<std::size_t>(Counter::admitted)];
  return true;
}

void SharedState::release(std::uint32_t slot, std::string_view address) {
  Lock lock(map_);
  View v = view_of(map_, g_);
  slot %= g_.slots;
  SlotRow& me = v.rows[slot];
  if (me.total != 0) --me.total;
  auto& t = v.addrs;
  const std::int64_t i = t.find(address);
  if (i < 0) return;
  std::uint32_t* row = t.counts(static_cast<std::uint32_t>(i));
  // Only this worker's own column: a count it never took is never given back.
  if (row[slot] != 0) --row[slot];
  if (addr_idle(t, static_cast<std::uint32_t>(i), now_ms(), false)) t.erase(static_cast<std::uint32_t>(i));
}

bool SharedState::banned(std::uint32_t slot, std::string_view address) {
  const std::string key = session::login_key(address);
  Lock lock(map_);
  View v = view_of(map_, g_);
  const std::int64_t i = v.addrs.find(key);
  if (i < 0 || !session::login_banned(v.addrs.entry(static_cast<std::uint32_t>(i)).login, now_ms())) {
    return false;
  }
  ++v.rows[slot % g_.slots].counters[static_cast<std::size_t>(Counter::refused_banned)];
  return true;
}

namespace {

// The login record of `key`, made if missing (evicting the oldest ban when full); nullptr when
// there is no room at all (then nothing is counted: fail open).
session::LoginRecord* login_record(AddrTable& t, const std::string& key, std::int64_t now) {
  auto strict = [&](std::uint32_t i) { return addr_idle(t, i, now, false); };
  auto pressure = [&](std::uint32_t i) { return addr_idle(t, i, now, true); };
  std::int64_t i = t.find_or_insert(key, strict, pressure);
  if (i < 0) i = evict_for(t, key, now);
  return i < 0 ? nullptr : &t.entry(static_cast<std::uint32_t>(i)).login;
}

}  // namespace

bool SharedState::login_attempt(std::uint32_t slot, std::string_view address,
                                const session::LoginPolicy& policy) {
  if (policy.after_failures == 0) return true;
  const std::string key = session::login_key(address);
  Lock lock(map_);
  View v = view_of(map_, g_);
  const std::int64_t now = now_ms();
  session::LoginRecord* r = login_record(v.addrs, key, now);
  if (r == nullptr || session::login_attempt(*r, policy, now)) return true;
  ++v.rows[slot % g_.slots].counters[static_cast<std::size_t>(Counter::refused_banned)];
  return false;
}

void SharedState::login_succeeded(std::uint32_t /*slot*/, std::string_view address,
                                  const session::LoginPolicy& policy, bool trust) {
  if (policy.after_failures == 0) return;
  const std::string key = session::login_key(address);
  Lock lock(map_);
  View v = view_of(map_, g_);
  const std::int64_t now = now_ms();
  if (auto* r = login_record(v.addrs, key, now)) session::login_succeeded(*r, policy, now, trust);
}

std::chrono::milliseconds SharedState::login_failed(std::uint32_t slot, std::string_view address,
                                                    const session::LoginPolicy& policy) {
  const std::string key = session::login_key(address);
  Lock lock(map_);
  View v = view_of(map_, g_);
  SlotRow& me = v.rows[slot % g_.slots];
  ++me.counters[static_cast<std::size_t>(Counter::login_failures)];
  if (policy.after_failures == 0) return std::chrono::milliseconds{0};
  const std::int64_t now = now_ms();
  session::LoginRecord* r = login_record(v.addrs, key, now);
  if (r == nullptr) return std::chrono::milliseconds{0};
  const std::int64_t ban = session::login_failed(*r, policy, now);
  if (ban > 0) ++me.counters[static_cast<std::size_t>(Counter::bans)];
  return std::chrono::milliseconds{ban};
}

std::chrono::milliseconds SharedState::failure_delay(std::string_view address,
                                                     const session::LoginPolicy& policy) {
  if (policy.after_failures == 0) return std::chrono::milliseconds{0};
  const std::string key = session::login_key(address);
  Lock lock(map_);
  View v = view_of(map_, g_);
  const std::int64_t i = v.addrs.find(key);
  if (i < 0) return std::chrono::milliseconds{0};
  return std::chrono::milliseconds{
      session::login_throttle_ms(v.addrs.entry(static_cast<std::uint32_t>(i)).login, policy, now_ms())};
}

bool SharedState::user_login(std::uint32_t slot, std::string_view user, std::uint32_t max) {
  Lock lock(map_);
  View v = view_of(map_, g_);
  slot %= g_.slots;
  auto& t = v.users;
  auto idle = [&](std::uint32_t i) { return t.sum(i) == 0; };
  const std::int64_t i = t.find_or_insert(user, idle, idle);
  if (i < 0) return max == 0;
  const auto u = static_cast<std::uint32_t>(i);
  if (max != 0 && t.sum(u) >= max) {
    if (t.sum(u) == 0) t.erase(u);
    return false;
  }
  ++t.counts(u)[slot];
  return true;
}

void SharedState::user_logout(std::uint32_t slot, std::string_view user) {
  Lock lock(map_);
  View v = view_of(map_, g_);
  slot %= g_.slots;
  auto& t = v.users;
  const std::int64_t i = t.find(user);
  if (i < 0) return;
  const auto u = static_cast<std::uint32_t>(i);
  if (t.counts(u)[slot] != 0) --t.counts(u)[slot];
  if (t.sum(u) == 0) t.erase(u);
}

void SharedState::set_counter(std::uint32_t slot, Counter c, std::uint64_t value) {
  Lock lock(map_);
  View v = view_of(map_, g_);
  v.rows[slot % g_.slots].counters[static_cast<std::size_t>(c)] = value;
}

std::uint32_t SharedState::connections() {
  Lock lock(map_);
  View v = view_of(map_, g_);
  std::uint32_t total = 0;
  for (std::uint32_t s = 0; s < g_.slots; ++s) total += v.rows[s].total;
  return total;
}

std::uint32_t SharedState::connections(std::string_view address) {
  Lock lock(map_);
  View v = view_of(map_, g_);
  const std::int64_t i = v.addrs.find(address);
  return i < 0 ? 0 : v.addrs.sum(static_cast<std::uint32_t>(i));
}

std::uint32_t SharedState::sessions(std::string_view user) {
  Lock lock(map_);
  View v = view_of(map_, g_);
  const std::int64_t i = v.users.find(user);
  return i < 0 ? 0 : v.users.sum(static_cast<std::uint32_t>(i));
}

std::optional<Counters> SharedState::counters() {
  Lock lock(map_, kMasterLockTimeout);
  if (!lock.ok()) return std::nullopt;
  View v = view_of(map_, g_);
  Counters out = map_->retired;
  for (std::uint32_t s = 0; s < g_.slots; ++s) {
    for (std::size_t c = 0; c < kCounters; ++c) out[c] += v.rows[s].counters[c];
  }
  return out;
}

std::optional<SharedState::Snapshot> SharedState::snapshot() {
  Lock lock(map_, kMasterLockTimeout);
  if (!lock.ok()) return std::nullopt;
  View v = view_of(map_, g_);
  Snapshot out;
  out.counters = map_->retired;
  for (std::uint32_t s = 0; s < g_.slots; ++s) {
    for (std::size_t c = 0; c < kCounters; ++c) out.counters[c] += v.rows[s].counters[c];
    out.connections += v.rows[s].total;
  }
  const std::int64_t now = now_ms();
  for (std::uint32_t i = 0; i < g_.addr_cap; ++i) {
    const AddrEntry& e = v.addrs.entry(i);
    if (e.used && session::login_banned(e.login, now)) ++out.bans_active;
  }
  return out;
}

std::optional<std::vector<SharedState::Ban>> SharedState::bans() {
  Lock lock(map_, kMasterLockTimeout);
  if (!lock.ok()) return std::nullopt;
  View v = view_of(map_, g_);
  std::vector<Ban> out;
  const std::int64_t now = now_ms();
  for (std::uint32_t i = 0; i < g_.addr_cap; ++i) {
    const AddrEntry& e = v.addrs.entry(i);
    if (!e.used || !session::login_banned(e.login, now)) continue;
    char key[sizeof e.key + 1] = {};
    std::memcpy(key, e.key, sizeof e.key);  // cut at its end, whatever a worker wrote
    out.push_back({key, (e.login.ban_until - now + 999) / 1000});
  }
  return out;
}

bool SharedState::ban(std::string_view address, std::chrono::seconds length) {
  const std::string key = session::login_key(address);
  Lock lock(map_);
  View v = view_of(map_, g_);
  const std::int64_t now = now_ms();
  session::LoginRecord* r = login_record(v.addrs, key, now);
  if (r == nullptr) return false;
  r->ban_until = now + std::chrono::duration_cast<std::chrono::milliseconds>(length).count();
  r->trusted_until = 0;  // an operator's ban wins over earlier successful logins
  map_->operator_bans.store(1, std::memory_order_relaxed);
  return true;
}

bool SharedState::unban(std::string_view address) {
  const std::string key = session::login_key(address);
  Lock lock(map_);
  View v = view_of(map_, g_);
  const std::int64_t i = v.addrs.find(key);
  if (i < 0) return false;
  session::LoginRecord& r = v.addrs.entry(static_cast<std::uint32_t>(i)).login;
  const std::int64_t now = now_ms();
  const bool was = session::login_banned(r, now);
  r.ban_until = 0;
  r.fails = 0;
  r.fails_expire = 0;
  if (addr_idle(v.addrs, static_cast<std::uint32_t>(i), now, false))
    v.addrs.erase(static_cast<std::uint32_t>(i));
  return was;
}

bool SharedState::operator_bans() const { return map_->operator_bans.load(std::memory_order_relaxed) != 0; }

bool SharedState::clear_slot(std::uint32_t slot) {
  if (slot >= g_.slots) return true;  // nothing of ours there
  Lock lock(map_, kMasterLockTimeout);
  if (!lock.ok()) return false;
  View v = view_of(map_, g_);
  SlotRow& row = v.rows[slot];
  for (std::size_t c = 0; c < kCounters; ++c) map_->retired[c] += row.counters[c];
  row = SlotRow{};
  const std::int64_t now = now_ms();
  auto& a = v.addrs;
  for (std::uint32_t i = 0; i < g_.addr_cap; ++i) {
    if (a.entry(i).used) a.counts(i)[slot] = 0;
  }
  a.sweep([&](std::uint32_t i) { return addr_idle(a, i, now, false); });
  auto& u = v.users;
  for (std::uint32_t i = 0; i < g_.user_cap; ++i) {
    if (u.entry(i).used) u.counts(i)[slot] = 0;
  }
  u.sweep([&](std::uint32_t i) { return u.sum(i) == 0; });
  return true;
}

std::span<std::byte> SharedState::mapping_for_test() const {
  return {reinterpret_cast<std::byte*>(map_), bytes_};
}

pthread_mutex_t* SharedState::mutex_for_test() const { return &map_->mu; }

// --- SharedAdmission -------------------------------------------------------------------------

SharedAdmission::SharedAdmission(std::shared_ptr<SharedState> state, std::uint32_t slot,
                                 std::uint32_t max_total, std::uint32_t max_per_address,
                                 session::LoginPolicy bans, std::shared_ptr<spdlog::logger> log)
    : state_(std::move(state)),
      slot_(slot),
      max_total_(max_total),
      max_per_address_(max_per_address),
      bans_(bans),
      log_(obs::logger_or_default(std::move(log))) {}

bool SharedAdmission::admit(std::string_view peer) {
  return state_->admit(slot_, peer, max_total_, max_per_address_, log_.get());
}

void SharedAdmission::release(std::string_view peer) { state_->release(slot_, peer); }

bool SharedAdmission::banned(std::string_view peer) {
  return (bans_.after_failures != 0 || state_->operator_bans()) && state_->banned(slot_, peer);
}

bool SharedAdmission::login_attempt(std::string_view peer) {
  return state_->login_attempt(slot_, peer, bans_);
}

void SharedAdmission::login_succeeded(std::string_view peer, const User& user) {
  state_->login_succeeded(slot_, peer, bans_, !user.anonymous);
}

void SharedAdmission::login_failed(std::string_view peer) {
  const auto ban = state_->login_failed(slot_, peer, bans_);
  if (ban.count() > 0) {
    log_->warn("banning {} for {} s after {} failed logins", session::login_key(peer),
               (ban.count() + 999) / 1000, bans_.after_failures);
  }
}

std::chrono::milliseconds SharedAdmission::failure_delay(std::string_view peer) {
  return state_->failure_delay(peer, bans_);
}

bool SharedAdmission::user_login(std::string_view user, std::uint32_t max) {
  return state_->user_login(slot_, user, max);
}

void SharedAdmission::user_logout(std::string_view user) { state_->user_logout(slot_, user); }

}  // namespace feitp::cluster
