// System accounts through PAM. Workers serve unprivileged, where pam_unix cannot read
// /etc/shadow; so each worker, while it is still root (before it drops its privileges), forks
// a helper process that keeps root and does one thing: answer "may USER log in with PASSWORD
// from RHOST?" with pam_authenticate + pam_acct_mgmt. They talk over a SOCK_SEQPACKET
// socketpair, one message each way per check:
//   request: u32 id, u8 user length, u16 password length, u8 rhost length, then the bytes
//   reply:   u32 id, u8 status (0 = yes, 1 = no, 2 = PAM error)
// Bounded sizes (name 64, password 1024, rhost 64), one check at a time in the helper, a
// deadline on the worker side (a check that takes longer is a 421, its late reply is dropped by
// id). The helper dies with its worker (PDEATHSIG) and closes every other descriptor.
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "auth/user_table.hpp"
#include "feitp/auth.hpp"

namespace feitp::auth {

namespace {

constexpr std::size_t kMaxUser = 64, kMaxPassword = 1024, kMaxHost = 64;
constexpr std::size_t kHeader = 4 + 1 + 2 + 1;
constexpr std::size_t kMaxRequest = kHeader + kMaxUser + kMaxPassword + kMaxHost;

struct Conversation {
  const char* password;
};

int converse(int n, const pam_message** msg, pam_response** resp, void* data) {
  auto* conv = static_cast<Conversation*>(data);
  auto* out = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(n), sizeof(pam_response)));
  if (out == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
      out[i].resp = ::strdup(conv->password);
    }
  }
  *resp = out;
  return PAM_SUCCESS;
}

void no_delay(int, unsigned, void*) {}  // the worker applies feitpd's own failure delay

std::uint8_t check(const char* service, const char* user, const char* password, const char* rhost) {
  Conversation c{password};
  pam_conv conv{converse, &c};
  pam_handle_t* h = nullptr;
  if (pam_start(service, user, &conv, &h) != PAM_SUCCESS) return 2;
  pam_set_item(h, PAM_RHOST, rhost);
  pam_set_item(h, PAM_FAIL_DELAY, reinterpret_cast<const void*>(&no_delay));
  int rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
  if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
  pam_end(h, rc);
  return rc == PAM_SUCCESS ? 0 : 1;
}

[[noreturn]] void helper_main(int fd, const std::string& service) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  ::prctl(PR_SET_NAME, "feitpd-pam", 0, 0, 0);
  // Nothing of the worker's: its listeners, log, shared memory stay out of reach.
  if (fd != 3) {
    ::dup2(fd, 3);
    fd = 3;
  }
  ::close_range(4, ~0U, 0);
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    if (devnull > 3) ::close(devnull);
  }
  std::vector<char> buf(kMaxRequest + 1);
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n == 0 || (n < 0 && errno != EINTR)) ::_exit(0);
    if (n < 0) continue;
    std::uint8_t status = 2;
    std::uint32_t id = 0;
    if (static_cast<std::size_t>(n) >= kHeader) {
      std::memcpy(&id, buf.data(), 4);
      const std::size_t ul = static_cast<unsigned char>(buf[4]);
      std::uint16_t pl = 0;
      std::memcpy(&pl, buf.data() + 5, 2);
      const std::size_t hl = static_cast<unsigned char>(buf[7]);
      if (ul >= 1 && ul <= kMaxUser && pl <= kMaxPassword && hl <= kMaxHost &&
          static_cast<std::size_t>(n) == kHeader + ul + pl + hl) {
        std::string user(buf.data() + kHeader, ul);
        std::string pw(buf.data() + kHeader + ul, pl);
        std::string host(buf.data() + kHeader + ul + pl, hl);
        const bool clean = user.find('\0') == std::string::npos && pw.find('\0') == std::string::npos &&
                           host.find('\0') == std::string::npos;
        status = clean ? check(service.c_str(), user.c_str(), pw.c_str(), host.c_str()) : 1;
        ::explicit_bzero(pw.data(), pw.size());
      }
    }
    ::explicit_bzero(buf.data(), buf.size());
    char reply[5];
    std::memcpy(reply, &id, 4);
    reply[4] = static_cast<char>(status);
    (void)::send(fd, reply, sizeof reply, MSG_NOSIGNAL);
  }
}

class PamAuthenticator final : public Authenticator {
 public:
  PamAuthenticator(std::string service, Permissions permissions, std::optional<AnonymousEntry> anonymous,
                   std::uint32_t default_max_sessions)
      : service_(std::move(service)),
        permissions_(std::move(permissions)),
        anonymous_(std::move(anonymous)),
        default_max_sessions_(default_max_sessions) {
    if (::geteuid() != 0) {
      throw std::runtime_error(
          "accounts.store = pam: feitpd must be started as root (the PAM helper "
          "keeps root to read the system's password database)");
    }
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      throw std::runtime_error(std::string("PAM helper: socketpair: ") + std::strerror(errno));
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(sv[0]);
      ::close(sv[1]);
      throw std::runtime_error(std::string("PAM helper: fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::close(sv[0]);
      const int fl = ::fcntl(sv[1], F_GETFD);
      ::fcntl(sv[1], F_SETFD, fl & ~FD_CLOEXEC);
      helper_main(sv[1], service_);
    }
    ::close(sv[1]);
    fd_ = sv[0];
    pid_ = pid;
  }

  ~PamAuthenticator() override {
    if (fd_ >= 0) ::close(fd_);  // the helper sees end of file and exits
    if (pid_ > 0) ::waitpid(pid_, nullptr, WNOHANG);
  }

  [[nodiscard]] bool blocking() const override { return true; }

  std::optional<AuthResult> authenticate_inline(const LoginRequest& request) override {
    if (anonymous_ && is_anonymous_name(request.user)) return anonymous_login();
    return std::nullopt;
  }

  AuthResult authenticate(const LoginRequest& request) override {
    if (anonymous_ && is_anonymous_name(request.user)) return anonymous_login();
    if (!check_account_name(request.user).empty()) return AuthResult::failure("unknown user");
    if (request.password.size() > kMaxPassword) return AuthResult::failure("password too long");
    const std::string host(request.peer_address.substr(0, kMaxHost));
    std::uint8_t status = 2;
    {
      std::lock_guard lock(mu_);  // one check in flight per worker: the helper is serial anyway
      const std::uint32_t id = ++next_id_;
      std::vector<char> msg(kHeader + request.user.size() + request.password.size() + host.size());
      std::memcpy(msg.data(), &id, 4);
      msg[4] = static_cast<char>(request.user.size());
      const auto pl = static_cast<std::uint16_t>(request.password.size());
      std::memcpy(msg.data() + 5, &pl, 2);
      msg[7] = static_cast<char>(host.size());
      std::memcpy(msg.data() + kHeader, request.user.data(), request.user.size());
      std::memcpy(msg.data() + kHeader + request.user.size(), request.password.data(), pl);
      std::memcpy(msg.data() + kHeader + request.user.size() + pl, host.data(), host.size());
      const ssize_t sent = ::send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL);
      ::explicit_bzero(msg.data(), msg.size());
      if (sent != static_cast<ssize_t>(msg.size())) {
        return AuthResult::store_unavailable("PAM helper gone: " + std::string(std::strerror(errno)));
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
      for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
          return AuthResult::store_unavailable("PAM helper: no answer within 15 s");
        }
        char reply[5];
        const ssize_t n = ::recv(fd_, reply, sizeof reply, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n != sizeof reply) return AuthResult::store_unavailable("PAM helper gone");
        std::uint32_t got = 0;
        std::memcpy(&got, reply, 4);
        if (got != id) continue;  // the late answer of a check that timed out
        status = static_cast<std::uint8_t>(reply[4]);
        break;
      }
    }
    if (status == 2) return AuthResult::failure("PAM error (see the system log)");
    if (status != 0) return AuthResult::failure("PAM refused the login");
    // Home and uid come from the system.
    std::string name(request.user);
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return AuthResult::failure("PAM accepted a user the system does not know");
    }
    if (pw.pw_uid == 0) return AuthResult::failure("root may not log in");
    User u;
    u.name = name;
    u.home = pw.pw_dir;
    u.permissions = permissions_;
    u.max_sessions = default_max_sessions_;
    return AuthResult::success(std::move(u));
  }

 private:
  AuthResult anonymous_login() const { return anonymous_user(*anonymous_); }

  std::string service_;
  Permissions permissions_;
  std::optional<AnonymousEntry> anonymous_;
  std::uint32_t default_max_sessions_;
  std::mutex mu_;
  int fd_ = -1;
  pid_t pid_ = -1;
  std::uint32_t next_id_ = 0;
};

}  // namespace

}  // namespace feitp::auth

namespace feitp {

std::shared_ptr<Authenticator> make_pam_authenticator(const std::string& service, Permissions permissions,
                                                      std::optional<AnonymousEntry> anonymous,
                                                      std::uint32_t default_max_sessions) {
  return std::make_shared<auth::PamAuthenticator>(service, std::move(permissions), std::move(anonymous),
                                                  default_max_sessions);
}

}  // namespace feitp
