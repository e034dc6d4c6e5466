#pragma once

/// @file
/// `sync::CancellationToken`: a cancellation signal that tasks share and
/// await, with child tokens (tokio-util's `sync::CancellationToken`);
/// `WaitForCancellation`, the future of `cancelled()`; and `DropGuard`, which
/// cancels a token when it is destroyed.

#include <pollux/core/context.hpp>
#include <pollux/core/future.hpp>
#include <pollux/detail/cancellation_node.hpp>
#include <pollux/detail/config.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

namespace pollux::sync {
class CancellationToken;
} // namespace pollux::sync

namespace pollux::detail {
/// Test seam: how many child nodes are linked to `token`'s node, and how
/// many `cancelled()` futures wait on it.
[[nodiscard]] inline std::pair<std::size_t, std::size_t>
cancellation_node_counts(const sync::CancellationToken& token) noexcept;
} // namespace pollux::detail

namespace pollux::sync {

// The tree, its reference rules and its ordering argument are in
// detail/cancellation_node.hpp.

/// The future of `CancellationToken::cancelled()`: Output `void`, Ready once
/// the token is cancelled.
///
/// It holds a reference to the token's node, so it may outlive the token it
/// came from, and the token's parent still cancels it.
class POLLUX_NODISCARD_FUTURE WaitForCancellation {
public:
    /// What it completes with.
    using Output = void;

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    WaitForCancellation(WaitForCancellation&& o) noexcept
        : node_(std::exchange(o.node_, nullptr)), waiter_(std::move(o.waiter_)) {}
    WaitForCancellation& operator=(WaitForCancellation&& o) noexcept {
        if (this != &o) {
            reset();
            node_ = std::exchange(o.node_, nullptr);
            waiter_ = std::move(o.waiter_);
        }
        return *this;
    }
    ~WaitForCancellation() { reset(); }

    /// Ready once the token is cancelled; else Pending with `cx`'s waker
    /// registered. Spends one unit of the task's budget when Ready.
    Poll<void> poll(Context& cx) {
        POLLUX_ASSERT(node_ != nullptr, "WaitForCancellation polled after it returned Ready");
        if (!node_->is_cancelled()) {
            if (!waiter_) {
                waiter_ = std::make_unique<detail::CancellationNode::Waiter>();
            }
            if (!node_->register_waiter(*waiter_, cx)) {
                return Pending{};
            }
        }
        // Nothing is consumed: a budget-exhausted poll just comes back later.
        if (!coop::poll_proceed(cx)) {
            return Pending{};
        }
        reset();
        return Ready<void>{};
    }

private:
    friend class CancellationToken;

    explicit WaitForCancellation(detail::CancellationNode& node) noexcept : node_(&node) {
        node.retain();
    }

    void reset() noexcept {
        if (node_ == nullptr) {
            return;
        }
        if (waiter_) {
            node_->unregister_waiter(*waiter_);
            waiter_.reset();
        }
        std::exchange(node_, nullptr)->release();
    }

    detail::CancellationNode* node_; // one reference; null once Ready
    std::unique_ptr<detail::CancellationNode::Waiter> waiter_;
};

class DropGuard;

/// A cancellation signal. Copies are the same token (tokio's `clone`):
/// cancelling any copy cancels them all, and every `cancelled()` future of
/// them completes. `child_token()` makes a new token that is cancelled with
/// its parent, but whose own cancellation does not reach the parent.
///
/// Cancellation is permanent: once `is_cancelled()` is true it stays true.
/// A token owns nothing but its signal: dropping every copy cancels
/// nothing (use `drop_guard()` for that), and a child whose copies and
/// futures are all gone leaves its parent, so a long-lived parent with many
/// short-lived children does not grow.
///
/// @par Lifetime
/// A token belongs to no runtime: it may be made, cancelled, awaited and
/// dropped in any task, on any thread, before or after any runtime.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe: every member is const and
/// thread-safe, and copies may be used on any thread.
/// @par Example
/// @code
/// pollux::sync::CancellationToken shutdown;
/// for (int i = 0; i < n; ++i) {
///     pollux::spawn(worker(shutdown.child_token()));   // each stops on shutdown.cancel()
/// }
/// pollux::Async<void> worker(pollux::sync::CancellationToken stop) {
///     for (;;) {
///         auto r = co_await pollux::select(stop.cancelled(), next_job());
///         if (r.index() == 0) co_return;                  // cancelled
///     }
/// }
/// @endcode
class CancellationToken {
public:
    /// A new root token, not cancelled.
    /// @par Errors
    /// `std::bad_alloc`.
    CancellationToken() : node_(detail::CancellationNode::make_root()) {}

    /// The same token (one more reference to it).
    CancellationToken(const CancellationToken& o) noexcept : node_(o.node_) { node_->retain(); }
    /// Makes `*this` the same token as `o`.
    CancellationToken& operator=(const CancellationToken& o) noexcept {
        o.node_->retain();
        node_->release();
        node_ = o.node_;
        return *this;
    }
    // No move operations: a "moved-from" token would be a token that is not
    // one. Moving copies (one atomic increment), and the source stays valid.

    /// Drops this reference; cancels nothing.
    ~CancellationToken() { node_->release(); }

    /// Cancels the token and, transitively, every child token made from it
    /// (also children whose own copies are gone but whose children live).
    /// Wakes every waiting `cancelled()` future. Calling it again does
    /// nothing.
    ///
    /// @par Thread safety
    /// Safe from any thread, concurrently with every other member.
    /// @par Wakes / resumes on
    /// Wakes the waiting futures' wakers on the calling thread, with no lock
    /// held; their tasks resume on their own executors.
    /// @par Errors
    /// None: allocates nothing.
    void cancel() const noexcept { node_->cancel(); }

    /// True once this token (or an ancestor) was cancelled. Thread-safe.
    [[nodiscard]] bool is_cancelled() const noexcept { return node_->is_cancelled(); }

    /// A future that completes once the token is cancelled (at once if it
    /// already is). The future refers to the token's node, not to `*this`, so
    /// it may outlive this copy of the token.
    ///
    /// @par Cancel safety
    /// Cancel safe: it consumes nothing, so dropping it loses nothing; await
    /// a fresh `cancelled()` later and it completes just the same. No Asio
    /// cancellation applies.
    /// @par Thread safety
    /// Shared objects: safe. The future itself: distinct objects safe.
    /// @par Wakes / resumes on
    /// Woken by the thread that calls `cancel()` (on this token, a copy, or
    /// an ancestor); a task resumes on its own executor.
    /// @par Errors
    /// Polling may throw `std::bad_alloc` (its waiter node is allocated at
    /// the first Pending poll).
    /// @par Preconditions
    /// Not polled after Ready (asserts).
    /// @par Example
    /// @code
    /// co_await token.cancelled();
    /// @endcode
    POLLUX_NODISCARD_FUTURE WaitForCancellation cancelled() const noexcept {
        return WaitForCancellation(*node_);
    }

    /// A new token that is cancelled when this one is (or at once, if this
    /// one already is). Cancelling the child does not cancel `*this`.
    /// @par Thread safety
    /// Safe from any thread, also concurrently with `cancel()`: a child made
    /// while its parent is being cancelled is cancelled too.
    /// @par Errors
    /// `std::bad_alloc`.
    [[nodiscard]] CancellationToken child_token() const {
        return CancellationToken(detail::CancellationNode::make_child(*node_));
    }

    /// A guard that cancels this token when it is destroyed, unless
    /// disarmed (tokio-util's `drop_guard`, which consumes the token; here
    /// the guard holds a copy).
    [[nodiscard]] inline DropGuard drop_guard() const noexcept;

private:
    friend std::pair<std::size_t, std::size_t>
    detail::cancellation_node_counts(const CancellationToken&) noexcept;

    // Adopts the node's reference.
    explicit CancellationToken(detail::CancellationNode* node) noexcept : node_(node) {}

    detail::CancellationNode* node_; // one reference; never null
};

/// Cancels its token when destroyed, unless `disarm()` was called (tokio-util's
/// `DropGuard`). Ties a token to a scope: every task that got a child token
/// of it stops when the scope is left, also by an exception.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe (move-only, owned by one
/// scope).
/// @par Example
/// @code
/// pollux::sync::CancellationToken token;
/// auto guard = token.drop_guard();
/// pollux::spawn(worker(token.child_token()));
/// co_await serve();   // however it ends, the worker is told to stop
/// @endcode
class DropGuard {
public:
    /// Guards `token`.
    explicit DropGuard(CancellationToken token) noexcept : token_(std::move(token)) {}
    /// Takes over `o`'s duty; `o` is disarmed.
    DropGuard(DropGuard&& o) noexcept : token_(std::move(o.token_)) { o.token_.reset(); }
    DropGuard& operator=(DropGuard&& o) noexcept {
        if (this != &o) {
            fire();
            token_ = std::move(o.token_);
            o.token_.reset();
        }
        return *this;
    }
    /// Cancels the token, unless disarmed.
    ~DropGuard() { fire(); }

    /// Gives the token back without cancelling it; the guard then does
    /// nothing. Returns nullopt if already disarmed (or moved from).
    std::optional<CancellationToken> disarm() noexcept {
        std::optional<CancellationToken> t = std::move(token_);
        token_.reset();
        return t;
    }

private:
    void fire() noexcept {
        if (token_) {
            token_->cancel();
            token_.reset();
        }
    }

    std::optional<CancellationToken> token_;
};

inline DropGuard CancellationToken::drop_guard() const noexcept {
    return DropGuard(*this);
}

} // namespace pollux::sync

namespace pollux::detail {
[[nodiscard]] inline std::pair<std::size_t, std::size_t>
cancellation_node_counts(const sync::CancellationToken& token) noexcept {
    return token.node_->counts();
}
} // namespace pollux::detail
