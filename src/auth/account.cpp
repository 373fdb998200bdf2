// The account model shared by every store, and the Authenticator over an AccountStore.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <utility>

#include "auth/user_table.hpp"
#include "feitp/auth.hpp"
#include "proto/address.hpp"

namespace feitp {

User to_user(const UserEntry& entry) {
  User u;
  u.name = entry.name;
  u.home = entry.home;
  u.permissions = entry.permissions;
  u.max_sessions = entry.max_sessions;
  u.quota_bytes = entry.quota_bytes;
  u.quota_files = entry.quota_files;
  u.upload_rate = entry.upload_rate;
  u.download_rate = entry.download_rate;
  u.require_tls = entry.require_tls;
  u.host = entry.host;
  return u;
}

std::string account_refusal(const UserEntry& entry, std::string_view peer_address, std::int64_t now) {
  if (!entry.enabled) return "account disabled";
  if (entry.expires != 0 && now >= entry.expires) return "account expired";
  if (!entry.allowed_networks.empty()) {
    const bool inside = std::any_of(
        entry.allowed_networks.begin(), entry.allowed_networks.end(),
        [&](const std::string& net) { return !net.empty() && proto::cidr_contains(net, peer_address); });
    if (!inside)
      return "client address " + std::string(peer_address) + " not in the account's allowed networks";
  }
  return {};
}

std::string check_account_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return "a user name has 1 to 64 characters";
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) == 0 && c != '.' && c != '_' && c != '-' && c != '@' && c != '+') {
      return "a user name may hold letters, digits and . _ - @ + only";
    }
  }
  return {};
}

namespace auth {

namespace {

constexpr std::string_view kDummyHash =
    "$y$j9T$1fSkS9N2wFNf6v90y3S9A0$k2aNBSTstvodkftafhq9ak.9Pb6ZtTaRHxPtajBD7S/";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class StoreAuthenticator final : public Authenticator {
 public:
  StoreAuthenticator(std::shared_ptr<AccountStore> store, std::optional<AnonymousEntry> anonymous,
                     std::uint32_t default_max_sessions)
      : store_(std::move(store)),
        anonymous_(std::move(anonymous)),
        default_max_sessions_(default_max_sessions) {}

  [[nodiscard]] bool blocking() const override { return true; }

  std::optional<AuthResult> authenticate_inline(const LoginRequest& request) override {
    // Anonymous needs no store. A repeated correct login whose account the store proves
    // unchanged (find_cached) is answered here; everything else reads the account off the loop.
    if (anonymous_ && is_anonymous_name(request.user)) return anonymous_login();
    auto entry = store_->find_cached(request.user);
    if (!entry || !cache_.contains(entry->name, request.password, entry->password_hash)) {
      return std::nullopt;
    }
    return finish(*entry, request);
  }

  AuthResult authenticate(const LoginRequest& request) override {
    if (anonymous_ && is_anonymous_name(request.user)) return anonymous_login();
    std::optional<UserEntry> entry;
    if (!check_account_name(request.user).empty()) {
      (void)verify_password(request.password, kDummyHash);
      return AuthResult::failure("unknown user");
    }
    try {
      entry = store_->find(request.user);
    } catch (const StoreUnavailable& e) {
      return AuthResult::store_unavailable(std::string("account store unavailable: ") + e.what());
    }
    if (!entry) {
      (void)verify_password(request.password, kDummyHash);  // unknown names cost the same
      return AuthResult::failure("unknown user");
    }
    // The cache key holds the stored hash: a changed password misses it at once.
    if (!cache_.contains(entry->name, request.password, entry->password_hash)) {
      if (!verify_password(request.password, entry->password_hash)) {
        return AuthResult::failure("wrong password");
      }
      cache_.insert(entry->name, request.password, entry->password_hash);
    }
    return finish(*entry, request);
  }

 private:
  // The password is right: the account's own rules, checked after it so that a refusal does
  // not tell a guesser the account exists.
  AuthResult finish(const UserEntry& entry, const LoginRequest& request) const {
    if (auto why = account_refusal(entry, request.peer_address, unix_now()); !why.empty()) {
      return AuthResult::failure(why);
    }
    User u = to_user(entry);
    if (u.max_sessions == 0) u.max_sessions = default_max_sessions_;
    return AuthResult::success(std::move(u));
  }

  AuthResult anonymous_login() const { return anonymous_user(*anonymous_); }

  std::shared_ptr<AccountStore> store_;
  std::optional<AnonymousEntry> anonymous_;
  std::uint32_t default_max_sessions_;
  LoginCache cache_;
};

}  // namespace

}  // namespace auth

std::shared_ptr<Authenticator> make_store_authenticator(std::shared_ptr<AccountStore> store,
                                                        std::optional<AnonymousEntry> anonymous,
                                                        std::uint32_t default_max_sessions) {
  return std::make_shared<auth::StoreAuthenticator>(std::move(store), std::move(anonymous),
                                                    default_max_sessions);
}

}  // namespace feitp
