// Server::run() refuses to serve what could only refuse every login.
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
