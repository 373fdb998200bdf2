// The shared quota and bucket table (see limits_state.hpp).
#include "runtime/limits_state.hpp"

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "storage/quota_words.hpp"

namespace feitp::runtime {
namespace {

constexpr std::size_t kKey = 64;
// A measurement that has not finished after this long is taken over (its worker died).
constexpr std::chrono::seconds kMeasureTakeover{30};

struct alignas(64) Entry {
  std::atomic<std::uint64_t> hash;            // 0 = free; claimed with compare-and-swap
  std::atomic<std::uint32_t> ready;           // 1 once the key is written
  std::atomic<std::uint32_t> quota;           // 0 not measured, 1 being measured, 2 counted
  std::atomic<std::int64_t> measure_started;  // steady-clock ns
  char key[kKey];
  std::atomic<std::uint64_t> bytes, files;
  std::atomic<std::int64_t> up, down;  // bucket words (RateLimiter)
};
static_assert(sizeof(Entry) == 128);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

struct Header {
  alignas(64) std::atomic<std::int64_t> up;
  std::atomic<std::int64_t> down;
};

struct Mapping {
  Header* header = nullptr;
  Entry* entries = nullptr;
  std::uint32_t mask = 0;  // private: never read back from the mapping
};

Mapping g_map;

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h | 1;  // never 0 (free)
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool key_equals(const char* key, std::string_view s) {
  const std::size_t n = std::min(s.size(), kKey - 1);
  return std::memcmp(key, s.data(), n) == 0 && key[n] == '\0';
}

// The entry for `key`, claimed if missing; nullptr when the table is full or not mapped.
Entry* find_or_claim(std::string_view key) {
  if (!g_map.entries) return nullptr;
  const std::uint64_t h = fnv1a(key);
  const std::uint32_t mask = g_map.mask;
  for (std::uint32_t i = static_cast<std::uint32_t>(h) & mask, n = 0; n <= mask; i = (i + 1) & mask, ++n) {
    Entry& e = g_map.entries[i];
    std::uint64_t cur = e.hash.load(std::memory_order_acquire);
    if (cur == 0) {
      if (e.hash.compare_exchange_strong(cur, h, std::memory_order_acq_rel)) {
        const std::size_t len = std::min(key.size(), kKey - 1);
        std::memcpy(e.key, key.data(), len);
        e.key[len] = '\0';
        e.ready.store(1, std::memory_order_release);
        return &e;
      }
    }
    if (cur != h) continue;
    // Same hash: wait (briefly) for its key, then compare.
    for (int spin = 0; spin < 10000 && e.ready.load(std::memory_order_acquire) == 0; ++spin) sched_yield();
    if (e.ready.load(std::memory_order_acquire) != 0 && key_equals(e.key, key)) return &e;
  }
  return nullptr;
}

void warn_full() {
  static std::once_flag once;
  std::call_once(once, [] {
    spdlog::warn(
        "limits: the shared table of users with quotas or rates is full ({} entries); "
        "further users are counted per worker",
        kLimitsCapacity);
  });
}

class SharedCounter final : public QuotaCounter {
 public:
  explicit SharedCounter(Entry& e) : e_(e) {}
  bool try_add(std::uint64_t bytes, std::uint64_t files, const QuotaLimits& limits) override {
    return storage::try_add_pair(e_.bytes, e_.files, bytes, files, limits.bytes, limits.files);
  }
  void adjust(std::int64_t bytes, std::int64_t files) override {
    storage::adjust_word(e_.bytes, bytes);
    storage::adjust_word(e_.files, files);
  }
  [[nodiscard]] QuotaUsage usage() const override {
    return {e_.bytes.load(std::memory_order_relaxed), e_.files.load(std::memory_order_relaxed)};
  }

 private:
  Entry& e_;
};

class SharedLedger final : public QuotaLedger {
 public:
  Result<std::shared_ptr<QuotaCounter>> counter(const User& user,
                                                const std::function<QuotaUsage()>& measure) override {
    Entry* e = find_or_claim(quota_key(user));
    if (e == nullptr) {
      warn_full();
      return fallback_->counter(user, measure);
    }
    // The first login since start measures the home; concurrent first logins (any worker)
    // wait for it; a measurement whose worker died is taken over.
    for (;;) {
      std::uint32_t st = e->quota.load(std::memory_order_acquire);
      if (st == 2) return std::shared_ptr<QuotaCounter>(std::make_shared<SharedCounter>(*e));
      if (st == 0) {
        if (!e->quota.compare_exchange_strong(st, 1, std::memory_order_acq_rel)) continue;
        e->measure_started.store(now_ns(), std::memory_order_relaxed);
        const QuotaUsage u = measure();
        e->bytes.store(u.bytes, std::memory_order_relaxed);
        e->files.store(u.files, std::memory_order_relaxed);
        e->quota.store(2, std::memory_order_release);
        spdlog::info("quota: {} uses {} bytes in {} files (measured)", quota_key(user), u.bytes, u.files);
        continue;
      }
      const auto started = e->measure_started.load(std::memory_order_relaxed);
      if (now_ns() - started > std::chrono::nanoseconds(kMeasureTakeover).count()) {
        e->quota.compare_exchange_strong(st, 0, std::memory_order_acq_rel);
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
  }

 private:
  std::shared_ptr<QuotaLedger> fallback_ = make_quota_ledger();
};

class SharedRates final : public RateStates {
 public:
  std::atomic<std::int64_t>* state(std::string_view key, bool upload) override {
    if (g_map.header == nullptr) return fallback_->state(key, upload);
    if (key.empty()) return upload ? &g_map.header->up : &g_map.header->down;
    Entry* e = find_or_claim(key);
    if (e == nullptr) {
      warn_full();
      return fallback_->state(key, upload);
    }
    return upload ? &e->up : &e->down;
  }

 private:
  std::shared_ptr<RateStates> fallback_ = make_rate_states();
};

}  // namespace

void prepare_shared_limits() {
  if (g_map.entries) return;
  const std::size_t bytes = sizeof(Header) + sizeof(Entry) * kLimitsCapacity;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    spdlog::warn("limits: no shared mapping ({}): quotas and rates are counted per worker",
                 std::strerror(errno));
    return;
  }
  // Zero pages are a valid empty table: every word 0.
  g_map.header = static_cast<Header*>(p);
  g_map.entries = reinterpret_cast<Entry*>(static_cast<char*>(p) + sizeof(Header));
  g_map.mask = kLimitsCapacity - 1;
}

std::shared_ptr<QuotaLedger> shared_quota_ledger() {
  if (!g_map.entries) return make_quota_ledger();
  return std::make_shared<SharedLedger>();
}

std::shared_ptr<RateStates> shared_rate_states() {
  if (!g_map.header) return make_rate_states();
  return std::make_shared<SharedRates>();
}

}  // namespace feitp::runtime
