// feitp: users, permissions and the authenticator interface.
#pragma once

#include <any>
#include <cstdint>
#include <memory>
#include <optional>
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
  std::string home;          // the storage root for this user (a local directory for local storage)
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
  std::any app_data;         // the application's own data about this user
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
  static AuthResult success(User u) { return AuthResult{std::move(u), {}}; }
  static AuthResult failure(std::string why) { return AuthResult{std::nullopt, std::move(why)}; }
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

struct UserEntry {
  std::string name;
  std::string password_hash;  // crypt(3) form: $y$ (yescrypt), $6$ (sha512-crypt), $2b$ (bcrypt)
  std::string home;
  Permissions permissions;
  std::uint32_t max_sessions = 0;
  // Copied to the User's account policy fields of the same names.
  std::uint64_t quota_bytes = 0;
  std::uint64_t quota_files = 0;
  std::uint64_t upload_rate = 0;
  std::uint64_t download_rate = 0;
  std::string host;
};

struct AnonymousEntry {
  std::string home;
  Permissions permissions{Permissions::kReadOnly};
};

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
