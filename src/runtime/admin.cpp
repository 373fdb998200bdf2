// /metrics and the admin API over cpp-httplib (Debian's libcpp-httplib), JSON by nlohmann-json.
// Bounded everywhere: a fixed pool of threads with a bounded queue (the accept thread waits when
// it is full, so excess connections wait in the kernel's backlog), request line and headers
// bounded by the library (8 KiB), bodies by set_payload_max_length, every read and write by a
// timeout, keep-alive by a count and an idle timeout.
#include "runtime/admin.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "runtime/admin_assets.hpp"
#include "runtime/sandbox.hpp"
#include "runtime/signals.hpp"
#include "runtime/worker.hpp"

namespace feitp::runtime {

namespace {

using json = nlohmann::json;

constexpr std::size_t kThreads = 2;     // per listener
constexpr std::size_t kQueue = 64;      // connections waiting for a thread
constexpr std::size_t kMaxBody = 4096;  // the API's bodies are a few dozen bytes
constexpr std::int64_t kMaxBanSeconds = 30LL * 24 * 3600;
constexpr std::int64_t kDefaultBanSeconds = 3600;

// httplib's ThreadPool queues without bound; this one makes the accept thread wait instead.
class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool(std::size_t threads, std::size_t queue) : max_(queue) {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return jobs_.size() < max_ || done_; });
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [&] { return !jobs_.empty() || done_; });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      fn();
    }
  }
  std::size_t max_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool done_ = false;
};

struct HostPort {
  std::string host;
  int port = 0;
};

// "127.0.0.1:9100" or "[::1]:9100" (already validated by config::check_monitor).
HostPort split_listen(const std::string& text) {
  HostPort hp;
  const auto colon = text.rfind(':');
  hp.host = text.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[') hp.host = hp.host.substr(1, hp.host.size() - 2);
  std::from_chars(text.data() + colon + 1, text.data() + text.size(), hp.port);
  return hp;
}

void configure(httplib::Server& s) {
  s.new_task_queue = [] { return new BoundedPool(kThreads, kQueue); };
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_keep_alive_max_count(100);
  s.set_keep_alive_timeout(5);
  s.set_payload_max_length(kMaxBody);
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) { res.set_content(std::to_string(res.status) + "\n", "text/plain; charset=utf-8"); }
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content("500 Internal Server Error\n", "text/plain; charset=utf-8");
  });
}

std::string sha256(std::string_view s) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  ::SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Strings from the workers (user names, paths) may be any bytes: invalid UTF-8 is replaced.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
  res.set_header("Cache-Control", "no-store");
}

void send_error(httplib::Response& res, int status, std::string_view message) {
  send_json(res, status, json{{"error", std::string(message)}});
}

// Prometheus text helpers.
void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ")
      .append(name)
      .append(" ")
      .append(help)
      .append("\n# TYPE ")
      .append(name)
      .append(" ")
      .append(type)
      .append("\n");
}
void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t v) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(std::to_string(v)).append("\n");
}

std::string format_bound(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", b);
  return buf;
}

template <std::size_t N>
void histogram(std::string& out, std::string_view name, std::string_view labels,
               const std::array<double, N>& bounds, const obs::HistogramCounts& h) {
  std::uint64_t cum = 0;
  const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  for (std::size_t i = 0; i < N; ++i) {
    cum += h.buckets[i];
    sample(out, std::string(name) + "_bucket", prefix + "le=\"" + format_bound(bounds[i]) + "\"", cum);
  }
  cum += h.buckets[N];
  sample(out, std::string(name) + "_bucket", prefix + "le=\"+Inf\"", cum);
  char sum[48];
  std::snprintf(sum, sizeof sum, "%.9f", static_cast<double>(h.sum_ns) / 1e9);
  out.append(name).append("_sum");
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(sum).append("\n");
  sample(out, std::string(name) + "_count", labels, cum);
}

std::uint64_t counter(const cluster::Counters& c, cluster::Counter which) {
  return c[static_cast<std::size_t>(which)];
}

// "3-17" -> worker slot 3, session 17.
bool parse_session_id(std::string_view text, std::uint32_t& slot, std::uint64_t& id) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return false;
  const char* b = text.data();
  auto r1 = std::from_chars(b, b + dash, slot);
  auto r2 = std::from_chars(b + dash + 1, b + text.size(), id);
  return r1.ec == std::errc{} && r1.ptr == b + dash && r2.ec == std::errc{} && r2.ptr == b + text.size();
}

bool valid_address(const std::string& a) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, a.c_str(), buf) == 1 || ::inet_pton(AF_INET6, a.c_str(), buf) == 1;
}

}  // namespace

std::string read_admin_token(const std::string& path, std::string& token) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "admin.token_file " + path + ": " + std::strerror(errno);
  char buf[4097];
  std::size_t n = 0;
  while (n < sizeof buf - 1) {
    const ssize_t r = ::read(fd, buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += static_cast<std::size_t>(r);
  }
  ::close(fd);
  std::string_view text(buf, n);
  text = text.substr(0, text.find('\n'));
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  std::string t(text);
  ::explicit_bzero(buf, sizeof buf);
  if (t.size() < 16)
    return "admin.token_file " + path + ": the token (its first line) must be at least 16 characters";
  if (t.size() > 1024) return "admin.token_file " + path + ": the token must be at most 1024 characters";
  for (unsigned char c : t) {
    if (c <= 0x20 || c >= 0x7f) {
      return "admin.token_file " + path + ": the token must be printable ASCII without spaces";
    }
  }
  token = std::move(t);
  return {};
}

std::string render_metrics(cluster::SharedState& state, const obs::MonitorState& monitor) {
  const auto snap = state.snapshot();
  if (!snap) return {};
  const obs::ShardTotals t = monitor.totals();
  const cluster::Counters& c = snap->counters;
  std::string out;
  out.reserve(16384);
  family(out, "feitp_connections_total", "counter", "Control connections admitted.");
  sample(out, "feitp_connections_total", "", counter(c, cluster::Counter::admitted));
  family(out, "feitp_connections_refused_total", "counter", "Control connections refused at connect.");
  sample(out, "feitp_connections_refused_total", "reason=\"limit\"",
         counter(c, cluster::Counter::refused_limit));
  sample(out, "feitp_connections_refused_total", "reason=\"banned\"",
         counter(c, cluster::Counter::refused_banned));
  family(out, "feitp_sessions", "gauge", "Control connections open now.");
  sample(out, "feitp_sessions", "", snap->connections);
  family(out, "feitp_logins_total", "counter", "Login attempts by result.");
  sample(out, "feitp_logins_total", "result=\"success\"", counter(c, cluster::Counter::logins));
  sample(out, "feitp_logins_total", "result=\"failure\"", counter(c, cluster::Counter::login_failures));
  family(out, "feitp_uploads_total", "counter", "Files received completely.");
  sample(out, "feitp_uploads_total", "", counter(c, cluster::Counter::uploads));
  family(out, "feitp_downloads_total", "counter", "Files sent completely.");
  sample(out, "feitp_downloads_total", "", counter(c, cluster::Counter::downloads));
  family(out, "feitp_bytes_received_total", "counter", "File bytes received (uploads, complete or not).");
  sample(out, "feitp_bytes_received_total", "", counter(c, cluster::Counter::bytes_in));
  family(out, "feitp_bytes_sent_total", "counter", "File and listing bytes sent.");
  sample(out, "feitp_bytes_sent_total", "", counter(c, cluster::Counter::bytes_out));
  family(out, "feitp_transfers_active", "gauge", "Data transfers in progress.");
  sample(out, "feitp_transfers_active", "", t.transfers);
  family(out, "feitp_bans_active", "gauge", "Addresses banned now (failed logins or the admin API).");
  sample(out, "feitp_bans_active", "", snap->bans_active);
  family(out, "feitp_bans_total", "counter", "Bans started after repeated failed logins.");
  sample(out, "feitp_bans_total", "", counter(c, cluster::Counter::bans));
  family(out, "feitp_worker_restarts_total", "counter", "Workers respawned after they died.");
  sample(out, "feitp_worker_restarts_total", "", monitor.worker_restarts());
  std::uint64_t workers = 0;
  for (std::uint32_t s = 0; s < monitor.slots(); ++s) workers += monitor.worker_pid(s) != 0 ? 1 : 0;
  family(out, "feitp_workers", "gauge", "Worker processes running.");
  sample(out, "feitp_workers", "", workers);
  family(out, "feitp_transfer_duration_seconds", "histogram", "Duration of file transfers (any outcome).");
  histogram(out, "feitp_transfer_duration_seconds", "direction=\"upload\"", obs::kTransferBuckets,
            t.transfer[1]);
  histogram(out, "feitp_transfer_duration_seconds", "direction=\"download\"", obs::kTransferBuckets,
            t.transfer[0]);
  family(out, "feitp_command_duration_seconds", "histogram",
         "Time from a command's arrival to its handling's end, by verb (verbs seen so far).");
  for (std::size_t v = 0; v < t.command.size(); ++v) {
    std::uint64_t n = 0;
    for (auto b : t.command[v].buckets) n += b;
    if (n == 0) continue;
    histogram(out, "feitp_command_duration_seconds", "verb=\"" + std::string(obs::verb_at(v)) + "\"",
              obs::kCommandBuckets, t.command[v]);
  }
  return out;
}

struct AdminService::Impl {
  AdminSpec spec;
  std::string token_hash;
  std::unique_ptr<httplib::Server> metrics, admin;
  std::vector<std::thread> threads;

  bool authorized(const httplib::Request& req) const {
    const std::string& h = req.get_header_value("Authorization");
    if (h.size() < 7 || h.compare(0, 7, "Bearer ") != 0) return false;
    // Compare digests in constant time: neither the token's bytes nor its length leak.
    const std::string given = sha256(std::string_view(h).substr(7));
    return CRYPTO_memcmp(given.data(), token_hash.data(), given.size()) == 0;
  }

  json sessions_json() const {
    json list = json::array();
    const std::int64_t now = obs::monotonic_ms();
    const auto& m = *spec.monitor;
    for (std::uint32_t slot = 0; slot < m.slots(); ++slot) {
      const pid_t pid = m.worker_pid(slot);
      for (const auto& r : m.sessions(slot)) {
        json s{{"id", std::to_string(slot) + "-" + std::to_string(r.id)},
               {"worker", pid},
               {"user", r.user},
               {"address", r.peer},
               {"port", r.peer_port},
               {"tls", r.tls != 0},
               {"command", r.command},
               {"connected_seconds", std::max<std::int64_t>(now - r.connected_ms, 0) / 1000.0}};
        if (r.transferring != 0) {
          const double secs = std::max<std::int64_t>(now - r.transfer_started_ms, 1) / 1000.0;
          json x{{"direction", r.listing ? "listing" : (r.upload ? "upload" : "download")},
                 {"path", r.path},
                 {"bytes", r.bytes},
                 {"seconds", secs},
                 {"rate_bytes_per_second", static_cast<double>(r.bytes) / secs}};
          if (r.size != 0 && !r.upload) {
            x["size"] = r.size;
            x["progress"] = std::min(1.0, static_cast<double>(r.bytes) / static_cast<double>(r.size));
          } else {
            x["size"] = nullptr;
            x["progress"] = nullptr;
          }
          s["transfer"] = std::move(x);
        } else {
          s["transfer"] = nullptr;
        }
        list.push_back(std::move(s));
      }
    }
    return json{{"sessions", std::move(list)}};
  }

  json counters_json() const {
    json out;
    if (auto snap = spec.state->snapshot()) {
      for (std::size_t i = 0; i < cluster::kCounters; ++i)
        out[cluster::counter_name(static_cast<cluster::Counter>(i))] = snap->counters[i];
      out["sessions"] = snap->connections;
      out["bans_active"] = snap->bans_active;
    }
    const auto t = spec.monitor->totals();
    out["transfers_active"] = t.transfers;
    out["worker_restarts"] = spec.monitor->worker_restarts();
    return out;
  }

  void routes_metrics(httplib::Server& s) {
    s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.path == "/metrics" && req.method != "GET" && req.method != "HEAD") {
        res.status = 405;
        res.set_header("Allow", "GET, HEAD");
        res.set_content("405 Method Not Allowed\n", "text/plain; charset=utf-8");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::string body = render_metrics(*spec.state, *spec.monitor);
      if (body.empty()) {
        res.status = 503;
        res.set_content("503 the shared state is busy, try again\n", "text/plain; charset=utf-8");
        return;
      }
      res.set_content(std::move(body), "text/plain; version=0.0.4; charset=utf-8");
    });
  }

  void routes_admin(httplib::Server& s) {
    s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return screen_admin_request(req, res);
    });
    routes_assets(s);
    routes_sessions(s);
    routes_bans(s);
    s.Post("/api/v1/reload",
           [this](const httplib::Request&, httplib::Response& res) { request_reload(res); });
  }

  // Which methods each route takes: anything else is 405 (before authentication, which
  // only the API needs).
  httplib::Server::HandlerResponse screen_admin_request(const httplib::Request& req,
                                                        httplib::Response& res) const {
    const std::string& p = req.path;
    std::string allow;
    if (p == "/" || p == "/index.html" || p == "/admin.js" || p == "/admin.css") {
      allow = "GET, HEAD";
    } else if (p == "/api/v1/sessions" || p == "/api/v1/counters") {
      allow = "GET, HEAD";
    } else if (p == "/api/v1/bans") {
      allow = "GET, HEAD, POST";
    } else if (p == "/api/v1/reload") {
      allow = "POST";
    } else if (p.starts_with("/api/v1/sessions/") && p.ends_with("/kick")) {
      allow = "POST";
    } else if (p.starts_with("/api/v1/sessions/") || p.starts_with("/api/v1/bans/")) {
      allow = "DELETE";
    } else if (p.starts_with("/api/")) {
      send_error(res, 404, "no such API path");
      return httplib::Server::HandlerResponse::Handled;
    } else {
      return httplib::Server::HandlerResponse::Unhandled;  // 404
    }
    const bool ok = allow.find(req.method) != std::string::npos && req.method.size() >= 3;
    if (!ok) {
      res.set_header("Allow", allow);
      if (p.starts_with("/api/")) {
        send_error(res, 405, "method not allowed (allowed: " + allow + ")");
      } else {
        res.status = 405;
        res.set_content("405 Method Not Allowed\n", "text/plain; charset=utf-8");
      }
      return httplib::Server::HandlerResponse::Handled;
    }
    if (p.starts_with("/api/") && !authorized(req)) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"feitpd\"");
      send_error(res, 401, "missing or wrong bearer token");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  // The page and its script and style.
  static void routes_assets(httplib::Server& s) {
    auto asset = [](std::string_view body, const char* type) {
      return [body, type](const httplib::Request&, httplib::Response& res) {
        res.set_content(std::string(body), type);
        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
      };
    };
    s.Get("/", asset(assets::kIndexHtml, "text/html; charset=utf-8"));
    s.Get("/index.html", asset(assets::kIndexHtml, "text/html; charset=utf-8"));
    s.Get("/admin.js", asset(assets::kAdminJs, "text/javascript; charset=utf-8"));
    s.Get("/admin.css", asset(assets::kAdminCss, "text/css; charset=utf-8"));
  }

  // The sessions (list, kick) and the counters.
  void routes_sessions(httplib::Server& s) {
    s.Get("/api/v1/sessions",
          [this](const httplib::Request&, httplib::Response& res) { send_json(res, 200, sessions_json()); });
    s.Get("/api/v1/counters",
          [this](const httplib::Request&, httplib::Response& res) { send_json(res, 200, counters_json()); });
    auto kick = [this](const httplib::Request& req, httplib::Response& res) { kick_session(req, res); };
    s.Post(R"(/api/v1/sessions/([^/]+)/kick)", kick);
    s.Delete(R"(/api/v1/sessions/([^/]+))", kick);
  }

  void kick_session(const httplib::Request& req, httplib::Response& res) const {
    const std::string id = req.matches[1];
    std::uint32_t slot = 0;
    std::uint64_t sid = 0;
    if (!parse_session_id(id, slot, sid)) {
      send_error(res, 400, "a session id looks like \"2-17\"");
      return;
    }
    if (!spec.monitor->request_kick(slot, sid)) {
      send_error(res, 404, "no such session");
      return;
    }
    spdlog::info("admin API: session {} kicked", id);
    send_json(res, 202, json{{"kicked", id}});
  }

  // The bans: list, add, lift.
  void routes_bans(httplib::Server& s) {
    s.Get("/api/v1/bans", [this](const httplib::Request&, httplib::Response& res) { list_bans(res); });
    s.Post("/api/v1/bans",
           [this](const httplib::Request& req, httplib::Response& res) { add_ban(req, res); });
    s.Delete(R"(/api/v1/bans/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) { lift_ban(req, res); });
  }

  void list_bans(httplib::Response& res) const {
    auto bans = spec.state->bans();
    if (!bans) {
      send_error(res, 503, "the shared state is busy, try again");
      return;
    }
    json list = json::array();
    for (const auto& b : *bans)
      list.push_back(json{{"address", b.address}, {"seconds_left", b.seconds_left}});
    send_json(res, 200, json{{"bans", std::move(list)}});
  }

  void add_ban(const httplib::Request& req, httplib::Response& res) const {
    const json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("address") ||
        !body["address"].is_string()) {
      send_error(res, 400, "expected a JSON object {\"address\": \"203.0.113.7\", \"seconds\": 3600}");
      return;
    }
    const std::string address = body["address"].get<std::string>();
    if (!valid_address(address)) {
      send_error(res, 400, "address: not a numeric IPv4 or IPv6 address");
      return;
    }
    std::int64_t seconds = kDefaultBanSeconds;
    if (body.contains("seconds")) {
      if (!body["seconds"].is_number_integer() || body["seconds"].get<std::int64_t>() < 1 ||
          body["seconds"].get<std::int64_t>() > kMaxBanSeconds) {
        send_error(res, 400, "seconds: an integer from 1 to 2592000 (30 days)");
        return;
      }
      seconds = body["seconds"].get<std::int64_t>();
    }
    if (!spec.state->ban(address, std::chrono::seconds{seconds})) {
      send_error(res, 507, "the address table is full");
      return;
    }
    spdlog::warn("admin API: {} banned for {} s", session::login_key(address), seconds);
    send_json(res, 201, json{{"address", session::login_key(address)}, {"seconds", seconds}});
  }

  void lift_ban(const httplib::Request& req, httplib::Response& res) const {
    const std::string address = req.matches[1];
    // An IPv6 /64 key ("2001:db8:1:2::/64") is given as listed: take its address part.
    const std::string plain = address.ends_with("/64") ? address.substr(0, address.size() - 3) : address;
    if (!valid_address(plain)) {
      send_error(res, 400, "not a numeric IPv4 or IPv6 address");
      return;
    }
    if (!spec.state->unban(plain)) {
      send_error(res, 404, "not banned");
      return;
    }
    spdlog::info("admin API: {} unbanned", session::login_key(plain));
    send_json(res, 200, json{{"unbanned", session::login_key(plain)}});
  }

  void request_reload(httplib::Response& res) const {
    if (!spec.reload) {
      send_error(res, 409, "reloading needs the master process (workers != 1)");
      return;
    }
    if (!spec.reload()) {
      send_error(res, 503, "the reload request could not be passed to the master");
      return;
    }
    send_json(res, 202, json{{"reload", "requested"}});
  }
};

AdminService::AdminService(AdminSpec spec) : impl_(std::make_unique<Impl>()) {
  impl_->spec = std::move(spec);
  impl_->token_hash = sha256(impl_->spec.token);
  ::explicit_bzero(impl_->spec.token.data(), impl_->spec.token.size());
  impl_->spec.token.clear();
}

AdminService::~AdminService() { stop(); }

std::string AdminService::bind() {
  auto bind_one = [](httplib::Server& s, const std::string& text, const char* what) -> std::string {
    const HostPort hp = split_listen(text);
    errno = 0;
    if (!s.bind_to_port(hp.host, hp.port)) {
      const int err = errno;
      return std::string(what) + " " + text + ": cannot listen" +
             (err ? std::string(": ") + std::strerror(err) : "");
    }
    return {};
  };
  const auto& cfg = impl_->spec.cfg;
  if (!cfg.metrics_listen.empty()) {
    impl_->metrics = std::make_unique<httplib::Server>();
    configure(*impl_->metrics);
    impl_->routes_metrics(*impl_->metrics);
    if (auto p = bind_one(*impl_->metrics, cfg.metrics_listen, "metrics.listen"); !p.empty()) return p;
  }
  if (!cfg.admin_listen.empty()) {
    if (!cfg.admin_tls_cert.empty()) {
      // HTTPS: the certificate and key are read now, before the process gives up its rights.
      auto tls = std::make_unique<httplib::SSLServer>(cfg.admin_tls_cert.c_str(), cfg.admin_tls_key.c_str());
      if (!tls->is_valid()) {
        return "admin.tls_cert " + cfg.admin_tls_cert + " / admin.tls_key " + cfg.admin_tls_key +
               ": cannot load the certificate and key (PEM, readable, matching)";
      }
      impl_->admin = std::move(tls);
    } else {
      impl_->admin = std::make_unique<httplib::Server>();
    }
    configure(*impl_->admin);
    impl_->routes_admin(*impl_->admin);
    if (auto p = bind_one(*impl_->admin, cfg.admin_listen, "admin.listen"); !p.empty()) return p;
  }
  return {};
}

void AdminService::start() {
  for (auto* s : {impl_->metrics.get(), impl_->admin.get()}) {
    if (s != nullptr) impl_->threads.emplace_back([s] { s->listen_after_bind(); });
  }
}

void AdminService::stop() {
  if (!impl_) return;
  for (auto* s : {impl_->metrics.get(), impl_->admin.get()}) {
    if (s != nullptr) s->stop();
  }
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

void admin_process_main(AdminProcessSpec spec, const Confinement& confinement) {
  int code = kWorkerStartFailed;
  try {
    std::set<int> keep{spec.status_fd, spec.command_fd};
    if (spec.log_fd >= 0) keep.insert(spec.log_fd);
    close_inherited(keep);
    ::prctl(PR_SET_NAME, "feitpd-admin", 0, 0, 0);
    // SIGTERM (and the master's end) stop it; the master's other signals are not ours.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    sigset_t rest = runtime_signals(true);
    sigdelset(&rest, SIGTERM);
    sigdelset(&rest, SIGINT);
    sigdelset(&rest, SIGQUIT);
    ::pthread_sigmask(SIG_BLOCK, &rest, nullptr);

    const int cmd = spec.command_fd;
    if (cmd >= 0) {
      spec.admin.reload = [cmd] {
        const char h = 'H';
        return ::write(cmd, &h, 1) == 1;
      };
    }
    AdminService service(std::move(spec.admin));
    std::string status = "R";
    if (auto problem = service.bind(); !problem.empty()) status = "E" + problem;
    std::string active;
    if (status == "R") {
      Confinement c = confinement;
      c.writable.clear();  // it writes no file (Landlock with no writable path)
      if (auto problem = confine(c, active); !problem.empty()) status = "Ecannot drop privileges: " + problem;
    }
    (void)!::write(spec.status_fd, status.data(), status.size());
    ::close(spec.status_fd);
    if (status != "R") {
      spdlog::default_logger_raw()->flush();
      ::_exit(kWorkerStartFailed);
    }
    ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (::getppid() != spec.master) ::_exit(0);
    spdlog::info("admin process (pid {}) serving: {}", ::getpid(), active);
    service.start();
    int sig = 0;
    ::sigwait(&set, &sig);
    service.stop();
    code = 0;
  } catch (const std::exception& e) { spdlog::error("admin process: {}", e.what()); }
  spdlog::default_logger_raw()->flush();
  ::_exit(code);
}

}  // namespace feitp::runtime
