#pragma once

/// @file
/// `Context`: what a future is polled with, Rust's `std::task::Context`,
/// plus the cooperative budget of the task being polled.

#include <pollux/core/waker.hpp>

#include <cstdint>

namespace pollux {

/// How many leaf operations a task may complete in one poll (tokio's
/// cooperative budget). The scheduler gives each task poll a fresh budget of
/// `Budget::per_poll`; leaf operations that are ready spend one unit each
/// through `coop::poll_proceed`, and once it is spent they return Pending
/// after waking the task, so a task whose operations are always ready still
/// hands the loop back to timers and I/O.
class Budget {
public:
    /// Units per poll of a task (tokio's budget is also 128).
    static constexpr std::uint32_t per_poll = 128;

    /// A budget of `units` leaf operations.
    explicit Budget(std::uint32_t units = per_poll) noexcept : remaining_(units) {}

    /// Spends one unit; false when none was left.
    [[nodiscard]] bool consume() noexcept {
        if (remaining_ == 0) {
            return false;
        }
        --remaining_;
        return true;
    }
    /// Units left.
    [[nodiscard]] std::uint32_t remaining() const noexcept { return remaining_; }

private:
    std::uint32_t remaining_;
};

/// Carries the waker of the task that is polling, and its budget. A `poll`
/// that returns `Pending` must arrange for `waker()` (or a clone of it) to be
/// woken when it can make progress.
///
/// A `Context` lives only for the duration of one `poll` call; keep a clone
/// of its waker, never the `Context` itself. A combinator that polls its
/// children with wakers of its own passes the budget on:
/// `Context child(child_waker, cx.budget());`.
class Context {
public:
    /// A context without a budget (unconstrained), as `block_on` uses.
    explicit Context(const Waker& waker) noexcept : waker_(&waker) {}
    /// A context whose leaf operations spend `budget` (may be null).
    Context(const Waker& waker, Budget* budget) noexcept : waker_(&waker), budget_(budget) {}

    /// The waker to register when returning Pending (Rust's
    /// `Context::waker`).
    [[nodiscard]] const Waker& waker() const noexcept { return *waker_; }
    /// The task's budget, or null when unconstrained.
    [[nodiscard]] Budget* budget() const noexcept { return budget_; }

private:
    const Waker* waker_;
    Budget* budget_ = nullptr;
};

namespace coop {

/// Called by a leaf operation that is about to return Ready. Returns true
/// when it may; false when the task has spent its budget, after waking the
/// task, so the operation returns Pending and the task yields to the loop.
/// The operation must not have consumed anything (no item taken, no byte
/// moved) when it returns Pending this way.
[[nodiscard]] inline bool poll_proceed(Context& cx) noexcept {
    Budget* b = cx.budget();
    if (b == nullptr || b->consume()) {
        return true;
    }
    cx.waker().wake_by_ref();
    return false;
}

} // namespace coop

} // namespace pollux
