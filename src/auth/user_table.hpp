// The built-in user table: users from the configuration, optional anonymous login, and the
// verified-login cache that spares repeated correct logins the crypt cost.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "feitp/auth.hpp"

struct evp_mac_ctx_st;

namespace feitp::auth {

// "anonymous" or "ftp", in any case: the names an anonymous login uses (RFC 1635).
bool is_anonymous_name(std::string_view user);
// What an anonymous login gets, from the configured entry (every authenticator of feitp's).
AuthResult anonymous_user(const AnonymousEntry& entry);

// A bounded set of recently verified (user, password, stored hash) triples. Only a keyed hash
// (HMAC-SHA256 with a random key made for this cache) is kept, never the password. Entries
// expire after `ttl`; the oldest are dropped beyond `capacity`. Thread-safe.
class LoginCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LoginCache(std::size_t capacity = 4096, std::chrono::seconds ttl = std::chrono::seconds{60});
  ~LoginCache();
  LoginCache(const LoginCache&) = delete;
  LoginCache& operator=(const LoginCache&) = delete;

  [[nodiscard]] bool contains(std::string_view user, std::string_view password, std::string_view stored_hash);
  void insert(std::string_view user, std::string_view password, std::string_view stored_hash);
  [[nodiscard]] std::size_t size() const;

 private:
  using Key = std::string;  // 32 raw bytes
  [[nodiscard]] Key key_for(std::string_view user, std::string_view password,
                            std::string_view stored_hash) const;
  void evict_locked(Clock::time_point now);

  std::array<unsigned char, 32> hmac_key_{};
  // HMAC-SHA256 keyed once; each lookup copies it (OpenSSL 3's one-shot HMAC() fetches the
  // algorithm on every call, which cost more than the rest of a login).
  struct MacCtxFree {
    void operator()(evp_mac_ctx_st* c) const;
  };
  std::unique_ptr<evp_mac_ctx_st, MacCtxFree> mac_template_;
  std::size_t capacity_;
  std::chrono::seconds ttl_;
  mutable std::mutex mu_;
  std::unordered_map<Key, Clock::time_point> expiry_;    // key -> expiry
  std::deque<std::pair<Key, Clock::time_point>> order_;  // insertion order, for eviction
};

class UserTableAuthenticator final : public Authenticator {
 public:
  UserTableAuthenticator(std::vector<UserEntry> users, std::optional<AnonymousEntry> anonymous);

  // A crypt check takes tens of milliseconds: it runs on the server's thread pool. Cache hits
  // and anonymous logins are answered inline, on the event loop.
  [[nodiscard]] bool blocking() const override { return true; }
  std::optional<AuthResult> authenticate_inline(const LoginRequest& request) override;
  AuthResult authenticate(const LoginRequest& request) override;

  // For tests and metrics: how many logins the cache answered.
  [[nodiscard]] std::uint64_t cache_hits() const;

 private:
  User make_user(const UserEntry& entry) const;
  [[nodiscard]] std::optional<AuthResult> refused(const UserEntry& entry, const LoginRequest& request) const;
  [[nodiscard]] std::optional<AuthResult> anonymous_login(std::string_view user) const;

  std::unordered_map<std::string, UserEntry> users_;
  std::optional<AnonymousEntry> anonymous_;
  std::string dummy_hash_;  // checked for unknown users so they cost as much as known ones
  LoginCache cache_;
  std::atomic<std::uint64_t> cache_hits_{0};
};

}  // namespace feitp::auth
