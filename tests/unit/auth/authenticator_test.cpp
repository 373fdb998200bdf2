#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "auth/user_table.hpp"
#include "feitp/auth.hpp"

using namespace feitp;

namespace {

// One hash for the whole suite: yescrypt is slow by design.
const std::string& alice_hash() {
  static const std::string h = hash_password("wonderland", "sha512");
  return h;
}

std::vector<UserEntry> table() {
  UserEntry alice;
  alice.name = "alice";
  alice.password_hash = alice_hash();
  alice.home = "/srv/ftp/alice";
  alice.permissions = Permissions("elradfmwMT");
  alice.permissions.set_override("/ro", "elr");
  alice.max_sessions = 3;
  return {alice};
}

AuthResult login(Authenticator& a, std::string_view user, std::string_view pw) {
  LoginRequest r;
  r.user = user;
  r.password = pw;
  r.peer_address = "127.0.0.1";
  return a.authenticate(r);
}

}  // namespace

TEST(UserTable, RightPassword) {
  auto a = make_user_table_authenticator(table(), std::nullopt);
  auto r = login(*a, "alice", "wonderland");
  ASSERT_TRUE(r.user.has_value()) << r.reason;
  EXPECT_EQ(r.user->name, "alice");
  EXPECT_EQ(r.user->home, "/srv/ftp/alice");
  EXPECT_EQ(r.user->max_sessions, 3U);
  EXPECT_FALSE(r.user->anonymous);
  EXPECT_TRUE(r.user->permissions.allows('w', "/x"));
  EXPECT_FALSE(r.user->permissions.allows('w', "/ro/x"));
}

TEST(UserTable, WrongPasswordAndUnknownUser) {
  auto a = make_user_table_authenticator(table(), std::nullopt);
  auto wrong = login(*a, "alice", "looking-glass");
  EXPECT_FALSE(wrong.user.has_value());
  EXPECT_FALSE(wrong.reason.empty());
  auto unknown = login(*a, "bob", "wonderland");
  EXPECT_FALSE(unknown.user.has_value());
  EXPECT_FALSE(login(*a, "ALICE", "wonderland").user.has_value());  // names are exact
  EXPECT_FALSE(login(*a, "anonymous", "x").user.has_value());       // no anonymous configured
}

TEST(UserTable, Anonymous) {
  AnonymousEntry anon;
  anon.home = "/srv/ftp/pub";
  auto a = make_user_table_authenticator(table(), anon);
  for (const char* name : {"anonymous", "ftp", "Anonymous", "FTP"}) {
    auto r = login(*a, name, "guest@example.com");
    ASSERT_TRUE(r.user.has_value()) << name;
    EXPECT_TRUE(r.user->anonymous);
    EXPECT_EQ(r.user->home, "/srv/ftp/pub");
    EXPECT_TRUE(r.user->permissions.allows('r', "/f"));
    EXPECT_FALSE(r.user->permissions.allows('w', "/f"));
  }
  EXPECT_TRUE(login(*a, "anonymous", "").user.has_value());
  EXPECT_TRUE(login(*a, "alice", "wonderland").user.has_value());
  EXPECT_FALSE(login(*a, "alice", "").user.has_value());
}

TEST(UserTable, CacheHitReturnsSameUser) {
  auth::UserTableAuthenticator a(table(), std::nullopt);
  auto first = login(a, "alice", "wonderland");
  ASSERT_TRUE(first.user.has_value());
  EXPECT_EQ(a.cache_hits(), 0U);
  auto second = login(a, "alice", "wonderland");
  ASSERT_TRUE(second.user.has_value());
  EXPECT_EQ(a.cache_hits(), 1U);
  EXPECT_EQ(second.user->name, first.user->name);
  EXPECT_EQ(second.user->home, first.user->home);
  EXPECT_EQ(second.user->permissions.letters(), first.user->permissions.letters());
  // A wrong password is never served from the cache.
  EXPECT_FALSE(login(a, "alice", "wonderlan").user.has_value());
  EXPECT_EQ(a.cache_hits(), 1U);
}

TEST(LoginCache, KeyCoversUserPasswordAndHash) {
  auth::LoginCache c(16, std::chrono::seconds{60});
  c.insert("alice", "pw", "$6$hash-one");
  EXPECT_TRUE(c.contains("alice", "pw", "$6$hash-one"));
  EXPECT_FALSE(c.contains("alice", "pw", "$6$hash-two"));  // changed hash invalidates
  EXPECT_FALSE(c.contains("alice", "pw2", "$6$hash-one"));
  EXPECT_FALSE(c.contains("bob", "pw", "$6$hash-one"));
  // The separator keeps "ab"+"c" apart from "a"+"bc".
  c.insert("ab", "c", "h");
  EXPECT_FALSE(c.contains("a", "bc", "h"));
}

TEST(LoginCache, Bounded) {
  auth::LoginCache c(4, std::chrono::seconds{60});
  for (int i = 0; i < 10; ++i) c.insert("u" + std::to_string(i), "pw", "h");
  EXPECT_LE(c.size(), 4U);
  EXPECT_TRUE(c.contains("u9", "pw", "h"));
  EXPECT_FALSE(c.contains("u0", "pw", "h"));
}

TEST(LoginCache, ZeroTtlDisables) {
  auth::LoginCache c(4, std::chrono::seconds{0});
  c.insert("alice", "pw", "h");
  EXPECT_FALSE(c.contains("alice", "pw", "h"));
}

TEST(UserTable, ThreadSafe) {
  auth::UserTableAuthenticator a(table(), std::nullopt);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (login(a, "alice", "wonderland").user) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
}

TEST(UserTable, InlineFastPath) {
  AnonymousEntry anon;
  anon.home = "/srv/ftp/pub";
  auth::UserTableAuthenticator a(table(), anon);
  EXPECT_TRUE(a.blocking());
  LoginRequest r;
  r.user = "alice";
  r.password = "wonderland";
  EXPECT_FALSE(a.authenticate_inline(r).has_value());  // not verified yet: needs crypt
  ASSERT_TRUE(a.authenticate(r).user.has_value());
  auto hit = a.authenticate_inline(r);
  ASSERT_TRUE(hit.has_value());
  ASSERT_TRUE(hit->user.has_value());
  EXPECT_EQ(hit->user->name, "alice");
  r.password = "wrong";
  EXPECT_FALSE(a.authenticate_inline(r).has_value());
  r.user = "nobody";
  EXPECT_FALSE(a.authenticate_inline(r).has_value());  // unknown users pay the full price
  r.user = "ftp";
  auto anon_hit = a.authenticate_inline(r);
  ASSERT_TRUE(anon_hit.has_value());
  EXPECT_TRUE(anon_hit->user->anonymous);
}
