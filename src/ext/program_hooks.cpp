#include "ext/program_hooks.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ext/spawn.hpp"
#include "feitp/auth.hpp"

namespace feitp::ext {

namespace {

using Env = std::vector<std::string>;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

void put(Env& env, std::string_view name, std::string_view value) {
  std::string e;
  e.reserve(name.size() + 1 + value.size());
  e.append(name).push_back('=');
  for (char c : value) e.push_back(c == '\0' ? '?' : c);  // an environment string ends at NUL
  env.push_back(std::move(e));
}

// The user's directory on disk joined with an FTP path (meaningful with local storage).
std::string local_path(const Connection& s, std::string_view ftp_path) {
  const User* u = s.user();
  if (u == nullptr || u->home.empty()) return {};
  std::string out = u->home;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out == "/") out.clear();
  out.append(ftp_path);
  return out;
}

// What every event carries: who, from where, in which session.
Env session_env(Connection& s, std::string_view event) {
  Env env;
  env.reserve(20);
  const char* path = std::getenv("PATH");
  put(env, "PATH", path != nullptr && *path != '\0' ? std::string_view(path) : kDefaultPath);
  put(env, "FEITP_EVENT", event);
  put(env, "FEITP_SESSION_ID", std::to_string(s.id()));
  put(env, "FEITP_PEER_ADDRESS", s.peer_address());
  put(env, "FEITP_PEER_PORT", std::to_string(s.peer_port()));
  put(env, "FEITP_LOCAL_ADDRESS", s.local_address());
  put(env, "FEITP_USER", s.user_name());
  put(env, "FEITP_TLS", s.tls() ? "1" : "0");
  put(env, "FEITP_CWD", s.cwd());
  const User* u = s.user();
  put(env, "FEITP_HOME", u != nullptr ? std::string_view(u->home) : std::string_view());
  put(env, "FEITP_ANONYMOUS", u != nullptr && u->anonymous ? "1" : "0");
  put(env, "FEITP_PID", std::to_string(::getpid()));
  return env;
}

void path_env(Env& env, Connection& s, std::string_view path) {
  put(env, "FEITP_PATH", path);
  put(env, "FEITP_LOCAL_PATH", local_path(s, path));
}

void transfer_env(Env& env, Connection& s, const TransferEvent& ev) {
  path_env(env, s, ev.path);
  put(env, "FEITP_DIRECTION", ev.upload ? "upload" : "download");
  put(env, "FEITP_BYTES", std::to_string(ev.bytes));
  put(env, "FEITP_OFFSET", std::to_string(ev.offset));
  put(env, "FEITP_SECONDS", fmt::format("{:.3f}", ev.seconds));
  put(env, "FEITP_OUTCOME", to_string(ev.outcome));
  put(env, "FEITP_ERROR", ev.error);
}

// The first line of what the program printed, cut to a reply-sized, printable text.
std::string reason_from(const ProgramRun& run) {
  std::string_view out = run.out;
  out = out.substr(0, out.find('\n'));
  std::string r;
  for (char c : out) {
    if (r.size() >= 200) break;
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) r.push_back(c);
  }
  while (!r.empty() && r.back() == ' ') r.pop_back();
  return r;
}

void log_failure(std::string_view event, const std::string& program, const ProgramRun& run) {
  std::string_view err = run.err;
  err = err.substr(0, err.find('\n'));
  spdlog::warn("hook {} ({}): {}{}{}", event, program, run.describe(), err.empty() ? "" : ": ",
               err.substr(0, 200));
}

std::optional<std::string> program_for(const config::HookPrograms& cfg, std::string_view event) {
  auto it = cfg.programs.find(std::string(event));
  if (it == cfg.programs.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::chrono::milliseconds timeout_of(const config::HookPrograms& cfg) {
  return cfg.timeout.count() > 0 ? std::chrono::milliseconds(cfg.timeout)
                                 : std::chrono::milliseconds(std::chrono::seconds(30));
}

// --- notify events: a bounded queue and one worker thread -----------------------------------

class NotifyProgramHooks final : public Hooks {
 public:
  explicit NotifyProgramHooks(const config::HookPrograms& cfg)
      : timeout_(timeout_of(cfg)), capacity_(std::max<std::uint32_t>(1, cfg.queue)) {
    for (std::size_t i = 0; i < kEvents; ++i) programs_[i] = program_for(cfg, kNames[i]);
  }

  [[nodiscard]] bool any() const {
    return std::any_of(programs_.begin(), programs_.end(), [](const auto& p) { return p.has_value(); });
  }

  ~NotifyProgramHooks() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      // What is still queued gets one timeout's worth of time to run, then it is dropped.
      drain_deadline_ = Clock::now() + timeout_;
    }
    cv_.notify_all();
    if (worker_ && owner_ == ::getpid()) worker_->join();
    if (worker_ && owner_ != ::getpid()) (void)worker_.release();  // a thread of the parent process
  }

  void on_connect(Connection& s) override {
    notify(kConnect, s, [](Env&) {});
  }
  void on_disconnect(Connection& s) override {
    notify(kDisconnect, s, [](Env&) {});
  }
  void on_login(Connection& s) override {
    notify(kLogin, s, [](Env&) {});
  }
  void on_login_failed(Connection& s, std::string_view user) override {
    notify(kLoginFailed, s, [&](Env& env) {
      // Before login the session has no user: name the one that was tried.
      std::erase_if(env, [](const std::string& e) { return e.starts_with("FEITP_USER="); });
      put(env, "FEITP_USER", user);
    });
  }
  void on_logout(Connection& s) override {
    notify(kLogout, s, [](Env&) {});
  }
  void on_file_sent(Connection& s, const TransferEvent& ev) override { transfer(kFileSent, s, ev); }
  void on_file_received(Connection& s, const TransferEvent& ev) override { transfer(kFileReceived, s, ev); }
  void on_incomplete_file_sent(Connection& s, const TransferEvent& ev) override {
    transfer(kIncompleteSent, s, ev);
  }
  void on_incomplete_file_received(Connection& s, const TransferEvent& ev) override {
    transfer(kIncompleteReceived, s, ev);
  }
  void on_mkdir(Connection& s, std::string_view path) override {
    notify(kMkdir, s, [&](Env& env) { path_env(env, s, path); });
  }
  void on_remove(Connection& s, std::string_view path) override {
    notify(kRemove, s, [&](Env& env) { path_env(env, s, path); });
  }
  void on_rename(Connection& s, std::string_view from, std::string_view to) override {
    notify(kRename, s, [&](Env& env) {
      path_env(env, s, to);
      put(env, "FEITP_FROM", from);
      put(env, "FEITP_TO", to);
      put(env, "FEITP_LOCAL_FROM", local_path(s, from));
      put(env, "FEITP_LOCAL_TO", local_path(s, to));
    });
  }

 private:
  enum Event : std::size_t {
    kConnect,
    kDisconnect,
    kLogin,
    kLoginFailed,
    kLogout,
    kFileSent,
    kFileReceived,
    kIncompleteSent,
    kIncompleteReceived,
    kMkdir,
    kRemove,
    kRename,
    kEvents
  };
  // The notifications come first in feitp::hook_event_names, in this order.
  static constexpr const auto& kNames = hook_event_names;
  static_assert(kNames[kConnect] == "on_connect" && kNames[kRename] == "on_rename");

  struct Job {
    std::size_t event;
    Env env;
  };

  void transfer(Event e, Connection& s, const TransferEvent& ev) {
    notify(e, s, [&](Env& env) { transfer_env(env, s, ev); });
  }

  template <class F>
  void notify(Event e, Connection& s, F&& extra) {
    if (!programs_[e]) return;
    // The Session is valid only during this call: everything is copied now.
    Job job{e, session_env(s, kNames[e])};
    extra(job.env);
    std::unique_lock lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= capacity_) {
      ++dropped_;
      const auto now = Clock::now();
      if (now - last_drop_log_ >= std::chrono::seconds(1)) {
        last_drop_log_ = now;
        const auto n = std::exchange(dropped_, 0);
        lock.unlock();
        spdlog::warn("hook {}: queue full ({} events waiting); dropped {} event(s)", kNames[e], capacity_, n);
      }
      return;
    }
    queue_.push_back(std::move(job));
    start_worker();
    lock.unlock();
    cv_.notify_one();
  }

  // Started on first use, in the process that uses it (after a worker fork, not before).
  void start_worker() {
    const pid_t me = ::getpid();
    if (worker_ && owner_ == me) return;
    if (worker_) (void)worker_.release();  // inherited from the parent across fork(): not ours
    owner_ = me;
    worker_ = std::make_unique<std::thread>([this] { work(); });
  }

  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      if (stopping_ && Clock::now() >= drain_deadline_) {
        spdlog::warn("hooks: stopping; {} queued event(s) not run", queue_.size());
        queue_.clear();
        return;
      }
      Job job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      const std::string& program = *programs_[job.event];
      auto run = run_program(program, job.env, timeout_);
      if (!run.succeeded()) {
        log_failure(kNames[job.event], program, run);
      } else {
        spdlog::debug("hook {} ({}): exit 0 in {} ms", kNames[job.event], program, run.elapsed.count());
      }
      lock.lock();
    }
  }

  std::array<std::optional<std::string>, kEvents> programs_;
  std::chrono::milliseconds timeout_;
  std::size_t capacity_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  Clock::time_point drain_deadline_{};
  std::uint64_t dropped_ = 0;
  Clock::time_point last_drop_log_{};
  std::unique_ptr<std::thread> worker_;
  pid_t owner_ = 0;
};

// --- decision points: run and wait, on the server's thread pool -----------------------------

class DecisionProgramHooks final : public Hooks {
 public:
  explicit DecisionProgramHooks(const config::HookPrograms& cfg)
      : timeout_(timeout_of(cfg)),
        before_command_(program_for(cfg, "before_command")),
        before_upload_(program_for(cfg, "before_upload")),
        before_download_(program_for(cfg, "before_download")),
        check_upload_(program_for(cfg, "check_upload")) {}

  [[nodiscard]] bool any() const {
    return before_command_ || before_upload_ || before_download_ || check_upload_;
  }
  [[nodiscard]] bool blocking() const override { return true; }

  Decision before_command(Connection& s, std::string_view verb, std::string_view arg) override {
    if (!before_command_) return Decision::proceed();
    Env env = session_env(s, "before_command");
    put(env, "FEITP_COMMAND", verb);
    // A password never leaves the server.
    put(env, "FEITP_ARGUMENT", verb == "PASS" ? std::string_view("****") : arg);
    return decide("before_command", *before_command_, env, "Command refused.");
  }
  Decision before_upload(Connection& s, std::string_view path) override {
    if (!before_upload_) return Decision::proceed();
    Env env = session_env(s, "before_upload");
    path_env(env, s, path);
    return decide("before_upload", *before_upload_, env, "Upload refused.");
  }
  Decision before_download(Connection& s, std::string_view path) override {
    if (!before_download_) return Decision::proceed();
    Env env = session_env(s, "before_download");
    path_env(env, s, path);
    return decide("before_download", *before_download_, env, "Download refused.");
  }
  Decision check_upload(Connection& s, const TransferEvent& ev) override {
    if (!check_upload_) return Decision::proceed();
    Env env = session_env(s, "check_upload");
    transfer_env(env, s, ev);
    return decide("check_upload", *check_upload_, env, "Upload refused.");
  }

 private:
  Decision decide(std::string_view event, const std::string& program, const Env& env,
                  std::string_view default_reason) {
    auto run = run_program(program, env, timeout_);
    if (run.succeeded()) return Decision::proceed();
    log_failure(event, program, run);
    std::string reason = reason_from(run);
    if (reason.empty()) {
      reason = run.status == ProgramRun::Status::timed_out
                   ? fmt::format("{} (check timed out)", default_reason)
                   : std::string(default_reason);
    }
    return Decision::refuse(std::move(reason));
  }

  std::chrono::milliseconds timeout_;
  std::optional<std::string> before_command_;
  std::optional<std::string> before_upload_;
  std::optional<std::string> before_download_;
  std::optional<std::string> check_upload_;
};

}  // namespace

std::vector<std::shared_ptr<Hooks>> make_program_hooks(const config::HookPrograms& programs) {
  std::vector<std::shared_ptr<Hooks>> out;
  auto notify = std::make_shared<NotifyProgramHooks>(programs);
  if (notify->any()) out.push_back(std::move(notify));
  auto decide = std::make_shared<DecisionProgramHooks>(programs);
  if (decide->any()) out.push_back(std::move(decide));
  return out;
}

}  // namespace feitp::ext
