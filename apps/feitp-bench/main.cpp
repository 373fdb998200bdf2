// feitp-bench: an FTP load generator for loopback benchmarks.
#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine.hpp"
#include "options.hpp"

namespace fb = feitp_bench;

namespace {

// Only loopback targets: 127.0.0.0/8, ::1 or "localhost".
bool resolve_loopback(fb::Options& o, std::string& err) {
  std::string host = o.host;
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  o.addr = {};
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    if ((ntohl(a4.s_addr) >> 24) != 127) {
      err = "--host must be a loopback address (127.0.0.0/8 or ::1): " + o.host;
      return false;
    }
    auto* sa = reinterpret_cast<sockaddr_in*>(&o.addr);
    sa->sin_family = AF_INET;
    sa->sin_addr = a4;
    o.addr_len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&a6)) {
      err = "--host must be a loopback address (127.0.0.0/8 or ::1): " + o.host;
      return false;
    }
    auto* sa = reinterpret_cast<sockaddr_in6*>(&o.addr);
    sa->sin6_family = AF_INET6;
    sa->sin6_addr = a6;
    o.addr_len = sizeof(sockaddr_in6);
    return true;
  }
  err = "--host must be a numeric loopback address or localhost: " + o.host;
  return false;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(ch)));
        else
          out += ch;
    }
  }
  return out;
}

double pct(std::uint64_t part, std::uint64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

std::string tls_json(const fb::Options& o, const fb::Results& r) {
  if (!o.tls) return {};
  const auto& t = r.tls;
  return fmt::format(
      ", \"tls\": {{\"version\": \"{}\", \"cipher\": \"{}\", \"reconnect\": \"{}\", \"data_session\": \"{}\", "
      "\"ctrl_handshakes\": {}, \"ctrl_resume_wanted\": {}, \"ctrl_resume_offered\": {}, \"ctrl_resumed\": {}, "
      "\"data_handshakes\": {}, \"data_resume_offered\": {}, \"data_resumed\": {}, "
      "\"handshakes\": {}, \"resumed\": {}, \"data_eof_without_close_notify\": {}}}",
      json_escape(t.version), json_escape(t.cipher), o.tls_reconnect_resume ? "resume" : "full",
      o.tls_data_reuse ? "reuse" : "fresh", t.ctrl_handshakes, t.ctrl_resume_wanted, t.ctrl_resume_offered,
      t.ctrl_resumed, t.data_handshakes, t.data_resume_offered, t.data_resumed,
      t.ctrl_handshakes + t.data_handshakes, t.ctrl_resumed + t.data_resumed,
      t.data_eof_without_close_notify);
}

std::string tls_text(const fb::Options& o, const fb::Results& r) {
  if (!o.tls) return {};
  const auto& t = r.tls;
  std::string out = fmt::format(
      "  TLS           {} {}, reconnects {}, data sessions {}\n"
      "    control     {} handshakes, {} resumed",
      t.version.empty() ? "(no handshake)" : t.version, t.cipher,
      o.tls_reconnect_resume ? "resume the previous session" : "full handshakes",
      o.tls_data_reuse ? "resume the control session" : "fresh", t.ctrl_handshakes, t.ctrl_resumed);
  if (o.tls_reconnect_resume)
    out +=
        fmt::format(" of {} reconnects asking to ({:.1f}%; {} had a ticket to offer)", t.ctrl_resume_wanted,
                    pct(t.ctrl_resumed, t.ctrl_resume_wanted), t.ctrl_resume_offered);
  out += fmt::format(
      "\n    data        {} handshakes, {} resumed of {} offering the control session ({:.1f}%)\n",
      t.data_handshakes, t.data_resumed, t.data_resume_offered, pct(t.data_resumed, t.data_resume_offered));
  if (t.data_eof_without_close_notify != 0)
    out += fmt::format("    {} downloads ended without the server's close_notify\n",
                       t.data_eof_without_close_notify);
  return out;
}

void report(const fb::Options& o, const fb::Results& r) {
  const double el = r.elapsed > 0 ? r.elapsed : 1e-9;
  const double rate = static_cast<double>(r.transactions) / el;
  const double mib = static_cast<double>(r.bytes) / el / 1048576.0;
  const double cpu = r.cpu_user + r.cpu_sys;
  const double cpu_pct = r.wall > 0 ? 100.0 * cpu / r.wall : 0.0;
  const bool idle = o.scenario == fb::Scenario::idle;
  const double kib_per_session =
      r.idle.sessions > 0 && r.idle.pss_after_kib >= r.idle.pss_before_kib
          ? static_cast<double>(r.idle.pss_after_kib - r.idle.pss_before_kib) / r.idle.sessions
          : 0.0;
  if (o.json) {
    std::string fails;
    for (std::size_t i = 0; i < r.failures.size(); ++i) {
      if (r.failures[i] == 0) continue;
      fails += fmt::format("{}\"{}\": {}", fails.empty() ? "" : ", ", fb::fail_name(static_cast<fb::Fail>(i)),
                           r.failures[i]);
    }
    std::string samples;
    for (const auto& s : r.failure_samples)
      samples += fmt::format("{}\"{}\"", samples.empty() ? "" : ", ", json_escape(s));
    std::string idle_json;
    if (idle)
      idle_json = fmt::format(
          ", \"idle\": {{\"measured\": {}, \"sessions\": {}, \"pss_before_kib\": {}, \"pss_after_kib\": {}, "
          "\"processes_before\": {}, \"processes_after\": {}, \"kib_per_session\": {:.2f}}}",
          r.idle.measured, r.idle.sessions, r.idle.pss_before_kib, r.idle.pss_after_kib,
          r.idle.processes_before, r.idle.processes_after, kib_per_session);
    std::string per;
    if (o.scenario == fb::Scenario::mixed) {
      for (std::size_t i = 0; i < r.per_scenario.size(); ++i)
        if (r.per_scenario[i] != 0)
          per += fmt::format("{}\"{}\": {}", per.empty() ? "" : ", ",
                             fb::scenario_name(static_cast<fb::Scenario>(i)), r.per_scenario[i]);
      per = ", \"per_scenario\": {" + per + "}";
    }
    std::fputs(
        fmt::format(
            "{{\"scenario\": \"{}\", \"host\": \"{}\", \"port\": {}, \"clients\": {}, \"mode\": \"{}\", "
            "\"elapsed_s\": {:.3f}, \"transactions\": {}, \"rate_per_s\": {:.1f}, \"bytes\": {}, "
            "\"mib_per_s\": {:.2f}, \"all_transactions\": {}, \"all_bytes\": {}, \"latency_us\": {{\"p50\": {}, \"p99\": {}, \"max\": {}}}, "
            "\"failures_total\": {}, \"failures\": {{{}}}, \"failure_samples\": [{}], "
            "\"uploads_checked\": {}, \"bench_cpu_s\": {{\"user\": {:.3f}, \"sys\": {:.3f}}}, "
            "\"bench_wall_s\": {:.3f}, \"bench_cpu_pct\": {:.1f}{}{}{}}}\n",
            o.scenario_name, json_escape(o.host), o.port, o.clients, o.pasv ? "pasv" : "epsv", r.elapsed,
            r.transactions, rate, r.bytes, mib, r.all_transactions, r.all_bytes, r.latency.quantile(0.5),
            r.latency.quantile(0.99), r.latency.max(), r.failures_total(), fails, samples, r.uploads_checked,
            r.cpu_user, r.cpu_sys, r.wall, cpu_pct, idle_json, per, tls_json(o, r))
            .c_str(),
        stdout);
    return;
  }
  std::string out = fmt::format(
      "scenario {} against {}:{}, {} clients, {}\n"
      "  transactions  {} in {:.2f} s = {:.1f}/s{}\n"
      "  data          {:.1f} MiB = {:.2f} MiB/s\n"
      "  latency       p50 {:.3f} ms  p99 {:.3f} ms  max {:.3f} ms\n"
      "  failures      {}\n",
      o.scenario_name, o.host, o.port, o.clients, o.pasv ? "PASV" : "EPSV", r.transactions, r.elapsed, rate,
      idle ? " (sessions logged in)" : "", static_cast<double>(r.bytes) / 1048576.0, mib,
      static_cast<double>(r.latency.quantile(0.5)) / 1000.0,
      static_cast<double>(r.latency.quantile(0.99)) / 1000.0, static_cast<double>(r.latency.max()) / 1000.0,
      r.failures_total());
  for (std::size_t i = 0; i < r.failures.size(); ++i)
    if (r.failures[i] != 0)
      out += fmt::format("    {:<22}{}\n", fb::fail_name(static_cast<fb::Fail>(i)), r.failures[i]);
  for (const auto& s : r.failure_samples) out += "    e.g. " + s + "\n";
  out += tls_text(o, r);
  if (!o.verify_dir.empty())
    out += fmt::format("  verified      {} uploads in {}\n", r.uploads_checked, o.verify_dir);
  if (o.scenario == fb::Scenario::mixed)
    for (std::size_t i = 0; i < r.per_scenario.size(); ++i)
      if (r.per_scenario[i] != 0)
        out +=
            fmt::format("    {:<10}{}\n", fb::scenario_name(static_cast<fb::Scenario>(i)), r.per_scenario[i]);
  if (idle)
    out += fmt::format(
        "  server memory {} sessions held: Pss {} KiB -> {} KiB over {} -> {} processes = {:.1f} KiB/session{}\n",
        r.idle.sessions, r.idle.pss_before_kib, r.idle.pss_after_kib, r.idle.processes_before,
        r.idle.processes_after, kib_per_session, r.idle.measured ? "" : " (not measured)");
  out +=
      fmt::format("  bench CPU     user {:.2f} s + sys {:.2f} s over {:.2f} s wall = {:.0f}% of one core\n",
                  r.cpu_user, r.cpu_sys, r.wall, cpu_pct);
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  fb::Options o;
  CLI::App app{
      "feitp-bench: FTP load generator for loopback benchmarks (one epoll loop, one state machine per client)"};
  const std::map<std::string, fb::Scenario> scenarios{
      {"seed", fb::Scenario::seed}, {"session", fb::Scenario::session}, {"login", fb::Scenario::login},
      {"list", fb::Scenario::list}, {"retr", fb::Scenario::retr},       {"stor", fb::Scenario::stor},
      {"idle", fb::Scenario::idle}, {"mixed", fb::Scenario::mixed}};
  std::string mode = "epsv";
  app.add_option("-s,--scenario", o.scenario_name,
                 "seed | session | login | list | retr | stor | idle | mixed")
      ->check(CLI::IsMember({"seed", "session", "login", "list", "retr", "stor", "idle", "mixed"}));
  app.add_option("--host", o.host, "server address: loopback only (127.0.0.0/8, ::1, localhost)");
  app.add_option("-p,--port", o.port, "server control port")->required();
  app.add_option("-u,--user", o.user, "user name");
  app.add_option("--password", o.password, "password");
  app.add_option("-c,--clients", o.clients, "concurrent clients (idle: sessions to hold)")
      ->check(CLI::Range(1U, 1000000U));
  app.add_option("-d,--duration", o.duration, "seconds to measure (idle: seconds to hold after measuring)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--warmup", o.warmup, "seconds to run before measuring")->check(CLI::Range(0.0, 3600.0));
  app.add_option("--timeout", o.timeout, "seconds one step may take before it counts as a failure")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--min-size", o.min_size, "smallest upload in bytes (seed, session)")
      ->check(CLI::Range(0U, 1U << 30));
  app.add_option("--max-size", o.max_size, "largest upload in bytes (seed, session)")
      ->check(CLI::Range(0U, 1U << 30));
  app.add_option("--size", o.size, "bytes per big upload (stor)");
  app.add_option("--path", o.path, "file to download (retr) or directory to list (list, mixed)");
  app.add_option("--mode", mode, "passive mode command")->check(CLI::IsMember({"epsv", "pasv"}));
  app.add_flag("--json", o.json, "print one JSON object");
  app.add_option("--verify-dir", o.verify_dir,
                 "after upload scenarios, check every reported upload exists here with its exact size");
  app.add_option("--pid", o.pids, "idle: server process id (its descendants count too); repeatable");
  app.add_option("--pid-of", o.pid_of, "idle: count every process with this name; repeatable");
  app.add_option("--connect-batch", o.connect_batch, "idle: logins in flight at once")
      ->check(CLI::Range(1U, 100000U));
  app.add_option("--seed", o.rng_seed, "random seed (file sizes, names)");
  std::string tls_reconnect = "full", tls_data = "reuse", tls_version = "1.3";
  app.add_flag("--tls", o.tls,
               "explicit FTPS: AUTH TLS, then PBSZ 0 and PROT P after login; data connections over TLS");
  app.add_option("--tls-reconnect", tls_reconnect,
                 "full: every connection a full handshake; resume: each reconnect resumes the previous "
                 "connection's session (the run fails if the server resumes none)")
      ->check(CLI::IsMember({"full", "resume"}));
  app.add_option("--tls-data", tls_data,
                 "reuse: data connections resume the control connection's session (as FileZilla and curl); "
                 "fresh: a full handshake per data connection (as Python's ftplib)")
      ->check(CLI::IsMember({"reuse", "fresh"}));
  app.add_option("--tls-version", tls_version, "the one TLS version offered")
      ->check(CLI::IsMember({"1.2", "1.3"}));
  app.add_option("--tls-ca", o.tls_ca,
                 "verify the server's certificate against this CA file (default: no verification; loopback, "
                 "self-signed)");
  app.add_option("--tls-sni", o.tls_sni, "server name to send in the ClientHello (default: none)");
  app.add_option("--proxy-header", o.proxy_header,
                 "send a PROXY protocol header of this version (1 or 2) first on every control "
                 "connection, naming the client's own IPv4 address (a server behind HAProxy)")
      ->check(CLI::IsMember({1, 2}));
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "no live line even on a terminal");
  CLI11_PARSE(app, argc, argv);

  o.scenario = scenarios.at(o.scenario_name);
  o.pasv = mode == "pasv";
  o.tls_reconnect_resume = tls_reconnect == "resume";
  o.tls_data_reuse = tls_data == "reuse";
  o.tls_version = tls_version == "1.2" ? 12 : 13;
  if (!o.tls && (app.count("--tls-reconnect") + app.count("--tls-data") + app.count("--tls-version") +
                     app.count("--tls-ca") + app.count("--tls-sni") >
                 0)) {
    std::fprintf(stderr, "feitp-bench: --tls-* options need --tls\n");
    return 2;
  }
  if (o.min_size > o.max_size) {
    std::fprintf(stderr, "feitp-bench: --min-size is larger than --max-size\n");
    return 2;
  }
  if (o.scenario == fb::Scenario::retr && o.path.empty()) {
    std::fprintf(stderr, "feitp-bench: retr needs --path FILE\n");
    return 2;
  }
  if (o.scenario == fb::Scenario::idle && o.pids.empty() && o.pid_of.empty())
    std::fprintf(stderr, "feitp-bench: idle without --pid/--pid-of reports no server memory\n");
  std::string err;
  if (!resolve_loopback(o, err)) {
    std::fprintf(stderr, "feitp-bench: %s\n", err.c_str());
    return 2;
  }
  o.progress = !no_progress && isatty(STDERR_FILENO) != 0;
  std::signal(SIGPIPE, SIG_IGN);

  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const unsigned long long fds_per_client = o.scenario == fb::Scenario::idle ? 1 : 2;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < fds_per_client * o.clients + 64)
    std::fprintf(stderr, "feitp-bench: warning: open-file limit %llu is low for %u clients\n",
                 static_cast<unsigned long long>(rl.rlim_cur), o.clients);

  try {
    const fb::Results r = fb::run(o);
    report(o, r);
    if (r.failures[static_cast<std::size_t>(fb::Fail::tls_not_resumed)] != 0)
      std::fprintf(
          stderr,
          "feitp-bench: FAILED: --tls-reconnect resume, but the server resumed none of %llu reconnects' "
          "sessions: every figure of this run is a full handshake's\n",
          static_cast<unsigned long long>(r.tls.ctrl_resume_wanted));
    return r.failures_total() == 0 && r.transactions > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "feitp-bench: %s\n", e.what());
    return 2;
  }
}
