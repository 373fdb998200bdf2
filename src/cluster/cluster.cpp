// feitp::Cluster: the master's listener sets and shared admission state, for embedders that
// fork their own workers (include/feitp/cluster.hpp).
#include "feitp/cluster.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <string>
#include <utility>

#include "cluster/listeners.hpp"
#include "cluster/shared_state.hpp"
#include "session/login_guard.hpp"

namespace feitp {

struct Cluster::Impl {
  Options options;
  std::vector<cluster::ListenerSet> sets;
  std::vector<std::uint16_t> ports;
  std::shared_ptr<cluster::SharedState> state;
};

Cluster::Cluster(const Options& options, unsigned workers, const std::vector<int>& first_set)
    : impl_(std::make_unique<Impl>()) {
  if (workers == 0) throw std::invalid_argument("a cluster needs at least one worker");
  if (!first_set.empty() && first_set.size() != options.listen.size()) {
    throw std::invalid_argument("the first worker's sockets must match the listen addresses one to one");
  }
  impl_->options = options;
  impl_->options.listen_fds.clear();
  try {
    if (!first_set.empty()) {
      cluster::ListenerSet set;
      for (int fd : first_set) {
        const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0) {
          cluster::close_listener_set(set);
          throw std::system_error(errno, std::generic_category(),
                                  "cannot copy listening socket " + std::to_string(fd));
        }
        set.push_back(copy);
      }
      impl_->ports = cluster::listener_ports(set);
      impl_->sets.push_back(std::move(set));
    }
    for (unsigned i = static_cast<unsigned>(impl_->sets.size()); i < workers; ++i) {
      impl_->sets.push_back(cluster::bind_listener_set(options.listen, impl_->ports, impl_->sets.empty()));
      if (impl_->ports.empty()) impl_->ports = cluster::listener_ports(impl_->sets.back());
    }
  } catch (...) {
    for (auto& s : impl_->sets) cluster::close_listener_set(s);
    throw;
  }
  // Sized like feitpd's (runtime/daemon_server.cpp): every connection's address four times over.
  const std::uint64_t conns = options.max_connections ? options.max_connections : 16384;
  const auto addresses = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(conns * 4, 4096, 65536));
  const auto users = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(conns, 1024, 65536));
  impl_->state = std::make_shared<cluster::SharedState>(workers, addresses, users);
}

Cluster::~Cluster() {
  for (auto& s : impl_->sets) cluster::close_listener_set(s);
}

unsigned Cluster::workers() const { return static_cast<unsigned>(impl_->sets.size()); }

std::vector<std::uint16_t> Cluster::ports() const { return impl_->ports; }

Options Cluster::worker_options(unsigned index) {
  if (index >= impl_->sets.size()) throw std::out_of_range("no worker " + std::to_string(index));
  for (unsigned i = 0; i < impl_->sets.size(); ++i) {
    if (i != index) cluster::close_listener_set(impl_->sets[i]);
  }
  Options o = impl_->options;
  o.listen_fds = impl_->sets[index];
  impl_->sets[index].clear();  // the Server owns them now
  return o;
}

std::shared_ptr<Admission> Cluster::admission(unsigned index) {
  if (index >= impl_->state->slots()) throw std::out_of_range("no worker " + std::to_string(index));
  const Options& o = impl_->options;
  return std::make_shared<cluster::SharedAdmission>(impl_->state, index, o.max_connections, o.max_per_ip,
                                                    session::login_policy(o), o.logger);
}

bool Cluster::release_worker(unsigned index) {
  if (index >= impl_->state->slots()) return true;
  return impl_->state->clear_slot(index);
}

}  // namespace feitp
