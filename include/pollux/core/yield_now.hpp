#pragma once

/// @file
/// `yield_now()`: give other tasks a turn (tokio's `task::yield_now`).

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>

namespace pollux {

/// Returns Pending once, waking itself, then Ready: the task goes to the
/// back of its executor's queue, so other ready work runs first.
class POLLUX_NODISCARD_FUTURE YieldNow {
public:
    /// What it completes with.
    using Output = void;

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<void> poll(Context& cx) {
        if (yielded_) {
            return Ready<void>{};
        }
        yielded_ = true;
        cx.waker().wake_by_ref();
        return Pending{};
    }

private:
    bool yielded_ = false;
};

/// @par Cancel safety
/// Cancel safe: it holds nothing.
/// @par Wakes / resumes on
/// Wakes its own task during its first poll, so the task is queued behind
/// the ones already ready on its executor.
/// @par Errors
/// None: it throws nothing.
POLLUX_NODISCARD_FUTURE inline YieldNow yield_now() noexcept {
    return {};
}

} // namespace pollux
