// feitp: a live view of the server for an operator's dashboard and metrics (feitpd's /metrics
// and admin API use it). Set one with Server::set_monitor(); without one the server does none
// of this work. Every method runs on the server's event-loop thread and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace feitp {

// What one control connection is doing, valid for the duration of Monitor::session().
struct SessionView {
  std::uint64_t id = 0;   // Connection::id()
  std::string_view user;  // "" before login
  std::string_view peer_address;
  std::uint16_t peer_port = 0;
  bool tls = false;
  std::string_view command;  // the last command's verb ("" before the first)
  std::chrono::steady_clock::time_point connected{};
  // The transfer in flight, if any.
  bool transferring = false;
  bool upload = false;
  bool listing = false;
  std::string_view path;    // absolute FTP path
  std::uint64_t bytes = 0;  // moved so far
  std::uint64_t size = 0;   // expected bytes (downloads), 0 = unknown
  std::chrono::steady_clock::time_point transfer_started{};
};

class Monitor {
 public:
  virtual ~Monitor() = default;

  // After each command is handled: its canonical verb ("" = unknown) and how long it took.
  virtual void command_done(std::string_view /*verb*/, std::chrono::nanoseconds /*took*/) {}
  // When a data transfer of a file ends, whatever the outcome.
  virtual void transfer_done(bool /*upload*/, std::chrono::nanoseconds /*took*/, std::uint64_t /*bytes*/) {}

  // How often the server walks its sessions and calls begin_publish(), session() for each and
  // end_publish(); zero = never.
  [[nodiscard]] virtual std::chrono::milliseconds publish_interval() const {
    return std::chrono::milliseconds{0};
  }
  virtual void begin_publish(std::size_t /*sessions*/, std::size_t /*transfers*/) {}
  // true = close this session now (421), e.g. an operator kicked it.
  virtual bool session(const SessionView& /*view*/) { return false; }
  virtual void end_publish() {}
};

}  // namespace feitp
