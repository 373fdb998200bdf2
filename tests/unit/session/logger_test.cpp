// Options::logger / Server::Builder::logger: the server's lines go to the logger its embedder
// gives, and never to spdlog's default logger.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "feitp/auth.hpp"
#include "feitp/server.hpp"
#include "feitp/storage.hpp"

namespace feitp {
namespace {

// Sends `commands` to the server on 127.0.0.1:`port` and reads until it closes (or 5 s pass).
std::string converse(std::uint16_t port, const std::string& commands) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)::send(fd, commands.data(), commands.size(), MSG_NOSIGNAL);
    char buf[512];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring() {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  sink->set_pattern("[%l] %v");
  return sink;
}

// True when one of `lines` begins with `start`.
bool has_line(const std::vector<std::string>& lines, const std::string& start) {
  for (const auto& l : lines) {
    if (l.starts_with(start)) return true;
  }
  return false;
}

// Serves one conversation with `options` (protocol log on) and returns what the client read.
std::string serve_once(Options options, const std::shared_ptr<spdlog::logger>& given) {
  options.listen = {"127.0.0.1:0"};
  options.protocol_log = true;
  auto builder = Server::Builder(options)
                     .authenticator(make_user_table_authenticator({}, std::nullopt))
                     .storage_factory(std::make_shared<MemoryStorageFactory>());
  if (given) builder.logger(given);
  auto server = builder.build();
  server->bind();
  const std::uint16_t port = server->ports().at(0);
  std::thread loop([&] { server->run(); });
  std::string replies = converse(port, "NOOP\r\nQUIT\r\n");
  server->stop();
  loop.join();
  return replies;
}

// spdlog's default logger, replaced by a ring buffer for the test's duration.
class DefaultLoggerWatch {
 public:
  DefaultLoggerWatch() : saved_(spdlog::default_logger()), sink_(ring()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("default-watch", sink_));
  }
  ~DefaultLoggerWatch() { spdlog::set_default_logger(saved_); }
  DefaultLoggerWatch(const DefaultLoggerWatch&) = delete;
  DefaultLoggerWatch& operator=(const DefaultLoggerWatch&) = delete;
  [[nodiscard]] std::vector<std::string> lines() const { return sink_->last_formatted(); }

 private:
  std::shared_ptr<spdlog::logger> saved_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

TEST(ServerLogger, TheGivenLoggerGetsTheLibrarysLines) {
  DefaultLoggerWatch default_logger;
  auto sink = ring();
  auto logger = std::make_shared<spdlog::logger>("embedder", sink);
  logger->set_level(spdlog::level::info);

  const std::string replies = serve_once(Options{}, logger);
  ASSERT_NE(replies.find("221 "), std::string::npos) << replies;

  const auto lines = sink->last_formatted();
  EXPECT_TRUE(has_line(lines, "[info] session 1: > NOOP")) << ::testing::PrintToString(lines);
  EXPECT_TRUE(has_line(lines, "[info] session 1: < 200")) << ::testing::PrintToString(lines);
  EXPECT_TRUE(has_line(lines, "[info] session 1: > QUIT")) << ::testing::PrintToString(lines);
  EXPECT_TRUE(default_logger.lines().empty()) << ::testing::PrintToString(default_logger.lines());
}

TEST(ServerLogger, TheGivenLoggersLevelDecides) {
  auto sink = ring();
  auto logger = std::make_shared<spdlog::logger>("embedder", sink);
  logger->set_level(spdlog::level::warn);
  serve_once(Options{}, logger);
  EXPECT_TRUE(sink->last_formatted().empty()) << ::testing::PrintToString(sink->last_formatted());
}

TEST(ServerLogger, WithoutOneTheDefaultLoggerOfSpdlogIsNotUsed) {
  DefaultLoggerWatch default_logger;
  const std::string replies = serve_once(Options{}, nullptr);
  ASSERT_NE(replies.find("221 "), std::string::npos) << replies;
  // The library's own logger wrote the protocol log to stderr; spdlog's default saw nothing.
  EXPECT_TRUE(default_logger.lines().empty()) << ::testing::PrintToString(default_logger.lines());
}

TEST(ServerLogger, OptionsLoggerIsTheBuildersLogger) {
  auto sink = ring();
  Options o;
  o.logger = std::make_shared<spdlog::logger>("in-options", sink);
  serve_once(o, nullptr);
  EXPECT_TRUE(has_line(sink->last_formatted(), "[info] session 1: > NOOP"))
      << ::testing::PrintToString(sink->last_formatted());
}

}  // namespace
}  // namespace feitp
