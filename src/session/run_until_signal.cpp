// feitp::run_until_signal: the one library call that touches process-wide signal state, and
// only in the way it documents (the calling thread's mask, restored on return; no handler).
// Built on the watcher the daemon uses too (os/signal_watcher.hpp): a signalfd read on a thread.
#include <signal.h>

#include <atomic>
#include <ctime>

#include "feitp/server.hpp"
#include "os/signal_watcher.hpp"

namespace feitp {

int run_until_signal(Server& server, std::chrono::seconds grace) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  std::atomic<int> caught{0};
  {
    // Blocks the two in this thread now, before run() starts any thread (they inherit the mask).
    os::SignalWatcher watcher(stop_signals);
    watcher.start([&](int signo) {
      int none = 0;
      if (caught.compare_exchange_strong(none, signo)) server.stop(grace);
    });
    struct Stopper {
      os::SignalWatcher& w;
      ~Stopper() { w.stop(); }  // wakes the watcher even when run() throws: it never hangs
    } stopper{watcher};
    server.run();
    watcher.stop();
    // A stop signal that came as run() returned for another reason: say so rather than drop it
    // (the watcher's destructor drops the rest and restores the mask).
    if (caught.load() == 0) {
      timespec zero{};
      if (const int late = ::sigtimedwait(&stop_signals, nullptr, &zero); late > 0) caught.store(late);
    }
  }
  return caught.load();
}

}  // namespace feitp
