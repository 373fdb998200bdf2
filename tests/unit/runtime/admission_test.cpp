// Admission rules on both implementations (the library's LocalAdmission and the daemon's
// SharedAdmission over SharedState), the shared table when full (F12), and a master that
// trusts nothing in the worker-writable mapping (F9).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include <asio/awaitable.hpp>  // session/core.hpp uses it without including it

#include "cluster/shared_state.hpp"
#include "session/core.hpp"
#include "session/login_guard.hpp"

namespace feitp {
namespace {

using cluster::SharedAdmission;
using cluster::SharedState;

User named(std::string name, bool anonymous = false) {
  User u;
  u.name = std::move(name);
  u.anonymous = anonymous;
  return u;
}

TEST(Defaults, FleetBehindNatIsNotCapped) {
  const Options o;
  EXPECT_EQ(o.max_per_ip, 0U);
  EXPECT_EQ(o.max_connections, 20000U);
  EXPECT_EQ(o.ban_after_failures, 0U);  // bans are an opt-in
  EXPECT_EQ(o.max_login_attempts, 3U);
  EXPECT_EQ(o.login_failure_delay.count(), 1000);
}

TEST(LoginKey, AggregatesIpv6By64AndUnmapsIpv4) {
  EXPECT_EQ(session::login_key("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(session::login_key("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(session::login_key("2001:db8:1:2::5"), "2001:db8:1:2::/64");
  EXPECT_EQ(session::login_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_NE(session::login_key("2001:db8:1:3::5"), session::login_key("2001:db8:1:2::5"));
  EXPECT_EQ(session::login_key("::1"), "0:0:0:0::/64");
}

// The same expectations on both Admission implementations.
class Both : public ::testing::TestWithParam<bool> {
 protected:
  std::shared_ptr<Admission> make(std::uint32_t ban_after) {
    Options o;
    o.ban_after_failures = ban_after;
    o.ban_window = std::chrono::seconds{600};
    o.ban_time = std::chrono::seconds{300};
    if (!GetParam()) return std::make_shared<session::LocalAdmission>(o, nullptr);
    state_ = std::make_shared<SharedState>(2, 256, 64);
    return std::make_shared<SharedAdmission>(state_, 1, 0, 0, session::login_policy(o));
  }
  std::shared_ptr<SharedState> state_;
};

TEST_P(Both, NoBansByDefault) {
  auto a = make(0);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(a->login_attempt("198.51.100.1"));
    a->login_failed("198.51.100.1");
  }
  EXPECT_FALSE(a->banned("198.51.100.1"));
  EXPECT_TRUE(a->login_attempt("198.51.100.1"));
  EXPECT_EQ(a->failure_delay("198.51.100.1").count(), 0);
}

TEST_P(Both, ChecksInFlightCountTowardsTheThreshold) {
  // F11: ten checks may start, the eleventh is refused before any has failed.
  auto a = make(10);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(a->login_attempt("198.51.100.2")) << i;
  EXPECT_FALSE(a->login_attempt("198.51.100.2"));
  EXPECT_FALSE(a->banned("198.51.100.2"));
  for (int i = 0; i < 9; ++i) a->login_failed("198.51.100.2");
  EXPECT_FALSE(a->banned("198.51.100.2"));
  EXPECT_FALSE(a->login_attempt("198.51.100.2"));  // 9 failures + 1 in flight
  a->login_failed("198.51.100.2");
  EXPECT_TRUE(a->banned("198.51.100.2"));
  EXPECT_FALSE(a->login_attempt("198.51.100.2"));
  EXPECT_FALSE(a->banned("198.51.100.3"));  // other addresses are not affected
  EXPECT_TRUE(a->login_attempt("198.51.100.3"));
}

TEST_P(Both, Ipv6FailuresAggregateBy64) {
  auto a = make(3);
  for (const char* peer : {"2001:db8::1", "2001:db8::2", "2001:db8::3:4"}) {
    ASSERT_TRUE(a->login_attempt(peer));
    a->login_failed(peer);
  }
  EXPECT_TRUE(a->banned("2001:db8::ffff"));
  EXPECT_FALSE(a->login_attempt("2001:db8::abcd"));
  EXPECT_FALSE(a->banned("2001:db8:0:1::1"));
  EXPECT_TRUE(a->login_attempt("2001:db8:0:1::1"));
}

TEST_P(Both, V4MappedCountsAsV4) {
  auto a = make(2);
  ASSERT_TRUE(a->login_attempt("::ffff:203.0.113.9"));
  a->login_failed("::ffff:203.0.113.9");
  ASSERT_TRUE(a->login_attempt("203.0.113.9"));
  a->login_failed("203.0.113.9");
  EXPECT_TRUE(a->banned("203.0.113.9"));
  EXPECT_TRUE(a->banned("::ffff:203.0.113.9"));
}

TEST_P(Both, AnAddressThatLoggedInIsThrottledNeverBanned) {
  auto a = make(5);
  ASSERT_TRUE(a->login_attempt("192.0.2.50"));
  a->login_succeeded("192.0.2.50", named("alice"));
  std::chrono::milliseconds last{0};
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(a->login_attempt("192.0.2.50")) << i;  // the right password is always checked
    a->login_failed("192.0.2.50");
    ASSERT_FALSE(a->banned("192.0.2.50")) << i;
    const auto d = a->failure_delay("192.0.2.50");
    EXPECT_GE(d, last) << i;  // the delay only grows
    last = d;
  }
  EXPECT_GE(last.count(), 1000);
  EXPECT_LE(last.count(), session::kMaxThrottleMs);
}

TEST_P(Both, AnonymousLoginsDoNotShieldAnAddress) {
  auto a = make(3);
  ASSERT_TRUE(a->login_attempt("192.0.2.60"));
  a->login_succeeded("192.0.2.60", named("anonymous", true));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->login_attempt("192.0.2.60"));
    a->login_failed("192.0.2.60");
  }
  EXPECT_TRUE(a->banned("192.0.2.60"));
}

INSTANTIATE_TEST_SUITE_P(Admission, Both, ::testing::Values(false, true),
                         [](const auto& param_info) { return param_info.param ? "Shared" : "Local"; });

session::LoginPolicy ban_at(std::uint32_t n) {
  session::LoginPolicy p;
  p.after_failures = n;
  return p;
}

TEST(SharedStateFull, BansFillingTheTableNeverRefuseNewAddresses) {
  // F12: 64 entries; 300 addresses banned one after the other; a per-address cap is on.
  SharedState s(2, 64, 64);
  const auto policy = ban_at(1);
  for (int i = 0; i < 300; ++i) {
    const std::string peer = "10.0." + std::to_string(i / 200) + "." + std::to_string(i % 200);
    ASSERT_TRUE(s.login_attempt(0, peer, policy));
    EXPECT_GT(s.login_failed(0, peer, policy).count(), 0) << peer;  // every ban takes effect
    ASSERT_TRUE(s.banned(0, peer)) << peer;
  }
  EXPECT_TRUE(s.admit(0, "10.9.9.9", 0, 8));
  EXPECT_FALSE(s.banned(0, "10.9.9.9"));
  EXPECT_TRUE(s.login_attempt(0, "10.9.9.9", policy));
  s.release(0, "10.9.9.9");
}

TEST(SharedStateFull, ConnectionsFillingTheTableFailOpen) {
  SharedState s(2, 64, 64);
  for (int i = 0; i < 200; ++i) { ASSERT_TRUE(s.admit(1, "10.1.0." + std::to_string(i), 0, 8)) << i; }
  EXPECT_EQ(s.connections(), 200U);
  for (int i = 0; i < 200; ++i) s.release(1, "10.1.0." + std::to_string(i));
  EXPECT_EQ(s.connections(), 0U);
}

// F9: what a compromised worker can write must not steer the master's writes.
void scribble(SharedState& s, std::uint32_t seed) {
  auto bytes = s.mapping_for_test();
  auto* mu = reinterpret_cast<std::byte*>(s.mutex_for_test());
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::byte* p = bytes.data() + i;
    if (p >= mu && p < mu + sizeof(pthread_mutex_t)) continue;  // garbage there = a held lock (below)
    // Mostly 0xff (every entry "used", huge counts and offsets), some random bytes.
    bytes[i] = (rng() % 4 == 0) ? static_cast<std::byte>(rng()) : std::byte{0xff};
  }
}

TEST(SharedStateUntrusted, CorruptedMappingDoesNotSteerTheMaster) {
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    SharedState s(4, 64, 64);
    ASSERT_TRUE(s.admit(1, "192.0.2.1", 0, 4));
    ASSERT_TRUE(s.user_login(1, "alice", 0));
    scribble(s, seed);
    // The master's operations finish (bounded loops) and stay inside the mapping (guard pages
    // on both sides would fault otherwise).
    EXPECT_TRUE(s.clear_slot(1));
    EXPECT_TRUE(s.clear_slot(3));
    EXPECT_TRUE(s.clear_slot(4000));  // a slot index out of range is ignored
    EXPECT_TRUE(s.counters().has_value());
    // A worker's own calls on the garbage stay bounded too.
    (void)s.admit(0, "192.0.2.9", 0, 4);
    (void)s.login_attempt(0, "192.0.2.9", ban_at(3));
    (void)s.login_failed(0, "192.0.2.9", ban_at(3));
    (void)s.user_login(0, "bob", 2);
    EXPECT_TRUE(s.clear_slot(0));
  }
}

TEST(SharedStateUntrusted, ALockHeldByAStoppedWorkerDoesNotBlockTheMaster) {
  SharedState s(4, 64, 64);
  ASSERT_TRUE(s.admit(2, "192.0.2.1", 0, 4));
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pthread_mutex_lock(s.mutex_for_test());
    const char c = 'L';
    (void)!::write(ready[1], &c, 1);
    ::raise(SIGSTOP);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, WUNTRACED), child);
  ASSERT_TRUE(WIFSTOPPED(status));

  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(s.clear_slot(2));  // refused, not waited for
  EXPECT_FALSE(s.counters().has_value());
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(waited, std::chrono::milliseconds{500});

  // The holder dies: the robust mutex is recovered and the retry clears the slot.
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(s.clear_slot(2));
  EXPECT_EQ(s.connections(), 0U);
  EXPECT_EQ(s.connections("192.0.2.1"), 0U);
  ::close(ready[0]);
  ::close(ready[1]);
}

}  // namespace
}  // namespace feitp
