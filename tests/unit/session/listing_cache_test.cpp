// The session's cache of formatted listings: keyed by (version, variant), LRU-bounded by entry
// count and by bytes.
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "session/listing_cache.hpp"

namespace feitp::test {
namespace {

using session::ListingCache;

TEST(ListingCache, FindsWhatWasPutByVersionAndVariant) {
  ListingCache c;
  EXPECT_EQ(c.find(1, "LIST"), nullptr);
  const auto stored = c.put(1, "LIST", "drwxr-xr-x a\r\n");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(*stored, "drwxr-xr-x a\r\n");
  const auto hit = c.find(1, "LIST");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit.get(), stored.get());  // the same text, shared, not copied
  EXPECT_EQ(c.find(1, "MLSD"), nullptr);
  EXPECT_EQ(c.find(2, "LIST"), nullptr);
  c.put(1, "MLSD", "type=dir; a\r\n");
  ASSERT_NE(c.find(1, "MLSD"), nullptr);
  EXPECT_EQ(*c.find(1, "MLSD"), "type=dir; a\r\n");
  EXPECT_EQ(*c.find(1, "LIST"), "drwxr-xr-x a\r\n");
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.bytes(), 14u + 13u);
}

TEST(ListingCache, PutReplacesTheSameKeyAndCountsBytesOnce) {
  ListingCache c;
  c.put(7, "LIST", std::string(100, 'a'));
  const auto kept = c.find(7, "LIST");
  c.put(7, "LIST", std::string(10, 'b'));
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.bytes(), 10u);
  EXPECT_EQ(*c.find(7, "LIST"), std::string(10, 'b'));
  EXPECT_EQ(*kept, std::string(100, 'a'));  // a reader's copy outlives the replacement
}

TEST(ListingCache, EvictsLeastRecentlyUsedBeyondTheEntryBound) {
  ListingCache c(3, 1 << 20);
  c.put(1, "", "one");
  c.put(2, "", "two");
  c.put(3, "", "three");
  ASSERT_NE(c.find(1, ""), nullptr);  // 1 is now the most recently used; 2 the least
  c.put(4, "", "four");
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.find(2, ""), nullptr);
  EXPECT_NE(c.find(1, ""), nullptr);
  EXPECT_NE(c.find(3, ""), nullptr);
  EXPECT_NE(c.find(4, ""), nullptr);
}

TEST(ListingCache, EvictsByBytesAndRefusesTextsLargerThanTheBound) {
  ListingCache c(64, 100);
  c.put(1, "", std::string(40, 'x'));
  c.put(2, "", std::string(40, 'y'));
  c.put(3, "", std::string(40, 'z'));  // 120 > 100: the oldest goes
  EXPECT_EQ(c.find(1, ""), nullptr);
  EXPECT_NE(c.find(2, ""), nullptr);
  EXPECT_NE(c.find(3, ""), nullptr);
  EXPECT_EQ(c.bytes(), 80u);

  const auto big = c.put(4, "", std::string(101, 'b'));
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->size(), 101u);  // still handed back for this transfer
  EXPECT_EQ(c.find(4, ""), nullptr);
  EXPECT_NE(c.find(2, ""), nullptr);  // and nothing was evicted for it
  EXPECT_LE(c.bytes(), 100u);
}

TEST(ListingCache, ZeroEntriesKeepsNothing) {
  ListingCache c(0, 1 << 20);
  EXPECT_EQ(*c.put(1, "", "text"), "text");
  EXPECT_EQ(c.find(1, ""), nullptr);
  EXPECT_EQ(c.size(), 0u);
}

TEST(ListingCache, SafeFromSeveralThreads) {
  ListingCache c(16, 1 << 16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 2000; ++i) {
        const auto v = static_cast<std::uint64_t>(i % 32);
        const std::string variant = t % 2 == 0 ? "LIST" : "MLSD";
        if (auto hit = c.find(v, variant)) {
          EXPECT_EQ(*hit, variant + std::to_string(v));
        } else {
          c.put(v, variant, variant + std::to_string(v));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(c.size(), 16u);
  std::size_t bytes = 0;
  for (std::uint64_t v = 0; v < 32; ++v) {
    for (const char* variant : {"LIST", "MLSD"}) {
      if (auto hit = c.find(v, variant)) bytes += hit->size();
    }
  }
  EXPECT_EQ(bytes, c.bytes());
}

}  // namespace
}  // namespace feitp::test
