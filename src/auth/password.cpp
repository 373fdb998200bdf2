// crypt(3) password hashes through libxcrypt: yescrypt, sha512-crypt, bcrypt (and the other
// modern methods libcrypt verifies).
#include <crypt.h>
#include <openssl/crypto.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "feitp/auth.hpp"

namespace feitp {

namespace {

struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }  // NOLINT(cppcoreguidelines-no-malloc)
};

// crypt_ra's scratch area; wiped before it is released (it held the password's derivatives).
class CryptScratch {
 public:
  CryptScratch() = default;
  CryptScratch(const CryptScratch&) = delete;
  CryptScratch& operator=(const CryptScratch&) = delete;
  ~CryptScratch() {
    if (data_ != nullptr) {
      OPENSSL_cleanse(data_, static_cast<std::size_t>(size_));
      std::free(data_);  // NOLINT(cppcoreguidelines-no-malloc)
    }
  }
  // The hash of `password` with `setting`, or "" when libcrypt refuses the setting.
  std::string hash(const std::string& password, const std::string& setting) {
    const char* out = crypt_ra(password.c_str(), setting.c_str(), &data_, &size_);
    if (out == nullptr || out[0] == '*' || out[0] == '\0') return {};
    return out;
  }

 private:
  void* data_ = nullptr;
  int size_ = 0;
};

std::string_view prefix_for(std::string_view method) {
  if (method == "yescrypt" || method.empty()) return "$y$";
  if (method == "sha512") return "$6$";
  if (method == "bcrypt") return "$2b$";
  return {};
}

bool hash_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/' ||
         c == '$' || c == '=';  // '=' appears in "rounds=N" of sha-crypt
}

}  // namespace

std::string hash_password(std::string_view password, std::string_view method) {
  std::string_view prefix = prefix_for(method);
  if (prefix.empty()) {
    throw std::invalid_argument("unknown hash method \"" + std::string(method) +
                                "\" (use yescrypt, sha512 or bcrypt)");
  }
  if (password.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("a password cannot contain a NUL byte");
  }
  std::string prefix_z(prefix);
  // libcrypt's default cost suits yescrypt and sha512-crypt; its bcrypt default (5) is too cheap.
  unsigned long cost = prefix == "$2b$" ? 11 : 0;
  std::unique_ptr<char, FreeDeleter> setting(crypt_gensalt_ra(prefix_z.c_str(), cost, nullptr, 0));
  if (!setting) throw std::runtime_error("crypt_gensalt failed for method " + std::string(method));
  std::string pw(password);
  CryptScratch scratch;
  std::string out = scratch.hash(pw, setting.get());
  OPENSSL_cleanse(pw.data(), pw.size());
  if (out.empty()) throw std::runtime_error("crypt failed for method " + std::string(method));
  return out;
}

bool is_crypt_hash(std::string_view s) {
  static constexpr std::array<std::string_view, 8> kPrefixes = {"$y$",  "$6$",  "$5$",  "$2b$",
                                                                "$2a$", "$2y$", "$gy$", "$7$"};
  bool known = false;
  for (auto p : kPrefixes) {
    if (s.substr(0, p.size()) == p) {
      known = true;
      break;
    }
  }
  if (!known || s.size() < 20 || s.size() >= CRYPT_OUTPUT_SIZE || s.back() == '$') return false;
  for (char c : s) {
    if (!hash_char(c)) return false;
  }
  std::string z(s);
  return crypt_checksalt(z.c_str()) == CRYPT_SALT_OK;
}

bool verify_password(std::string_view password, std::string_view crypt_hash) {
  if (!is_crypt_hash(crypt_hash)) return false;
  if (password.find('\0') != std::string_view::npos) return false;
  std::string pw(password);
  std::string setting(crypt_hash);
  CryptScratch scratch;
  std::string out = scratch.hash(pw, setting);
  OPENSSL_cleanse(pw.data(), pw.size());
  if (out.size() != crypt_hash.size()) return false;
  return CRYPTO_memcmp(out.data(), crypt_hash.data(), out.size()) == 0;
}

}  // namespace feitp
