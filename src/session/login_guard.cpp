// The brute-force rules of login_guard.hpp; pure functions of a record and the time.
#include "session/login_guard.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>

namespace feitp::session {

namespace {

constexpr std::int64_t kRememberOffenderMs = 24LL * 3600 * 1000;
constexpr std::int64_t kMaxBanMs = 24LL * 3600 * 1000;

bool trusted(const LoginRecord& r, std::int64_t now) { return r.trusted_until > now; }

void expire(LoginRecord& r, std::int64_t now) {
  if (r.fails_expire <= now) r.fails = 0;
  if (r.inflight_expire <= now) r.inflight = 0;
  if (r.level != 0 && r.forget_at <= now) r.level = 0;
}

}  // namespace

LoginPolicy login_policy(const Options& o) {
  LoginPolicy p;
  p.after_failures = o.ban_after_failures;
  p.window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(o.ban_window).count();
  p.first_ban_ms = std::chrono::duration_cast<std::chrono::milliseconds>(o.ban_time).count();
  return p;
}

std::string login_key(std::string_view peer) {
  std::string text(peer);
  std::array<unsigned char, 16> a{};
  if (::inet_pton(AF_INET6, text.c_str(), a.data()) != 1) return text;  // IPv4 or not an address
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(a.begin(), a.begin() + 12, kMapped)) {
    char v4[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, a.data() + 12, v4, sizeof v4);
    return v4;
  }
  char out[48];
  std::snprintf(out, sizeof out, "%x:%x:%x:%x::/64", (a[0] << 8) | a[1], (a[2] << 8) | a[3],
                (a[4] << 8) | a[5], (a[6] << 8) | a[7]);
  return out;
}

bool login_banned(const LoginRecord& r, std::int64_t now) { return r.ban_until > now; }

bool login_attempt(LoginRecord& r, const LoginPolicy& p, std::int64_t now) {
  if (p.after_failures == 0) return true;
  expire(r, now);
  // A trusted address is throttled after the check, never refused before it.
  if (!trusted(r, now)) {
    if (login_banned(r, now)) return false;
    if (std::uint64_t{r.fails} + r.inflight >= p.after_failures) return false;
  }
  if (r.inflight != UINT32_MAX) ++r.inflight;
  r.inflight_expire = now + kInflightLifetimeMs;
  return true;
}

void login_succeeded(LoginRecord& r, const LoginPolicy& p, std::int64_t now, bool trust) {
  if (p.after_failures == 0) return;
  expire(r, now);
  if (r.inflight != 0) --r.inflight;
  if (trust) r.trusted_until = now + p.window_ms;
}

std::int64_t login_failed(LoginRecord& r, const LoginPolicy& p, std::int64_t now) {
  if (p.after_failures == 0) return 0;
  expire(r, now);
  if (r.inflight != 0) --r.inflight;
  if (r.fails == 0) r.fails_expire = now + p.window_ms;
  if (r.fails != UINT32_MAX) ++r.fails;
  if (r.fails < p.after_failures || trusted(r, now) || login_banned(r, now)) return 0;
  // Banned: first_ban, doubled for each earlier ban still remembered, at most a day.
  std::int64_t length = p.first_ban_ms;
  for (std::uint32_t k = 0; k < r.level && length < kMaxBanMs; ++k) length *= 2;
  length = std::min(length, kMaxBanMs);
  r.ban_until = now + length;
  r.forget_at = r.ban_until + kRememberOffenderMs;
  ++r.level;
  r.fails = 0;
  r.fails_expire = 0;
  return length;
}

std::int64_t login_throttle_ms(const LoginRecord& r, const LoginPolicy& p, std::int64_t now) {
  if (p.after_failures == 0 || r.fails_expire <= now || r.fails < p.after_failures) return 0;
  const std::int64_t steps = (r.fails - p.after_failures) / p.after_failures + 1;
  return std::min(steps * 1000, kMaxThrottleMs);
}

bool login_idle(const LoginRecord& r, std::int64_t now) {
  return r.ban_until <= now && r.fails_expire <= now && r.inflight_expire <= now && r.trusted_until <= now &&
         (r.level == 0 || r.forget_at <= now);
}

}  // namespace feitp::session
