// Brute-force defence for one client address, as plain data and pure functions, so the
// in-process LocalAdmission and the daemon's shared-memory SharedAdmission make exactly the same
// decisions (they differ only in where the records live and how they are locked).
//
// The rules (DESIGN.md: throttle, never lock out the right password):
//  - bans are an opt-in (after_failures = 0: no bans, no per-address accounting);
//  - failures and checks in flight count together: once they reach after_failures, further
//    PASS are refused without asking the authenticator (F11: parallel connections cannot race
//    past the threshold);
//  - an address that logged in successfully within `window` is never banned nor refused: its
//    failures only lengthen the delay before the 530 (thousands of honest clients behind one
//    carrier-NAT address must not pay for one attacker among them);
//  - records are keyed per IPv4 address and per IPv6 /64 (one subscriber's prefix).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "feitp/options.hpp"

namespace feitp::session {

struct LoginPolicy {
  std::uint32_t after_failures = 0;  // 0 = never ban
  std::int64_t window_ms = 600'000;
  std::int64_t first_ban_ms = 300'000;  // doubles for each remembered earlier ban, at most a day
};

// Options::ban_after_failures, ban_window and ban_time.
LoginPolicy login_policy(const Options& o);

// Trivially copyable: it also lives in the daemon's shared mapping.
struct LoginRecord {
  std::uint32_t fails = 0;     // failed logins in the current window
  std::uint32_t inflight = 0;  // checks started and not yet answered
  std::uint32_t level = 0;     // bans so far (the next one lasts first_ban << level)
  std::uint32_t pad = 0;
  std::int64_t fails_expire = 0;
  std::int64_t inflight_expire = 0;  // a check lost with its process stops counting then
  std::int64_t ban_until = 0;
  std::int64_t forget_at = 0;      // when a past offender's ban level is forgotten
  std::int64_t trusted_until = 0;  // a successful login from here is this recent
};

// The record key of a peer: the IPv4 address (also for v4-mapped IPv6), "xxxx:xxxx:xxxx:xxxx::/64"
// for other IPv6 addresses; anything unparsable is used as it is.
std::string login_key(std::string_view peer);

[[nodiscard]] bool login_banned(const LoginRecord& r, std::int64_t now);
// A PASS is about to be checked: false = answer it without checking (banned, or failures and
// checks in flight already reach the threshold). true counts the check as in flight.
[[nodiscard]] bool login_attempt(LoginRecord& r, const LoginPolicy& p, std::int64_t now);
// `trust`: the login proves the address knows a password (not an anonymous login).
void login_succeeded(LoginRecord& r, const LoginPolicy& p, std::int64_t now, bool trust);
// Returns the length of the ban this failure started (0 = none).
std::int64_t login_failed(LoginRecord& r, const LoginPolicy& p, std::int64_t now);
// Extra delay before the 530 of a failure: grows by a second for each further `after_failures`
// failures of a trusted address in the window, at most kMaxThrottleMs.
[[nodiscard]] std::int64_t login_throttle_ms(const LoginRecord& r, const LoginPolicy& p, std::int64_t now);
// Nothing worth keeping: no ban, no score, no check in flight, no trust, no remembered offence.
[[nodiscard]] bool login_idle(const LoginRecord& r, std::int64_t now);

inline constexpr std::int64_t kMaxThrottleMs = 10'000;
inline constexpr std::int64_t kInflightLifetimeMs = 60'000;

}  // namespace feitp::session
