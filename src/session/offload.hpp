// Runs blocking user code (a hook, an authenticator, a storage back-end) on the thread pool and
// resumes the calling coroutine on its own event loop when it returns.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

namespace feitp::session {

template <class F>
asio::awaitable<void> offload(asio::thread_pool& pool, F&& f) {
  std::exception_ptr failure;
  co_await asio::co_spawn(
      pool,
      [&]() -> asio::awaitable<void> {
        try {
          f();
        } catch (...) { failure = std::current_exception(); }
        co_return;
      },
      asio::use_awaitable);
  if (failure) std::rethrow_exception(failure);
}

// Runs f on the pool that get_pool() returns (made on first use) when `blocking`, else inline.
// The caller's lambda should capture values and the user object it calls, not session state
// that the loop may touch meanwhile.
template <class GetPool, class F>
asio::awaitable<void> offload_if(bool blocking, GetPool&& get_pool, F&& f) {
  if (!blocking) {
    f();
    co_return;
  }
  co_await offload(get_pool(), std::forward<F>(f));
}

}  // namespace feitp::session
