// Result<T>: std::expected-shaped value-or-Error (g++12's libstdc++ has no std::expected in C++20).
#pragma once

#include <cassert>
#include <memory>
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
  // The error lives out of line: success is one null pointer, so the per-sector I/O paths
  // that return Result<void> neither zero nor destroy a 200-byte Error (the zeroing's
  // microcoded `rep stos` also stalled the overlap of successive reads' cache misses).
  Result() = default;
  Result(Unexpected u) : err_(std::make_unique<Error>(std::move(u.error))) {}
  Result(const Result& o) : err_(o.err_ ? std::make_unique<Error>(*o.err_) : nullptr) {}
  Result(Result&&) noexcept = default;
  Result& operator=(const Result& o) {
    if (this != &o) err_ = o.err_ ? std::make_unique<Error>(*o.err_) : nullptr;
    return *this;
  }
  Result& operator=(Result&&) noexcept = default;
  bool has_value() const { return !err_; }
  explicit operator bool() const { return !err_; }
  void value() const { assert(!err_); }
  const Error& error() const& { assert(err_); return *err_; }
  Error& error() & { assert(err_); return *err_; }
  Error&& error() && { assert(err_); return std::move(*err_); }

 private:
  std::unique_ptr<Error> err_;
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
