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

}  // namespace
}  // namespace feitp
