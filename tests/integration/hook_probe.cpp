// hook_probe: an embedding program for the hook tests. It serves --root for one --user and
// records every hook call as one JSON line in --events; options make the decision points veto.
// Uses only the public API (include/feitp/), as an embedder would.
//
//   --answer VERB:CODE:TEXT   before_command answers VERB itself
//   --disconnect VERB         before_command disconnects on VERB
//   --refuse-upload S         before_upload refuses paths containing S
//   --refuse-download S       before_download refuses paths containing S
//   --refuse-check S          check_upload refuses paths containing S
//   --sleep-path S            a second, blocking Hooks sleeps 2 s in check_upload and 3 s in
//                             on_mkdir on paths with S
//   --idle-timeout N          idle timeout, seconds (default 300)
//   --blocking-storage        the local storage declares itself blocking (its calls and the
//                             commands that use it run on the thread pool)
//   --storage-threads         records the thread of the storage's mkdir, rmdir, remove,
//                             rename, open_read and open_write ("storage.<call>" events)
//   --blocking                the recorder declares itself blocking (runs on the thread pool)
//   --atomic                  atomic uploads
//   --program-hooks FILE      also the daemon's [hooks] programs and [log] xferlog from a feitpd
//                             TOML file, exactly as feitpd adds them (src/ext, src/obs)
#include <feitp/feitp.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "ext/program_hooks.hpp"
#include "obs/xferlog.hpp"

namespace {

std::string js(std::string_view s) {
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

struct Settings {
  std::string answer_verb;
  int answer_code = 0;
  std::string answer_text;
  std::string disconnect_verb;
  std::string refuse_upload;
  std::string refuse_download;
  std::string refuse_check;
  bool blocking = false;
};

std::thread::id g_loop_thread;
const auto g_start = std::chrono::steady_clock::now();

class Recorder final : public feitp::Hooks {
 public:
  Recorder(std::FILE* out, Settings s) : out_(out), s_(std::move(s)) {}
  [[nodiscard]] bool blocking() const override { return s_.blocking; }

  void on_connect(feitp::Connection& s) override { record(s, "on_connect", ""); }
  void on_disconnect(feitp::Connection& s) override { record(s, "on_disconnect", ""); }
  void on_login(feitp::Connection& s) override { record(s, "on_login", ""); }
  void on_login_failed(feitp::Connection& s, std::string_view user) override {
    record(s, "on_login_failed", ",\"tried\":" + js(user));
  }
  void on_logout(feitp::Connection& s) override { record(s, "on_logout", ""); }
  void on_file_sent(feitp::Connection& s, const feitp::TransferEvent& ev) override {
    record(s, "on_file_sent", transfer(ev));
  }
  void on_file_received(feitp::Connection& s, const feitp::TransferEvent& ev) override {
    record(s, "on_file_received", transfer(ev));
  }
  void on_incomplete_file_sent(feitp::Connection& s, const feitp::TransferEvent& ev) override {
    record(s, "on_incomplete_file_sent", transfer(ev));
  }
  void on_incomplete_file_received(feitp::Connection& s, const feitp::TransferEvent& ev) override {
    record(s, "on_incomplete_file_received", transfer(ev));
  }
  void on_mkdir(feitp::Connection& s, std::string_view path) override {
    record(s, "on_mkdir", ",\"path\":" + js(path));
  }
  void on_remove(feitp::Connection& s, std::string_view path) override {
    record(s, "on_remove", ",\"path\":" + js(path));
  }
  void on_rename(feitp::Connection& s, std::string_view from, std::string_view to) override {
    record(s, "on_rename", ",\"from\":" + js(from) + ",\"to\":" + js(to));
  }

  feitp::Decision before_command(feitp::Connection& s, std::string_view verb, std::string_view arg) override {
    record(s, "before_command", ",\"verb\":" + js(verb) + ",\"arg\":" + js(verb == "PASS" ? "****" : arg));
    if (!s_.answer_verb.empty() && verb == s_.answer_verb) {
      return feitp::Decision::reply(s_.answer_code, s_.answer_text);
    }
    if (!s_.disconnect_verb.empty() && verb == s_.disconnect_verb) {
      return feitp::Decision::disconnect("Probe says goodbye.");
    }
    return feitp::Decision::proceed();
  }
  feitp::Decision before_upload(feitp::Connection& s, std::string_view path) override {
    record(s, "before_upload", ",\"path\":" + js(path));
    if (!s_.refuse_upload.empty() && path.find(s_.refuse_upload) != std::string_view::npos) {
      return feitp::Decision::refuse("Probe refuses this upload.");
    }
    return feitp::Decision::proceed();
  }
  feitp::Decision before_download(feitp::Connection& s, std::string_view path) override {
    record(s, "before_download", ",\"path\":" + js(path));
    if (!s_.refuse_download.empty() && path.find(s_.refuse_download) != std::string_view::npos) {
      return feitp::Decision::refuse("Probe refuses this download.");
    }
    return feitp::Decision::proceed();
  }
  feitp::Decision check_upload(feitp::Connection& s, const feitp::TransferEvent& ev) override {
    record(s, "check_upload", transfer(ev));
    if (!s_.refuse_check.empty() && ev.path.find(s_.refuse_check) != std::string::npos) {
      return feitp::Decision::refuse("Probe rejects the content.");
    }
    return feitp::Decision::proceed();
  }

 private:
  static std::string transfer(const feitp::TransferEvent& ev) {
    char nums[200];
    std::snprintf(nums, sizeof nums, ",\"bytes\":%llu,\"offset\":%llu,\"seconds\":%.6f,\"upload\":%s",
                  static_cast<unsigned long long>(ev.bytes), static_cast<unsigned long long>(ev.offset),
                  ev.seconds, ev.upload ? "true" : "false");
    return ",\"path\":" + js(ev.path) + nums + ",\"outcome\":\"" + outcome_name(ev.outcome) +
           "\",\"error\":" + js(ev.error);
  }

  void record(feitp::Connection& s, const char* event, const std::string& extra) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
    char head[160];
    std::snprintf(head, sizeof head, "{\"event\":\"%s\",\"session\":%llu,\"port\":%u,\"t\":%.6f", event,
                  static_cast<unsigned long long>(s.id()), s.peer_port(), t);
    std::string line = head;
    line += ",\"user\":" + js(s.user_name()) + ",\"peer\":" + js(s.peer_address()) +
            ",\"logged_in\":" + (s.logged_in() ? "true" : "false") + ",\"cwd\":" + js(s.cwd()) +
            ",\"on_loop\":" + (std::this_thread::get_id() == g_loop_thread ? "true" : "false") + extra +
            "}\n";
    std::lock_guard lock(mu_);
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

  std::FILE* out_;
  Settings s_;
  std::mutex mu_;
};

// A blocking hook that takes 2 s over uploads to some paths, and 3 s over making such a directory.
class Sleeper final : public feitp::Hooks {
 public:
  explicit Sleeper(std::string path) : path_(std::move(path)) {}
  [[nodiscard]] bool blocking() const override { return true; }
  void on_mkdir(feitp::Connection&, std::string_view path) override {
    if (path.find(path_) != std::string::npos) std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  feitp::Decision check_upload(feitp::Connection&, const feitp::TransferEvent& ev) override {
    if (ev.path.find(path_) != std::string::npos) std::this_thread::sleep_for(std::chrono::seconds(2));
    return feitp::Decision::proceed();
  }

 private:
  std::string path_;
};

// Records which thread a storage call ran on: {"event":"storage.mkdir","on_loop":...}.
void record_storage_call(std::FILE* out, const char* call) {
  if (out == nullptr) return;
  char line[160];
  std::snprintf(line, sizeof line, "{\"event\":\"storage.%s\",\"session\":0,\"on_loop\":%s}\n", call,
                std::this_thread::get_id() == g_loop_thread ? "true" : "false");
  std::fputs(line, out);  // one locked call: lines of several threads do not mix
  std::fflush(out);
}

// The local storage, declaring itself blocking (every call then goes through the pools, as a
// network back-end's would: for the ThreadSanitizer runs, audit F20) or not; with `calls` it
// records the thread of the calls that act (record_storage_call).
class BlockingStorage final : public feitp::Storage {
 public:
  BlockingStorage(std::unique_ptr<feitp::Storage> inner, bool blocking, std::FILE* calls)
      : in_(std::move(inner)), blocking_(blocking), calls_(calls) {}
  [[nodiscard]] bool blocking() const override { return blocking_; }
  [[nodiscard]] feitp::StorageCapabilities capabilities() const override { return in_->capabilities(); }
  feitp::Result<feitp::FileInfo> stat(std::string_view p) override { return in_->stat(p); }
  feitp::Result<std::vector<feitp::FileInfo>> list(std::string_view p) override { return in_->list(p); }
  feitp::ListingVersions* listing_versions() override { return in_->listing_versions(); }
  feitp::Result<std::unique_ptr<feitp::ReadFile>> open_read(std::string_view p, std::uint64_t o) override {
    record_storage_call(calls_, "open_read");
    return in_->open_read(p, o);
  }
  feitp::Result<std::unique_ptr<feitp::WriteFile>> open_write(std::string_view p, feitp::WriteMode m,
                                                              std::uint64_t o) override {
    record_storage_call(calls_, "open_write");
    return in_->open_write(p, m, o);
  }
  feitp::Status mkdir(std::string_view p) override {
    record_storage_call(calls_, "mkdir");
    return in_->mkdir(p);
  }
  feitp::Status rmdir(std::string_view p) override {
    record_storage_call(calls_, "rmdir");
    return in_->rmdir(p);
  }
  feitp::Status remove(std::string_view p) override {
    record_storage_call(calls_, "remove");
    return in_->remove(p);
  }
  feitp::Status rename(std::string_view a, std::string_view b) override {
    record_storage_call(calls_, "rename");
    return in_->rename(a, b);
  }
  feitp::Status set_mtime(std::string_view p, std::int64_t t) override { return in_->set_mtime(p, t); }
  feitp::Status chmod(std::string_view p, std::uint32_t m) override { return in_->chmod(p, m); }
  feitp::Result<std::string> hash(std::string_view p, feitp::HashAlgo a, std::uint64_t from,
                                  std::uint64_t to) override {
    return in_->hash(p, a, from, to);
  }
  feitp::Result<std::uint64_t> free_space(std::string_view p) override { return in_->free_space(p); }

 private:
  std::unique_ptr<feitp::Storage> in_;
  bool blocking_;
  std::FILE* calls_;
};

class BlockingFactory final : public feitp::StorageFactory {
 public:
  BlockingFactory(std::shared_ptr<feitp::StorageFactory> inner, bool blocking, std::FILE* calls)
      : in_(std::move(inner)), blocking_(blocking), calls_(calls) {}
  [[nodiscard]] bool blocking() const override { return blocking_; }
  feitp::Result<std::unique_ptr<feitp::Storage>> create(const feitp::User& user) override {
    auto s = in_->create(user);
    if (!s) return s.error();
    return std::unique_ptr<feitp::Storage>(
        std::make_unique<BlockingStorage>(std::move(s.value()), blocking_, calls_));
  }

 private:
  std::shared_ptr<feitp::StorageFactory> in_;
  bool blocking_;
  std::FILE* calls_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hook_probe: records every hook call"};
  std::string listen = "127.0.0.1:0";
  std::string user;
  std::string root = ".";
  std::string events;
  std::string answer;
  std::string sleep_path;
  bool atomic = false;
  std::string program_hooks;
  int idle_timeout = 300;
  bool blocking_storage = false;
  bool storage_threads = false;
  Settings s;
  app.add_option("--listen", listen);
  app.add_option("--user", user)->required();
  app.add_option("--root", root);
  app.add_option("--events", events)->required();
  app.add_option("--answer", answer, "VERB:CODE:TEXT");
  app.add_option("--disconnect", s.disconnect_verb);
  app.add_option("--refuse-upload", s.refuse_upload);
  app.add_option("--refuse-download", s.refuse_download);
  app.add_option("--refuse-check", s.refuse_check);
  app.add_option("--sleep-path", sleep_path);
  app.add_flag("--blocking", s.blocking);
  app.add_flag("--atomic", atomic);
  app.add_option("--program-hooks", program_hooks);
  app.add_option("--idle-timeout", idle_timeout);
  app.add_flag("--blocking-storage", blocking_storage);
  app.add_flag("--storage-threads", storage_threads);
  CLI11_PARSE(app, argc, argv);
  // Make spdlog's registry here, before the server starts threads, as feitpd does through
  // runtime::setup_logging: it is a static inside the uninstrumented libspdlog, and TSan would
  // report the first log line of another thread against its construction on the hooks thread.
  spdlog::default_logger_raw();
  if (!answer.empty()) {
    const auto a = answer.find(':');
    const auto b = answer.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) {
      std::fprintf(stderr, "hook_probe: --answer VERB:CODE:TEXT\n");
      return 2;
    }
    s.answer_verb = answer.substr(0, a);
    s.answer_code = std::stoi(answer.substr(a + 1, b - a - 1));
    s.answer_text = answer.substr(b + 1);
  }
  const auto colon = user.find(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "hook_probe: --user NAME:PASSWORD\n");
    return 2;
  }
  std::FILE* out = std::fopen(events.c_str(), "a");
  if (out == nullptr) {
    std::perror(events.c_str());
    return 1;
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  feitp::Options options;
  options.listen = {listen};
  options.login_failure_delay = std::chrono::milliseconds(100);
  options.max_per_ip = 0;
  options.idle_timeout = std::chrono::seconds(idle_timeout);
  feitp::Server server(options);
  feitp::UserEntry entry;
  entry.name = user.substr(0, colon);
  entry.password_hash = feitp::hash_password(user.substr(colon + 1), "sha512");
  entry.home = root;
  entry.permissions = feitp::Permissions(feitp::Permissions::kAll);
  server.set_authenticator(feitp::make_user_table_authenticator({entry}, std::nullopt));
  auto storage = feitp::make_local_storage_factory(atomic);
  if (blocking_storage || storage_threads) {
    storage = std::make_shared<BlockingFactory>(std::move(storage), blocking_storage,
                                                storage_threads ? out : nullptr);
  }
  server.set_storage_factory(std::move(storage));
  server.add_hooks(std::make_shared<Recorder>(out, s));
  // SITE WHERE (on the loop) and SITE WHERE-POOL (declared blocking) answer where they ran.
  const auto where = [](feitp::Connection&, std::string_view) {
    return feitp::Reply{200, std::this_thread::get_id() == g_loop_thread ? "on the loop" : "on the pool"};
  };
  server.add_site_command("WHERE", "", where);
  server.add_site_command("WHERE-POOL", "", where, /*blocking=*/true);
  if (!sleep_path.empty()) server.add_hooks(std::make_shared<Sleeper>(sleep_path));
  if (!program_hooks.empty()) {
    auto loaded = feitp::config::load_config_file(program_hooks);
    if (!loaded.config) {
      std::fprintf(stderr, "hook_probe: %s\n", loaded.error.c_str());
      return 2;
    }
    for (auto& h : feitp::ext::make_program_hooks(loaded.config->hooks)) server.add_hooks(std::move(h));
    if (!loaded.config->log.xferlog.empty()) {
      server.add_hooks(feitp::obs::make_xferlog_hooks(loaded.config->log.xferlog));
    }
  }
  try {
    server.bind();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hook_probe: %s\n", e.what());
    return 1;
  }
  std::printf("hook_probe listening on port %u\n", server.ports().at(0));
  std::fflush(stdout);
  g_loop_thread = std::this_thread::get_id();
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop(std::chrono::seconds{2});
  });
  server.run();
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  std::fclose(out);
  return 0;
}
