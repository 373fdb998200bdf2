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

#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>

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

const char* outcome_name(feitp::TransferOutcome o) {
  switch (o) {
    case feitp::TransferOutcome::complete: return "complete";
    case feitp::TransferOutcome::aborted: return "aborted";
    case feitp::TransferOutcome::client_gone: return "client_gone";
    case feitp::TransferOutcome::failed: return "failed";
    case feitp::TransferOutcome::refused: return "refused";
  }
  return "unknown";
}

class UploadLog final : public feitp::Hooks {
 public:
  void on_file_received(feitp::Session& s, const feitp::TransferEvent& ev) override { print(s, ev); }
  void on_incomplete_file_received(feitp::Session& s, const feitp::TransferEvent& ev) override {
    print(s, ev);
  }

 private:
  static void print(feitp::Session& s, const feitp::TransferEvent& ev) {
    char nums[160];
    std::snprintf(nums, sizeof nums, "\"bytes\":%llu,\"seconds\":%.3f,\"offset\":%llu",
                  static_cast<unsigned long long>(ev.bytes), ev.seconds,
                  static_cast<unsigned long long>(ev.offset));
    const bool complete = ev.outcome == feitp::TransferOutcome::complete;
    std::string line = "{\"event\":\"upload\",\"user\":" + json_string(s.user_name()) +
                       ",\"path\":" + json_string(ev.path) + "," + nums +
                       ",\"complete\":" + (complete ? "true" : "false") + ",\"outcome\":\"" +
                       outcome_name(ev.outcome) + "\"}\n";
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

  // The stop signals are taken by a thread of our own (Server::stop is thread-safe, not
  // async-signal-safe); block them before the server starts any thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  feitp::Options options;
  options.listen = {listen};
  feitp::Server server(options);

  // The built-in user table: one user whose password is hashed in memory (yescrypt).
  feitp::UserEntry entry;
  entry.name = user.substr(0, colon);
  entry.password_hash = feitp::hash_password(user.substr(colon + 1));
  entry.home = root;
  entry.permissions = feitp::Permissions(feitp::Permissions::kAll);
  server.set_authenticator(feitp::make_user_table_authenticator({entry}, std::nullopt));
  server.set_storage_factory(feitp::make_local_storage_factory());
  server.add_hooks(std::make_shared<UploadLog>());

  try {
    server.bind();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "upload_log: %s\n", e.what());
    return 1;
  }
  std::printf("upload_log listening on port %u, serving %s\n", server.ports().at(0), root.c_str());
  std::fflush(stdout);

  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop(std::chrono::seconds{5});
  });
  server.run();
  // run() also returns when the server fails; wake the stopper so it can be joined.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  std::printf("upload_log stopped\n");
  return 0;
}
