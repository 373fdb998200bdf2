// What one feitp-bench run does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <netinet/in.h>

namespace feitp_bench {

enum class Scenario : std::uint8_t { seed, session, login, list, retr, stor, idle, mixed };

struct Options {
  Scenario scenario = Scenario::seed;
  std::string scenario_name = "seed";
  std::string host = "127.0.0.1";
  std::uint16_t port = 21;
  std::string user = "bench";
  std::string password = "bench";
  unsigned clients = 50;
  double duration = 10.0;  // seconds of measurement
  double warmup = 0.0;     // seconds run but not counted, before the measurement
  double timeout = 10.0;   // seconds a single step may take
  double grace = 3.0;      // seconds in-flight transactions get to finish at the end
  std::uint32_t min_size = 1024;
  std::uint32_t max_size = 4096;
  std::uint64_t size = 64ULL << 20;  // one big transfer (stor)
  std::string path;                  // file (retr) or directory (list)
  bool pasv = false;                 // PASV instead of EPSV
  bool json = false;
  bool progress = false;  // live line on stderr (set when stderr is a TTY)
  std::string verify_dir;
  std::vector<int> pids;            // idle: server pids (their descendants count too)
  std::vector<std::string> pid_of;  // idle: every process with this name
  unsigned connect_batch = 256;     // idle: logins in flight at once
  std::uint64_t rng_seed = 0;       // 0: from the clock
  int proxy_header = 0;             // 1 or 2: send a PROXY v1/v2 header (TCP4) on control connections

  // Explicit FTPS (RFC 4217): AUTH TLS, then after login PBSZ 0 and PROT P; every data
  // connection speaks TLS too.
  bool tls = false;
  bool tls_reconnect_resume = false;  // each reconnect resumes the previous connection's session
  bool tls_data_reuse = true;         // data connections resume the control connection's session
  int tls_version = 13;               // 12 or 13: the only version offered
  std::string tls_ca;                 // verify the server's certificate against this; empty: no check
  std::string tls_sni;                // server name sent in the ClientHello; empty: none

  sockaddr_storage addr{};  // resolved --host
  socklen_t addr_len = 0;
};

const char* scenario_name(Scenario s) noexcept;

}  // namespace feitp_bench
