// feitp: one server spread over several worker processes that an embedder forks itself (the
// Python package's serve_forever(workers=N) does). feitpd's master does the same for its config.
//
//   feitp::Cluster cluster(options, 4);              // in the parent, before fork()
//   for (unsigned i = 0; i < 4; ++i) if (fork() == 0) {
//     feitp::Server server(cluster.worker_options(i));  // in worker i
//     server.set_admission(cluster.admission(i));
//     ... authenticator, storage, hooks ...; server.run(); _exit(0);
//   }
//   ... waitpid(); after worker i died: cluster.release_worker(i), fork it again ...
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "feitp/options.hpp"
#include "feitp/server.hpp"

namespace feitp {

class Cluster {
 public:
  // Binds options.listen once per worker (SO_REUSEPORT sockets on the same ports, so the kernel
  // spreads connections over the workers; a ":0" port is chosen once for all) and maps the
  // shared admission state: max_connections, max_per_ip, the per-user session caps and the
  // login bans of `options` then hold across every worker. Call in the parent, before fork().
  // Throws std::runtime_error naming the address when binding fails.
  // first_set: sockets already bound and listening (one per address of options.listen, in its
  // order, with SO_REUSEPORT) that worker 0 serves instead of new ones, so that connections
  // queued on them before the workers start are served; copies are taken, the caller keeps its own.
  Cluster(const Options& options, unsigned workers, const std::vector<int>& first_set = {});
  ~Cluster();  // closes this process's copies of the sockets
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  [[nodiscard]] unsigned workers() const;
  // The bound control ports, in the order of Options::listen.
  [[nodiscard]] std::vector<std::uint16_t> ports() const;

  // In worker `index` (0 <= index < workers()), after fork(): closes the other workers' sockets
  // in this process and returns the options with listen_fds set to this worker's sockets.
  Options worker_options(unsigned index);
  // The Admission worker `index` gives Server::set_admission(): decisions against the shared state.
  std::shared_ptr<Admission> admission(unsigned index);
  // In the parent, after worker `index` ended: releases what it held (its connections and
  // per-address and per-user counts) so a new worker can take the index. False when the shared
  // lock stayed taken (a stopped worker holds it): call again a little later.
  bool release_worker(unsigned index);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace feitp
