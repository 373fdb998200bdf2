// feitp: everything a Server can be told. Every field has a working default.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace feitp {

// Answer PASV/EPSV with `address` to clients whose address is in `network` (CIDR, "" = any).
struct MasqueradeRule {
  std::string network;  // e.g. "10.0.0.0/8", "::/0", "" (any)
  std::string address;  // IPv4 address to put in 227 replies
};

struct Options {
  // "ADDR:PORT" or "[V6ADDR]:PORT".
  std::vector<std::string> listen = {"0.0.0.0:2121"};
  // Already-bound listening sockets (handed down by a master process); used instead of `listen`.
  std::vector<int> listen_fds;

  std::string banner = "feitp ready.";

  // Passive ports: [min, max]; 0/0 lets the kernel pick an ephemeral port.
  std::uint16_t passive_port_min = 0;
  std::uint16_t passive_port_max = 0;
  std::vector<MasqueradeRule> masquerade;

  // Safety.
  bool allow_foreign_active = false;   // PORT/EPRT to an address other than the client's (FXP)
  bool allow_foreign_passive = false;  // passive data connection from another address
  bool allow_privileged_active_port = false;  // PORT/EPRT to a port below 1024

  // Limits (0 = unlimited).
  // No per-address cap by default: thousands of honest clients may share one carrier-NAT address.
  std::uint32_t max_connections = 20000;
  std::uint32_t max_per_ip = 0;
  std::uint32_t max_login_attempts = 3;      // failed logins before disconnect
  std::chrono::milliseconds login_failure_delay{1000};
  // Address bans are an opt-in: ban_after_failures failed logins from one address (IPv6: one
  // /64) within ban_window ban it for ban_time (doubled for repeat offenders). An address that
  // logged in successfully within ban_window is only slowed down, never banned.
  std::uint32_t ban_after_failures = 0;
  std::chrono::seconds ban_window{600};
  std::chrono::seconds ban_time{300};
  std::uint32_t max_unknown_before_login = 10;
  std::uint32_t max_line = 2048;             // command line length cap, bytes

  // Timeouts (0 = none).
  std::chrono::seconds idle_timeout{300};
  std::chrono::seconds login_timeout{60};        // from connect to successful login
  std::chrono::seconds data_accept_timeout{30};  // waiting for the passive data connection
  std::chrono::seconds data_stall_timeout{60};   // no byte moved on the data connection

  // Transfers.
  // Bytes per read on downloads and per receive on uploads (at most 256 KiB: bigger receives
  // cost more per byte); big binary uploads to local storage move with splice() instead.
  std::uint32_t transfer_buffer = 256 * 1024;
  // Bandwidth limits in bytes per second (0 = none, the default: no throttle is built and the
  // transfer paths are unchanged). upload_rate/download_rate bound the whole server (every
  // session; feitpd: every worker); the session_ ones each session. Users' own limits are
  // User::upload_rate/download_rate (over all of the user's sessions).
  std::uint64_t upload_rate = 0;
  std::uint64_t download_rate = 0;
  std::uint64_t session_upload_rate = 0;
  std::uint64_t session_download_rate = 0;
  bool listing_utc = true;
  // Keep the formatted listings of big directories and reuse them while the storage reports
  // the directory unchanged (Storage::listing_version).
  bool listing_cache = true;
  std::string default_hash = "SHA-256";
  // HASH/XCRC/XMD5/XSHA* of a file bigger than this is refused with 552 (0 = no cap): each one
  // holds a thread reading the whole file.
  std::uint64_t max_hash_bytes = std::uint64_t{4} << 30;
  // LIST/NLST/MLSD and STAT path send at most this many entries of one directory (0 = no cap);
  // the rest is left out and the final reply says so. Bounds a session's listing memory.
  std::uint32_t max_listing_entries = 100000;

  // Threads in each of the three pools: blocking hooks and storage; logins (authenticator and
  // storage factory); HASH and its kin.
  std::uint32_t blocking_threads = 4;
};

}  // namespace feitp
