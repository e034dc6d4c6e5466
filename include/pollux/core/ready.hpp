#pragma once

/// @file
/// `ready(v)`: a future that is immediately ready with `v` (futures-rs's
/// `future::ready`).

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>

#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

/// The future returned by `ready(v)`: its first poll returns `Ready(v)`.
/// (`Ready<T>` is the poll marker of poll.hpp, hence the longer name.)
template <class T>
class POLLUX_NODISCARD_FUTURE ReadyFuture {
public:
    /// What it completes with.
    using Output = T;

    /// Made by `ready(...)`, which is the one to call.
    template <class U>
    requires std::constructible_from<T, U&&>
    explicit ReadyFuture(std::in_place_t, U&& v) : value_(std::in_place, std::forward<U>(v)) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<T> poll(Context&) {
        POLLUX_ASSERT(value_.has_value(), "ReadyFuture polled after it returned Ready");
        Poll<T> p(Ready<T>{std::move(*value_)});
        value_.reset();
        return p;
    }

private:
    std::optional<T> value_;
};

/// The future of `ready()`: Ready (with no value) on its first poll.
template <>
class POLLUX_NODISCARD_FUTURE ReadyFuture<void> {
public:
    /// What it completes with.
    using Output = void;

    /// Ready at once; never Pending. Throws nothing.
    Poll<void> poll(Context&) {
        POLLUX_ASSERT(!done_, "ReadyFuture polled after it returned Ready");
        done_ = true;
        return Ready<void>{};
    }

private:
    bool done_ = false;
};

/// A future whose first poll returns `Ready(v)`; `Output` is `std::decay_t`
/// of the argument (an lvalue is copied in, an rvalue moved in).
///
/// @par Cancel safety
/// Dropping it before its poll drops the value.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Never wakes: it is ready on its first poll.
/// @par Errors
/// None of its own; copying or moving the value in may throw what `T`'s
/// constructor throws.
/// @par Preconditions
/// Not polled again after it returned `Ready` (asserts).
/// @par Example
/// @code
/// int v = pollux::block_on(pollux::ready(42));
/// @endcode
template <class T>
POLLUX_NODISCARD_FUTURE ReadyFuture<std::decay_t<T>> ready(T&& v) {
    return ReadyFuture<std::decay_t<T>>(std::in_place, std::forward<T>(v));
}

/// A future of `void` whose first poll returns `Ready`.
POLLUX_NODISCARD_FUTURE inline ReadyFuture<void> ready() noexcept {
    return {};
}

} // namespace pollux
