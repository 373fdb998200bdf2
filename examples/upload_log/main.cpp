// upload_log: an FTP server on a directory that prints one JSON line per finished upload,
// complete or not, to standard output:
//   {"event":"upload","user":"alice","path":"/a.txt","bytes":12,"seconds":0.004,"offset":0,
//    "complete":true,"outcome":"complete"}
//
//   upload_log --listen 127.0.0.1:2121 --user alice:secret --root /srv/ftp
//
// One idea: a Hooks subclass that overrides two events. Nothing here blocks (a line to stdout),
// so the hooks run on the server's event loop.
#include <feitp/feitp.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

namespace {

// JSON string escaping (quotes, backslash, control characters).
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + '"';
}

class UploadLog final : public feitp::Hooks {
 public:
  void on_file_received(feitp::Connection& s, const feitp::TransferEvent& ev) override { print(s, ev); }
  void on_incomplete_file_received(feitp::Connection& s, const feitp::TransferEvent& ev) override {
    print(s, ev);
  }

 private:
  static void print(feitp::Connection& s, const feitp::TransferEvent& ev) {
    char nums[160];
    std::snprintf(nums, sizeof nums, "\"bytes\":%llu,\"seconds\":%.3f,\"offset\":%llu",
                  static_cast<unsigned long long>(ev.bytes), ev.seconds,
                  static_cast<unsigned long long>(ev.offset));
    const bool complete = ev.outcome == feitp::TransferOutcome::complete;
    std::string line = "{\"event\":\"upload\",\"user\":" + json_string(s.user_name()) +
                       ",\"path\":" + json_string(ev.path) + "," + nums +
                       ",\"complete\":" + (complete ? "true" : "false") + ",\"outcome\":\"" +
                       std::string(feitp::to_string(ev.outcome)) + "\"}\n";
    // One fwrite per line: lines from several sessions never interleave.
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FTP server that prints a JSON line per finished upload"};
  std::string listen = "127.0.0.1:2121";
  std::string user;
  std::string root = ".";
  app.add_option("--listen", listen, "ADDR:PORT to listen on (port 0: any free port)");
  app.add_option("--user", user, "NAME:PASSWORD of the one user")->required();
  app.add_option("--root", root, "Directory served as / (must exist)");
  CLI11_PARSE(app, argc, argv);
  const auto colon = user.find(':');
  if (colon == std::string::npos || colon == 0) {
    std::fprintf(stderr, "upload_log: --user must be NAME:PASSWORD\n");
    return 2;
  }

  feitp::Options options;
  options.listen = {listen};
  // The built-in user table: one user whose password is hashed in memory (yescrypt).
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
                 .hooks(std::make_shared<UploadLog>())
                 .build();
    server->bind();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "upload_log: %s\n", e.what());
    return 1;
  }
  std::printf("upload_log listening on port %u, serving %s\n", server->ports().at(0), root.c_str());
  std::fflush(stdout);

  // Serves until SIGINT or SIGTERM, then gives transfers 5 seconds to finish.
  feitp::run_until_signal(*server, std::chrono::seconds{5});
  std::printf("upload_log stopped\n");
  return 0;
}
