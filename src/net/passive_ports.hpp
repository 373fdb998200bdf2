// The passive-mode listeners of one event loop: sessions take one for a transfer and give it
// back afterwards; the loop, not the session, owns a listener nobody uses.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <random>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>

#include "os/unique_fd.hpp"

namespace feitp::net {

// Why a pool: a port of the range is a scarce thing, and closing a listener does not make its
// port free again for sure. On a machine whose clients share the range (the range overlaps the
// kernel's ephemeral ports), any outgoing connection may take a port the moment its listener
// closes, and keeps it for a minute in TIME_WAIT. A listener passed from session to session
// keeps its port. When the whole range is taken, a session waits for a port (another session's
// transfer ends, the kernel frees one) instead of failing at once: the range is a queue, not a
// cliff.
class PassivePorts {
 public:
  using Clock = std::chrono::steady_clock;

  struct Listener {
    os::UniqueFd fd;
    std::uint16_t port = 0;
    explicit operator bool() const noexcept { return fd.valid(); }
  };

  // How long an idle listener stays open for the loop's next PASV/EPSV.
  static constexpr std::chrono::seconds kKeepIdle{2};
  // Ranges with fewer ports keep no idle listener (the ports go back to the kernel, where every
  // worker can take them); a listener given back still goes straight to a waiting session.
  static constexpr int kKeepMinPorts = 100;

  // [min, max]: the configured range; 0/0 lets the kernel choose (and never runs out).
  PassivePorts(std::uint16_t min, std::uint16_t max) : min_(min), max_(max) {}
  PassivePorts(const PassivePorts&) = delete;
  PassivePorts& operator=(const PassivePorts&) = delete;

  // A listener on `local` (the control connection's local address): an idle one, else a new one
  // on a free port of the range; when every port is taken, waits up to `patience` for one that
  // another session gives back or the kernel frees. Empty, with `ec` set, when none came.
  // A listener taken from the pool has no connection queued on it: strays are dropped.
  asio::awaitable<Listener> acquire(const asio::ip::address& local, std::mt19937& rng,
                                    Clock::duration patience, std::error_code& ec);

  // A listener a session no longer needs: to the first session waiting for one on `local`, else
  // kept idle for kKeepIdle (closed at once when the range is small).
  void give_back(const asio::ip::address& local, Listener l);

  // Closes the listeners idle since before now - kKeepIdle (the loop's once-a-second sweep).
  void sweep(Clock::time_point now);

  std::size_t idle() const noexcept { return idle_.size(); }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  struct Idle {
    asio::ip::address local;
    Listener listener;
    Clock::time_point since;
  };
  struct Waiter;

  Listener take_idle(const asio::ip::address& local);
  Listener open_new(const asio::ip::address& local, std::mt19937& rng, std::error_code& ec) const;
  bool keeps_idle() const noexcept;

  std::uint16_t min_;
  std::uint16_t max_;
  std::vector<Idle> idle_;      // most recently given back last: taken first
  std::list<Waiter*> waiters_;  // sessions waiting for a port, first come first served
};

}  // namespace feitp::net
