#include "net/passive_ports.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "net/endpoint.hpp"

namespace feitp::net {

namespace {

// While every port is taken, the first waiting session tries the range this often.
constexpr std::chrono::milliseconds kRetry{100};

// Connections queued on a listener before its new owner announced it are not the new owner's.
void drop_queued(int listener) {
  for (;;) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    ::close(fd);
  }
}

}  // namespace

struct PassivePorts::Waiter {
  asio::ip::address local;
  asio::steady_timer timer;
  Listener got;
};

bool PassivePorts::keeps_idle() const noexcept {
  return min_ == 0 || static_cast<int>(max_) - static_cast<int>(min_) + 1 >= kKeepMinPorts;
}

PassivePorts::Listener PassivePorts::take_idle(const asio::ip::address& local) {
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    if (it->local != local) continue;
    Listener l = std::move(it->listener);
    idle_.erase(std::next(it).base());
    drop_queued(l.fd.get());
    return l;
  }
  return {};
}

PassivePorts::Listener PassivePorts::open_new(const asio::ip::address& local, std::mt19937& rng,
                                              std::error_code& ec) const {
  Listener l;
  l.fd.reset(open_passive_socket(local, min_, max_, rng, l.port, ec));
  return l;
}

asio::awaitable<PassivePorts::Listener> PassivePorts::acquire(const asio::ip::address& local,
                                                              std::mt19937& rng, Clock::duration patience,
                                                              std::error_code& ec) {
  ec.clear();
  if (Listener l = take_idle(local)) co_return l;
  Listener l = open_new(local, rng, ec);
  if (l || ec != std::errc::address_in_use || patience <= Clock::duration::zero()) co_return l;

  Waiter w{local, asio::steady_timer(co_await asio::this_coro::executor), {}};
  waiters_.push_back(&w);
  // Leaves the queue however the wait ends (a handed-over listener already took it out).
  struct Leave {
    std::list<Waiter*>& q;
    Waiter* w;
    ~Leave() {
      if (!w->got) q.remove(w);
    }
  } leave{waiters_, &w};
  const auto until = Clock::now() + patience;
  for (;;) {
    w.timer.expires_at(std::min(until, Clock::now() + kRetry));
    std::error_code wait_ec;
    co_await w.timer.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
    if (w.got) {
      ec.clear();
      co_return std::move(w.got);
    }
    // Only the first in line tries the range: a hundred waiters must not each walk it ten
    // times a second. (The others get listeners handed over, or their turn at the front.)
    if (waiters_.front() == &w) {
      l = open_new(local, rng, ec);
      if (l || ec != std::errc::address_in_use) co_return l;
    }
    if (Clock::now() >= until) {
      ec = std::make_error_code(std::errc::address_in_use);
      co_return Listener{};
    }
  }
}

void PassivePorts::give_back(const asio::ip::address& local, Listener l) {
  if (!l) return;
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    Waiter* w = *it;
    if (w->local != local) continue;
    waiters_.erase(it);
    drop_queued(l.fd.get());
    w->got = std::move(l);
    w->timer.cancel();
    return;
  }
  if (!keeps_idle()) return;  // closes it
  idle_.push_back({local, std::move(l), Clock::now()});
}

void PassivePorts::sweep(Clock::time_point now) {
  std::erase_if(idle_, [&](const Idle& i) { return now - i.since >= kKeepIdle; });
}

}  // namespace feitp::net
