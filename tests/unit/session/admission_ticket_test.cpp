// Admission::Ticket: what admit() and user_login() grant is given back exactly once, by
// reset() or the destructor, and a server's sessions hold their slots through tickets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/server.hpp"
#include "feitp/storage.hpp"

namespace feitp {
namespace {

// Counts every call; refuses admit() and user_login() when told to.
class CountingAdmission final : public Admission {
 public:
  bool admit(std::string_view peer) override {
    std::lock_guard lock(m_);
    ++admitted;
    last_peer = peer;
    return !refuse;
  }
  void release(std::string_view peer) override {
    std::lock_guard lock(m_);
    ++released;
    released_peer = peer;
  }
  bool user_login(std::string_view user, std::uint32_t /*max*/) override {
    std::lock_guard lock(m_);
    ++logins;
    return !refuse_user || user != "alice";
  }
  void user_logout(std::string_view user) override {
    std::lock_guard lock(m_);
    ++logouts;
    logged_out = user;
  }

  std::atomic<int> admitted{0}, released{0}, logins{0}, logouts{0};
  bool refuse = false;
  bool refuse_user = false;
  std::string last_peer, released_peer, logged_out;

 private:
  std::mutex m_;
};

TEST(AdmissionTicket, GivesBackOnceWhenDestroyed) {
  auto a = std::make_shared<CountingAdmission>();
  {
    auto t = Admission::Ticket::admit(a, "192.0.2.7");
    ASSERT_TRUE(t);
    EXPECT_EQ(a->admitted, 1);
    EXPECT_EQ(a->released, 0);
  }
  EXPECT_EQ(a->released, 1);
  EXPECT_EQ(a->released_peer, "192.0.2.7");
}

TEST(AdmissionTicket, ResetGivesBackEarlyAndOnlyOnce) {
  auto a = std::make_shared<CountingAdmission>();
  {
    auto t = Admission::Ticket::admit(a, "192.0.2.7");
    t.reset();
    EXPECT_FALSE(t);
    EXPECT_EQ(a->released, 1);
    t.reset();
    EXPECT_EQ(a->released, 1);
  }
  EXPECT_EQ(a->released, 1);
}

TEST(AdmissionTicket, ARefusalHoldsNothing) {
  auto a = std::make_shared<CountingAdmission>();
  a->refuse = true;
  {
    auto t = Admission::Ticket::admit(a, "192.0.2.7");
    EXPECT_FALSE(t);
  }
  EXPECT_EQ(a->admitted, 1);
  EXPECT_EQ(a->released, 0);
  EXPECT_FALSE(Admission::Ticket::admit(nullptr, "192.0.2.7"));
}

TEST(AdmissionTicket, AMoveHandsOverWithoutGivingBack) {
  auto a = std::make_shared<CountingAdmission>();
  std::vector<Admission::Ticket> held;
  {
    auto t = Admission::Ticket::admit(a, "192.0.2.7");
    held.push_back(std::move(t));
    EXPECT_FALSE(t);  // NOLINT(bugprone-use-after-move): a moved-from ticket is empty
    Admission::Ticket u(std::move(held.back()));
    held.back() = std::move(u);
  }
  EXPECT_EQ(a->released, 0);
  held.clear();
  EXPECT_EQ(a->released, 1);
}

TEST(AdmissionTicket, AssigningGivesBackWhatWasHeld) {
  auto a = std::make_shared<CountingAdmission>();
  auto t = Admission::Ticket::admit(a, "192.0.2.1");
  t = Admission::Ticket::admit(a, "192.0.2.2");
  EXPECT_EQ(a->released, 1);
  EXPECT_EQ(a->released_peer, "192.0.2.1");
  t = Admission::Ticket();
  EXPECT_EQ(a->released, 2);
  EXPECT_EQ(a->released_peer, "192.0.2.2");
}

TEST(AdmissionTicket, AUserTicketLogsOut) {
  auto a = std::make_shared<CountingAdmission>();
  {
    auto t = Admission::Ticket::user_login(a, "alice", 2);
    ASSERT_TRUE(t);
  }
  EXPECT_EQ(a->logins, 1);
  EXPECT_EQ(a->logouts, 1);
  EXPECT_EQ(a->logged_out, "alice");
  EXPECT_EQ(a->released, 0);
  a->refuse_user = true;
  EXPECT_FALSE(Admission::Ticket::user_login(a, "alice", 2));
  EXPECT_EQ(a->logouts, 1);
}

TEST(AdmissionTicket, KeepsItsAdmissionAlive) {
  auto a = std::make_shared<CountingAdmission>();
  std::weak_ptr<CountingAdmission> watch = a;
  auto t = Admission::Ticket::admit(std::move(a), "192.0.2.7");
  ASSERT_FALSE(watch.expired());
  t.reset();
  EXPECT_TRUE(watch.expired());
}

// --- a server's sessions ----------------------------------------------------------------

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads until a line starting with `code` and a space arrives (or the connection ends).
std::string read_until(int fd, const std::string& code) {
  std::string got;
  char buf[512];
  while (got.find("\n" + code + " ") == std::string::npos && got.rfind(code + " ", 0) != 0) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

void say(int fd, const std::string& line) { (void)::send(fd, line.data(), line.size(), MSG_NOSIGNAL); }

class ServedByTickets : public ::testing::Test {
 protected:
  void SetUp() override {
    UserEntry alice;
    alice.name = "alice";
    alice.password_hash = hash_password("secret");
    alice.home = "/";
    Options o;
    o.listen = {"127.0.0.1:0"};
    o.login_failure_delay = std::chrono::milliseconds{0};
    server_ = Server::Builder(o)
                  .authenticator(make_user_table_authenticator({alice}, std::nullopt))
                  .storage_factory(std::make_shared<MemoryStorageFactory>())
                  .admission(admission_)
                  .build();
    server_->bind();
    port_ = server_->ports().at(0);
    loop_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (loop_.joinable()) stop();
  }
  void stop() {
    server_->stop();
    loop_.join();
  }

  std::shared_ptr<CountingAdmission> admission_ = std::make_shared<CountingAdmission>();
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::thread loop_;
};

TEST_F(ServedByTickets, QuitGivesTheSlotBackBeforeThe221) {
  const int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_NE(read_until(fd, "220").find("220 "), std::string::npos);
  say(fd, "USER alice\r\nPASS secret\r\n");
  ASSERT_NE(read_until(fd, "230").find("230 "), std::string::npos);
  EXPECT_EQ(admission_->logins, 1);
  say(fd, "QUIT\r\n");
  ASSERT_NE(read_until(fd, "221").find("221 "), std::string::npos);
  // The 221 came after both were given back.
  EXPECT_EQ(admission_->released, 1);
  EXPECT_EQ(admission_->logouts, 1);
  EXPECT_EQ(admission_->logged_out, "alice");
  ::close(fd);
  stop();
  EXPECT_EQ(admission_->admitted, 1);
  EXPECT_EQ(admission_->released, 1);
  EXPECT_EQ(admission_->logouts, 1);
}

TEST_F(ServedByTickets, AClientThatHangsUpGivesBackOnce) {
  const int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_NE(read_until(fd, "220").find("220 "), std::string::npos);
  say(fd, "USER alice\r\nPASS secret\r\n");
  ASSERT_NE(read_until(fd, "230").find("230 "), std::string::npos);
  ::close(fd);
  stop();
  EXPECT_EQ(admission_->admitted, 1);
  EXPECT_EQ(admission_->released, 1);
  EXPECT_EQ(admission_->logins, 1);
  EXPECT_EQ(admission_->logouts, 1);
}

TEST_F(ServedByTickets, ARefusedLoginCountsNoSession) {
  admission_->refuse_user = true;
  const int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  ASSERT_NE(read_until(fd, "220").find("220 "), std::string::npos);
  say(fd, "USER alice\r\nPASS secret\r\n");
  ASSERT_NE(read_until(fd, "530").find("530 "), std::string::npos);
  say(fd, "QUIT\r\n");
  ASSERT_NE(read_until(fd, "221").find("221 "), std::string::npos);
  ::close(fd);
  stop();
  EXPECT_EQ(admission_->logins, 1);
  EXPECT_EQ(admission_->logouts, 0);
  EXPECT_EQ(admission_->released, 1);
}

TEST_F(ServedByTickets, ServerStopGivesBackEverySlot) {
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    const int fd = connect_to(port_);
    ASSERT_GE(fd, 0);
    ASSERT_NE(read_until(fd, "220").find("220 "), std::string::npos);
    fds.push_back(fd);
  }
  stop();
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(admission_->admitted, 3);
  EXPECT_EQ(admission_->released, 3);
}

}  // namespace
}  // namespace feitp
