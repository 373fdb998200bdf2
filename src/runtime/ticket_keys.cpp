#include "runtime/ticket_keys.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace feitp::runtime {

// A seqlock per slot: the master (one writer) makes the sequence odd while it writes; a reader
// copies the key and retries when the sequence moved.
struct SharedTicketKeys::Area {
  struct Slot {
    std::atomic<std::uint32_t> seq{0};
    std::atomic<std::int64_t> born{0};  // CLOCK_MONOTONIC seconds; 0 = empty
    Key key{};
  };
  std::atomic<std::uint32_t> current{0};
  Slot slots[kSlots];
};

namespace {

std::int64_t now_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

}  // namespace

SharedTicketKeys::SharedTicketKeys() {
  void* p = ::mmap(nullptr, sizeof(Area), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot map shared memory for TLS ticket keys");
  area_ = new (p) Area();
  rotate_if_due(std::chrono::seconds{0});
}

SharedTicketKeys::~SharedTicketKeys() {
  if (area_ == nullptr) return;
  OPENSSL_cleanse(area_, sizeof(Area));
  ::munmap(area_, sizeof(Area));
}

bool SharedTicketKeys::rotate_if_due(std::chrono::seconds every) {
  const std::int64_t now = now_seconds();
  const std::uint32_t cur = area_->current.load(std::memory_order_acquire);
  const auto born = area_->slots[cur].born.load(std::memory_order_relaxed);
  if (born != 0 && now - born < every.count()) return false;
  Key k{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&k), sizeof k) != 1) return false;
  const std::uint32_t next = born == 0 ? cur : (cur + 1) % kSlots;
  auto& s = area_->slots[next];
  s.seq.fetch_add(1, std::memory_order_acq_rel);  // odd: being written
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(&s.key, &k, sizeof k);
  s.born.store(now == 0 ? 1 : now, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  s.seq.fetch_add(1, std::memory_order_release);  // even: done
  area_->current.store(next, std::memory_order_release);
  OPENSSL_cleanse(&k, sizeof k);
  return true;
}

namespace {

template <class Slot>
bool copy_slot(const Slot& s, SharedTicketKeys::Key& out) {
  for (int tries = 0; tries < 100; ++tries) {
    const std::uint32_t before = s.seq.load(std::memory_order_acquire);
    if ((before & 1U) != 0) continue;
    std::memcpy(&out, &s.key, sizeof out);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) == before) return s.born.load(std::memory_order_relaxed) != 0;
  }
  return false;
}

}  // namespace

bool SharedTicketKeys::current(Key& out) {
  return copy_slot(area_->slots[area_->current.load(std::memory_order_acquire)], out);
}

bool SharedTicketKeys::find(const unsigned char* name, Key& out, bool& renew) {
  const std::uint32_t cur = area_->current.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < kSlots; ++i) {
    Key k{};
    if (!copy_slot(area_->slots[i], k)) continue;
    if (std::memcmp(k.name, name, sizeof k.name) != 0) continue;
    out = k;
    renew = i != cur;  // an older key: the client gets a ticket under the current one
    OPENSSL_cleanse(&k, sizeof k);
    return true;
  }
  return false;
}

}  // namespace feitp::runtime
