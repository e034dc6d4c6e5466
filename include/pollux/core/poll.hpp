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
    friend constexpr bool operator==(Unit, Unit) noexcept { return true; }
};

/// Marker for "not ready yet": `return Pending{};`.
struct Pending {};

/// Marker for a finished poll carrying its value: `return Ready{42};`.
template <class T>
struct Ready {
    T value;
};

/// `Ready<void>{}` finishes a `Poll<void>`.
template <>
struct Ready<void> {};

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
    using value_type = T;

    Poll(Pending) noexcept {}

    template <class U>
    requires std::constructible_from<T, U&&> Poll(Ready<U> r)
    noexcept(std::is_nothrow_constructible_v<T, U&&>) : value_(std::in_place, std::move(r.value)) {}

    [[nodiscard]] bool is_ready() const noexcept { return value_.has_value(); }
    [[nodiscard]] bool is_pending() const noexcept { return !value_.has_value(); }

    /// @par Preconditions
    /// `is_ready()`.
    [[nodiscard]] T& value() & {
        POLLUX_ASSERT(is_ready(), "Poll::value() on a Pending poll");
        return *value_;
    }
    [[nodiscard]] const T& value() const& {
        POLLUX_ASSERT(is_ready(), "Poll::value() on a Pending poll");
        return *value_;
    }
    [[nodiscard]] T&& value() && {
        POLLUX_ASSERT(is_ready(), "Poll::value() on a Pending poll");
        return std::move(*value_);
    }

private:
    std::optional<T> value_;
};

template <>
class Poll<void> {
public:
    using value_type = void;

    Poll(Pending) noexcept {}
    Poll(Ready<void>) noexcept : ready_(true) {}

    [[nodiscard]] bool is_ready() const noexcept { return ready_; }
    [[nodiscard]] bool is_pending() const noexcept { return !ready_; }
    void value() const noexcept { POLLUX_ASSERT(ready_, "Poll::value() on a Pending poll"); }

private:
    bool ready_ = false;
};

} // namespace pollux
