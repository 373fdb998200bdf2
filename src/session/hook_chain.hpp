// The server's hooks as one chain (issue 11: the decision loop was written four times).
// notify() tells every hook in the order added; decide() asks them in that order and stops at
// the first that does not proceed (a veto stops the chain). blocking() says whether a call may
// block, i.e. whether the session must run it on the pool (Session::notify_hooks/decide_hooks).
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "feitp/hooks.hpp"

namespace feitp::session {

class HookChain {
 public:
  void add(std::shared_ptr<Hooks> hooks) {
    if (!hooks) return;
    blocking_ = blocking_ || hooks->blocking();
    hooks_.push_back(std::move(hooks));
  }
  [[nodiscard]] bool empty() const noexcept { return hooks_.empty(); }
  // True when any hook declared blocking(): its calls leave the event loop.
  [[nodiscard]] bool blocking() const noexcept { return blocking_; }

  template <class F>
  void notify(F&& tell) const {
    for (const auto& h : hooks_) tell(*h);
  }
  // ask(Hooks&) -> Decision. The first refusal, or proceed.
  template <class F>
  [[nodiscard]] Decision decide(F&& ask) const {
    for (const auto& h : hooks_) {
      Decision d = ask(*h);
      if (!d.proceeds()) return d;
    }
    return Decision::proceed();
  }

 private:
  std::vector<std::shared_ptr<Hooks>> hooks_;
  bool blocking_ = false;
};

}  // namespace feitp::session
