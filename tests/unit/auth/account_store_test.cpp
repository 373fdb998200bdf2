// The account model, the SQLite store through the library API (names with quotes and NUL go
// through bound parameters) and the store authenticator's rules.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "auth/account_codec.hpp"
#include "auth/store_spec.hpp"
#include "feitp/auth.hpp"

namespace {

using namespace std::string_literals;

std::filesystem::path temp_db(const char* tag) {
  auto p = std::filesystem::temp_directory_path() /
           ("feitp-acct-" + std::to_string(::getpid()) + "-" + tag + ".db");
  std::filesystem::remove(p);
  return p;
}

feitp::UserEntry entry(const std::string& name, const std::string& password) {
  feitp::UserEntry e;
  e.name = name;
  e.password_hash = feitp::hash_password(password, "sha512");
  e.home = "/srv/" + name;
  e.permissions = feitp::auth::decode_permissions("elr", "/in=elrw\n/in/deep=elradfmw");
  e.allowed_networks = {"10.0.0.0/8", "127.0.0.1"};
  e.quota_bytes = 123;
  e.upload_rate = 456;
  e.require_tls = true;
  e.host = "ftp.example.com";
  return e;
}

TEST(StoreSpec, Parses) {
  feitp::auth::StoreSpec s;
  EXPECT_EQ(feitp::auth::parse_store_spec("config", s), "");
  EXPECT_EQ(s.kind, feitp::auth::StoreSpec::Kind::config);
  EXPECT_EQ(feitp::auth::parse_store_spec("sqlite:/a/b.db", s), "");
  EXPECT_EQ(s.target, "/a/b.db");
  EXPECT_EQ(feitp::auth::parse_store_spec("postgresql://u@h/db", s), "");
  EXPECT_EQ(s.kind, feitp::auth::StoreSpec::Kind::postgresql);
  EXPECT_NE(feitp::auth::parse_store_spec("sqlite:", s), "");
  EXPECT_NE(feitp::auth::parse_store_spec("mysql://x", s), "");
}

TEST(StoreSpec, Expiry) {
  std::int64_t t = -1;
  EXPECT_EQ(feitp::auth::parse_expiry("never", t), "");
  EXPECT_EQ(t, 0);
  EXPECT_EQ(feitp::auth::parse_expiry("2030-01-02", t), "");
  EXPECT_EQ(t, 1893542400);
  EXPECT_EQ(feitp::auth::parse_expiry("2030-01-02T03:04:05Z", t), "");
  EXPECT_EQ(feitp::auth::format_expiry(t), "2030-01-02T03:04:05Z");
  EXPECT_NE(feitp::auth::parse_expiry("tomorrow", t), "");
  EXPECT_NE(feitp::auth::parse_expiry("2030-13-01", t), "");
}

TEST(AccountRules, Refusals) {
  feitp::UserEntry e = entry("bob", "pw");
  EXPECT_EQ(feitp::account_refusal(e, "10.1.2.3", 1000), "");
  EXPECT_EQ(feitp::account_refusal(e, "127.0.0.1", 1000), "");
  EXPECT_NE(feitp::account_refusal(e, "127.0.0.2", 1000), "");
  e.expires = 2000;
  EXPECT_EQ(feitp::account_refusal(e, "10.1.2.3", 1999), "");
  EXPECT_EQ(feitp::account_refusal(e, "10.1.2.3", 2000), "account expired");
  e.enabled = false;
  EXPECT_EQ(feitp::account_refusal(e, "10.1.2.3", 0), "account disabled");
}

TEST(SqliteStore, RoundTripAndHostileNames) {
  const auto path = temp_db("rt");
  auto store = feitp::open_sqlite_store(path.string(), true, false);
  const auto e = entry("alice", "pw-a");
  store->add(e);
  EXPECT_THROW(store->add(e), std::invalid_argument);
  auto got = store->find("alice");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->password_hash, e.password_hash);
  EXPECT_EQ(got->allowed_networks, e.allowed_networks);
  EXPECT_EQ(got->permissions.letters_for("/in/deep/x"), "elradfmw");
  EXPECT_EQ(got->permissions.letters_for("/in"), "elrw");
  EXPECT_EQ(got->quota_bytes, 123U);
  EXPECT_EQ(got->upload_rate, 456U);
  EXPECT_TRUE(got->require_tls);
  EXPECT_EQ(got->host, "ftp.example.com");
  // The library binds parameters: a name with quotes or a NUL is data, never SQL.
  EXPECT_FALSE(store->find("alice' OR '1'='1"));
  EXPECT_FALSE(store->find("alice\0x"s));
  EXPECT_THROW(store->remove("x'; DROP TABLE feitp_users; --"), std::invalid_argument);
  EXPECT_EQ(store->list().size(), 1U);
  store->remove("alice");
  EXPECT_FALSE(store->find("alice"));
  std::filesystem::remove(path);
}

TEST(StoreAuthenticator, ChangesTakeEffectAtNextLogin) {
  const auto path = temp_db("auth");
  auto writer = feitp::open_sqlite_store(path.string(), true, false);
  writer->add(entry("carol", "pw-1"));
  auto reader = feitp::open_sqlite_store(path.string(), false, true, true);
  auto auth = feitp::make_store_authenticator(reader, std::nullopt, 7);
  auto login = [&](const char* pw, const char* peer = "10.0.0.1") {
    return auth->authenticate(feitp::LoginRequest{"carol", pw, peer, 0, false});
  };
  auto ok = login("pw-1");
  ASSERT_TRUE(ok.user);
  EXPECT_EQ(ok.user->max_sessions, 7U);
  EXPECT_EQ(ok.user->quota_bytes, 123U);
  EXPECT_TRUE(login("pw-1").user);  // the cached path
  EXPECT_FALSE(login("pw-1", "192.0.2.1").user);
  // On the event loop: answered from memory while the file is unchanged...
  const feitp::LoginRequest again{"carol", "pw-1", "10.0.0.1", 0, false};
  auto fast = auth->authenticate_inline(again);
  ASSERT_TRUE(fast);
  EXPECT_TRUE(fast->user);
  auto e = entry("carol", "pw-2");
  writer->update(e);
  // ...and never after a commit: the next login reads the row again.
  EXPECT_FALSE(auth->authenticate_inline(again));
  EXPECT_FALSE(login("pw-1").user);
  EXPECT_TRUE(login("pw-2").user);
  e.enabled = false;
  writer->update(e);
  auto no = login("pw-2");
  EXPECT_FALSE(no.user);
  EXPECT_EQ(no.reason, "account disabled");
  EXPECT_FALSE(no.unavailable);
  // A broken file: unavailable (421), not a failure.
  { std::ofstream(path, std::ios::trunc) << std::string(8192, 'x'); }
  auto down = login("pw-2");
  EXPECT_FALSE(down.user);
  EXPECT_TRUE(down.unavailable);
  std::filesystem::remove(path);
}

}  // namespace
