// feitp::Server::Builder: the checks that turn a forgotten authenticator or a bad option into
// an error at construction, with a message naming it, instead of a server that refuses every
// login.
#include <stdexcept>

#include "feitp/server.hpp"
#include "session/options_check.hpp"

namespace feitp {

Server::Builder::Builder(Options options) : options_(std::move(options)) {}

Server::Builder& Server::Builder::authenticator(std::shared_ptr<Authenticator> auth) {
  auth_ = std::move(auth);
  return *this;
}

Server::Builder& Server::Builder::storage_factory(std::shared_ptr<StorageFactory> storage) {
  storage_ = std::move(storage);
  return *this;
}

Server::Builder& Server::Builder::admission(std::shared_ptr<Admission> a) {
  admission_ = std::move(a);
  return *this;
}

Server::Builder& Server::Builder::monitor(std::shared_ptr<Monitor> m) {
  monitor_ = std::move(m);
  return *this;
}

Server::Builder& Server::Builder::rate_states(std::shared_ptr<RateStates> states) {
  rate_states_ = std::move(states);
  return *this;
}

Server::Builder& Server::Builder::logger(std::shared_ptr<spdlog::logger> l) {
  options_.logger = std::move(l);
  return *this;
}

Server::Builder& Server::Builder::hooks(std::shared_ptr<Hooks> h) {
  if (!h) throw std::invalid_argument("feitp::Server::Builder::hooks: null Hooks");
  hooks_.push_back(std::move(h));
  return *this;
}

Server::Builder& Server::Builder::virtual_host(VirtualHost host) {
  if (host.name.empty())
    throw std::invalid_argument("feitp::Server::Builder::virtual_host: the host has no name");
  hosts_.push_back(std::move(host));
  return *this;
}

Server::Builder& Server::Builder::site_command(std::string name, std::string help, SiteHandler handler,
                                               bool blocking) {
  if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos) {
    throw std::invalid_argument("feitp::Server::Builder::site_command: the name must be one word, got \"" +
                                name + "\"");
  }
  if (!handler) {
    throw std::invalid_argument("feitp::Server::Builder::site_command: SITE " + name + " has no handler");
  }
  sites_.push_back(Site{std::move(name), std::move(help), std::move(handler), blocking});
  return *this;
}

std::unique_ptr<Server> Server::Builder::build() const {
  if (!auth_) {
    throw std::invalid_argument(
        "feitp::Server: no authenticator: call Builder::authenticator() before build()");
  }
  if (!storage_) {
    throw std::invalid_argument(
        "feitp::Server: no storage factory: call Builder::storage_factory() before build()");
  }
  session::throw_if_invalid(options_, "feitp::Server");
  auto server = std::make_unique<Server>(options_);
  server->set_authenticator(auth_);
  server->set_storage_factory(storage_);
  if (admission_) server->set_admission(admission_);
  if (monitor_) server->set_monitor(monitor_);
  if (rate_states_) server->set_rate_states(rate_states_);
  for (const auto& h : hooks_) server->add_hooks(h);
  for (const auto& host : hosts_) server->add_virtual_host(host);
  for (const auto& site : sites_) server->add_site_command(site.name, site.help, site.handler, site.blocking);
  return server;
}

}  // namespace feitp
