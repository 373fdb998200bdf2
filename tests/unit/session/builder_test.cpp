// Server::Builder and Server::run: what is missing or wrong is an error at construction (or,
// for a server made with the constructor, at run()), with a message that names it.
#include <memory>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "feitp/auth.hpp"
#include "feitp/server.hpp"
#include "feitp/storage.hpp"

namespace feitp {
namespace {

Options loopback() {
  Options o;
  o.listen = {"127.0.0.1:0"};
  return o;
}

std::string build_error(const Server::Builder& b) {
  try {
    (void)b.build();
  } catch (const std::invalid_argument& e) { return e.what(); }
  return "";
}

std::shared_ptr<Authenticator> no_users() { return make_user_table_authenticator({}, std::nullopt); }

TEST(ServerBuilder, WithoutAuthenticatorSaysSo) {
  Server::Builder b(loopback());
  b.storage_factory(std::make_shared<MemoryStorageFactory>());
  EXPECT_EQ(build_error(b), "feitp::Server: no authenticator: call Builder::authenticator() before build()");
}

TEST(ServerBuilder, WithoutStorageFactorySaysSo) {
  Server::Builder b(loopback());
  b.authenticator(no_users());
  EXPECT_EQ(build_error(b),
            "feitp::Server: no storage factory: call Builder::storage_factory() before build()");
}

TEST(ServerBuilder, NullCountsAsMissing) {
  Server::Builder b(loopback());
  b.authenticator(nullptr).storage_factory(std::make_shared<MemoryStorageFactory>());
  EXPECT_NE(build_error(b).find("no authenticator"), std::string::npos);
}

TEST(ServerBuilder, InvalidOptionsAreNamedOnOneLine) {
  Options o = loopback();
  o.listen = {"nowhere"};
  o.passive_port_min = 3000;
  o.passive_port_max = 2000;
  Server::Builder b(o);
  b.authenticator(no_users()).storage_factory(std::make_shared<MemoryStorageFactory>());
  const std::string e = build_error(b);
  EXPECT_EQ(e.rfind("feitp::Server: invalid Options: listen[0]: \"nowhere\" is not ADDR:PORT", 0), 0U) << e;
  EXPECT_NE(e.find("; passive_port_min, passive_port_max: "), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
}

TEST(ServerBuilder, MistakesInSettersThrowAtOnce) {
  Server::Builder b(loopback());
  EXPECT_THROW(b.hooks(nullptr), std::invalid_argument);
  EXPECT_THROW(b.site_command("", "help", [](Connection&, std::string_view) { return Reply{}; }),
               std::invalid_argument);
  EXPECT_THROW(b.site_command("TWO WORDS", "help", [](Connection&, std::string_view) { return Reply{}; }),
               std::invalid_argument);
  EXPECT_THROW(b.site_command("STATS", "help", SiteHandler{}), std::invalid_argument);
  EXPECT_THROW(b.virtual_host(VirtualHost{}), std::invalid_argument);
}

TEST(ServerBuilder, BuildsAServerThatBindsAndStops) {
  VirtualHost host;
  host.name = "a.example";
  auto server = Server::Builder(loopback())
                    .authenticator(no_users())
                    .storage_factory(std::make_shared<MemoryStorageFactory>())
                    .hooks(std::make_shared<Hooks>())
                    .site_command("PING", "PING: answers",
                                  [](Connection&, std::string_view) {
                                    return Reply{200, "pong"};
                                  })
                    .virtual_host(host)
                    .build();
  ASSERT_NE(server, nullptr);
  server->bind();
  ASSERT_EQ(server->ports().size(), 1U);
  EXPECT_NE(server->ports()[0], 0);
  server->stop();
  server->run();  // returns at once: stopped before it started
}

TEST(ServerBuilder, BuildsMoreThanOnce) {
  Server::Builder b(loopback());
  b.authenticator(no_users()).storage_factory(std::make_shared<MemoryStorageFactory>());
  auto one = b.build();
  auto two = b.build();
  EXPECT_NE(one, nullptr);
  EXPECT_NE(two, nullptr);
}

// --- Server::run() refuses to serve what could only refuse every login ---------------------

std::string run_error(Server& s) {
  s.stop();  // so that a run() that does not refuse returns at once instead of serving
  try {
    s.run();
  } catch (const std::invalid_argument& e) { return e.what(); }
  return "";
}

TEST(ServerRun, WithoutAuthenticatorSaysSo) {
  Server s(loopback());
  s.set_storage_factory(std::make_shared<MemoryStorageFactory>());
  EXPECT_NE(run_error(s).find("set_authenticator"), std::string::npos);
}

TEST(ServerRun, WithoutStorageSaysSo) {
  Server s(loopback());
  s.set_authenticator(make_user_table_authenticator({}, std::nullopt));
  EXPECT_NE(run_error(s).find("set_storage_factory"), std::string::npos);
}

// A server made with the constructor (as feitpd and the Python package make theirs) gets the
// builder's Options check when it starts.
TEST(ServerRun, WithInvalidOptionsNamesThem) {
  Options o = loopback();
  o.transfer_buffer = 1;
  o.default_hash = "SHA-3";
  Server s(o);
  s.set_authenticator(make_user_table_authenticator({}, std::nullopt));
  s.set_storage_factory(std::make_shared<MemoryStorageFactory>());
  const std::string e = run_error(s);
  EXPECT_EQ(e.rfind("feitp::Server::run: invalid Options: transfer_buffer: must be 4096 to 67108864 bytes; "
                    "default_hash: ",
                    0),
            0U)
      << e;
}

TEST(ServerRun, WithValidOptionsRuns) {
  Server s(loopback());
  s.set_authenticator(make_user_table_authenticator({}, std::nullopt));
  s.set_storage_factory(std::make_shared<MemoryStorageFactory>());
  EXPECT_EQ(run_error(s), "");  // stopped before it ran: returns without serving
}

}  // namespace
}  // namespace feitp
