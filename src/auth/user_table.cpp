// The built-in user table authenticator and its verified-login cache.
#include "auth/user_table.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

namespace feitp::auth {

namespace {

// A valid yescrypt hash of a throw-away value: the check run for unknown users when the table
// holds no user whose hash could serve (its result is always ignored).
constexpr std::string_view kFallbackDummyHash =
    "$y$j9T$1fSkS9N2wFNf6v90y3S9A0$k2aNBSTstvodkftafhq9ak.9Pb6ZtTaRHxPtajBD7S/";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool is_anonymous_name(std::string_view user) { return iequals(user, "anonymous") || iequals(user, "ftp"); }

AuthResult anonymous_user(const AnonymousEntry& entry) {
  User u;
  u.name = "anonymous";
  u.home = entry.home;
  u.permissions = entry.permissions;
  u.anonymous = true;
  return AuthResult::success(std::move(u));
}

// --- LoginCache ---------------------------------------------------------------------------

LoginCache::LoginCache(std::size_t capacity, std::chrono::seconds ttl) : capacity_(capacity), ttl_(ttl) {
  if (RAND_bytes(hmac_key_.data(), static_cast<int>(hmac_key_.size())) != 1) {
    throw std::runtime_error("cannot get random bytes for the login cache key");
  }
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac != nullptr) {
    mac_template_.reset(EVP_MAC_CTX_new(mac));
    EVP_MAC_free(mac);  // the context keeps its own reference
  }
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (!mac_template_ || EVP_MAC_init(mac_template_.get(), hmac_key_.data(), hmac_key_.size(), params) != 1) {
    throw std::runtime_error("cannot set up HMAC-SHA256 for the login cache");
  }
}

LoginCache::~LoginCache() { OPENSSL_cleanse(hmac_key_.data(), hmac_key_.size()); }

void LoginCache::MacCtxFree::operator()(evp_mac_ctx_st* c) const { EVP_MAC_CTX_free(c); }

LoginCache::Key LoginCache::key_for(std::string_view user, std::string_view password,
                                    std::string_view stored_hash) const {
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_dup(mac_template_.get()));
  if (!ctx) throw std::runtime_error("HMAC-SHA256 failed");
  static constexpr unsigned char kSep = 0;
  auto add = [&](std::string_view part) {
    EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(part.data()), part.size());
  };
  add(user);
  EVP_MAC_update(ctx.get(), &kSep, 1);
  add(password);
  EVP_MAC_update(ctx.get(), &kSep, 1);
  add(stored_hash);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  std::size_t mac_len = 0;
  if (EVP_MAC_final(ctx.get(), mac.data(), &mac_len, mac.size()) != 1) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return Key(reinterpret_cast<const char*>(mac.data()), mac_len);
}

void LoginCache::evict_locked(Clock::time_point now) {
  while (!order_.empty() && (order_.size() > capacity_ || order_.front().second <= now)) {
    auto it = expiry_.find(order_.front().first);
    // Remove the map entry only if it still belongs to this queue slot (not re-inserted later).
    if (it != expiry_.end() && it->second == order_.front().second) expiry_.erase(it);
    order_.pop_front();
  }
}

bool LoginCache::contains(std::string_view user, std::string_view password, std::string_view stored_hash) {
  if (capacity_ == 0 || ttl_.count() <= 0) return false;
  Key key = key_for(user, password, stored_hash);
  auto now = Clock::now();
  std::lock_guard lock(mu_);
  auto it = expiry_.find(key);
  return it != expiry_.end() && it->second > now;
}

void LoginCache::insert(std::string_view user, std::string_view password, std::string_view stored_hash) {
  if (capacity_ == 0 || ttl_.count() <= 0) return;
  Key key = key_for(user, password, stored_hash);
  auto now = Clock::now();
  auto expires = now + ttl_;
  std::lock_guard lock(mu_);
  expiry_[key] = expires;
  order_.emplace_back(std::move(key), expires);
  evict_locked(now);
}

std::size_t LoginCache::size() const {
  std::lock_guard lock(mu_);
  return expiry_.size();
}

// --- UserTableAuthenticator ---------------------------------------------------------------

UserTableAuthenticator::UserTableAuthenticator(std::vector<UserEntry> users,
                                               std::optional<AnonymousEntry> anonymous)
    : anonymous_(std::move(anonymous)), dummy_hash_(kFallbackDummyHash) {
  // An unknown user is checked against a real user's hash so both cost the same.
  for (const auto& u : users) {
    if (is_crypt_hash(u.password_hash)) {
      dummy_hash_ = u.password_hash;
      break;
    }
  }
  users_.reserve(users.size());
  for (auto& u : users) {
    std::string name = u.name;
    users_.insert_or_assign(std::move(name), std::move(u));
  }
}

User UserTableAuthenticator::make_user(const UserEntry& entry) const { return to_user(entry); }

// The account's own rules (enabled, expires, allowed_networks), checked after the password.
std::optional<AuthResult> UserTableAuthenticator::refused(const UserEntry& entry,
                                                          const LoginRequest& request) const {
  if (entry.enabled && entry.expires == 0 && entry.allowed_networks.empty()) return std::nullopt;
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto why = account_refusal(entry, request.peer_address, now);
  if (why.empty()) return std::nullopt;
  return AuthResult::failure(std::move(why));
}

std::optional<AuthResult> UserTableAuthenticator::anonymous_login(std::string_view user) const {
  if (!anonymous_ || !is_anonymous_name(user)) return std::nullopt;
  return anonymous_user(*anonymous_);
}

std::optional<AuthResult> UserTableAuthenticator::authenticate_inline(const LoginRequest& request) {
  auto it = users_.find(std::string(request.user));
  if (it == users_.end()) return anonymous_login(request.user);  // unknown: full-cost path
  const UserEntry& entry = it->second;
  if (cache_.contains(entry.name, request.password, entry.password_hash)) {
    cache_hits_.fetch_add(1, std::memory_order_relaxed);
    if (auto no = refused(entry, request)) return no;
    return AuthResult::success(make_user(entry));
  }
  return std::nullopt;
}

AuthResult UserTableAuthenticator::authenticate(const LoginRequest& request) {
  auto it = users_.find(std::string(request.user));
  if (it == users_.end()) {
    if (auto anon = anonymous_login(request.user)) return std::move(*anon);
    // Same cost as a real check, so timing does not tell which user names exist.
    (void)verify_password(request.password, dummy_hash_);
    return AuthResult::failure("unknown user");
  }
  const UserEntry& entry = it->second;
  if (cache_.contains(entry.name, request.password, entry.password_hash)) {
    cache_hits_.fetch_add(1, std::memory_order_relaxed);
  } else {
    if (!verify_password(request.password, entry.password_hash)) {
      return AuthResult::failure("wrong password");
    }
    cache_.insert(entry.name, request.password, entry.password_hash);
  }
  if (auto no = refused(entry, request)) return std::move(*no);
  return AuthResult::success(make_user(entry));
}

std::uint64_t UserTableAuthenticator::cache_hits() const {
  return cache_hits_.load(std::memory_order_relaxed);
}

}  // namespace feitp::auth

namespace feitp {

std::shared_ptr<Authenticator> make_user_table_authenticator(std::vector<UserEntry> users,
                                                             std::optional<AnonymousEntry> anonymous) {
  return std::make_shared<auth::UserTableAuthenticator>(std::move(users), std::move(anonymous));
}

}  // namespace feitp
