// TLS session-ticket keys shared by the master and every worker (across reloads), so that a
// client that reconnects to another worker resumes its session. The master makes the first key
// before it forks and rotates them; workers only read. Lives in an anonymous shared mapping
// made before fork(): no file, nothing for a worker to open.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "feitp/options.hpp"

namespace feitp::runtime {

class SharedTicketKeys final : public TicketKeySource {
 public:
  // Throws std::runtime_error when the mapping or the random bytes cannot be had.
  SharedTicketKeys();
  ~SharedTicketKeys() override;
  SharedTicketKeys(const SharedTicketKeys&) = delete;
  SharedTicketKeys& operator=(const SharedTicketKeys&) = delete;

  // Master only: a new current key when the current one is older than `every`; the previous
  // ones stay good for decryption (kSlots - 1 of them), so tickets live about
  // (kSlots - 1) * every. Returns true when it rotated.
  bool rotate_if_due(std::chrono::seconds every);

  bool current(Key& out) override;
  bool find(const unsigned char* name, Key& out, bool& renew) override;

  static constexpr unsigned kSlots = 4;

 private:
  struct Area;
  Area* area_ = nullptr;
};

}  // namespace feitp::runtime
