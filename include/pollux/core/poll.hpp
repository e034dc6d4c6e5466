#pragma once

/// @file
/// `Poll<T>`: the result of polling a future, Rust's `std::task::Poll`.

#include <pollux/detail/config.hpp>

#include <concepts>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

/// The value of a `void` output where a value is needed: inside the tuple of
/// `join`, the variant of `select`, the item of a stream of `void` futures.
struct Unit {
    /// Every `Unit` equals every other.
    friend constexpr bool operator==(Unit, Unit) noexcept { return true; }
};

/// Marker for "not ready yet": `return Pending{};`.
struct Pending {};

/// Marker for a finished poll carrying its value: `return Ready{42};`.
template <class T>
struct Ready {
    /// The output the poll finished with.
    T value;
};

/// `Ready<void>{}` finishes a `Poll<void>`.
template <>
struct Ready<void> {};

/// Deduces `T` in `Ready{v}`.
template <class T>
Ready(T) -> Ready<T>;

/// `T`, or `Unit` when `T` is `void`.
template <class T>
using value_t = std::conditional_t<std::is_void_v<T>, Unit, T>;

/// Either `Ready(T)` or `Pending`. `Poll<void>` is `Ready` or `Pending`
/// without a value.
template <class T>
class Poll {
    static_assert(!std::is_reference_v<T>, "Poll<T&> is not supported; poll a pointer instead");

public:
    /// `T`, the output type.
    using value_type = T;

    /// Pending: `return Pending{};`.
    Poll(Pending) noexcept {}

    /// Ready with `r.value` (converted to `T`): `return Ready{v};`.
    template <class U>
    requires std::constructible_from<T, U&&> Poll(Ready<U> r)
    noexcept(std::is_nothrow_constructible_v<T, U&&>) : value_(std::in_place, std::move(r.value)) {}

    /// True when it holds a value.
    [[nodiscard]] bool is_ready() const noexcept { return value_.has_value(); }
    /// True when it is Pending.
    [[nodiscard]] bool is_pending() const noexcept { return !value_.has_value(); }

    /// @par Preconditions
    /// `is_ready()`.
    [[nodiscard]] T& value() & {
        POLLUX_ASSERT(is_ready(), "Poll::value() on a Pending poll");
        return *value_;
    }
    /// The value.
    /// @par Preconditions
    /// `is_ready()` (asserts).
    [[nodiscard]] const T& value() const& {
        POLLUX_ASSERT(is_ready(), "Poll::value() on a Pending poll");
        return *value_;
    }
    /// Moves the value out.
    /// @par Preconditions
    /// `is_ready()` (asserts).
    [[nodiscard]] T&& value() && {
        POLLUX_ASSERT(is_ready(), "Poll::value() on a Pending poll");
        return std::move(*value_);
    }

private:
    std::optional<T> value_;
};

/// `Poll<void>`: Ready (with no value) or Pending, as Rust's `Poll<()>`.
template <>
class Poll<void> {
public:
    /// `void`.
    using value_type = void;

    /// Pending: `return Pending{};`.
    Poll(Pending) noexcept {}
    /// Ready: `return Ready<void>{};`.
    Poll(Ready<void>) noexcept : ready_(true) {}

    /// True when it is Ready.
    [[nodiscard]] bool is_ready() const noexcept { return ready_; }
    /// True when it is Pending.
    [[nodiscard]] bool is_pending() const noexcept { return !ready_; }
    /// Does nothing; for symmetry with `Poll<T>::value()`.
    /// @par Preconditions
    /// `is_ready()` (asserts).
    void value() const noexcept { POLLUX_ASSERT(ready_, "Poll::value() on a Pending poll"); }

private:
    bool ready_ = false;
};

} // namespace pollux
