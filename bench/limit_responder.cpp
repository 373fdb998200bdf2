// feitp-limit-responder: the ceiling for any FTP server measured with feitp-bench.
//
// It does a transaction's socket work and nothing else: canned replies chosen by the
// command's first four letters, a fresh passive listener per transfer (accepted, then
// closed), uploads read and discarded, a canned listing for LIST/NLST, N bytes for RETR.
// No login check, no paths, no disk. One epoll loop per process; --workers N forks N
// processes over SO_REUSEPORT listeners. Loopback only.
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

enum class Xfer : std::uint8_t { none, stor, list, retr };
enum : std::uint64_t { kCtrl = 0, kPasv = 1, kData = 2 };

struct Conn {
  int ctrl = -1;
  int pasv = -1;
  int data = -1;
  std::uint32_t gen = 0;
  Xfer xfer = Xfer::none;
  bool in_use = false;
  std::uint64_t sent = 0;
  std::uint16_t rlen = 0;
  char rbuf[512];
};

struct Config {
  std::uint16_t port = 0;
  unsigned workers = 1;
  unsigned list_lines = 10000;
  std::uint64_t retr_size = 256ULL << 20;
  unsigned pasv_min = 0, pasv_max = 0;
};

Config cfg;
int ep = -1;
std::vector<Conn> conns;
std::vector<std::uint32_t> free_slots;
std::string listing;
std::vector<char> zeros;
unsigned next_pasv = 0;
char sink[256 * 1024];
volatile std::sig_atomic_t stop_flag = 0;

std::uint64_t tag(std::uint32_t idx, std::uint32_t gen, std::uint64_t kind) {
  return (static_cast<std::uint64_t>(gen) << 32) | (static_cast<std::uint64_t>(idx) << 2) | kind;
}

void add(int fd, std::uint32_t events, std::uint64_t t) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = t;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) std::perror("epoll_ctl");
}

void put(Conn& c, const char* s, std::size_t n) {
  // Replies are tiny and the client waits for each: one send, or the connection is gone.
  if (send(c.ctrl, s, n, MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(n)) {
    // Leave it: the read side sees the error or EOF and closes.
  }
}
void put(Conn& c, std::string_view s) { put(c, s.data(), s.size()); }

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void release(std::uint32_t idx) {
  Conn& c = conns[idx];
  close_fd(c.data);
  close_fd(c.pasv);
  close_fd(c.ctrl);
  c.in_use = false;
  ++c.gen;
  free_slots.push_back(idx);
}

int open_passive(std::uint16_t& port_out) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const unsigned span =
      cfg.pasv_max >= cfg.pasv_min && cfg.pasv_min != 0 ? cfg.pasv_max - cfg.pasv_min + 1 : 0;
  bool bound = false;
  if (span == 0) {
    bound = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  } else {
    for (unsigned tries = 0; tries < span && !bound; ++tries) {
      sa.sin_port = htons(static_cast<std::uint16_t>(cfg.pasv_min + (next_pasv++ % span)));
      bound = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    }
  }
  if (!bound || listen(fd, 1) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  port_out = ntohs(sa.sin_port);
  return fd;
}

void finish_transfer(Conn& c) {
  close_fd(c.data);
  c.xfer = Xfer::none;
  put(c, "226 Transfer complete.\r\n");
}

// Moves the transfer on as far as the socket allows.
void pump(Conn& c) {
  if (c.data < 0 || c.xfer == Xfer::none) return;
  if (c.xfer == Xfer::stor) {
    for (;;) {
      const ssize_t n = read(c.data, sink, sizeof sink);
      if (n > 0) continue;
      if (n == 0) {
        finish_transfer(c);
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        close_fd(c.data);
        c.xfer = Xfer::none;
        put(c, "426 Connection closed; transfer aborted.\r\n");
      }
      return;
    }
  }
  const std::uint64_t total = c.xfer == Xfer::list ? listing.size() : cfg.retr_size;
  while (c.sent < total) {
    const char* base = c.xfer == Xfer::list ? listing.data() + c.sent : zeros.data();
    const std::uint64_t left = total - c.sent;
    const std::size_t chunk =
        static_cast<std::size_t>(c.xfer == Xfer::list ? left : (left < zeros.size() ? left : zeros.size()));
    const ssize_t n = send(c.data, base, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        close_fd(c.data);
        c.xfer = Xfer::none;
        put(c, "426 Connection closed; transfer aborted.\r\n");
      }
      return;
    }
    c.sent += static_cast<std::uint64_t>(n);
  }
  finish_transfer(c);
}

void start_transfer(Conn& c, Xfer x) {
  c.xfer = x;
  c.sent = 0;
  put(c, "150 Opening data connection.\r\n");
  pump(c);
}

// Returns false when the connection is closed.
bool command(std::uint32_t idx, std::string_view line) {
  Conn& c = conns[idx];
  char verb[5] = {};
  for (std::size_t i = 0; i < 4 && i < line.size(); ++i) {
    char ch = line[i];
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 32);
    verb[i] = ch;
  }
  const std::string_view v(verb, 4);
  if (v == "USER") {
    put(c, "331 Password required.\r\n");
  } else if (v == "PASS") {
    put(c, "230 Logged in.\r\n");
  } else if (v == "TYPE") {
    put(c, "200 Type set.\r\n");
  } else if (v == "EPSV" || v == "PASV") {
    close_fd(c.data);
    close_fd(c.pasv);
    std::uint16_t port = 0;
    c.pasv = open_passive(port);
    if (c.pasv < 0) {
      put(c, "425 Cannot open passive connection.\r\n");
      return true;
    }
    add(c.pasv, EPOLLIN, tag(idx, c.gen, kPasv));
    char buf[96];
    const int n =
        v == "EPSV" ? std::snprintf(buf, sizeof buf, "229 Entering Extended Passive Mode (|||%u|)\r\n", port)
                    : std::snprintf(buf, sizeof buf, "227 Entering Passive Mode (127,0,0,1,%u,%u).\r\n",
                                    port >> 8, port & 0xff);
    put(c, buf, static_cast<std::size_t>(n));
  } else if (v == "STOR" || v == "APPE" || v == "STOU") {
    start_transfer(c, Xfer::stor);
  } else if (v == "LIST" || v == "NLST" || v == "MLSD") {
    start_transfer(c, Xfer::list);
  } else if (v == "RETR") {
    start_transfer(c, Xfer::retr);
  } else if (v == "QUIT") {
    put(c, "221 Goodbye.\r\n");
    release(idx);
    return false;
  } else if (v == "SYST") {
    put(c, "215 UNIX Type: L8\r\n");
  } else {
    put(c, "200 OK.\r\n");
  }
  return true;
}

void on_ctrl(std::uint32_t idx) {
  Conn& c = conns[idx];
  for (;;) {
    const ssize_t n = read(c.ctrl, c.rbuf + c.rlen, sizeof c.rbuf - c.rlen);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      release(idx);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    c.rlen = static_cast<std::uint16_t>(c.rlen + n);
    std::size_t start = 0;
    for (;;) {
      const void* nl = std::memchr(c.rbuf + start, '\n', c.rlen - start);
      if (nl == nullptr) break;
      const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - c.rbuf);
      if (!command(idx, std::string_view(c.rbuf + start, end - start))) return;
      start = end + 1;
    }
    if (start > 0) {
      std::memmove(c.rbuf, c.rbuf + start, c.rlen - start);
      c.rlen = static_cast<std::uint16_t>(c.rlen - start);
    } else if (c.rlen == sizeof c.rbuf) {
      release(idx);  // a command line longer than the buffer
      return;
    }
  }
}

void on_pasv(std::uint32_t idx) {
  Conn& c = conns[idx];
  const int fd = accept4(c.pasv, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  close_fd(c.pasv);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.data = fd;
  add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, tag(idx, c.gen, kData));
  pump(c);
}

void on_accept(int lfd) {
  for (;;) {
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::uint32_t idx;
    if (!free_slots.empty()) {
      idx = free_slots.back();
      free_slots.pop_back();
    } else {
      idx = static_cast<std::uint32_t>(conns.size());
      conns.emplace_back();
    }
    Conn& c = conns[idx];
    c.ctrl = fd;
    c.in_use = true;
    c.rlen = 0;
    c.xfer = Xfer::none;
    add(fd, EPOLLIN | EPOLLRDHUP | EPOLLET, tag(idx, c.gen, kCtrl));
    put(c, "220 feitp limit responder ready.\r\n");
  }
}

int make_listener() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(cfg.port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 4096) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int serve(int lfd) {
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return 1;
  conns.reserve(4096);
  add(lfd, EPOLLIN, ~0ULL);
  std::vector<epoll_event> evs(512);
  while (stop_flag == 0) {
    const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 500);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t t = evs[static_cast<std::size_t>(i)].data.u64;
      if (t == ~0ULL) {
        on_accept(lfd);
        continue;
      }
      const auto idx = static_cast<std::uint32_t>((t & 0xffffffffU) >> 2);
      const auto gen = static_cast<std::uint32_t>(t >> 32);
      if (idx >= conns.size()) continue;
      Conn& c = conns[idx];
      if (!c.in_use || c.gen != gen) continue;
      switch (t & 3U) {
        case kCtrl: on_ctrl(idx); break;
        case kPasv:
          if (c.pasv >= 0) on_pasv(idx);
          break;
        case kData:
          if (c.data >= 0) pump(c);
          break;
        default: break;
      }
    }
  }
  return 0;
}

void on_signal(int) { stop_flag = 1; }

void usage() {
  std::fprintf(stderr,
               "usage: feitp-limit-responder --port PORT [--workers N] [--list-lines N] [--retr-size BYTES]\n"
               "                             [--passive-ports MIN-MAX]\n"
               "Listens on 127.0.0.1 only.\n");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* val = i + 1 < argc ? argv[i + 1] : nullptr;
    if (val == nullptr) {
      usage();
      return 2;
    }
    if (a == "--port")
      cfg.port = static_cast<std::uint16_t>(std::strtoul(val, nullptr, 10));
    else if (a == "--workers")
      cfg.workers = static_cast<unsigned>(std::strtoul(val, nullptr, 10));
    else if (a == "--list-lines")
      cfg.list_lines = static_cast<unsigned>(std::strtoul(val, nullptr, 10));
    else if (a == "--retr-size")
      cfg.retr_size = std::strtoull(val, nullptr, 10);
    else if (a == "--passive-ports") {
      if (std::sscanf(val, "%u-%u", &cfg.pasv_min, &cfg.pasv_max) != 2 || cfg.pasv_min == 0 ||
          cfg.pasv_max < cfg.pasv_min || cfg.pasv_max > 65535) {
        usage();
        return 2;
      }
    } else {
      usage();
      return 2;
    }
    ++i;
  }
  if (cfg.port == 0 || cfg.workers == 0 || cfg.workers > 64) {
    usage();
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  listing.reserve(static_cast<std::size_t>(cfg.list_lines) * 72);
  for (unsigned i = 0; i < cfg.list_lines; ++i) {
    char line[128];
    const int n = std::snprintf(line, sizeof line,
                                "-rw-r--r--    1 ftp      ftp          %5u Jan 01 00:00 file%05u.bin\r\n",
                                1024 + i % 3072, i);
    listing.append(line, static_cast<std::size_t>(n));
  }
  zeros.assign(1 << 20, 'x');

  std::vector<int> listeners;
  for (unsigned w = 0; w < cfg.workers; ++w) {
    const int fd = make_listener();
    if (fd < 0) {
      std::fprintf(stderr, "feitp-limit-responder: cannot listen on 127.0.0.1:%u: %s\n", cfg.port,
                   std::strerror(errno));
      return 1;
    }
    listeners.push_back(fd);
  }
  if (cfg.workers == 1) return serve(listeners[0]);

  std::vector<pid_t> kids;
  for (unsigned w = 0; w < cfg.workers; ++w) {
    const pid_t pid = fork();
    if (pid == 0) {
      for (unsigned k = 0; k < cfg.workers; ++k)
        if (k != w) close(listeners[k]);
      return serve(listeners[w]);
    }
    if (pid > 0) kids.push_back(pid);
  }
  while (stop_flag == 0) pause();
  for (const pid_t k : kids) kill(k, SIGTERM);
  for (const pid_t k : kids) waitpid(k, nullptr, 0);
  return 0;
}
