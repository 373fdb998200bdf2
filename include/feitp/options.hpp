// feitp: everything a Server can be told. Every field has a working default.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace feitp {

// Answer PASV/EPSV with `address` to clients whose address is in `network` (CIDR, "" = any).
struct MasqueradeRule {
  std::string network;  // e.g. "10.0.0.0/8", "::/0", "" (any)
  std::string address;  // IPv4 address to put in 227 replies
};

// FTPS (RFC 4217). TLS is on when cert_file is set; see docs/configuration.md, [tls].
enum class TlsRequired : std::uint8_t {
  off,    // TLS optional
  login,  // USER/PASS only after AUTH TLS (or on an implicit listener)
  all,    // login and every data connection under TLS (PROT P)
};
// "off", "login", "all" (as feitpd's [tls] required is written).
[[nodiscard]] std::string_view to_string(TlsRequired r);

// What a data connection's TLS session must be, relative to its control connection's.
enum class DataSessionPolicy : std::uint8_t {
  required,  // must resume the control connection's own session (a full handshake is refused)
  own,       // may do a full handshake; if it resumes, only the control connection's own session
  any,       // no check
};
// "required", "own", "any".
[[nodiscard]] std::string_view to_string(DataSessionPolicy p);

// A certificate chosen by SNI or HOST (RFC 7151) for one host name.
struct TlsHost {
  std::string name;
  std::string cert_file;
  std::string key_file;
};

// Keys for TLS session tickets, shared by every process of a server so that a client resumes on
// any worker. The daemon's master makes them (shared memory) and rotates them; a library user
// may leave this empty (each server makes its own).
struct TicketKeySource {
  virtual ~TicketKeySource() = default;
  struct Key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
  };
  // The key new tickets are made with.
  virtual bool current(Key& out) = 0;
  // The key named `name` (current or a recent one), for a ticket a client shows.
  virtual bool find(const unsigned char* name, Key& out, bool& renew) = 0;
};

struct TlsOptions {
  std::string cert_file;   // PEM; empty = no FTPS
  std::string key_file;    // PEM
  std::string chain_file;  // PEM intermediates, optional
  TlsRequired required = TlsRequired::off;
  std::string min_version = "1.2";  // "1.2" or "1.3"
  // TLS 1.2 cipher list (OpenSSL syntax) and TLS 1.3 suites; forward secret AEAD only.
  std::string ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
  std::string ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  DataSessionPolicy data_session = DataSessionPolicy::own;
  // Listeners where TLS starts at connect (implicit FTPS, port 990 by convention): "ADDR:PORT".
  std::vector<std::string> implicit_listen;
  // A TLS handshake (control or data) that is not done in this time ends the connection.
  std::chrono::seconds handshake_timeout{10};
  // How long a session ticket stays valid (keys are kept at least as long).
  std::chrono::seconds session_lifetime{12 * 3600};
  std::vector<TlsHost> hosts;
  std::shared_ptr<TicketKeySource> ticket_keys;

  [[nodiscard]] bool enabled() const { return !cert_file.empty(); }
};

struct Options {
  // "ADDR:PORT" or "[V6ADDR]:PORT".
  std::vector<std::string> listen = {"0.0.0.0:2121"};
  // Already-bound listening sockets (handed down by a master process); used instead of `listen`.
  std::vector<int> listen_fds;
  // PROXY protocol (v1 or v2) on control connections from these networks (CIDR or address):
  // such a connection must begin with a header, whose source address then stands for the
  // client everywhere (caps, bans, logs, hooks, the passive data-connection check). Empty:
  // no header is trusted from anyone. A header must arrive within proxy_protocol_timeout.
  std::vector<std::string> proxy_protocol_from;
  std::chrono::milliseconds proxy_protocol_timeout{5000};

  std::string banner = "feitp ready.";
  // Log every command and reply at info level ("session N: > CMD" / "session N: < 226 ..."),
  // with the PASS argument masked. Off by default: it costs a log line per command.
  bool protocol_log = false;
  // Where the server's log lines go (an spdlog logger: its level, sinks and format decide).
  // null: a logger of the library's own named "feitp", info and above, text lines on stderr.
  // The library never logs through spdlog's default logger. Lines are written from the event
  // loop and from pool threads: give thread-safe (_mt) sinks.
  std::shared_ptr<spdlog::logger> logger;

  // Passive ports: [min, max]; 0/0 lets the kernel pick an ephemeral port.
  std::uint16_t passive_port_min = 0;
  std::uint16_t passive_port_max = 0;
  std::vector<MasqueradeRule> masquerade;

  // Safety.
  bool allow_foreign_active = false;          // PORT/EPRT to an address other than the client's (FXP)
  bool allow_foreign_passive = false;         // passive data connection from another address
  bool allow_privileged_active_port = false;  // PORT/EPRT to a port below 1024

  // Limits (0 = unlimited).
  // No per-address cap by default: thousands of honest clients may share one carrier-NAT address.
  std::uint32_t max_connections = 20000;
  std::uint32_t max_per_ip = 0;
  std::uint32_t max_login_attempts = 3;  // failed logins before disconnect
  std::chrono::milliseconds login_failure_delay{1000};
  // Address bans are an opt-in: ban_after_failures failed logins from one address (IPv6: one
  // /64) within ban_window ban it for ban_time (doubled for repeat offenders). An address that
  // logged in successfully within ban_window is only slowed down, never banned.
  std::uint32_t ban_after_failures = 0;
  std::chrono::seconds ban_window{600};
  std::chrono::seconds ban_time{300};
  std::uint32_t max_unknown_before_login = 10;
  std::uint32_t max_line = 2048;  // command line length cap, bytes

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
  // the directory unchanged (Storage::listing_versions).
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

  // FTPS. With listen_fds, the descriptors after the first listen.size() are the implicit
  // TLS listeners (tls.implicit_listen, in order).
  TlsOptions tls;
};

// What is wrong with `options`: one line per problem, each "FIELD: what is wrong", FIELD being
// the member as written in C++ ("listen[1]", "tls.key_file", "max_line"); empty when a Server
// can use them. Reads no file and binds nothing (a missing certificate file or a busy port is
// found by the Server itself). Server::Builder::build() refuses options with problems, and
// feitpd checks its configuration with the same rules (naming its own keys). Zero where a
// field documents "0 = unlimited" or "0 = none" is not a problem.
[[nodiscard]] std::vector<std::string> validate(const Options& options);

}  // namespace feitp
