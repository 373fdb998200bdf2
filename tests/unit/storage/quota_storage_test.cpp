// The quota decorator and its counters: uploads charged as bytes arrive, the end of an upload
// settled, deletes and renames, the measuring walk, the ledger measuring once.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/limits.hpp"
#include "feitp/storage.hpp"
#include "storage_test_util.hpp"

namespace feitp::test {
namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

class QuotaStorageTest : public ::testing::Test {
 protected:
  std::unique_ptr<Storage> quota(QuotaLimits limits) {
    auto s = factory_.create(User{});
    EXPECT_TRUE(s.ok());
    return make_quota_storage(std::move(*s), counter_, limits);
  }
  MemoryStorageFactory factory_;
  std::shared_ptr<QuotaCounter> counter_ = make_quota_counter();
};

TEST(QuotaCounter, TryAddKeepsWithinLimits) {
  auto c = make_quota_counter({90, 1});
  EXPECT_TRUE(c->try_add(10, 0, {100, 2}));
  EXPECT_FALSE(c->try_add(1, 0, {100, 2}));
  EXPECT_TRUE(c->try_add(0, 1, {100, 2}));
  EXPECT_FALSE(c->try_add(0, 1, {100, 2}));
  EXPECT_TRUE(c->try_add(0, 0, {50, 1}));
  c->adjust(-1000, -5);  // floored at 0
  EXPECT_EQ(c->usage().bytes, 0U);
  EXPECT_EQ(c->usage().files, 0U);
  EXPECT_TRUE(c->try_add(5, 5, {0, 0}));  // 0 = no limit
}

TEST(QuotaCounter, ConcurrentChargesNeverPassTheLimit) {
  auto c = make_quota_counter();
  std::atomic<std::uint64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        if (c->try_add(7, 0, {10000, 0})) granted += 7;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->usage().bytes, granted.load());
  EXPECT_LE(granted.load(), 10000U);
  EXPECT_GT(granted.load(), 10000U - 7);
}

TEST_F(QuotaStorageTest, UploadRefusedWhileBytesArriveAndGivenBack) {
  auto s = quota({100, 10});
  auto w = s->open_write("/a", WriteMode::truncate, 0);
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE((*w)->write(bytes_of(std::string(60, 'a'))).ok());
  EXPECT_EQ(counter_->usage().bytes, 60U);
  auto r = (*w)->write(bytes_of(std::string(41, 'a')));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value(), EDQUOT);
  (*w)->abort(false);
  EXPECT_EQ(counter_->usage().bytes, 0U);
  EXPECT_EQ(counter_->usage().files, 0U);
  EXPECT_FALSE(s->stat("/a").ok());
  auto q = s->quota();
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->limits.bytes, 100U);
}

TEST_F(QuotaStorageTest, DroppedUploadGivesBackItsCharge) {
  auto s = quota({100, 10});
  {
    auto w = s->open_write("/a", WriteMode::truncate, 0);
    ASSERT_TRUE(w.ok());
    EXPECT_TRUE((*w)->write(bytes_of(std::string(60, 'a'))).ok());
    EXPECT_EQ(counter_->usage().bytes, 60U);
    EXPECT_EQ(counter_->usage().files, 1U);
  }  // destroyed without commit() or abort(): abort(false)
  EXPECT_EQ(counter_->usage().bytes, 0U);
  EXPECT_EQ(counter_->usage().files, 0U);
  EXPECT_FALSE(s->stat("/a").ok());
}

TEST_F(QuotaStorageTest, OverwriteCountsOnlyGrowth) {
  auto s = quota({100, 10});
  ASSERT_TRUE(put(*s, "/f", std::string(70, 'x')).ok());
  EXPECT_EQ(counter_->usage().bytes, 70U);
  EXPECT_EQ(counter_->usage().files, 1U);
  ASSERT_TRUE(put(*s, "/f", std::string(90, 'y')).ok());  // 90 fits, though 70 + 90 would not
  EXPECT_EQ(counter_->usage().bytes, 90U);
  EXPECT_EQ(counter_->usage().files, 1U);
  ASSERT_TRUE(put(*s, "/f", std::string(5, 'z')).ok());
  EXPECT_EQ(counter_->usage().bytes, 5U);
}

TEST_F(QuotaStorageTest, FileLimitAtOpen) {
  auto s = quota({0, 2});
  ASSERT_TRUE(put(*s, "/1", "a").ok());
  ASSERT_TRUE(put(*s, "/2", "b").ok());
  auto w = s->open_write("/3", WriteMode::truncate, 0);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().value(), EDQUOT);
  ASSERT_TRUE(put(*s, "/2", "bb").ok());  // a replacement is no new file
  EXPECT_EQ(counter_->usage().files, 2U);
}

TEST_F(QuotaStorageTest, AppendAndDeleteAndRename) {
  auto s = quota({0, 0});
  ASSERT_TRUE(put(*s, "/a", std::string(10, 'a')).ok());
  auto w = s->open_write("/a", WriteMode::append, 10);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(bytes_of("12345")).ok());
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_EQ(counter_->usage().bytes, 15U);
  ASSERT_TRUE(put(*s, "/b", std::string(3, 'b')).ok());
  ASSERT_TRUE(s->rename("/b", "/a").ok());  // /a (15) is replaced
  EXPECT_EQ(counter_->usage().bytes, 3U);
  EXPECT_EQ(counter_->usage().files, 1U);
  ASSERT_TRUE(s->remove("/a").ok());
  EXPECT_EQ(counter_->usage().bytes, 0U);
  EXPECT_EQ(counter_->usage().files, 0U);
}

TEST_F(QuotaStorageTest, MeasureWalksTheTree) {
  auto s = factory_.create(User{});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->mkdir("/d").ok());
  ASSERT_TRUE((*s)->mkdir("/d/e").ok());
  ASSERT_TRUE(put(**s, "/top", "1234").ok());
  ASSERT_TRUE(put(**s, "/d/e/deep", "123456").ok());
  ASSERT_TRUE(put(**s, "/d/.feitp-upload.x", "temporary").ok());
  const auto u = measure_usage(**s);
  EXPECT_EQ(u.bytes, 10U);
  EXPECT_EQ(u.files, 2U);
}

TEST(QuotaLedger, MeasuresOncePerUser) {
  auto ledger = make_quota_ledger();
  std::atomic<int> measured{0};
  User u;
  u.name = "quinn";
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<QuotaCounter>> got(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto c = ledger->counter(u, [&] {
        ++measured;
        return QuotaUsage{123, 4};
      });
      ASSERT_TRUE(c.ok());
      got[t] = *c;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(measured.load(), 1);
  for (auto& c : got) EXPECT_EQ(c.get(), got[0].get());
  EXPECT_EQ(got[0]->usage().bytes, 123U);
  User other = u;
  other.host = "alpha";  // another host's account of the same name: its own counter
  auto c = ledger->counter(other, [] { return QuotaUsage{}; });
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->get(), got[0].get());
  EXPECT_EQ(quota_key(other), "quinn@alpha");
}

TEST(QuotaFactory, OnlyUsersWithAQuotaAreWrapped) {
  auto inner = std::make_shared<MemoryStorageFactory>();
  auto factory = make_quota_storage_factory(inner, make_quota_ledger());
  User plain;
  plain.name = "p";
  auto s = factory->create(plain);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->quota().has_value());
  User limited;
  limited.name = "l";
  limited.quota_files = 1;
  auto q = factory->create(limited);
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->quota().has_value());
  EXPECT_EQ((*q)->quota()->limits.files, 1U);
}

}  // namespace
}  // namespace feitp::test
