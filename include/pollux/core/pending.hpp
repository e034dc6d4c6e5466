#pragma once

/// @file
/// `pending<T>()`: a future that is never ready (futures-rs's
/// `future::pending`).

#include <pollux/core/future.hpp>

namespace pollux {

/// The future returned by `pending<T>()`: every poll returns `Pending`, and
/// it never wakes anyone. (`Pending` is the poll marker of poll.hpp, hence the
/// longer name.)
template <class T>
class POLLUX_NODISCARD_FUTURE PendingFuture {
public:
    /// What it completes with.
    using Output = T;

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<T> poll(Context&) noexcept { return Pending{}; }
};

/// A future of `T` (which may be `void`) that never completes. Handy as the
/// branch of a `select` that must never win, or to test timeouts.
///
/// @par Cancel safety
/// Cancel safe: it holds nothing.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe (it has no state).
/// @par Wakes / resumes on
/// Never wakes, and keeps no waker.
/// @par Errors
/// None: it never completes and throws nothing.
/// @par Example
/// @code
/// auto never = pollux::pending<int>();
/// @endcode
template <class T>
POLLUX_NODISCARD_FUTURE PendingFuture<T> pending() noexcept {
    return {};
}

} // namespace pollux
