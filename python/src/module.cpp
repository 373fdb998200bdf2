// feitp._feitp: the native half of the Python package (python/feitp/ is the other half).
//
// Where Python runs: never on the event loop. Notify events (on_login, on_file_received, ...)
// are copied and queued to a few Python threads (the "callback threads"), in order per session;
// the session never waits for them. Decisions (before_command, before_upload, before_download,
// check_upload) are queued the same way and waited for on the server's blocking pool. A Python
// authenticator, storage or SITE command is declared blocking, so the server calls it on its
// pool. Only those threads take the GIL. A Python reference dropped on a thread without the GIL
// (a storage closed on the loop) is released later by a thread that holds it.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <chrono>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "feitp/cluster.hpp"
#include "feitp/feitp.hpp"

namespace py = pybind11;

namespace {

// --- References released with the GIL ----------------------------------------------------

std::mutex g_garbage_mu;
std::vector<PyObject*> g_garbage;

// Call with the GIL held.
void collect_garbage() {
  std::vector<PyObject*> doomed;
  {
    std::lock_guard lock(g_garbage_mu);
    doomed.swap(g_garbage);
  }
  for (PyObject* o : doomed) Py_DECREF(o);
}

// A strong reference that may be dropped on any thread.
class PyRef {
 public:
  PyRef() = default;
  explicit PyRef(py::object o) : p_(o.release().ptr()) {}
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  PyRef(PyRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  PyRef& operator=(PyRef&& o) noexcept {
    if (this != &o) {
      drop();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  ~PyRef() { drop(); }
  // With the GIL held.
  [[nodiscard]] py::handle get() const { return p_; }

 private:
  void drop() {
    if (p_ == nullptr) return;
    if (PyGILState_Check() != 0) {
      Py_DECREF(p_);
    } else {
      std::lock_guard lock(g_garbage_mu);
      g_garbage.push_back(p_);
    }
    p_ = nullptr;
  }
  PyObject* p_ = nullptr;
};

// Takes the GIL on a thread the server owns (callback, pool and login threads), with one
// Python thread state per thread made on its first use and kept: pybind11's
// gil_scoped_acquire would make and free one per call on such threads, which costs more than
// the callback itself. (A pool thread's state is left behind when the thread ends.)
class Gil {
 public:
  Gil() {
    if (PyGILState_Check() != 0) return;  // this thread holds it already
    thread_local PyThreadState* state = nullptr;
    if (state == nullptr) {
      PyEval_RestoreThread(fresh_state());
      state = PyThreadState_Get();
    } else {
      PyEval_RestoreThread(state);
    }
    owned_ = true;
  }
  ~Gil() {
    if (owned_) PyEval_SaveThread();
  }
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

 private:
  static PyThreadState* fresh_state() { return PyThreadState_New(PyInterpreterState_Main()); }
  bool owned_ = false;
};

// Logs a Python exception with its traceback through feitp._support.report (the "feitp"
// logger). With the GIL held.
void report(std::string_view where, py::error_already_set& e) {
  try {
    py::module_::import("feitp._support").attr("report")(py::str(where.data(), where.size()), e.value());
  } catch (py::error_already_set& again) {
    PyErr_Clear();
    std::fprintf(stderr, "feitp: %.*s raised %s (and logging it failed)\n", static_cast<int>(where.size()),
                 where.data(), e.what());
  }
}

void report_text(const std::string& what) {
  try {
    py::module_::import("feitp._support").attr("report_text")(what);
  } catch (py::error_already_set&) {
    PyErr_Clear();
    std::fprintf(stderr, "feitp: %s\n", what.c_str());
  }
}

// --- Per-session ordered queues on a few Python threads ----------------------------------

class Dispatcher {
 public:
  using Task = std::function<void()>;  // runs with the GIL held; must not throw

  explicit Dispatcher(unsigned threads) : nthreads_(threads == 0 ? 1 : threads) {}
  ~Dispatcher() { stop(); }

  // last: no more tasks for this session after this one. lazy: nobody waits for this task (a
  // session's clean-up): unless the session's queue is running already, it is left for a
  // callback thread to pick up when it next wakes (at most kLazy later), saving a wake-up.
  void post(std::uint64_t sid, Task task, bool last, bool lazy = false) {
    std::lock_guard lock(mu_);
    if (threads_.empty()) start_locked();
    auto& q = queues_[sid];
    if (!q) q = std::make_shared<Queue>();
    q->sid = sid;
    q->tasks.push_back(std::move(task));
    if (last) q->ended = true;
    if (!q->running) {
      q->running = true;
      if (lazy) {
        lazy_.push_back(q);
        return;
      }
      ready_.push_back(q);
      cv_.notify_one();
    }
  }

  // Runs what is queued, then joins the threads. Call without the GIL.
  void stop() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) t.join();
    std::lock_guard lock(mu_);
    stopping_ = false;
  }

 private:
  struct Queue {
    std::uint64_t sid = 0;
    std::deque<Task> tasks;
    bool running = false;
    bool ended = false;
  };

  void start_locked() {
    for (unsigned i = 0; i < nthreads_; ++i) threads_.emplace_back([this] { loop(); });
  }

  void loop() {
    for (;;) {
      std::shared_ptr<Queue> q;
      {
        std::unique_lock lock(mu_);
        while (ready_.empty()) {
          if (!lazy_.empty() && (stopping_ || !cv_.wait_for(lock, kLazy, [&] { return !ready_.empty(); }))) {
            for (auto& l : lazy_) ready_.push_back(std::move(l));
            lazy_.clear();
            break;
          }
          if (stopping_ && ready_.empty() && lazy_.empty()) return;
          if (ready_.empty() && lazy_.empty())
            cv_.wait(lock, [&] { return stopping_ || !ready_.empty() || !lazy_.empty(); });
        }
        if (ready_.empty()) {
          if (stopping_) return;
          continue;  // another thread took what was lazy
        }
        q = std::move(ready_.front());
        ready_.pop_front();
      }
      // The GIL is taken once per turn of a session's queue; its tasks run back to back.
      Gil gil;
      collect_garbage();
      for (;;) {
        Task task;
        {
          std::lock_guard lock(mu_);
          if (q->tasks.empty()) {
            q->running = false;
            if (q->ended) queues_.erase(q->sid);
            break;
          }
          task = std::move(q->tasks.front());
          q->tasks.pop_front();
        }
        task();
      }
    }
  }

  unsigned nthreads_;
  std::mutex mu_;
  std::condition_variable cv_;
  static constexpr std::chrono::milliseconds kLazy{50};
  std::deque<std::shared_ptr<Queue>> ready_;
  std::vector<std::shared_ptr<Queue>> lazy_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Queue>> queues_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

// --- Events and decisions -----------------------------------------------------------------

enum Event : int {
  kConnect,
  kDisconnect,
  kLogin,
  kLoginFailed,
  kLogout,
  kFileSent,
  kFileReceived,
  kIncompleteFileSent,
  kIncompleteFileReceived,
  kMkdir,
  kRemove,
  kRename,
  kBeforeCommand,
  kBeforeUpload,
  kBeforeDownload,
  kCheckUpload,
  kEventCount
};
static_assert(kEventCount == feitp::hook_event_names.size());

constexpr const auto& kEventNames = feitp::hook_event_names;  // in the order of Event

// What a callback may know about its session, copied (the Connection& is valid only during the call).
struct Snapshot {
  std::uint64_t id = 0;
  std::string ip;
  std::uint16_t port = 0;
  std::string user;
  std::string home;
  std::string cwd;
  bool tls = false;
  bool anonymous = false;

  explicit Snapshot(feitp::Connection& s)
      : id(s.id()),
        ip(s.peer_address()),
        port(s.peer_port()),
        user(s.user_name()),
        cwd(s.cwd()),
        tls(s.tls()) {
    if (const feitp::User* u = s.user()) {
      home = u->home;
      anonymous = u->anonymous;
    }
  }
  [[nodiscard]] py::tuple to_python() const {
    return py::make_tuple(id, ip, port, user, home, cwd, tls, anonymous);
  }
};

py::object transfer_to_python(const feitp::TransferEvent& e) {
  return py::make_tuple(e.path, e.bytes, e.offset, e.seconds, std::string(feitp::to_string(e.outcome)),
                        e.upload, e.error);
}

// Argument of an event, copied.
struct Arg {
  enum Kind { none, text, pair, transfer } kind = none;
  std::string a, b;
  feitp::TransferEvent ev;
  [[nodiscard]] py::object to_python() const {
    switch (kind) {
      case none: return py::none();
      case text: return py::str(a);
      case pair: return py::make_tuple(a, b);
      case transfer: return transfer_to_python(ev);
    }
    return py::none();
  }
};

// The Python side: router.event(name, session_tuple, arg), router.end(session_id),
// router.decide(name, session_tuple, arg) -> None | (code, text, disconnect).
struct Router {
  PyRef router;
  std::array<PyRef, kEventCount> names;
  std::uint32_t events = 0;     // bit per Event to deliver
  std::uint32_t decisions = 0;  // bit per Event to ask
};

struct Posted {};  // in Connection::app_data: this session has a queue (router.end() is due)

class EventHooks final : public feitp::Hooks {
 public:
  EventHooks(std::shared_ptr<Router> r, std::shared_ptr<Dispatcher> d) : r_(std::move(r)), d_(std::move(d)) {}

  void on_connect(feitp::Connection& s) override { notify(s, kConnect, {}); }
  void on_disconnect(feitp::Connection& s) override {
    if (!s.app_data().has_value() && !wants(kDisconnect)) return;
    auto snap = std::make_shared<Snapshot>(s);
    auto r = r_;
    const bool call = wants(kDisconnect);
    d_->post(
        snap->id,
        [r, snap, call] {
          if (call) invoke(*r, kDisconnect, *snap, Arg{});
          try {
            r->router.get().attr("end")(snap->id);
          } catch (py::error_already_set& e) { report("feitp session end", e); }
        },
        true, !call);
  }
  void on_login(feitp::Connection& s) override { notify(s, kLogin, {}); }
  void on_login_failed(feitp::Connection& s, std::string_view user) override {
    Arg a;
    a.kind = Arg::text;
    a.a = user;
    notify(s, kLoginFailed, std::move(a));
  }
  void on_logout(feitp::Connection& s) override { notify(s, kLogout, {}); }
  void on_file_sent(feitp::Connection& s, const feitp::TransferEvent& e) override {
    transfer(s, kFileSent, e);
  }
  void on_file_received(feitp::Connection& s, const feitp::TransferEvent& e) override {
    transfer(s, kFileReceived, e);
  }
  void on_incomplete_file_sent(feitp::Connection& s, const feitp::TransferEvent& e) override {
    transfer(s, kIncompleteFileSent, e);
  }
  void on_incomplete_file_received(feitp::Connection& s, const feitp::TransferEvent& e) override {
    transfer(s, kIncompleteFileReceived, e);
  }
  void on_mkdir(feitp::Connection& s, std::string_view path) override { text(s, kMkdir, path); }
  void on_remove(feitp::Connection& s, std::string_view path) override { text(s, kRemove, path); }
  void on_rename(feitp::Connection& s, std::string_view from, std::string_view to) override {
    if (!wants(kRename)) return;
    Arg a;
    a.kind = Arg::pair;
    a.a = from;
    a.b = to;
    notify(s, kRename, std::move(a));
  }

  // With the GIL held.
  static void invoke(Router& r, Event ev, const Snapshot& snap, const Arg& arg) {
    try {
      r.router.get().attr("event")(r.names[ev].get(), snap.to_python(), arg.to_python());
    } catch (py::error_already_set& e) { report(kEventNames[ev], e); }
  }

 private:
  [[nodiscard]] bool wants(Event ev) const { return (r_->events & (1U << ev)) != 0; }
  void text(feitp::Connection& s, Event ev, std::string_view v) {
    if (!wants(ev)) return;
    Arg a;
    a.kind = Arg::text;
    a.a = v;
    notify(s, ev, std::move(a));
  }
  void transfer(feitp::Connection& s, Event ev, const feitp::TransferEvent& e) {
    if (!wants(ev)) return;
    Arg a;
    a.kind = Arg::transfer;
    a.ev = e;
    notify(s, ev, std::move(a));
  }
  void notify(feitp::Connection& s, Event ev, Arg arg) {
    if (!wants(ev)) return;
    if (!s.app_data().has_value()) s.app_data() = Posted{};
    auto r = r_;
    d_->post(
        s.id(), [r, ev, snap = Snapshot(s), arg = std::move(arg)] { invoke(*r, ev, snap, arg); }, false);
  }

  std::shared_ptr<Router> r_;
  std::shared_ptr<Dispatcher> d_;
};

// Decisions: queued behind the session's events, waited for on the server's pool.
class DecisionHooks final : public feitp::Hooks {
 public:
  DecisionHooks(std::shared_ptr<Router> r, std::shared_ptr<Dispatcher> d)
      : r_(std::move(r)), d_(std::move(d)) {}
  [[nodiscard]] bool blocking() const override { return true; }

  feitp::Decision before_command(feitp::Connection& s, std::string_view verb, std::string_view arg) override {
    if (!wants(kBeforeCommand)) return feitp::Decision::proceed();
    Arg a;
    a.kind = Arg::pair;
    a.a = verb;
    a.b = verb == "PASS" ? "****" : std::string(arg);
    return ask(s, kBeforeCommand, std::move(a));
  }
  feitp::Decision before_upload(feitp::Connection& s, std::string_view path) override {
    return text(s, kBeforeUpload, path);
  }
  feitp::Decision before_download(feitp::Connection& s, std::string_view path) override {
    return text(s, kBeforeDownload, path);
  }
  feitp::Decision check_upload(feitp::Connection& s, const feitp::TransferEvent& e) override {
    if (!wants(kCheckUpload)) return feitp::Decision::proceed();
    Arg a;
    a.kind = Arg::transfer;
    a.ev = e;
    return ask(s, kCheckUpload, std::move(a));
  }

 private:
  [[nodiscard]] bool wants(Event ev) const { return (r_->decisions & (1U << ev)) != 0; }
  feitp::Decision text(feitp::Connection& s, Event ev, std::string_view v) {
    if (!wants(ev)) return feitp::Decision::proceed();
    Arg a;
    a.kind = Arg::text;
    a.a = v;
    return ask(s, ev, std::move(a));
  }
  feitp::Decision ask(feitp::Connection& s, Event ev, Arg arg) {
    if (!s.app_data().has_value()) s.app_data() = Posted{};
    auto done = std::make_shared<std::promise<feitp::Decision>>();
    auto result = done->get_future();
    auto r = r_;
    d_->post(
        s.id(),
        [r, ev, done, snap = Snapshot(s), arg = std::move(arg)] {
          feitp::Decision d;
          try {
            py::object answer =
                r->router.get().attr("decide")(r->names[ev].get(), snap.to_python(), arg.to_python());
            if (!answer.is_none()) {
              auto t = answer.cast<py::tuple>();
              const int code = t[0].cast<int>();
              std::string why = t[1].cast<std::string>();
              d = t[2].cast<bool>() ? feitp::Decision::disconnect(std::move(why))
                                    : feitp::Decision::reply(code, std::move(why));
            }
          } catch (py::error_already_set& e) {
            report(kEventNames[ev], e);
            d = feitp::Decision::reply(451, "Requested action aborted: local error in processing.");
          } catch (const std::exception& e) {
            report_text(std::string(kEventNames[ev]) + ": bad answer: " + e.what());
            d = feitp::Decision::reply(451, "Requested action aborted: local error in processing.");
          }
          done->set_value(std::move(d));
        },
        false);
    return result.get();
  }

  std::shared_ptr<Router> r_;
  std::shared_ptr<Dispatcher> d_;
};

// --- Users, authenticator -----------------------------------------------------------------

template <class T>
T attr_or(py::handle o, const char* name, T fallback) {
  if (!py::hasattr(o, name)) return fallback;
  py::object v = o.attr(name);
  if (v.is_none()) return fallback;
  return v.cast<T>();
}

// A feitp.User (or any object with its attributes) to feitp::User. With the GIL held; throws
// std::runtime_error naming what is wrong.
feitp::User user_from_python(py::handle o) {
  if (!py::hasattr(o, "name") || !py::hasattr(o, "home")) {
    throw std::runtime_error("expected a feitp.User (with name, home and perm), got " +
                             std::string(py::str(py::type::of(o).attr("__name__"))));
  }
  feitp::User u;
  try {
    u.name = o.attr("name").cast<std::string>();
    u.home = o.attr("home").cast<std::string>();
    const std::string perm = attr_or<std::string>(o, "perm", std::string(feitp::Permissions::kReadOnly));
    if (auto bad = feitp::Permissions::validate(perm); !bad.empty()) throw std::runtime_error(bad);
    u.permissions = feitp::Permissions(perm);
    if (py::hasattr(o, "overrides") && !o.attr("overrides").is_none()) {
      for (auto item : o.attr("overrides")) {
        auto t = item.cast<py::tuple>();
        u.permissions.set_override(t[0].cast<std::string>(), t[1].cast<std::string>());
      }
    }
    u.anonymous = attr_or<bool>(o, "anonymous", false);
    u.max_sessions = attr_or<std::uint32_t>(o, "max_sessions", 0);
  } catch (const py::cast_error& e) {
    throw std::runtime_error(std::string("a feitp.User field has the wrong type: ") + e.what());
  }
  return u;
}

class PyAuthenticator final : public feitp::Authenticator {
 public:
  explicit PyAuthenticator(py::object fn) : fn_(std::move(fn)) {}
  [[nodiscard]] bool blocking() const override { return true; }
  feitp::AuthResult authenticate(const feitp::LoginRequest& rq) override {
    Gil gil;
    collect_garbage();
    try {
      py::object r = fn_.get()(std::string(rq.user), std::string(rq.password), std::string(rq.peer_address),
                               rq.peer_port, rq.tls);
      if (r.is_none() || (py::isinstance<py::bool_>(r) && !r.cast<bool>())) {
        return feitp::AuthResult::failure("refused by the Python authenticator");
      }
      return feitp::AuthResult::success(user_from_python(r));
    } catch (py::error_already_set& e) {
      // AuthenticationFailed (pyftpdlib) and feitp.LoginFailed are ordinary refusals;
      // LoginUnavailable is a store that could not answer (421, not a failed login).
      py::module_ support = py::module_::import("feitp._support");
      if (e.matches(support.attr("LoginUnavailable"))) {
        return feitp::AuthResult::store_unavailable(py::str(e.value()).cast<std::string>());
      }
      if (!e.matches(support.attr("LoginRefused"))) {
        report("authenticate", e);
        return feitp::AuthResult::failure("refused by the Python authenticator");
      }
      // The refusal's text (e.g. "User x doesn't have a valid shell.") goes to the log only.
      const std::string why = py::str(e.value()).cast<std::string>();
      return feitp::AuthResult::failure("refused by the Python authenticator" +
                                        (why.empty() ? "" : ": " + why));
    } catch (const std::exception& e) {
      report_text(std::string("authenticate: ") + e.what());
      return feitp::AuthResult::failure(e.what());
    }
  }

 private:
  PyRef fn_;
};

// --- Storage written in Python ------------------------------------------------------------

std::error_code storage_error(const char* op, std::string_view path, py::error_already_set& e) {
  if (e.matches(PyExc_OSError)) {
    py::object err = e.value().attr("errno");
    if (!err.is_none()) {
      const int n = err.cast<int>();
      if (n > 0) return {n, std::generic_category()};
    }
  }
  report((std::string("Storage.") + op + "('" + std::string(path) + "')").c_str(), e);
  return std::make_error_code(std::errc::io_error);
}

std::error_code type_error(const std::string& what) {
  report_text(what);
  return std::make_error_code(std::errc::io_error);
}

std::string type_name(py::handle o) { return py::str(py::type::of(o).attr("__name__")); }

feitp::FileType file_type(const std::string& t) {
  if (t == "dir" || t == "directory") return feitp::FileType::directory;
  if (t == "link" || t == "symlink") return feitp::FileType::symlink;
  if (t == "file") return feitp::FileType::file;
  return feitp::FileType::other;
}

// A feitp.FileInfo to feitp::FileInfo; throws std::runtime_error.
feitp::FileInfo info_from_python(py::handle o) {
  if (!py::hasattr(o, "name") || !py::hasattr(o, "size") || !py::hasattr(o, "type")) {
    throw std::runtime_error("expected a feitp.FileInfo, got " + type_name(o));
  }
  feitp::FileInfo fi;
  try {
    fi.name = o.attr("name").cast<std::string>();
    fi.type = file_type(o.attr("type").cast<std::string>());
    fi.size = o.attr("size").cast<std::uint64_t>();
    fi.mtime = attr_or<std::int64_t>(o, "mtime", 0);
    fi.mode = attr_or<std::uint32_t>(o, "mode", fi.type == feitp::FileType::directory ? 0755 : 0644);
  } catch (const py::cast_error&) {
    throw std::runtime_error(
        "a feitp.FileInfo field has the wrong type (name: str, type: str, size: int, "
        "mtime: int)");
  }
  return fi;
}

class PyReadFile final : public feitp::ReadFile {
 public:
  PyReadFile(py::object f, std::string path) : f_(std::move(f)), path_(std::move(path)) {}
  feitp::Result<std::size_t> read(std::span<std::byte> buf) override {
    Gil gil;
    try {
      py::object r = f_.get().attr("read")(buf.size());
      if (!py::isinstance<py::bytes>(r) && !py::isinstance<py::bytearray>(r)) {
        return type_error("Storage.open_read('" + path_ + "'): read() must return bytes, got " +
                          type_name(r));
      }
      std::string_view data;
      if (py::isinstance<py::bytes>(r)) {
        char* p = nullptr;
        Py_ssize_t n = 0;
        PyBytes_AsStringAndSize(r.ptr(), &p, &n);
        data = {p, static_cast<std::size_t>(n)};
      } else {
        data = {PyByteArray_AsString(r.ptr()), static_cast<std::size_t>(PyByteArray_Size(r.ptr()))};
      }
      const std::size_t n = std::min(data.size(), buf.size());
      std::memcpy(buf.data(), data.data(), n);
      return n;
    } catch (py::error_already_set& e) { return storage_error("read", path_, e); }
  }

 private:
  PyRef f_;
  std::string path_;
};

class PyWriteFile final : public feitp::WriteFile {
 public:
  PyWriteFile(py::object f, std::string path) : f_(std::move(f)), path_(std::move(path)) {}
  // Never ended (WriteFile's contract): the object's abort(False). Not at interpreter exit.
  ~PyWriteFile() override {
    if (!done_ && Py_IsInitialized() != 0) abort(false);
  }
  PyWriteFile(const PyWriteFile&) = delete;
  PyWriteFile& operator=(const PyWriteFile&) = delete;
  feitp::Result<std::size_t> write(std::span<const std::byte> data) override {
    if (done_) return feitp::errno_code(EBADF);
    Gil gil;
    try {
      py::object r =
          f_.get().attr("write")(py::bytes(reinterpret_cast<const char*>(data.data()), data.size()));
      if (!r.is_none() && !py::isinstance<py::int_>(r)) {
        return type_error("Storage.open_write('" + path_ + "'): write() must return None or an int, got " +
                          type_name(r));
      }
      return data.size();
    } catch (py::error_already_set& e) { return storage_error("write", path_, e); }
  }
  feitp::Status commit(feitp::Commit /*how*/) override {
    if (done_) return feitp::errno_code(EBADF);
    done_ = true;
    Gil gil;
    try {
      f_.get().attr(py::hasattr(f_.get(), "commit") ? "commit" : "close")();
      return {};
    } catch (py::error_already_set& e) { return storage_error("commit", path_, e); }
  }
  void abort(bool keep_partial) override {
    if (done_) return;
    done_ = true;
    Gil gil;
    try {
      if (py::hasattr(f_.get(), "abort")) {
        f_.get().attr("abort")(keep_partial);
      } else if (py::hasattr(f_.get(), "close")) {
        f_.get().attr("close")();
      }
    } catch (py::error_already_set& e) { (void)storage_error("abort", path_, e); }
  }

 private:
  PyRef f_;
  std::string path_;
  bool done_ = false;
};

const char* mode_name(feitp::WriteMode m) {
  switch (m) {
    case feitp::WriteMode::truncate: return "truncate";
    case feitp::WriteMode::append: return "append";
    case feitp::WriteMode::exclusive: return "exclusive";
    case feitp::WriteMode::at_offset: return "at_offset";
  }
  return "truncate";
}

class PyStorage final : public feitp::Storage {
 public:
  explicit PyStorage(py::object s) : s_(std::move(s)) {}
  [[nodiscard]] bool blocking() const override { return true; }

  feitp::Result<feitp::FileInfo> stat(std::string_view path) override {
    Gil gil;
    collect_garbage();
    try {
      py::object r = s_.get().attr("stat")(std::string(path));
      try {
        return info_from_python(r);
      } catch (const std::exception& e) {
        return type_error("Storage.stat('" + std::string(path) + "'): " + e.what());
      }
    } catch (py::error_already_set& e) { return storage_error("stat", path, e); }
  }
  feitp::Result<std::vector<feitp::FileInfo>> list(std::string_view path) override {
    Gil gil;
    try {
      py::object r = s_.get().attr("list")(std::string(path));
      std::vector<feitp::FileInfo> out;
      try {
        if (!py::isinstance<py::iterable>(r) || py::isinstance<py::str>(r)) {
          throw std::runtime_error("expected a list of feitp.FileInfo, got " + type_name(r));
        }
        for (auto item : r) out.push_back(info_from_python(item));
      } catch (const std::exception& e) {
        return type_error("Storage.list('" + std::string(path) + "'): " + e.what());
      }
      return out;
    } catch (py::error_already_set& e) { return storage_error("list", path, e); }
  }
  feitp::Result<std::unique_ptr<feitp::ReadFile>> open_read(std::string_view path,
                                                            std::uint64_t offset) override {
    Gil gil;
    try {
      py::object f = s_.get().attr("open_read")(std::string(path), offset);
      if (!py::hasattr(f, "read")) {
        return type_error("Storage.open_read('" + std::string(path) +
                          "'): expected a binary file object with read(n), got " + type_name(f));
      }
      return std::unique_ptr<feitp::ReadFile>(std::make_unique<PyReadFile>(std::move(f), std::string(path)));
    } catch (py::error_already_set& e) { return storage_error("open_read", path, e); }
  }
  feitp::Result<std::unique_ptr<feitp::WriteFile>> open_write(std::string_view path, feitp::WriteMode mode,
                                                              std::uint64_t offset) override {
    Gil gil;
    try {
      py::object f = s_.get().attr("open_write")(std::string(path), mode_name(mode), offset);
      if (!py::hasattr(f, "write")) {
        return type_error("Storage.open_write('" + std::string(path) +
                          "'): expected an object with write(data), got " + type_name(f));
      }
      return std::unique_ptr<feitp::WriteFile>(
          std::make_unique<PyWriteFile>(std::move(f), std::string(path)));
    } catch (py::error_already_set& e) { return storage_error("open_write", path, e); }
  }
  feitp::Status mkdir(std::string_view path) override { return call("mkdir", path); }
  feitp::Status rmdir(std::string_view path) override { return call("rmdir", path); }
  feitp::Status remove(std::string_view path) override { return call("remove", path); }
  feitp::Status rename(std::string_view from, std::string_view to) override {
    Gil gil;
    try {
      s_.get().attr("rename")(std::string(from), std::string(to));
      return {};
    } catch (py::error_already_set& e) { return storage_error("rename", from, e); }
  }

 private:
  feitp::Status call(const char* op, std::string_view path) {
    Gil gil;
    try {
      s_.get().attr(op)(std::string(path));
      return {};
    } catch (py::error_already_set& e) { return storage_error(op, path, e); }
  }
  PyRef s_;
};

// factory(user) -> Storage, called on the login pool.
class PyStorageFactory final : public feitp::StorageFactory {
 public:
  explicit PyStorageFactory(py::object f) : f_(std::move(f)) {}
  [[nodiscard]] bool blocking() const override { return true; }
  feitp::Result<std::unique_ptr<feitp::Storage>> create(const feitp::User& user) override {
    Gil gil;
    collect_garbage();
    try {
      py::object s = f_.get()(user.name, user.home);
      for (const char* m : {"stat", "list", "open_read", "open_write"}) {
        if (!py::hasattr(s, m)) {
          return type_error("the storage factory returned a " + type_name(s) + ", which has no " + m +
                            "(): expected a feitp.Storage");
        }
      }
      return std::unique_ptr<feitp::Storage>(std::make_unique<PyStorage>(std::move(s)));
    } catch (py::error_already_set& e) { return storage_error("create", user.name, e); }
  }

 private:
  PyRef f_;
};

// --- The server object Python holds -------------------------------------------------------

std::chrono::seconds secs(py::handle v) { return std::chrono::seconds{v.cast<std::int64_t>()}; }

feitp::TlsRequired tls_required(const std::string& v) {
  if (v == "off") return feitp::TlsRequired::off;
  if (v == "login") return feitp::TlsRequired::login;
  if (v == "all") return feitp::TlsRequired::all;
  throw py::value_error("tls_required must be \"off\", \"login\" or \"all\", not '" + v + "'");
}

feitp::Options options_from_dict(const py::dict& d) {
  feitp::Options o;
  for (auto [k, v] : d) {
    const std::string key = k.cast<std::string>();
    if (v.is_none()) continue;
    if (key == "listen")
      o.listen = v.cast<std::vector<std::string>>();
    else if (key == "banner")
      o.banner = v.cast<std::string>();
    else if (key == "passive_port_min")
      o.passive_port_min = v.cast<std::uint16_t>();
    else if (key == "passive_port_max")
      o.passive_port_max = v.cast<std::uint16_t>();
    else if (key == "masquerade_address")
      o.masquerade = {{"", v.cast<std::string>()}};
    else if (key == "allow_foreign_addresses")
      o.allow_foreign_active = o.allow_foreign_passive = v.cast<bool>();
    else if (key == "max_connections")
      o.max_connections = v.cast<std::uint32_t>();
    else if (key == "max_per_ip")
      o.max_per_ip = v.cast<std::uint32_t>();
    else if (key == "max_login_attempts")
      o.max_login_attempts = v.cast<std::uint32_t>();
    else if (key == "login_failure_delay")
      o.login_failure_delay = std::chrono::milliseconds{static_cast<std::int64_t>(v.cast<double>() * 1000)};
    else if (key == "idle_timeout")
      o.idle_timeout = secs(v);
    else if (key == "login_timeout")
      o.login_timeout = secs(v);
    else if (key == "data_timeout")
      o.data_stall_timeout = o.data_accept_timeout = secs(v);
    else if (key == "blocking_threads")
      o.blocking_threads = v.cast<std::uint32_t>();
    else if (key == "ban_after_failures")
      o.ban_after_failures = v.cast<std::uint32_t>();
    else if (key == "upload_rate")
      o.upload_rate = v.cast<std::uint64_t>();
    else if (key == "download_rate")
      o.download_rate = v.cast<std::uint64_t>();
    else if (key == "session_upload_rate")
      o.session_upload_rate = v.cast<std::uint64_t>();
    else if (key == "session_download_rate")
      o.session_download_rate = v.cast<std::uint64_t>();
    else if (key == "tls_cert")
      o.tls.cert_file = v.cast<std::string>();
    else if (key == "tls_key")
      o.tls.key_file = v.cast<std::string>();
    else if (key == "tls_chain")
      o.tls.chain_file = v.cast<std::string>();
    else if (key == "tls_required")
      o.tls.required = tls_required(v.cast<std::string>());
    else if (key == "tls_min_version")
      o.tls.min_version = v.cast<std::string>();
    else
      throw py::value_error("unknown server option '" + key + "'");
  }
  // One PEM file holding both the certificate and its key, as pyftpdlib's certfile does.
  if (o.tls.enabled() && o.tls.key_file.empty()) o.tls.key_file = o.tls.cert_file;
  if (!o.tls.enabled() && o.tls.required != feitp::TlsRequired::off) {
    throw py::value_error("tls_required needs a certificate (tls_cert)");
  }
  if (!o.tls.enabled() && !o.tls.key_file.empty())
    throw py::value_error("tls_key is set but tls_cert is not");
  return o;
}

// Reads what a server would read at start (certificates) and throws what it would throw, so a
// parent can check before it forks workers.
void check_options(const py::dict& d) {
  feitp::Options o = options_from_dict(d);
  if (!o.tls.enabled()) return;
  py::gil_scoped_release nogil;
  feitp::Server probe(o);
}

// System accounts through PAM (feitp.pyftpdlib's UnixAuthorizer): the library's PAM
// authenticator, with its privileged helper forked when this is made (in each worker process,
// as root), asked one login at a time.
class PamChecker {
 public:
  explicit PamChecker(const std::string& service)
      : auth_(feitp::make_pam_authenticator(service, feitp::Permissions(feitp::Permissions::kReadOnly),
                                            std::nullopt, 0)) {}
  // (status, detail): ("ok", home), ("refused", reason) or ("unavailable", reason).
  std::pair<std::string, std::string> check(const std::string& user, const std::string& password,
                                            const std::string& remote_ip) {
    feitp::AuthResult r;
    {
      py::gil_scoped_release nogil;
      feitp::LoginRequest rq;
      rq.user = user;
      rq.password = password;
      rq.peer_address = remote_ip;
      r = auth_->authenticate(rq);
    }
    if (r.user) return {"ok", r.user->home};
    return {r.unavailable ? "unavailable" : "refused", r.reason};
  }

 private:
  std::shared_ptr<feitp::Authenticator> auth_;
};

class CoreCluster {
 public:
  CoreCluster(const py::dict& options, unsigned workers, const std::vector<int>& first_set)
      : c_(options_from_dict(options), workers, first_set) {}
  feitp::Cluster& get() { return c_; }
  std::vector<std::uint16_t> ports() const { return c_.ports(); }
  bool release_worker(unsigned i) { return c_.release_worker(i); }

 private:
  feitp::Cluster c_;
};

class CoreServer {
 public:
  // cluster/worker: serve on that worker's sockets with the cluster's shared limits.
  CoreServer(const py::dict& options, CoreCluster* cluster, int worker, unsigned callback_threads)
      : dispatcher_(std::make_shared<Dispatcher>(callback_threads)) {
    feitp::Options o = cluster != nullptr ? cluster->get().worker_options(static_cast<unsigned>(worker))
                                          : options_from_dict(options);
    server_ = std::make_unique<feitp::Server>(o);
    if (cluster != nullptr) server_->set_admission(cluster->get().admission(static_cast<unsigned>(worker)));
  }
  ~CoreServer() {
    py::gil_scoped_release nogil;
    server_.reset();
    dispatcher_->stop();
  }

  // users: [(name, password_or_hash, home, perm, overrides, max_sessions)]; anonymous: (home, perm) or None
  void set_users(const py::list& users, const py::object& anonymous) {
    std::vector<feitp::UserEntry> entries;
    for (auto item : users) {
      auto t = item.cast<py::tuple>();
      feitp::UserEntry e;
      e.name = t[0].cast<std::string>();
      const std::string pw = t[1].cast<std::string>();
      e.password_hash = feitp::is_crypt_hash(pw) ? pw : feitp::hash_password(pw, "sha512");
      e.home = t[2].cast<std::string>();
      e.permissions = feitp::Permissions(t[3].cast<std::string>());
      for (auto o : t[4]) {
        auto ov = o.cast<py::tuple>();
        e.permissions.set_override(ov[0].cast<std::string>(), ov[1].cast<std::string>());
      }
      e.max_sessions = t[5].cast<std::uint32_t>();
      entries.push_back(std::move(e));
    }
    std::optional<feitp::AnonymousEntry> anon;
    if (!anonymous.is_none()) {
      auto t = anonymous.cast<py::tuple>();
      anon = feitp::AnonymousEntry{t[0].cast<std::string>(), feitp::Permissions(t[1].cast<std::string>())};
    }
    server_->set_authenticator(feitp::make_user_table_authenticator(std::move(entries), std::move(anon)));
  }
  void set_authenticator(py::object fn) {
    server_->set_authenticator(std::make_shared<PyAuthenticator>(std::move(fn)));
  }
  void set_local_storage(bool atomic_uploads, bool create_root) {
    server_->set_storage_factory(feitp::make_local_storage_factory(atomic_uploads, create_root));
  }
  void set_memory_storage() { server_->set_storage_factory(std::make_shared<feitp::MemoryStorageFactory>()); }
  void set_storage_factory(py::object fn) {
    server_->set_storage_factory(std::make_shared<PyStorageFactory>(std::move(fn)));
  }
  // router: object with event/end/decide; events/decisions: names to deliver.
  void set_router(py::object router, const std::vector<std::string>& events,
                  const std::vector<std::string>& decisions) {
    auto r = std::make_shared<Router>();
    for (int i = 0; i < kEventCount; ++i)
      r->names[i] = PyRef(py::str(kEventNames[i].data(), kEventNames[i].size()));
    auto bit = [](const std::string& name) -> std::uint32_t {
      for (int i = 0; i < kEventCount; ++i) {
        if (name == kEventNames[i]) return 1U << i;
      }
      throw py::value_error("unknown hook '" + name + "'");
    };
    for (const auto& n : events) r->events |= bit(n);
    for (const auto& n : decisions) r->decisions |= bit(n);
    r->router = PyRef(std::move(router));
    if (r->events != 0) server_->add_hooks(std::make_shared<EventHooks>(r, dispatcher_));
    if (r->decisions != 0) server_->add_hooks(std::make_shared<DecisionHooks>(r, dispatcher_));
  }
  void add_site_command(const std::string& name, const std::string& help, py::object fn) {
    auto ref = std::make_shared<PyRef>(std::move(fn));
    server_->add_site_command(
        name, help,
        [ref, name](feitp::Connection& s, std::string_view args) {
          Snapshot snap(s);
          Gil gil;
          collect_garbage();
          try {
            py::object r = ref->get()(snap.to_python(), std::string(args));
            if (py::isinstance<py::str>(r)) return feitp::Reply{200, r.cast<std::string>()};
            if (py::isinstance<py::tuple>(r)) {
              auto t = r.cast<py::tuple>();
              return feitp::Reply{t[0].cast<int>(), t[1].cast<std::string>()};
            }
            if (r.is_none()) return feitp::Reply{200, "OK."};
            report_text("SITE " + name + ": expected str, (code, text) or None, got " + type_name(r));
          } catch (py::error_already_set& e) { report("SITE " + name, e); } catch (const std::exception& e) {
            report_text("SITE " + name + ": " + e.what());
          }
          return feitp::Reply{451, "Requested action aborted: local error in processing."};
        },
        /*blocking=*/true);  // the GIL: on the pool, never on the loop
  }
  void bind() { server_->bind(); }
  std::vector<std::uint16_t> ports() const { return server_->ports(); }
  void run() {
    server_->run();
    dispatcher_->stop();  // what the last sessions queued runs before run() returns
  }
  void stop(int grace) { server_->stop(std::chrono::seconds{grace}); }
  py::dict stats() const {
    const auto s = server_->stats();
    py::dict d;
    d["sessions_active"] = s.sessions_active;
    d["sessions_total"] = s.sessions_total;
    d["logins"] = s.logins;
    d["login_failures"] = s.login_failures;
    d["uploads"] = s.uploads;
    d["downloads"] = s.downloads;
    d["bytes_in"] = s.bytes_in;
    d["bytes_out"] = s.bytes_out;
    return d;
  }

 private:
  std::shared_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<feitp::Server> server_;
};

}  // namespace

PYBIND11_MODULE(_feitp, m) {
  m.doc() = "feitp's native core (use the feitp package, not this module directly).";
  py::class_<CoreCluster>(m, "Cluster")
      .def(py::init<const py::dict&, unsigned, const std::vector<int>&>(), py::arg("options"),
           py::arg("workers"), py::arg("first_set") = std::vector<int>{})
      .def("ports", &CoreCluster::ports)
      .def("release_worker", &CoreCluster::release_worker, py::arg("index"));
  py::class_<CoreServer>(m, "Server")
      .def(py::init<const py::dict&, CoreCluster*, int, unsigned>(), py::arg("options"),
           py::arg("cluster") = nullptr, py::arg("worker") = 0, py::arg("callback_threads") = 8)
      .def("set_users", &CoreServer::set_users)
      .def("set_authenticator", &CoreServer::set_authenticator)
      .def("set_local_storage", &CoreServer::set_local_storage)
      .def("set_memory_storage", &CoreServer::set_memory_storage)
      .def("set_storage_factory", &CoreServer::set_storage_factory)
      .def("set_router", &CoreServer::set_router)
      .def("add_site_command", &CoreServer::add_site_command)
      .def("bind", &CoreServer::bind, py::call_guard<py::gil_scoped_release>())
      .def("ports", &CoreServer::ports)
      .def("run", &CoreServer::run, py::call_guard<py::gil_scoped_release>())
      .def("stop", &CoreServer::stop, py::arg("grace") = 0, py::call_guard<py::gil_scoped_release>())
      .def("stats", &CoreServer::stats);
  py::class_<PamChecker>(m, "PamChecker")
      .def(py::init<const std::string&>(), py::arg("service"))
      .def("check", &PamChecker::check, py::arg("user"), py::arg("password"), py::arg("remote_ip"));
  m.def("check_options", &check_options, py::arg("options"));
  m.def(
      "hash_password",
      [](const std::string& pw, const std::string& method) { return feitp::hash_password(pw, method); },
      py::arg("password"), py::arg("method") = "yescrypt");
  m.def("validate_perm", [](const std::string& perm) { return feitp::Permissions::validate(perm); });
}
