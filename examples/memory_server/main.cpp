// memory_server: an FTP server whose files live in memory, with an authenticator of its own that
// accepts only the user given on the command line, and a custom command:
//   SITE STATS  ->  200 Files stored: N (B bytes).
//
//   memory_server --listen 127.0.0.1:2121 --user alice:secret
//
// One idea: the three seams of the library (who may log in, where files live, what commands
// exist) filled in by the application.
#include <feitp/feitp.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

namespace {

// Compares in time independent of where the strings differ.
bool same(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// One user, one password, given at start. Nothing blocks here, so it runs inline (the default).
class OneUserAuthenticator final : public feitp::Authenticator {
 public:
  OneUserAuthenticator(std::string name, std::string password)
      : name_(std::move(name)), password_(std::move(password)) {}

  feitp::AuthResult authenticate(const feitp::LoginRequest& request) override {
    if (!same(request.user, name_) || !same(request.password, password_)) {
      return feitp::AuthResult::failure("wrong user or password");
    }
    feitp::User user;
    user.name = name_;
    user.home = "/";  // the memory storage ignores it: every user sees the same tree
    user.permissions = feitp::Permissions(feitp::Permissions::kAll);
    return feitp::AuthResult::success(std::move(user));
  }

 private:
  std::string name_;
  std::string password_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FTP server with files in memory"};
  std::string listen = "127.0.0.1:2121";
  std::string user;
  app.add_option("--listen", listen, "ADDR:PORT to listen on (port 0: any free port)");
  app.add_option("--user", user, "NAME:PASSWORD of the one user")->required();
  CLI11_PARSE(app, argc, argv);
  const auto colon = user.find(':');
  if (colon == std::string::npos || colon == 0) {
    std::fprintf(stderr, "memory_server: --user must be NAME:PASSWORD\n");
    return 2;
  }

  feitp::Options options;
  options.listen = {listen};
  auto files = std::make_shared<feitp::MemoryStorageFactory>();
  std::unique_ptr<feitp::Server> server;
  try {
    server = feitp::Server::Builder(options)
                 .authenticator(
                     std::make_shared<OneUserAuthenticator>(user.substr(0, colon), user.substr(colon + 1)))
                 // The storage itself refuses what the user's permission letters do not allow.
                 .storage_factory(feitp::make_restricted_storage_factory(files))
                 .site_command("STATS", "STATS: how many files are stored",
                               [files](feitp::Connection&, std::string_view) {
                                 return feitp::Reply{
                                     200, "Files stored: " + std::to_string(files->file_count()) + " (" +
                                              std::to_string(files->total_bytes()) + " bytes)."};
                               })
                 .build();
    server->bind();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memory_server: %s\n", e.what());
    return 1;
  }
  std::printf("memory_server listening on port %u\n", server->ports().at(0));
  std::fflush(stdout);

  // Serves until SIGINT or SIGTERM, then gives transfers 5 seconds to finish.
  feitp::run_until_signal(*server, std::chrono::seconds{5});
  std::printf("memory_server stopped (%zu files in memory)\n", files->file_count());
  return 0;
}
