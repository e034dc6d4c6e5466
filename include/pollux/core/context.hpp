#pragma once

/// @file
/// `Context`: what a future is polled with, Rust's `std::task::Context`.

#include <pollux/core/waker.hpp>

namespace pollux {

/// Carries the waker of the task that is polling. A `poll` that returns
/// `Pending` must arrange for `waker()` (or a clone of it) to be woken when
/// it can make progress.
///
/// A `Context` lives only for the duration of one `poll` call; keep a clone
/// of its waker, never the `Context` itself.
class Context {
public:
    explicit Context(const Waker& waker) noexcept : waker_(&waker) {}

    [[nodiscard]] const Waker& waker() const noexcept { return *waker_; }

private:
    const Waker* waker_;
};

} // namespace pollux
