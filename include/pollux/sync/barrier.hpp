#pragma once

/// @file
/// `sync::Barrier`: lets `n` tasks wait until all of them have arrived
/// (tokio's `sync::Barrier`), and `BarrierWaitResult`.

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pollux::sync {

/// What `Barrier::wait` yields: exactly one waiter of each generation is
/// the leader (the one whose arrival released the others).
class BarrierWaitResult {
public:
    /// A result; `leader` says whether it is the leader's.
    explicit BarrierWaitResult(bool leader) noexcept : leader_(leader) {}
    /// True for exactly one waiter of each generation.
    [[nodiscard]] bool is_leader() const noexcept { return leader_; }

private:
    bool leader_;
};

// Design (STYLE H4). One std::mutex guards the state.
//
// (a) References. The Barrier is owned by its user and outlives every
//     `Wait`. A `Wait` owns its node (separate allocation; the future may be
//     moved between polls); the list borrows it.
// (b) State, under `m_`: `arrived_` (waiters of the current generation that
//     have arrived and not withdrawn), `waiters_` (their nodes), per node
//     `released` (never unset once set) and a waker.
// (c) Node fields are touched under `m_` by the Wait and by the leader.
// (d) Transitions.
//     - first poll: if `arrived_ + 1 == n`, this one is the leader: it
//       releases and unlinks every node (marking it `released`, waking it),
//       resets `arrived_` to 0 for the next generation and is Ready(leader).
//       Else `arrived_ += 1`, queue the node, Pending.
//     - later poll: `released` -> Ready(follower); else refresh the waker.
//     - drop while queued: unlink and `arrived_ -= 1` (the arrival is
//       withdrawn, so the barrier does not open one short). Dropped after
//       release: nothing.
// (e) Safety. A budget-exhausted first poll returns Pending before arriving;
//     a released node keeps `released` until polled or dropped. Wakers are
//     woken after `m_` is released.
//
// Tests: sync_barrier_test.cpp.

/// A barrier for `n` tasks, reusable: once `n` have called `wait()`, all of
/// them complete, one as the leader, and the barrier starts over.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe. Not movable.
class Barrier {
    struct Node : detail::ListHook {
        bool released = false;
        std::optional<Waker> waker;
    };

public:
    /// A barrier for `n` tasks; 0 acts as 1 (as in tokio).
    explicit Barrier(std::size_t n) noexcept : n_(n == 0 ? 1 : n) {}
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;
    ~Barrier() { POLLUX_ASSERT(waiters_.empty(), "Barrier destroyed while a wait is queued"); }

    /// The future of `wait()`: Output `BarrierWaitResult`.
    class POLLUX_NODISCARD_FUTURE Wait {
    public:
        /// What it completes with.
        using Output = BarrierWaitResult;

        /// Moves it; allowed at any time, also between polls (there is no `Pin`).
        Wait(Wait&& o) noexcept
            : b_(o.b_), node_(std::move(o.node_)), done_(std::exchange(o.done_, true)) {}
        /// Moves it; allowed at any time, also between polls (there is no `Pin`).
        Wait& operator=(Wait&& o) noexcept {
            if (this != &o) {
                cancel();
                b_ = o.b_;
                node_ = std::move(o.node_);
                done_ = std::exchange(o.done_, true);
            }
            return *this;
        }
        ~Wait() { cancel(); }

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            POLLUX_ASSERT(!done_, "Barrier wait polled after it returned Ready");
            detail::WakeList wakes;
            std::unique_lock lock(b_->m_);
            if (!node_) {
                if (b_->arrived_ + 1 == b_->n_) {
                    if (!detail::has_budget(cx)) {
                        lock.unlock();
                        cx.waker().wake_by_ref();
                        return Pending{};
                    }
                    (void)coop::poll_proceed(cx);
                    b_->arrived_ = 0;
                    while (Node* n = b_->waiters_.pop_front()) {
                        n->released = true;
                        wakes.push(n->waker);
                    }
                    done_ = true;
                    lock.unlock();
                    wakes.wake_all();
                    return Ready{BarrierWaitResult(true)};
                }
                ++b_->arrived_;
                node_ = std::make_unique<Node>();
                node_->waker.emplace(cx.waker());
                b_->waiters_.push_back(node_.get());
                return Pending{};
            }
            if (node_->released) {
                if (!detail::has_budget(cx)) {
                    lock.unlock();
                    cx.waker().wake_by_ref();
                    return Pending{};
                }
                (void)coop::poll_proceed(cx);
                done_ = true;
                std::unique_ptr<Node> node = std::move(node_);
                lock.unlock();
                return Ready{BarrierWaitResult(false)};
            }
            std::optional<Waker> old = detail::store_waker(node_->waker, cx);
            lock.unlock();
            return Pending{};
        }

    private:
        friend class Barrier;
        explicit Wait(Barrier* b) noexcept : b_(b) {}

        void cancel() noexcept {
            if (done_ || !node_) {
                return;
            }
            {
                std::lock_guard lock(b_->m_);
                if (node_->is_linked()) {
                    b_->waiters_.remove(node_.get());
                    --b_->arrived_;
                }
            }
            node_.reset();
        }

        Barrier* b_;
        std::unique_ptr<Node> node_;
        bool done_ = false;
    };

    /// Arrives at the barrier and waits for the other `n - 1`.
    ///
    /// The arrival counts from the future's first poll.
    ///
    /// @par Cancel safety
    /// Cancel safe: dropping the future before the barrier opens withdraws
    /// its arrival (the barrier then needs another one); dropping it after
    /// the barrier opened loses nothing but the result. No Asio cancellation
    /// applies.
    /// @par Thread safety
    /// Shared objects: safe.
    /// @par Wakes / resumes on
    /// Woken by the thread whose arrival opens the barrier (the leader's).
    /// @par Errors
    /// None.
    /// @par Preconditions
    /// The barrier outlives the future; not polled after Ready.
    /// @par Example
    /// @code
    /// if ((co_await barrier.wait()).is_leader()) { log("all here"); }
    /// @endcode
    POLLUX_NODISCARD_FUTURE Wait wait() noexcept { return Wait(this); }

private:
    std::mutex m_;
    std::size_t n_;
    std::size_t arrived_ = 0;
    detail::IntrusiveList<Node> waiters_;
};

} // namespace pollux::sync
