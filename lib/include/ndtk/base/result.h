// Result<T>: std::expected-shaped value-or-Error (g++12's libstdc++ has no std::expected in C++20).
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "ndtk/base/error.h"

namespace ndtk {

/// Wrapper that marks an Error as the failure alternative (like std::unexpected).
struct Unexpected {
  Error error;
};

inline Unexpected fail(Error e) { return Unexpected{std::move(e)}; }
inline Unexpected fail(Errc code, std::string what) {
  return Unexpected{make_error(code, std::move(what))};
}

/// Either a T or an Error. Accessing the wrong alternative is a programming error (asserts).
template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result(const T& v) : v_(std::in_place_index<0>, v) {}
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}
  template <class U, class = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                             !std::is_same_v<std::decay_t<U>, Result> &&
                                             !std::is_same_v<std::decay_t<U>, Unexpected> &&
                                             !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& u) : v_(std::in_place_index<0>, T(std::forward<U>(u))) {}
  Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  Error& error() & { assert(!has_value()); return std::get<1>(v_); }
  const Error& error() const& { assert(!has_value()); return std::get<1>(v_); }
  Error&& error() && { assert(!has_value()); return std::get<1>(std::move(v_)); }

  template <class U>
  T value_or(U&& alt) const& { return has_value() ? value() : T(std::forward<U>(alt)); }

 private:
  std::variant<T, Error> v_;
};

/// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : err_(std::move(u.error)), ok_(false) {}
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { assert(ok_); }
  const Error& error() const& { assert(!ok_); return err_; }
  Error& error() & { assert(!ok_); return err_; }
  Error&& error() && { assert(!ok_); return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

inline Result<void> ok() { return {}; }

}  // namespace ndtk

/// Propagate an error: `NDTK_TRY(x, expr);` binds x to the value or returns the error.
#define NDTK_CONCAT_INNER(a, b) a##b
#define NDTK_CONCAT(a, b) NDTK_CONCAT_INNER(a, b)
#define NDTK_TRY(var, expr)                                              \
  auto NDTK_CONCAT(ndtk_try_, __LINE__) = (expr);                        \
  if (!NDTK_CONCAT(ndtk_try_, __LINE__)) return ::ndtk::Unexpected{      \
      std::move(NDTK_CONCAT(ndtk_try_, __LINE__)).error()};              \
  auto var = std::move(NDTK_CONCAT(ndtk_try_, __LINE__)).value()
/// Propagate an error from a Result<void> expression.
#define NDTK_CHECK(expr)                                                       \
  do {                                                                         \
    auto ndtk_chk_ = (expr);                                                   \
    if (!ndtk_chk_) return ::ndtk::Unexpected{std::move(ndtk_chk_).error()};   \
  } while (0)
