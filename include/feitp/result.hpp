// feitp: a small result type for the hot paths (no exceptions there).
#pragma once

#include <cassert>
#include <system_error>
#include <utility>
#include <variant>

namespace feitp {

// Either a value or a std::error_code. Storage and auth errors use errno values in
// std::generic_category() (ENOENT, EACCES, ENOSPC, ...) so the server can map them to FTP codes.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(std::error_code ec) : v_(std::in_place_index<1>, ec) { assert(ec); }  // NOLINT
  Result(std::errc e) : Result(std::make_error_code(e)) {}                     // NOLINT

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  [[nodiscard]] std::error_code error() const noexcept { return ok() ? std::error_code{} : std::get<1>(v_); }

 private:
  std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(std::error_code ec) : ec_(ec) {}                // NOLINT
  Result(std::errc e) : ec_(std::make_error_code(e)) {}  // NOLINT
  [[nodiscard]] bool ok() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] std::error_code error() const noexcept { return ec_; }

 private:
  std::error_code ec_;
};

using Status = Result<void>;

inline std::error_code errno_code(int e) { return {e, std::generic_category()}; }

}  // namespace feitp
