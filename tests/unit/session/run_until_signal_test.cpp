// run_until_signal(): a stop signal sent to the process stops the server with stop(grace) and
// is returned; a stop from elsewhere returns 0; the signal mask is as before afterwards.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/server.hpp"
#include "feitp/storage.hpp"

namespace feitp {
namespace {

std::unique_ptr<Server> make_server() {
  Options o;
  o.listen = {"127.0.0.1:0"};
  return Server::Builder(o)
      .authenticator(make_user_table_authenticator({}, std::nullopt))
      .storage_factory(std::make_shared<MemoryStorageFactory>())
      .build();
}

// True once the server answers with its 220 greeting: its event loop runs, so run() has
// started (and run_until_signal has blocked the stop signals).
bool greeted(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4] = {};
    ok = ::recv(fd, buf, 3, MSG_WAITALL) == 3 && std::string(buf) == "220";
  }
  ::close(fd);
  return ok;
}

bool blocked_here(int signo) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, signo) == 1;
}

// Runs `act` on a helper thread (which blocks the stop signals itself, so that a signal to
// the process can only be taken by run_until_signal's watcher) once the server serves.
std::thread when_serving(Server& server, std::function<void()> act) {
  server.bind();
  const std::uint16_t port = server.ports().at(0);
  return std::thread([port, act = std::move(act)] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, nullptr);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (!greeted(port) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    act();
  });
}

TEST(RunUntilSignal, SigtermStopsAndIsReturned) {
  auto server = make_server();
  ASSERT_FALSE(blocked_here(SIGTERM));
  auto helper = when_serving(*server, [] { ::kill(::getpid(), SIGTERM); });
  const int got = run_until_signal(*server, std::chrono::seconds{1});
  helper.join();
  EXPECT_EQ(got, SIGTERM);
  EXPECT_FALSE(blocked_here(SIGTERM));  // the mask is restored
  EXPECT_FALSE(blocked_here(SIGINT));
}

TEST(RunUntilSignal, SigintStopsAndIsReturned) {
  auto server = make_server();
  auto helper = when_serving(*server, [] { ::kill(::getpid(), SIGINT); });
  const int got = run_until_signal(*server);
  helper.join();
  EXPECT_EQ(got, SIGINT);
  EXPECT_FALSE(blocked_here(SIGINT));
}

TEST(RunUntilSignal, StopFromElsewhereReturnsZero) {
  auto server = make_server();
  Server* s = server.get();
  auto helper = when_serving(*server, [s] { s->stop(); });
  const int got = run_until_signal(*server);
  helper.join();
  EXPECT_EQ(got, 0);
  EXPECT_FALSE(blocked_here(SIGTERM));
}

TEST(RunUntilSignal, KeepsAMaskTheCallerSet) {
  sigset_t term, before;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &before);
  auto server = make_server();
  Server* s = server.get();
  auto helper = when_serving(*server, [s] { s->stop(); });
  EXPECT_EQ(run_until_signal(*server), 0);
  helper.join();
  EXPECT_TRUE(blocked_here(SIGTERM));  // the caller's, as it was
  EXPECT_FALSE(blocked_here(SIGINT));
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

TEST(RunUntilSignal, ErrorsOfRunPassThroughWithoutHanging) {
  Options o;
  o.listen = {"127.0.0.1:0"};
  Server unfinished(o);  // no authenticator: run() throws
  EXPECT_THROW(run_until_signal(unfinished), std::invalid_argument);
  EXPECT_FALSE(blocked_here(SIGTERM));
}

}  // namespace
}  // namespace feitp
