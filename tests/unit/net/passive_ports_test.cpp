// The loop's pool of passive listeners: listeners given back are taken again, strays dropped,
// small ranges keep nothing idle, and a session waits for a port when the range is taken.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <random>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "net/passive_ports.hpp"

namespace feitp::net {
namespace {

using namespace std::chrono_literals;
using Listener = PassivePorts::Listener;

const asio::ip::address kLoopback = asio::ip::make_address("127.0.0.1");

// A port nobody uses right now (the kernel's choice, then closed).
std::uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(kLoopback, 0));
  return a.local_endpoint().port();
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

struct PassivePortsTest : ::testing::Test {
  asio::io_context io;
  std::mt19937 rng{42};

  // A range of one port, and that port taken.
  std::uint16_t only = free_port();
  PassivePorts one{only, only};
  Listener take_only_port() {
    std::error_code ec;
    Listener l = acquire(one, 0ms, ec);
    EXPECT_TRUE(l) << ec.message();
    EXPECT_EQ(l.port, only);
    return l;
  }

  // Runs acquire() to its end on the loop; `during` runs on the loop while it waits.
  Listener acquire(PassivePorts& pool, std::chrono::milliseconds patience, std::error_code& ec,
                   std::function<void()> during = {}) {
    std::optional<Listener> got;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { got = co_await pool.acquire(kLoopback, rng, patience, ec); },
        asio::detached);
    if (during) {
      io.run_for(50ms);
      during();
    }
    io.run();
    io.restart();
    return std::move(*got);
  }
};

TEST_F(PassivePortsTest, ListenerGivenBackIsTakenAgain) {
  PassivePorts pool(0, 0);
  std::error_code ec;
  Listener a = acquire(pool, 0ms, ec);
  ASSERT_TRUE(a) << ec.message();
  const auto port = a.port;
  pool.give_back(kLoopback, std::move(a));
  EXPECT_EQ(pool.idle(), 1u);
  Listener b = acquire(pool, 0ms, ec);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.port, port);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(PassivePortsTest, StrayConnectionOnAnIdleListenerNeverReachesTheNextTaker) {
  PassivePorts pool(0, 0);
  std::error_code ec;
  Listener a = acquire(pool, 0ms, ec);
  ASSERT_TRUE(a);
  const auto port = a.port;
  pool.give_back(kLoopback, std::move(a));
  const int stray = connect_to(port);
  Listener b = acquire(pool, 0ms, ec);
  ASSERT_EQ(b.port, port);
  EXPECT_LT(::accept4(b.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC), 0);
  EXPECT_EQ(errno, EAGAIN);
  // The stray was closed by the server: it reads the end (or a reset).
  char c;
  EXPECT_LE(::recv(stray, &c, 1, 0), 0);
  ::close(stray);
}

TEST_F(PassivePortsTest, SmallRangeKeepsNothingIdle) {
  const auto p = free_port();
  PassivePorts pool(p, p);
  std::error_code ec;
  Listener a = acquire(pool, 0ms, ec);
  ASSERT_TRUE(a) << ec.message();
  EXPECT_EQ(a.port, p);
  pool.give_back(kLoopback, std::move(a));
  EXPECT_EQ(pool.idle(), 0u);
  Listener b = acquire(pool, 0ms, ec);  // the port is free again
  EXPECT_TRUE(b) << ec.message();
}

TEST_F(PassivePortsTest, SweepClosesIdleListenersAfterTheKeepTime) {
  PassivePorts pool(0, 0);
  std::error_code ec;
  Listener a = acquire(pool, 0ms, ec);
  ASSERT_TRUE(a);
  pool.give_back(kLoopback, std::move(a));
  pool.sweep(PassivePorts::Clock::now());
  EXPECT_EQ(pool.idle(), 1u);
  pool.sweep(PassivePorts::Clock::now() + PassivePorts::kKeepIdle);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(PassivePortsTest, FullRangeWithoutPatienceFailsAtOnce) {
  Listener a = take_only_port();
  ASSERT_TRUE(a);
  auto& pool = one;
  std::error_code ec;
  Listener b = acquire(pool, 0ms, ec);
  EXPECT_FALSE(b);
  EXPECT_EQ(ec, std::errc::address_in_use);
}

TEST_F(PassivePortsTest, WaiterGetsTheListenerGivenBack) {
  Listener a = take_only_port();
  ASSERT_TRUE(a);
  auto& pool = one;
  std::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  Listener b = acquire(pool, 5s, ec, [&] {
    EXPECT_EQ(pool.waiting(), 1u);
    pool.give_back(kLoopback, std::move(a));
  });
  ASSERT_TRUE(b) << ec.message();
  EXPECT_EQ(b.port, only);
  EXPECT_EQ(pool.waiting(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST_F(PassivePortsTest, FirstWaiterBindsAPortTheKernelFrees) {
  Listener a = take_only_port();
  ASSERT_TRUE(a);
  auto& pool = one;
  std::error_code ec;
  // Closed, not given back (as another worker would): the waiter's retry finds the port.
  Listener b = acquire(pool, 5s, ec, [&] { a.fd.reset(); });
  ASSERT_TRUE(b) << ec.message();
  EXPECT_EQ(b.port, only);
}

TEST_F(PassivePortsTest, WaitEndsAfterThePatience) {
  Listener a = take_only_port();
  ASSERT_TRUE(a);
  auto& pool = one;
  std::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  Listener b = acquire(pool, 300ms, ec);
  EXPECT_FALSE(b);
  EXPECT_EQ(ec, std::errc::address_in_use);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_EQ(pool.waiting(), 0u);
}

}  // namespace
}  // namespace feitp::net
