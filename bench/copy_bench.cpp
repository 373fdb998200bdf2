// feitp-copy-bench: which way of moving bulk data costs the server the least CPU per MiB.
//
// The server's data path is a copy loop between a TCP socket and a regular file. This tool
// measures the candidate loops in isolation, without FTP, over one loopback connection:
//
//   upload   (STOR, socket -> file)   recv()+write() with 64 KiB / 256 KiB / 1 MiB buffers,
//                                     recv() alone (no file: the socket's share of the cost),
//                                     recv(MSG_WAITALL)+write() with 1 MiB,
//                                     splice(socket -> pipe) + splice(pipe -> file).
//   download (RETR, file -> socket)   pread()+send() with 64 KiB / 256 KiB / 1 MiB buffers,
//                                     sendfile() in 1 MiB calls and "rest of the file" calls,
//                                     splice(file -> pipe) + splice(pipe -> socket).
//
// Each measurement runs two threads over a fresh loopback connection: the "server" thread
// runs the method under test pinned to one CPU (--server-cpu, default 0), the "peer" thread
// pinned to another (--peer-cpu, default 1) is a plain sender (uploads: send() of one 1 MiB
// buffer as fast as it can) or a plain receiver (downloads: recv() into 1 MiB and discard).
// The server loop runs for --seconds; it is timed and its CPU is read with
// getrusage(RUSAGE_THREAD) (user+sys) around the loop only. Uploads write a fresh file per
// --file-mib (default 64 MiB) under --dir (default a new mkdtemp under /tmp) and delete them
// after the measurement; downloads read one prepared --retr-mib (default 256 MiB) file over and
// over, read once beforehand so it is in the page cache.
//
// Reported per method (medians over --repeat runs, the methods interleaved so drift hits all):
//   MiB/s            payload moved by the server loop / wall time of the loop
//   server ms/MiB    server thread CPU (user+sys) per MiB: the figure to compare
//   util             server thread CPU / wall time (below ~100%: the server waited on the peer)
//   cpu0 ms/MiB      all busy time of the server's CPU from /proc/stat (user+nice+system+irq+
//                    softirq, tick-sampled): catches softirq and kworker time (e.g. writeback)
//                    that may not be charged to the thread, but also anything else running there
//   peer ms/MiB      the peer thread's CPU per MiB, to show where a method moves the cost
//
// --nonblock makes the server socket non-blocking and waits in poll() on EAGAIN, as an event
// loop (Asio) would; the default is blocking sockets for every method alike.
//
// Reading the numbers:
//   - On loopback neither side is usually CPU-bound (util well below 100%): the threads wait
//     on each other's wake-ups, which are costly in a paravirtualized guest. MiB/s swings with
//     that and with whatever else runs; server ms/MiB is the figure to compare.
//   - Uploads allocate fresh page-cache pages. In a ballooned guest (virtio_balloon, free page
//     reporting) the first touch of a guest page can trap to the host, and that time is charged
//     to the thread as CPU: upload ms/MiB varies far more than download ms/MiB. The
//     "recv only" row is the socket's share of the upload cost without any file.
//   - splice(pipe -> ext4 file) still copies the pages into the page cache (SPLICE_F_MOVE has
//     been a no-op since 2.6.21): splice saves the socket -> user copy, not the file copy.
//   - With tick-based accounting and no IRQ_TIME_ACCOUNTING, softirq work done on the
//     thread's own stack (loopback delivers in the sender's context) is part of its sys time.
//
// Loopback only; every run is bounded by --seconds. Linux only (splice, sendfile, RUSAGE_THREAD).
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr double kMiB = 1024.0 * 1024.0;

// ---------------------------------------------------------------------------------------------
// Options and method table

struct Options {
  double seconds = 3.0;
  unsigned repeat = 3;
  std::string dir;                     // empty: mkdtemp under /tmp, removed at the end
  std::size_t file_bytes = 64 * MiB;   // upload: a fresh file per this many bytes
  std::size_t retr_bytes = 256 * MiB;  // download: size of the prepared file
  int server_cpu = 0;
  int peer_cpu = 1;
  bool nonblock = false;
  bool json = false;
  std::string only;  // comma-separated substrings of method names; empty = all
};

enum class Direction : std::uint8_t { upload, download };
enum class Kind : std::uint8_t {
  recv_only,       // upload reference: recv() into a buffer and discard (socket cost alone)
  recv_write,      // upload: recv() into a buffer, write() it to the file
  recv_waitall,    // upload: the same with MSG_WAITALL, so each recv() fills the buffer
  splice_up,       // upload: splice(socket -> pipe), splice(pipe -> file)
  read_send,       // download: pread() into a buffer, send() it
  sendfile_chunk,  // download: sendfile() of `size` bytes per call
  sendfile_rest,   // download: sendfile() of the rest of the file per call
  splice_down,     // download: splice(file -> pipe), splice(pipe -> socket)
};

struct Method {
  const char* name;
  Direction dir;
  Kind kind;
  std::size_t size;  // buffer size, sendfile chunk, or pipe size (F_SETPIPE_SZ)
};

// The server today runs recv_write / read_send with 256 KiB: the baseline for "vs today".
constexpr Method kMethods[] = {
    {"recv only 256K (no file)", Direction::upload, Kind::recv_only, 256 * KiB},
    {"recv+write 64K", Direction::upload, Kind::recv_write, 64 * KiB},
    {"recv+write 256K", Direction::upload, Kind::recv_write, 256 * KiB},
    {"recv+write 1M", Direction::upload, Kind::recv_write, 1 * MiB},
    {"recv(WAITALL)+write 1M", Direction::upload, Kind::recv_waitall, 1 * MiB},
    {"splice pipe 64K", Direction::upload, Kind::splice_up, 64 * KiB},
    {"splice pipe 1M", Direction::upload, Kind::splice_up, 1 * MiB},
    {"pread+send 64K", Direction::download, Kind::read_send, 64 * KiB},
    {"pread+send 256K", Direction::download, Kind::read_send, 256 * KiB},
    {"pread+send 1M", Direction::download, Kind::read_send, 1 * MiB},
    {"sendfile 1M", Direction::download, Kind::sendfile_chunk, 1 * MiB},
    {"sendfile rest-of-file", Direction::download, Kind::sendfile_rest, 0},
    {"splice pipe 64K", Direction::download, Kind::splice_down, 64 * KiB},
    {"splice pipe 1M", Direction::download, Kind::splice_down, 1 * MiB},
};
constexpr std::string_view kBaselineUp = "recv+write 256K";
constexpr std::string_view kBaselineDown = "pread+send 256K";

const char* dir_name(Direction d) { return d == Direction::upload ? "upload" : "download"; }

// ---------------------------------------------------------------------------------------------
// Small system helpers

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  // pid 0 = the calling thread.
  if (sched_setaffinity(0, sizeof set, &set) != 0) fail("sched_setaffinity(" + std::to_string(cpu) + ")");
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time (user+sys, seconds) of the calling thread.
double thread_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// Busy time (seconds) of one CPU from /proc/stat: user+nice+system+irq+softirq.
// Tick-sampled, so only meaningful over a second or more.
double cpu_busy_s(int cpu) {
  std::ifstream in("/proc/stat");
  const std::string want = "cpu" + std::to_string(cpu) + " ";
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, want.size(), want) != 0) continue;
    std::istringstream ss(line.substr(want.size()));
    unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
    ss >> user >> nice >> sys >> idle >> iowait >> irq >> softirq;
    return static_cast<double>(user + nice + sys + irq + softirq) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return 0.0;
}

// A page-aligned, pre-faulted buffer so page faults stay out of the measured loop.
struct Buffer {
  char* p = nullptr;
  std::size_t n = 0;
  explicit Buffer(std::size_t size) : n(size) {
    void* m = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) fail("mmap");
    p = static_cast<char*>(m);
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>(i * 131 + 7);
  }
  ~Buffer() {
    if (p) munmap(p, n);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// One loopback TCP connection: {server end, peer end}.
std::pair<Fd, Fd> loopback_pair() {
  Fd lst(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (lst.fd < 0) fail("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(lst.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("bind");
  if (listen(lst.fd, 1) != 0) fail("listen");
  socklen_t len = sizeof a;
  if (getsockname(lst.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) fail("getsockname");
  Fd peer(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (peer.fd < 0) fail("socket");
  if (connect(peer.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("connect");
  Fd srv(accept4(lst.fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (srv.fd < 0) fail("accept");
  return {std::move(srv), std::move(peer)};
}

// With --nonblock, a syscall that answered EAGAIN waits here, like an event loop would.
void wait_ready(int fd, short events) {
  pollfd p{fd, events, 0};
  while (poll(&p, 1, 1000) < 0 && errno == EINTR) {}
}

// Write all of [p, p+n) to a regular file (a short write to ext4 is rare but legal).
void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Send all of [p, p+n) to the socket.
void send_all(int fd, const char* p, std::size_t n, bool nonblock) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && nonblock) {
        wait_ready(fd, POLLOUT);
        continue;
      }
      fail("send");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// A pipe with its capacity raised (or lowered) to `size` bytes.
struct Pipe {
  Fd r, w;
  explicit Pipe(std::size_t size) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) fail("pipe2");
    r = Fd(fds[0]);
    w = Fd(fds[1]);
    if (fcntl(w.fd, F_SETPIPE_SZ, static_cast<int>(size)) < 0) fail("F_SETPIPE_SZ " + std::to_string(size));
  }
};

// ---------------------------------------------------------------------------------------------
// The server loops. Each runs until the deadline and returns the payload bytes it moved.
// Everything they need (buffer, pipe, open file) is set up before the clock starts.

struct UploadFiles {
  const std::string& dir;
  std::size_t file_bytes;
  unsigned next = 0;
  std::vector<std::string> made;

  // The next fresh upload file, as the server opens one per STOR.
  Fd open_next() {
    made.push_back(dir + "/upload-" + std::to_string(next++));
    Fd f(::open(made.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (f.fd < 0) fail("open " + made.back());
    return f;
  }
};

std::uint64_t upload_loop(const Method& m, int sock, UploadFiles& files, double deadline, bool nonblock,
                          Buffer* buf, Pipe* pipe) {
  std::uint64_t total = 0;
  Fd file = files.open_next();
  std::size_t left = files.file_bytes;  // bytes still to go into the current file
  const int rflags = m.kind == Kind::recv_waitall ? MSG_WAITALL : 0;
  const unsigned sflags = SPLICE_F_MOVE | SPLICE_F_MORE | (nonblock ? SPLICE_F_NONBLOCK : 0u);
  while (now_s() < deadline) {
    std::size_t got = 0;
    if (m.kind == Kind::splice_up) {
      // socket -> pipe: the kernel hands the skb pages to the pipe, no copy.
      const ssize_t n = splice(sock, nullptr, pipe->w.fd, nullptr, std::min(m.size, left), sflags);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN && nonblock) {
          wait_ready(sock, POLLIN);
          continue;
        }
        fail("splice socket->pipe");
      }
      if (n == 0) break;  // peer closed (does not happen before the deadline)
      got = static_cast<std::size_t>(n);
      // pipe -> file: ext4 copies the pages into the page cache (SPLICE_F_MOVE is a no-op).
      for (std::size_t in_pipe = got; in_pipe > 0;) {
        const ssize_t w = splice(pipe->r.fd, nullptr, file.fd, nullptr, in_pipe, SPLICE_F_MOVE);
        if (w < 0) {
          if (errno == EINTR) continue;
          fail("splice pipe->file");
        }
        in_pipe -= static_cast<std::size_t>(w);
      }
    } else {
      const ssize_t n = ::recv(sock, buf->p, std::min(m.size, left), rflags);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN && nonblock) {
          wait_ready(sock, POLLIN);
          continue;
        }
        fail("recv");
      }
      if (n == 0) break;
      got = static_cast<std::size_t>(n);
      if (m.kind != Kind::recv_only) write_all(file.fd, buf->p, got);
    }
    total += got;
    left -= got;
    if (left == 0) {  // this "STOR" is complete: close it, open the next
      file = files.open_next();
      left = files.file_bytes;
    }
  }
  return total;
}

std::uint64_t download_loop(const Method& m, int sock, int file, std::size_t file_size, double deadline,
                            bool nonblock, Buffer* buf, Pipe* pipe) {
  std::uint64_t total = 0;
  off_t off = 0;  // position in the file; wraps to 0 at the end, as if a new RETR started
  const unsigned sflags = SPLICE_F_MOVE | SPLICE_F_MORE | (nonblock ? SPLICE_F_NONBLOCK : 0u);
  while (now_s() < deadline) {
    if (static_cast<std::size_t>(off) == file_size) off = 0;
    const std::size_t left = file_size - static_cast<std::size_t>(off);
    std::size_t moved = 0;
    switch (m.kind) {
      case Kind::read_send: {
        const ssize_t n = ::pread(file, buf->p, std::min(m.size, left), off);
        if (n <= 0) fail("pread");
        send_all(sock, buf->p, static_cast<std::size_t>(n), nonblock);
        moved = static_cast<std::size_t>(n);
        off += n;
        break;
      }
      case Kind::sendfile_chunk:
      case Kind::sendfile_rest: {
        const std::size_t want = m.kind == Kind::sendfile_rest ? left : std::min(m.size, left);
        const ssize_t n = ::sendfile(sock, file, &off, want);  // advances off
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN && nonblock) {
            wait_ready(sock, POLLOUT);
            continue;
          }
          fail("sendfile");
        }
        moved = static_cast<std::size_t>(n);
        break;
      }
      case Kind::splice_down: {
        // file -> pipe: page-cache pages are referenced, not copied.
        loff_t in_off = off;
        const ssize_t n = splice(file, &in_off, pipe->w.fd, nullptr, std::min(m.size, left), SPLICE_F_MOVE);
        if (n <= 0) fail("splice file->pipe");
        // pipe -> socket: the socket takes the page references too.
        for (std::size_t in_pipe = static_cast<std::size_t>(n); in_pipe > 0;) {
          const ssize_t w = splice(pipe->r.fd, nullptr, sock, nullptr, in_pipe, sflags);
          if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN && nonblock) {
              wait_ready(sock, POLLOUT);
              continue;
            }
            fail("splice pipe->socket");
          }
          in_pipe -= static_cast<std::size_t>(w);
        }
        moved = static_cast<std::size_t>(n);
        off = in_off;
        break;
      }
      default: throw std::logic_error("not a download method");
    }
    total += moved;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// One measurement: a fresh connection, a server thread and a peer thread.

struct Sample {
  double mib_s = 0;
  double server_ms_per_mib = 0;
  double util = 0;             // server thread CPU / wall
  double cpu0_ms_per_mib = 0;  // busy time of the server's CPU / MiB
  double peer_ms_per_mib = 0;
  double seconds = 0;
  std::uint64_t bytes = 0;
};

Sample measure(const Method& m, const Options& o, const std::string& dir, int retr_fd) {
  auto [srv, peer] = loopback_pair();
  if (o.nonblock && fcntl(srv.fd, F_SETFL, fcntl(srv.fd, F_GETFL) | O_NONBLOCK) != 0) fail("O_NONBLOCK");

  std::atomic<int> ready{0};      // both threads set up and pinned
  std::atomic<bool> go{false};    // start together
  std::atomic<bool> stop{false};  // server loop done: upload peer stops sending
  std::uint64_t peer_bytes = 0;
  double peer_cpu = 0;
  std::string peer_error;

  // The peer: a plain sender (upload) or a plain receiver that discards (download).
  std::thread peer_thread([&] {
    try {
      pin_to_cpu(o.peer_cpu);
      Buffer pbuf(1 * MiB);
      ready.fetch_add(1);
      while (!go.load()) {}
      const double c0 = thread_cpu_s();
      if (m.dir == Direction::upload) {
        while (!stop.load(std::memory_order_relaxed)) {
          const ssize_t n = ::send(peer.fd, pbuf.p, pbuf.n, MSG_NOSIGNAL);
          if (n < 0) {
            if (errno == EINTR) continue;
            fail("peer send");
          }
          peer_bytes += static_cast<std::uint64_t>(n);
        }
        shutdown(peer.fd, SHUT_WR);
      } else {
        for (;;) {
          const ssize_t n = ::recv(peer.fd, pbuf.p, pbuf.n, 0);
          if (n < 0) {
            if (errno == EINTR) continue;
            fail("peer recv");
          }
          if (n == 0) break;
          peer_bytes += static_cast<std::uint64_t>(n);
        }
      }
      peer_cpu = thread_cpu_s() - c0;
    } catch (const std::exception& e) {
      peer_error = e.what();
      ready.fetch_add(1);
      shutdown(peer.fd, SHUT_RDWR);  // unblock the server
    }
  });

  Sample s;
  std::string server_error;
  std::vector<std::string> made;
  std::uint64_t drained = 0;
  // The server: the method under test.
  std::thread server_thread([&] {
    UploadFiles files{dir, o.file_bytes, 0, {}};
    try {
      pin_to_cpu(o.server_cpu);
      std::unique_ptr<Buffer> buf;
      std::unique_ptr<Pipe> pipe;
      if (m.kind == Kind::splice_up || m.kind == Kind::splice_down)
        pipe = std::make_unique<Pipe>(m.size);
      else if (m.size > 0)
        buf = std::make_unique<Buffer>(m.size);
      ready.fetch_add(1);
      while (ready.load() < 2) {}
      go.store(true);

      const double t0 = now_s();
      const double busy0 = cpu_busy_s(o.server_cpu);
      const double c0 = thread_cpu_s();
      const double deadline = t0 + o.seconds;
      s.bytes =
          m.dir == Direction::upload
              ? upload_loop(m, srv.fd, files, deadline, o.nonblock, buf.get(), pipe.get())
              : download_loop(m, srv.fd, retr_fd, o.retr_bytes, deadline, o.nonblock, buf.get(), pipe.get());
      const double c1 = thread_cpu_s();
      const double busy1 = cpu_busy_s(o.server_cpu);
      const double t1 = now_s();

      s.seconds = t1 - t0;
      const double mib = static_cast<double>(s.bytes) / kMiB;
      s.mib_s = mib / s.seconds;
      s.server_ms_per_mib = (c1 - c0) * 1e3 / mib;
      s.util = (c1 - c0) / s.seconds;
      s.cpu0_ms_per_mib = (busy1 - busy0) * 1e3 / mib;

      // Not measured: end the stream. Uploads drain what the peer still sends until its EOF.
      stop.store(true);
      if (m.dir == Direction::upload) {
        if (o.nonblock) fcntl(srv.fd, F_SETFL, fcntl(srv.fd, F_GETFL) & ~O_NONBLOCK);
        Buffer sink(1 * MiB);
        for (ssize_t n; (n = ::recv(srv.fd, sink.p, sink.n, 0)) != 0;) {
          if (n < 0) {
            if (errno == EINTR) continue;
            fail("drain recv");
          }
          drained += static_cast<std::uint64_t>(n);
        }
      }
      srv.reset();  // download: the peer sees EOF
    } catch (const std::exception& e) {
      server_error = e.what();
      stop.store(true);
      ready.fetch_add(1);
      go.store(true);
      shutdown(srv.fd, SHUT_RDWR);  // unblock the peer
    }
    made = std::move(files.made);
  });
  server_thread.join();
  peer_thread.join();

  // Delete this measurement's upload files now, outside the timed loop: it bounds the disk
  // used and drops their dirty pages before the next measurement.
  for (const auto& p : made) ::unlink(p.c_str());

  if (!server_error.empty()) throw std::runtime_error("server: " + server_error);
  if (!peer_error.empty()) throw std::runtime_error("peer: " + peer_error);
  // Sanity: every byte the server moved was the peer's (upload) or reached it (download).
  if (peer_bytes != s.bytes + drained)
    throw std::runtime_error(std::string(m.name) + ": byte count mismatch");
  s.peer_ms_per_mib = peer_cpu * 1e3 / (static_cast<double>(s.bytes) / kMiB);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Setup, reporting, main

// The download source: retr_bytes of non-zero data, then read once so it sits in the page cache.
Fd prepare_retr_file(const std::string& path, std::size_t size) {
  {
    Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (f.fd < 0) fail("open " + path);
    Buffer chunk(1 * MiB);
    for (std::size_t done = 0; done < size; done += chunk.n)
      write_all(f.fd, chunk.p, std::min(chunk.n, size - done));
    if (fsync(f.fd) != 0) fail("fsync");  // no writeback left to disturb the measurements
  }
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) fail("open " + path);
  Buffer chunk(1 * MiB);
  for (off_t off = 0; static_cast<std::size_t>(off) < size;) {
    const ssize_t n = ::pread(f.fd, chunk.p, chunk.n, off);
    if (n <= 0) fail("pread");
    off += n;
  }
  return f;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Result {
  const Method* m;
  std::vector<Sample> runs;
  double med(double Sample::*f) const {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*f);
    return median(std::move(v));
  }
  double lo(double Sample::*f) const {
    double x = runs.front().*f;
    for (const auto& r : runs) x = std::min(x, r.*f);
    return x;
  }
  double hi(double Sample::*f) const {
    double x = runs.front().*f;
    for (const auto& r : runs) x = std::max(x, r.*f);
    return x;
  }
};

void print_markdown(const std::vector<Result>& results, const Options& o) {
  std::printf("Medians of %u runs of %.1f s; server on CPU %d, peer on CPU %d; %s sockets.\n\n", o.repeat,
              o.seconds, o.server_cpu, o.peer_cpu, o.nonblock ? "non-blocking (poll on EAGAIN)" : "blocking");
  std::printf(
      "| direction | method | MiB/s | server ms/MiB (min-max) | vs today | util | cpu%d ms/MiB | peer ms/MiB |\n",
      o.server_cpu);
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : results) {
    const std::string_view base = r.m->dir == Direction::upload ? kBaselineUp : kBaselineDown;
    double base_cpu = 0;
    for (const auto& b : results)
      if (b.m->dir == r.m->dir && b.m->name == base) base_cpu = b.med(&Sample::server_ms_per_mib);
    char rel[32] = "";
    if (base_cpu > 0)
      std::snprintf(rel, sizeof rel, "%+.0f%%", (r.med(&Sample::server_ms_per_mib) / base_cpu - 1) * 100);
    std::printf("| %s | %s | %.0f | %.3f (%.3f-%.3f) | %s | %.0f%% | %.3f | %.3f |\n", dir_name(r.m->dir),
                r.m->name, r.med(&Sample::mib_s), r.med(&Sample::server_ms_per_mib),
                r.lo(&Sample::server_ms_per_mib), r.hi(&Sample::server_ms_per_mib), rel,
                r.med(&Sample::util) * 100, r.med(&Sample::cpu0_ms_per_mib), r.med(&Sample::peer_ms_per_mib));
  }
}

void print_json(const std::vector<Result>& results, const Options& o) {
  std::printf(
      "{\"seconds\": %.3f, \"repeat\": %u, \"server_cpu\": %d, \"peer_cpu\": %d, \"nonblock\": %s, \"results\": [",
      o.seconds, o.repeat, o.server_cpu, o.peer_cpu, o.nonblock ? "true" : "false");
  bool first = true;
  for (const auto& r : results) {
    std::printf(
        "%s\n  {\"direction\": \"%s\", \"method\": \"%s\", \"mib_s\": %.1f, \"server_ms_per_mib\": %.4f, "
        "\"util\": %.3f, \"cpu_ms_per_mib\": %.4f, \"peer_ms_per_mib\": %.4f, \"runs\": [",
        first ? "" : ",", dir_name(r.m->dir), r.m->name, r.med(&Sample::mib_s),
        r.med(&Sample::server_ms_per_mib), r.med(&Sample::util), r.med(&Sample::cpu0_ms_per_mib),
        r.med(&Sample::peer_ms_per_mib));
    first = false;
    for (std::size_t i = 0; i < r.runs.size(); ++i) {
      const auto& s = r.runs[i];
      std::printf(
          "%s{\"bytes\": %llu, \"seconds\": %.4f, \"mib_s\": %.1f, \"server_ms_per_mib\": %.4f, \"util\": %.3f, "
          "\"cpu_ms_per_mib\": %.4f, \"peer_ms_per_mib\": %.4f}",
          i ? ", " : "", static_cast<unsigned long long>(s.bytes), s.seconds, s.mib_s, s.server_ms_per_mib,
          s.util, s.cpu0_ms_per_mib, s.peer_ms_per_mib);
    }
    std::printf("]}");
  }
  std::printf("\n]}\n");
}

void usage() {
  std::fputs(
      "usage: feitp-copy-bench [--seconds S] [--repeat N] [--dir DIR] [--file-mib N] [--retr-mib N]\n"
      "                        [--server-cpu C] [--peer-cpu C] [--nonblock] [--only a,b] [--json]\n"
      "Measures socket<->file copy methods over loopback: MiB/s and server CPU ms per MiB.\n"
      "  --seconds S     length of each measurement (default 3)\n"
      "  --repeat N      runs per method, medians reported (default 3)\n"
      "  --dir DIR       where upload files and the download file go (default: mkdtemp under /tmp,\n"
      "                  removed at the end; a given DIR is kept, only our files are removed)\n"
      "  --file-mib N    upload file size: a fresh file per N MiB (default 64)\n"
      "  --retr-mib N    download file size (default 256)\n"
      "  --server-cpu C, --peer-cpu C   CPUs to pin to (default 0 and 1)\n"
      "  --nonblock      non-blocking server socket, poll() on EAGAIN (event-loop style)\n"
      "  --only LIST     only methods whose \"direction method\" contains one of the comma-separated\n"
      "                  strings, e.g. --only upload,sendfile\n"
      "  --json          JSON instead of the markdown table\n",
      stderr);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds")
      o.seconds = std::stod(value());
    else if (a == "--repeat")
      o.repeat = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--dir")
      o.dir = value();
    else if (a == "--file-mib")
      o.file_bytes = std::stoul(value()) * MiB;
    else if (a == "--retr-mib")
      o.retr_bytes = std::stoul(value()) * MiB;
    else if (a == "--server-cpu")
      o.server_cpu = std::stoi(value());
    else if (a == "--peer-cpu")
      o.peer_cpu = std::stoi(value());
    else if (a == "--nonblock")
      o.nonblock = true;
    else if (a == "--only")
      o.only = value();
    else if (a == "--json")
      o.json = true;
    else {
      usage();
      std::exit(a == "--help" || a == "-h" ? 0 : 2);
    }
  }
  if (o.seconds <= 0 || o.seconds > 60 || o.repeat == 0 || o.file_bytes == 0 || o.retr_bytes == 0) {
    usage();
    std::exit(2);
  }
  return o;
}

bool selected(const Method& m, const std::string& only) {
  if (only.empty()) return true;
  const std::string full = std::string(dir_name(m.dir)) + " " + m.name;
  std::istringstream ss(only);
  for (std::string part; std::getline(ss, part, ',');)
    if (!part.empty() && full.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::string dir = o.dir;
  bool own_dir = false;
  if (dir.empty()) {
    char tmpl[] = "/tmp/feitp-copy-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
    own_dir = true;
  }
  const std::string retr_path = dir + "/retr-source";
  int rc = 0;
  try {
    std::vector<Result> results;
    for (const auto& m : kMethods)
      if (selected(m, o.only)) results.push_back({&m, {}});
    if (results.empty()) throw std::runtime_error("--only matched no method");

    const bool any_download = std::any_of(results.begin(), results.end(),
                                          [](const Result& r) { return r.m->dir == Direction::download; });
    Fd retr;
    if (any_download) retr = prepare_retr_file(retr_path, o.retr_bytes);

    // Interleave: run 1 of every method, then run 2 of every method, ...
    for (unsigned rep = 0; rep < o.repeat; ++rep)
      for (auto& r : results) {
        r.runs.push_back(measure(*r.m, o, dir, retr.fd));
        const auto& s = r.runs.back();
        std::fprintf(stderr,
                     "run %u/%u %-8s %-24s %8.0f MiB/s  server %.3f ms/MiB  util %3.0f%%  peer %.3f ms/MiB\n",
                     rep + 1, o.repeat, dir_name(r.m->dir), r.m->name, s.mib_s, s.server_ms_per_mib,
                     s.util * 100, s.peer_ms_per_mib);
      }
    if (o.json)
      print_json(results, o);
    else
      print_markdown(results, o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "feitp-copy-bench: %s\n", e.what());
    rc = 1;
  }
  ::unlink(retr_path.c_str());
  if (own_dir) ::rmdir(dir.c_str());
  return rc;
}
