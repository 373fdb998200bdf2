// reject_executables: an FTP server on a directory that refuses any upload whose content starts
// with "MZ" (a DOS/Windows executable): the client gets 550 and the file is gone; the rest is
// accepted.
//
//   reject_executables --listen 127.0.0.1:2121 --user alice:secret --root /srv/ftp
//
// One idea: check_upload, the decision that runs after the last byte is stored and before the
// final reply. It reads the file, so it declares itself blocking(): the server then calls it on
// its thread pool and other sessions go on while it reads.
#include <feitp/feitp.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <string>

namespace {

class RejectExecutables final : public feitp::Hooks {
 public:
  [[nodiscard]] bool blocking() const override { return true; }

  feitp::Decision check_upload(feitp::Connection& s, const feitp::TransferEvent& ev) override {
    // The user's home is the directory the local storage serves as "/".
    const feitp::User* user = s.user();
    if (user == nullptr) return feitp::Decision::proceed();
    std::ifstream in(user->home + ev.path, std::ios::binary);
    char magic[2] = {};
    if (in.read(magic, 2) && magic[0] == 'M' && magic[1] == 'Z') {
      std::printf("refused %s from %s: executable\n", ev.path.c_str(), std::string(s.user_name()).c_str());
      std::fflush(stdout);
      return feitp::Decision::refuse("Executables are not accepted here.");
    }
    return feitp::Decision::proceed();
  }

  void on_file_received(feitp::Connection& s, const feitp::TransferEvent& ev) override {
    std::printf("accepted %s from %s: %llu bytes\n", ev.path.c_str(), std::string(s.user_name()).c_str(),
                static_cast<unsigned long long>(ev.bytes));
    std::fflush(stdout);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FTP server that refuses uploads of executables"};
  std::string listen = "127.0.0.1:2121";
  std::string user;
  std::string root = ".";
  app.add_option("--listen", listen, "ADDR:PORT to listen on (port 0: any free port)");
  app.add_option("--user", user, "NAME:PASSWORD of the one user")->required();
  app.add_option("--root", root, "Directory served as / (must exist)");
  CLI11_PARSE(app, argc, argv);
  const auto colon = user.find(':');
  if (colon == std::string::npos || colon == 0) {
    std::fprintf(stderr, "reject_executables: --user must be NAME:PASSWORD\n");
    return 2;
  }

  feitp::Options options;
  options.listen = {listen};
  feitp::UserEntry entry;
  entry.name = user.substr(0, colon);
  entry.password_hash = feitp::hash_password(user.substr(colon + 1));
  entry.home = root;
  entry.permissions = feitp::Permissions(feitp::Permissions::kAll);
  std::unique_ptr<feitp::Server> server;
  try {
    server = feitp::Server::Builder(options)
                 .authenticator(feitp::make_user_table_authenticator({entry}, std::nullopt))
                 .storage_factory(feitp::make_local_storage_factory())
                 .hooks(std::make_shared<RejectExecutables>())
                 .build();
    server->bind();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reject_executables: %s\n", e.what());
    return 1;
  }
  std::printf("reject_executables listening on port %u, serving %s\n", server->ports().at(0), root.c_str());
  std::fflush(stdout);

  // Serves until SIGINT or SIGTERM, then gives transfers 5 seconds to finish.
  feitp::run_until_signal(*server, std::chrono::seconds{5});
  std::printf("reject_executables stopped\n");
  return 0;
}
