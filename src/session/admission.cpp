// Admission::Ticket: what an Admission granted (a connection slot, a user's session), given
// back exactly once whatever ends its holder.
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "feitp/server.hpp"

namespace feitp {

Admission::Ticket::Ticket(std::shared_ptr<Admission> admission, Kind kind, std::string_view key)
    : admission_(std::move(admission)), key_(key), kind_(kind) {}

Admission::Ticket Admission::Ticket::admit(std::shared_ptr<Admission> admission,
                                           std::string_view peer_address) {
  if (!admission || !admission->admit(peer_address)) return {};
  return Ticket(std::move(admission), Kind::connection, peer_address);
}

Admission::Ticket Admission::Ticket::user_login(std::shared_ptr<Admission> admission, std::string_view user,
                                                std::uint32_t max) {
  if (!admission || !admission->user_login(user, max)) return {};
  return Ticket(std::move(admission), Kind::user, user);
}

Admission::Ticket::Ticket(Ticket&& other) noexcept
    : admission_(std::move(other.admission_)), key_(std::move(other.key_)), kind_(other.kind_) {}

Admission::Ticket& Admission::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    reset();
    admission_ = std::move(other.admission_);
    key_ = std::move(other.key_);
    kind_ = other.kind_;
  }
  return *this;
}

void Admission::Ticket::reset() noexcept {
  if (!admission_) return;
  // Taken out first: the ticket is empty before the call, so it gives back once even if the
  // call ends up destroying the ticket's owner.
  const std::shared_ptr<Admission> admission = std::move(admission_);
  admission_ = nullptr;
  const std::string key = std::move(key_);
  key_.clear();
  if (kind_ == Kind::connection) {
    admission->release(key);
  } else {
    admission->user_logout(key);
  }
}

}  // namespace feitp
