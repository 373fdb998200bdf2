// Bandwidth: the token bucket (GCRA on one atomic word), the Throttle that charges several, and
// the in-process RateStates.
#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>

#include "feitp/limits.hpp"

namespace feitp {

RateLimiter::RateLimiter(std::uint64_t rate, std::atomic<std::int64_t>* state, std::chrono::nanoseconds burst)
    : rate_(rate), burst_ns_(burst.count()), state_(state != nullptr ? state : &own_) {}

std::chrono::nanoseconds RateLimiter::charge(std::uint64_t n, Clock::time_point now) {
  if (rate_ == 0 || n == 0) return std::chrono::nanoseconds{0};
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  // In double: no overflow for any rate, and exact to the nanosecond for chunk-sized n.
  const auto cost = static_cast<std::int64_t>(static_cast<double>(n) * 1e9 / static_cast<double>(rate_));
  std::int64_t old = state_->load(std::memory_order_relaxed);
  std::int64_t next = 0;
  do {
    // The theoretical arrival time never lags behind now: an idle bucket saves no credit
    // beyond the burst tolerance applied below.
    next = std::max(old, now_ns) + cost;
  } while (!state_->compare_exchange_weak(old, next, std::memory_order_acq_rel, std::memory_order_relaxed));
  return std::chrono::nanoseconds{std::max<std::int64_t>(0, next - burst_ns_ - now_ns)};
}

void Throttle::add(std::shared_ptr<RateLimiter> limiter) {
  if (limiter && limiter->rate() != 0) limiters_.push_back(std::move(limiter));
}

std::chrono::nanoseconds Throttle::charge(std::uint64_t n, RateLimiter::Clock::time_point now) {
  std::chrono::nanoseconds wait{0};
  for (auto& l : limiters_) wait = std::max(wait, l->charge(n, now));
  return wait;
}

std::size_t Throttle::chunk(std::size_t max) const {
  std::uint64_t lowest = UINT64_MAX;
  for (const auto& l : limiters_) lowest = std::min(lowest, l->rate());
  const std::uint64_t c = lowest == UINT64_MAX ? max : lowest / 20;
  return static_cast<std::size_t>(std::clamp<std::uint64_t>(c, 1024, std::max<std::size_t>(max, 1024)));
}

namespace {

class LocalRateStates final : public RateStates {
 public:
  std::atomic<std::int64_t>* state(std::string_view key, bool upload) override {
    std::lock_guard lock(mu_);
    auto& words = words_[std::string(key)];
    if (!words) words = std::make_unique<Words>();
    return upload ? &words->up : &words->down;
  }

 private:
  struct Words {
    std::atomic<std::int64_t> up{0}, down{0};
  };
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Words>> words_;
};

}  // namespace

std::shared_ptr<RateStates> make_rate_states() { return std::make_shared<LocalRateStates>(); }

}  // namespace feitp
