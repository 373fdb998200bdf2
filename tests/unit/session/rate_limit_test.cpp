// The token bucket (GCRA on one word) and the Throttle, with a clock the test moves.
#include <algorithm>
#include <atomic>
#include <deque>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "feitp/limits.hpp"

namespace feitp {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;

TEST(RateLimiter, UnlimitedNeverWaits) {
  RateLimiter r(0);
  EXPECT_EQ(r.charge(1 << 30).count(), 0);
}

TEST(RateLimiter, WaitsTheCostOfWhatMoved) {
  RateLimiter r(1000);  // 1000 B/s
  const auto t0 = Clock::time_point{} + 1000s;
  EXPECT_EQ(r.charge(100, t0), 100ms);
  // 50 ms later another 100 bytes: the bucket is 50 ms in debt, plus 100 ms.
  EXPECT_EQ(r.charge(100, t0 + 50ms), 150ms);
  // After a long idle period no credit is saved (burst 0).
  EXPECT_EQ(r.charge(100, t0 + 100s), 100ms);
}

TEST(RateLimiter, BurstGivesCreditAfterIdle) {
  RateLimiter r(1000, nullptr, 200ms);
  const auto t0 = Clock::time_point{} + 1000s;
  EXPECT_EQ(r.charge(100, t0).count(), 0);
  EXPECT_EQ(r.charge(100, t0).count(), 0);
  EXPECT_EQ(r.charge(100, t0), 100ms);
}

TEST(RateLimiter, SharedWordIsOneBucket) {
  std::atomic<std::int64_t> word{0};
  RateLimiter a(1000, &word), b(1000, &word);
  const auto t0 = Clock::time_point{} + 1000s;
  EXPECT_EQ(a.charge(100, t0), 100ms);
  EXPECT_EQ(b.charge(100, t0), 200ms);
}

// Moving bytes as a transfer does (charge, then wait what it says) holds the rate exactly over
// a simulated 10 s, whatever the chunk size and however many users share the word.
TEST(RateLimiter, HoldsTheRateOverTime) {
  std::atomic<std::int64_t> word{0};
  constexpr std::uint64_t kRate = 1 << 20;
  std::deque<RateLimiter> users;  // not movable: its word is an atomic
  for (int i = 0; i < 3; ++i) users.emplace_back(kRate, &word);
  std::vector<Clock::time_point> next(3, Clock::time_point{} + 1000s);
  const auto start = next[0], end = start + 10s;
  std::uint64_t moved = 0;
  for (;;) {
    const auto i = static_cast<std::size_t>(std::min_element(next.begin(), next.end()) - next.begin());
    if (next[i] >= end) break;
    const std::uint64_t chunk = 1000 + 7919 * (i + 1);
    moved += chunk;
    next[i] += users[i].charge(chunk, next[i]);
  }
  const double rate = static_cast<double>(moved) / 10.0;
  EXPECT_NEAR(rate, kRate, kRate * 0.01);
}

TEST(RateLimiter, ConcurrentChargesAllCount) {
  std::atomic<std::int64_t> word{0};
  RateLimiter r(1'000'000'000, &word);  // 1 ns per byte
  const auto t0 = Clock::time_point{} + 1000s;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) r.charge(1, t0);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(word.load(), std::chrono::nanoseconds(t0.time_since_epoch()).count() + 40000);
}

TEST(Throttle, SlowestWinsAndChunkFollowsTheLowestRate) {
  Throttle t;
  EXPECT_TRUE(t.empty());
  t.add(std::make_shared<RateLimiter>(0));  // unlimited: left out
  EXPECT_TRUE(t.empty());
  t.add(std::make_shared<RateLimiter>(1000));
  t.add(std::make_shared<RateLimiter>(100000));
  const auto t0 = Clock::time_point{} + 1000s;
  EXPECT_EQ(t.charge(100, t0), 100ms);
  EXPECT_EQ(t.chunk(256 * 1024), 1024U);  // 1000/20 is below the 1 KiB floor
  Throttle fast;
  fast.add(std::make_shared<RateLimiter>(std::uint64_t{1} << 30));
  EXPECT_EQ(fast.chunk(256 * 1024), 256U * 1024);
  Throttle mid;
  mid.add(std::make_shared<RateLimiter>(1 << 20));
  EXPECT_EQ(mid.chunk(256 * 1024), (1U << 20) / 20);
}

}  // namespace
}  // namespace feitp
