// feitp: users, permissions and the authenticator interface.
#pragma once

#include <any>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace feitp {

// pyftpdlib's permission letters:
//   e  change directory (CWD, CDUP)          l  list (LIST, NLST, MLSD, MLST, STAT path, SIZE, MDTM)
//   r  retrieve (RETR)                        a  append (APPE)
//   d  delete (DELE, RMD)                     f  rename (RNFR, RNTO)
//   m  make directory (MKD)                   w  store (STOR, STOU)
//   M  change mode (SITE CHMOD)               T  change modification time (MFMT)
class Permissions {
 public:
  static constexpr std::string_view kAll = "elradfmwMT";
  static constexpr std::string_view kReadOnly = "elr";

  Permissions() : Permissions(kReadOnly) {}
  explicit Permissions(std::string_view letters);

  // Letters for everything under `dir` (an absolute FTP path), overriding the defaults there.
  // The longest matching directory wins.
  void set_override(std::string_view dir, std::string_view letters);

  [[nodiscard]] bool allows(char letter, std::string_view path) const;
  // allows(letter, dir), and every override strictly below dir grants the letter too: what
  // moving or removing the whole directory needs (it would carry those areas along).
  [[nodiscard]] bool allows_tree(char letter, std::string_view dir) const;
  [[nodiscard]] const std::string& letters() const { return defaults_; }
  [[nodiscard]] std::string_view letters_for(std::string_view path) const;
  // False for plain users: no per-directory rule, so the path never matters (and the server
  // need not find out where a path really leads).
  [[nodiscard]] bool has_overrides() const { return !overrides_.empty(); }
  // (directory, letters), longest directory first.
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& overrides() const {
    return overrides_;
  }

  // "" when every letter is one of kAll, else a message naming the first bad letter.
  static std::string validate(std::string_view letters);

 private:
  std::string defaults_;
  std::vector<std::pair<std::string, std::string>> overrides_;  // (dir, letters)
};

struct User {
  std::string name;
  std::string home;  // the storage root for this user (a local directory for local storage)
  Permissions permissions;
  bool anonymous = false;
  std::uint32_t max_sessions = 0;  // 0 = unlimited
  // Account policy (0 / false / "" = none). Stores fill these; the server enforces them.
  std::uint64_t quota_bytes = 0;    // bytes the user may keep under home
  std::uint64_t quota_files = 0;    // files the user may keep under home
  std::uint64_t upload_rate = 0;    // bytes per second, over all the user's sessions
  std::uint64_t download_rate = 0;  // bytes per second, over all the user's sessions
  bool require_tls = false;         // login and data only over TLS
  std::string host;                 // the virtual host (RFC 7151 HOST) the account belongs to
  std::any app_data;                // the application's own data about this user
};

struct LoginRequest {
  std::string_view user;
  std::string_view password;
  std::string_view peer_address;  // textual IP of the client
  std::uint16_t peer_port = 0;
  bool tls = false;
};

struct AuthResult {
  std::optional<User> user;  // set on success
  std::string reason;        // on failure: for the log, never sent to the client
  // The password could not be checked (account store down): the client gets 421 and may
  // retry; not counted as a failed login.
  bool unavailable = false;
  static AuthResult success(User u) { return AuthResult{std::move(u), {}}; }
  static AuthResult failure(std::string why) { return AuthResult{std::nullopt, std::move(why)}; }
  static AuthResult store_unavailable(std::string why) {
    return AuthResult{std::nullopt, std::move(why), true};
  }
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // True when authenticate() may block (database, network): it then runs on the thread pool.
  [[nodiscard]] virtual bool blocking() const { return false; }
  virtual AuthResult authenticate(const LoginRequest& request) = 0;
  // Optional fast path, always called on the event loop: answer at once when that needs no
  // blocking (e.g. from a cache of verified logins); nullopt means "call authenticate()".
  virtual std::optional<AuthResult> authenticate_inline(const LoginRequest& /*request*/) {
    return std::nullopt;
  }
};

// --- Built-in: users listed in the configuration ------------------------------------------

struct AnonymousEntry {
  std::string home;
  Permissions permissions{Permissions::kReadOnly};
};

// One account, as every store keeps it (config file, SQLite, PostgreSQL; PAM fills what the
// system knows). The policy fields are copied into User at login (to_user()).
struct UserEntry {
  std::string name;
  std::string password_hash;  // crypt(3) form: $y$ (yescrypt), $6$ (sha512-crypt), $2b$ (bcrypt)
  std::string home;
  Permissions permissions;
  std::uint32_t max_sessions = 0;
  bool enabled = true;
  std::int64_t expires = 0;                   // Unix time after which logins fail; 0 = never
  std::vector<std::string> allowed_networks;  // CIDR ("10.0.0.0/8", "2001:db8::/32"); empty = any
  std::uint64_t quota_bytes = 0;
  std::uint64_t quota_files = 0;
  std::uint64_t upload_rate = 0;
  std::uint64_t download_rate = 0;
  bool require_tls = false;
  std::string host;
};

// The User an account logs in as (name, home, permissions and the policy fields).
User to_user(const UserEntry& entry);
// Why `entry` may not log in from `peer_address` at Unix time `now` (disabled, expired, not
// from an allowed network), or "" when it may.
std::string account_refusal(const UserEntry& entry, std::string_view peer_address, std::int64_t now);
// "" or what is wrong with the name for a store: 1 to 64 characters, letters, digits, . _ - @ +
std::string check_account_name(std::string_view name);

// Thrown by an AccountStore that cannot answer (database down, corrupted file): the login gets
// 421, the `feitpd user` command a one-line error.
class StoreUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where accounts live. find() is called for every login (from the login thread pool, never the
// event loop): it must see changes made by other processes and nodes.
class AccountStore {
 public:
  virtual ~AccountStore() = default;
  // nullopt = no such account. Throws StoreUnavailable.
  virtual std::optional<UserEntry> find(std::string_view name) = 0;
  // Called on the event loop: the account from memory when the store can prove, without
  // blocking, that it has not changed since find() read it; nullopt = ask find().
  virtual std::optional<UserEntry> find_cached(std::string_view /*name*/) { return std::nullopt; }
  // For the log: "sqlite:/var/lib/feitpd/users.db", "postgresql://host/db" (no password).
  [[nodiscard]] virtual std::string describe() const = 0;
};

// A store `feitpd user` can change. Every call throws StoreUnavailable on a store error and
// std::invalid_argument for a bad request (existing or missing user named in the message).
class ManagedAccountStore : public AccountStore {
 public:
  virtual void add(const UserEntry& entry) = 0;
  virtual void update(const UserEntry& entry) = 0;  // replaces every field of an existing account
  virtual void remove(std::string_view name) = 0;
  virtual std::vector<UserEntry> list() = 0;
};

// SQLite file at `path` (created with the schema when `create` and missing). The schema is
// created or migrated on open (read_only: only checked); a newer schema or an unreadable file
// throws StoreUnavailable. `lazy`: open at the first use instead (a server's workers: a file
// that breaks later costs logins a 421, not the worker).
std::shared_ptr<ManagedAccountStore> open_sqlite_store(const std::string& path, bool create, bool read_only,
                                                       bool lazy = false);
// PostgreSQL through libpq (`conninfo`: "postgresql://user@host:port/db?..."); at most
// `pool_size` connections, made on demand with `connect_timeout_s`. `prepare_schema`: create or
// migrate the tables now (feitpd does it at start; throws StoreUnavailable when it cannot).
std::shared_ptr<ManagedAccountStore> open_postgresql_store(const std::string& conninfo, unsigned pool_size,
                                                           unsigned connect_timeout_s, bool prepare_schema);

// System accounts through PAM service `service` (a file in /etc/pam.d). Must be made as root,
// before the process drops its privileges: it forks the privileged helper that runs the PAM
// checks (docs/accounts.md). Home from the system's password database; `permissions` for every
// such user. Throws std::runtime_error when the helper cannot be started.
std::shared_ptr<Authenticator> make_pam_authenticator(const std::string& service, Permissions permissions,
                                                      std::optional<AnonymousEntry> anonymous,
                                                      std::uint32_t default_max_sessions);

// An Authenticator over a store: every login reads the current account (so a changed password,
// a disabled or expired account takes effect at the next login, on every worker and node), and
// a bounded cache of verified (name, password, stored hash) spares repeated correct logins the
// crypt cost. Runs on the login pool (blocking() = true). Users without max_sessions get
// `default_max_sessions`; `anonymous` as with the config store.
std::shared_ptr<Authenticator> make_store_authenticator(std::shared_ptr<AccountStore> store,
                                                        std::optional<AnonymousEntry> anonymous,
                                                        std::uint32_t default_max_sessions);

// Checks passwords with libcrypt; repeated correct logins are served from a bounded cache of
// keyed hashes (short lifetime) so they do not pay the full crypt cost each time.
std::shared_ptr<Authenticator> make_user_table_authenticator(std::vector<UserEntry> users,
                                                             std::optional<AnonymousEntry> anonymous);

// crypt(3) helpers. hash_password() picks a fresh salt; "yescrypt" (default), "sha512", "bcrypt".
std::string hash_password(std::string_view password, std::string_view method = "yescrypt");
bool verify_password(std::string_view password, std::string_view crypt_hash);
// True when the string looks like a crypt(3) hash libcrypt can check (not plaintext).
bool is_crypt_hash(std::string_view s);

}  // namespace feitp
