// The monitoring mapping: layout, the workers' writer (a feitp::Monitor) and the readers.
// Everything read from the mapping may come from a compromised worker (see metrics.hpp).
#include "obs/metrics.hpp"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>
#include <type_traits>

#include "proto/command.hpp"

namespace feitp::obs {

namespace {

constexpr std::size_t kVerbs = static_cast<std::size_t>(proto::Verb::SMNT) + 1;
constexpr std::size_t kWords = (sizeof(SessionRecord) + 7) / 8;
static_assert(std::is_trivially_copyable_v<SessionRecord>);
// A reader gives up on a record after this many torn copies (a worker rewriting it without
// end cannot hold the admin process).
constexpr int kReadTries = 8;

struct Hist {
  std::atomic<std::uint64_t> b[kBuckets];
  std::atomic<std::uint64_t> sum_ns;
};

struct Slot {
  std::atomic<std::uint32_t> seq;  // odd while the worker writes the record
  std::uint32_t pad;
  std::atomic<std::uint64_t> kick;  // a session id the admin API asks to close
  std::atomic<std::uint64_t> w[kWords];
};

std::size_t align64(std::size_t n) { return (n + 63) & ~std::size_t{63}; }

template <std::size_t N>
std::array<std::uint64_t, N> bounds_ns(const std::array<double, N>& secs) {
  std::array<std::uint64_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<std::uint64_t>(secs[i] * 1e9 + 0.5);
  return out;
}

template <std::size_t N>
void observe(Hist& h, const std::array<std::uint64_t, N>& bounds, std::uint64_t ns) {
  std::size_t i = 0;
  while (i < N && ns > bounds[i]) ++i;
  h.b[i].fetch_add(1, std::memory_order_relaxed);
  h.sum_ns.fetch_add(ns, std::memory_order_relaxed);
}

void read_hist(const Hist& h, HistogramCounts& out) {
  for (std::size_t i = 0; i < kBuckets; ++i) out.buckets[i] += h.b[i].load(std::memory_order_relaxed);
  out.sum_ns += h.sum_ns.load(std::memory_order_relaxed);
}

void copy_text(char* dst, std::size_t cap, std::string_view s) {
  const std::size_t n = std::min(s.size(), cap - 1);
  if (n != 0) std::memcpy(dst, s.data(), n);  // an empty view may hold no pointer at all
  std::memset(dst + n, 0, cap - n);
}

void write_slot(Slot& slot, const SessionRecord& r) {
  std::uint64_t words[kWords] = {};
  std::memcpy(words, &r, sizeof r);
  const std::uint32_t s = slot.seq.load(std::memory_order_relaxed);
  slot.seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (std::size_t i = 0; i < kWords; ++i) slot.w[i].store(words[i], std::memory_order_relaxed);
  slot.seq.store(s + 2, std::memory_order_release);
}

bool read_slot(const Slot& slot, SessionRecord& out) {
  std::uint64_t words[kWords];
  for (int t = 0; t < kReadTries; ++t) {
    const std::uint32_t s1 = slot.seq.load(std::memory_order_acquire);
    if (s1 & 1U) continue;
    for (std::size_t i = 0; i < kWords; ++i) words[i] = slot.w[i].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.seq.load(std::memory_order_relaxed) != s1) continue;
    std::memcpy(&out, words, sizeof out);
    // Cut every string at its end, whatever the worker wrote.
    out.command[sizeof out.command - 1] = '\0';
    out.user[sizeof out.user - 1] = '\0';
    out.peer[sizeof out.peer - 1] = '\0';
    out.path[sizeof out.path - 1] = '\0';
    return true;
  }
  return false;
}

std::int64_t to_ms(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

struct MonitorState::Header {
  std::atomic<std::uint64_t> worker_restarts;
};

struct MonitorState::Shard {
  std::atomic<std::uint32_t> pid;
  std::atomic<std::uint32_t> sessions;
  std::atomic<std::uint32_t> transfers;
  std::uint32_t pad;
  Hist transfer[2];
  Hist command[kVerbs];
  Slot slots[kSessionsPerWorker];
};

std::size_t verb_count() { return kVerbs; }

std::string_view verb_at(std::size_t i) {
  if (i == 0 || i >= kVerbs) return "unknown";
  return proto::verb_name(static_cast<proto::Verb>(i));
}

HistogramCounts& HistogramCounts::operator+=(const HistogramCounts& o) {
  for (std::size_t i = 0; i < kBuckets; ++i) buckets[i] += o.buckets[i];
  sum_ns += o.sum_ns;
  return *this;
}

std::int64_t monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

MonitorState::MonitorState(std::uint32_t slots) : slots_(std::max<std::uint32_t>(slots, 1)) {
  shard_bytes_ = align64(sizeof(Shard));
  const std::size_t bytes = align64(sizeof(Header)) + shard_bytes_ * slots_;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t body = (bytes + page - 1) / page * page;
  region_bytes_ = body + 2 * page;  // guard pages on both sides, as the admission state has
  void* p = ::mmap(nullptr, region_bytes_, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot map " + std::to_string(region_bytes_) + " bytes for metrics");
  }
  region_ = p;
  base_ = static_cast<char*>(p) + page;
  if (::mprotect(base_, body, PROT_READ | PROT_WRITE) != 0) {
    const int err = errno;
    ::munmap(p, region_bytes_);
    throw std::system_error(err, std::generic_category(), "cannot make the metrics mapping writable");
  }
  // Zero-filled: every atomic starts at 0, which is what these types hold after construction.
  new (base_) Header;
  for (std::uint32_t s = 0; s < slots_; ++s) new (shard(s)) Shard;
}

MonitorState::~MonitorState() {
  if (region_ != nullptr) ::munmap(region_, region_bytes_);
}

MonitorState::Shard* MonitorState::shard(std::uint32_t slot) const {
  return reinterpret_cast<Shard*>(base_ + align64(sizeof(Header)) + shard_bytes_ * (slot % slots_));
}

void MonitorState::worker_started(std::uint32_t slot, pid_t pid) {
  if (slot >= slots_) return;
  shard(slot)->pid.store(static_cast<std::uint32_t>(pid), std::memory_order_relaxed);
}

void MonitorState::worker_ended(std::uint32_t slot) {
  if (slot >= slots_) return;
  Shard* sh = shard(slot);
  sh->pid.store(0, std::memory_order_relaxed);
  sh->sessions.store(0, std::memory_order_relaxed);
  sh->transfers.store(0, std::memory_order_relaxed);
  const SessionRecord empty{};
  for (auto& s : sh->slots) {
    s.kick.store(0, std::memory_order_relaxed);
    write_slot(s, empty);
  }
}

void MonitorState::count_worker_restart() {
  reinterpret_cast<Header*>(base_)->worker_restarts.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t MonitorState::worker_restarts() const {
  return reinterpret_cast<const Header*>(base_)->worker_restarts.load(std::memory_order_relaxed);
}

pid_t MonitorState::worker_pid(std::uint32_t slot) const {
  if (slot >= slots_) return 0;
  return static_cast<pid_t>(shard(slot)->pid.load(std::memory_order_relaxed));
}

ShardTotals MonitorState::totals() const {
  ShardTotals t;
  t.command.resize(kVerbs);
  for (std::uint32_t s = 0; s < slots_; ++s) {
    const Shard* sh = shard(s);
    t.sessions += sh->sessions.load(std::memory_order_relaxed);
    t.transfers += sh->transfers.load(std::memory_order_relaxed);
    read_hist(sh->transfer[0], t.transfer[0]);
    read_hist(sh->transfer[1], t.transfer[1]);
    for (std::size_t v = 0; v < kVerbs; ++v) read_hist(sh->command[v], t.command[v]);
  }
  return t;
}

std::vector<SessionRecord> MonitorState::sessions(std::uint32_t slot) const {
  std::vector<SessionRecord> out;
  if (slot >= slots_) return out;
  const Shard* sh = shard(slot);
  SessionRecord r;
  for (const auto& s : sh->slots) {
    if (read_slot(s, r) && r.id != 0) out.push_back(r);
  }
  return out;
}

bool MonitorState::request_kick(std::uint32_t slot, std::uint64_t id) {
  if (slot >= slots_ || id == 0) return false;
  Shard* sh = shard(slot);
  SessionRecord r;
  for (auto& s : sh->slots) {
    if (read_slot(s, r) && r.id == id) {
      s.kick.store(id, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

namespace {

// The worker's side: histograms on every command and transfer, records at each publish.
class WorkerMonitor final : public Monitor {
 public:
  WorkerMonitor(MonitorState::Shard* shard, bool sessions)
      : sh_(shard),
        sessions_(sessions),
        seen_(kSessionsPerWorker, 0),
        last_(sessions ? kSessionsPerWorker : 0) {
    for (std::size_t v = 1; v < kVerbs; ++v) verbs_.emplace(verb_at(v), v);
    for (std::uint32_t i = kSessionsPerWorker; i > 0; --i) free_.push_back(i - 1);
  }

  void command_done(std::string_view verb, std::chrono::nanoseconds took) override {
    std::size_t v = 0;
    if (!verb.empty()) {
      if (auto it = verbs_.find(verb); it != verbs_.end()) v = it->second;
    }
    observe(sh_->command[v], cmd_bounds_,
            static_cast<std::uint64_t>(std::max<std::int64_t>(took.count(), 0)));
  }

  void transfer_done(bool upload, std::chrono::nanoseconds took, std::uint64_t /*bytes*/) override {
    observe(sh_->transfer[upload ? 1 : 0], xfer_bounds_,
            static_cast<std::uint64_t>(std::max<std::int64_t>(took.count(), 0)));
  }

  [[nodiscard]] std::chrono::milliseconds publish_interval() const override {
    // Sessions for a live page: 5 times a second; gauges alone: once a second.
    return std::chrono::milliseconds{sessions_ ? 200 : 1000};
  }

  void begin_publish(std::size_t sessions, std::size_t transfers) override {
    sh_->sessions.store(static_cast<std::uint32_t>(sessions), std::memory_order_relaxed);
    sh_->transfers.store(static_cast<std::uint32_t>(transfers), std::memory_order_relaxed);
    ++gen_;
  }

  bool session(const SessionView& v) override {
    if (!sessions_) return false;
    std::uint32_t i = 0;
    if (auto it = where_.find(v.id); it != where_.end()) {
      i = it->second;
    } else {
      if (free_.empty()) return false;  // more than kSessionsPerWorker: not listed
      i = free_.back();
      free_.pop_back();
      where_.emplace(v.id, i);
    }
    seen_[i] = gen_;
    SessionRecord r{};
    r.id = v.id;
    r.connected_ms = to_ms(v.connected);
    r.transfer_started_ms = v.transferring ? std::max<std::int64_t>(to_ms(v.transfer_started), 1) : 0;
    r.bytes = v.bytes;
    r.size = v.size;
    r.peer_port = v.peer_port;
    r.tls = v.tls;
    r.transferring = v.transferring;
    r.upload = v.upload;
    r.listing = v.listing;
    copy_text(r.command, sizeof r.command, v.command);
    copy_text(r.user, sizeof r.user, v.user);
    copy_text(r.peer, sizeof r.peer, v.peer_address);
    copy_text(r.path, sizeof r.path, v.path);
    Slot& slot = sh_->slots[i];
    if (std::memcmp(&r, &last_[i], sizeof r) != 0) {
      write_slot(slot, r);
      last_[i] = r;
    }
    if (slot.kick.load(std::memory_order_relaxed) == v.id) {
      slot.kick.store(0, std::memory_order_relaxed);
      return true;
    }
    return false;
  }

  void end_publish() override {
    for (auto it = where_.begin(); it != where_.end();) {
      const std::uint32_t i = it->second;
      if (seen_[i] == gen_) {
        ++it;
        continue;
      }
      last_[i] = SessionRecord{};
      sh_->slots[i].kick.store(0, std::memory_order_relaxed);
      write_slot(sh_->slots[i], last_[i]);
      free_.push_back(i);
      it = where_.erase(it);
    }
  }

 private:
  MonitorState::Shard* sh_;
  bool sessions_;
  std::unordered_map<std::string_view, std::size_t> verbs_;
  std::array<std::uint64_t, 12> cmd_bounds_ = bounds_ns(kCommandBuckets);
  std::array<std::uint64_t, 12> xfer_bounds_ = bounds_ns(kTransferBuckets);
  std::unordered_map<std::uint64_t, std::uint32_t> where_;  // session id -> slot
  std::vector<std::uint32_t> free_;
  std::vector<std::uint64_t> seen_;
  std::vector<SessionRecord> last_;  // what each slot holds (no rewrite when unchanged)
  std::uint64_t gen_ = 0;
};

}  // namespace

std::shared_ptr<Monitor> MonitorState::make_worker_monitor(std::uint32_t slot, bool sessions) {
  return std::make_shared<WorkerMonitor>(shard(slot % slots_), sessions);
}

}  // namespace feitp::obs
