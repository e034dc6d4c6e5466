#pragma once

/// @file
/// `sync::Notify`: wakes one waiting task or all of them, with no data
/// (tokio's `sync::Notify`), and `Notified`, the future of `notified()`.

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

namespace pollux::sync {

// Design (STYLE H4). One std::mutex guards the state; `generation_` is also
// an atomic so that `notified()` can read it without the lock.
//
// (a) References. The Notify is owned by its user and must outlive every
//     `Notified`. A `Notified` owns its `Waiter` node (a separate allocation,
//     so the future may move between polls); the list only borrows nodes.
// (b) State, under `m_`:
//     - `permit_`: one stored `notify_one` that found no waiter.
//     - `generation_`: how many `notify_waiters` calls happened; only grows.
//     - `waiters_`: queued nodes, oldest first.
//     - per node: `notification` (none / one / all; set once, by whoever
//       unlinks the node), and the waker of its latest poll.
//     - per future: `gen_`, the generation when it was *created* (tokio's
//       rule: `notify_waiters` wakes futures created before it, even those
//       not yet polled), and its phase (init / waiting / done).
// (c) Who touches what. Node fields only under `m_`: by the future (poll,
//     destructor) and by notify_one / notify_waiters. An unlinked node is
//     touched only by its future.
// (d) Transitions.
//     - poll, init: if `generation_ != gen_` -> done (the permit is left for
//       someone else). Else if `permit_` -> clear it, done. Else queue the
//       node at the back -> waiting.
//     - poll, waiting: `notification != none` (the node was unlinked) ->
//       done; else refresh the waker.
//     - notify_one: pop the front node, mark it `one`, wake it; with no
//       waiter, set `permit_` (at most one is stored).
//     - notify_waiters: `generation_ += 1`; pop every node, mark it `all`,
//       wake it. `permit_` is untouched.
//     - drop, waiting: unlink the node if queued. If it was marked `one` and
//       never completed, pass the notification on exactly as notify_one
//       would (next waiter, or the stored permit): a notification is never
//       swallowed by a dropped future.
// (e) Safety.
//     - A budget-exhausted poll returns Pending before taking the permit or
//       completing; a marked node keeps its mark until polled or dropped.
//     - A future created before a notify_waiters completes even if it was
//       never polled before it, because `gen_` was read at creation; read
//       the generation (seq_cst) before checking your condition.
//     - Wakers are woken after `m_` is released.
//
// Tests: sync_notify_test.cpp ("Notify notify_one without waiters stores
// one permit", "Notify notified dropped after notify_one passes the permit to
// the next waiter", "Notify notify_waiters wakes futures created before it").
class Notify;

/// The future of `Notify::notified()`: Output `void`.
class POLLUX_NODISCARD_FUTURE Notified {
public:
    /// What it completes with.
    using Output = void;

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Notified(Notified&& o) noexcept
        : notify_(o.notify_), gen_(o.gen_), node_(std::move(o.node_)), phase_(o.phase_) {
        o.phase_ = Phase::done;
    }
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Notified& operator=(Notified&& o) noexcept {
        if (this != &o) {
            cancel();
            notify_ = o.notify_;
            gen_ = o.gen_;
            node_ = std::move(o.node_);
            phase_ = std::exchange(o.phase_, Phase::done);
        }
        return *this;
    }
    ~Notified() { cancel(); }

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    inline Poll<void> poll(Context& cx);

private:
    friend class Notify;
    enum class Notification { none, one, all };
    enum class Phase { init, waiting, done };
    struct Waiter : detail::ListHook {
        Notification notification = Notification::none;
        std::optional<Waker> waker;
    };

    inline Notified(Notify* n, std::uint64_t gen) noexcept;
    inline void cancel() noexcept;
    inline Poll<void> complete(std::unique_lock<std::mutex>& lock, Context& cx);

    Notify* notify_;
    std::uint64_t gen_;
    std::unique_ptr<Waiter> node_;
    Phase phase_ = Phase::init;
};

/// Notifies tasks: `notify_one` wakes the oldest waiter, or stores a single
/// permit for the next `notified()` if nobody waits; `notify_waiters` wakes
/// every waiter that exists now and stores nothing.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe. Not movable.
class Notify {
public:
    Notify() = default;
    Notify(const Notify&) = delete;
    Notify& operator=(const Notify&) = delete;
    ~Notify() { POLLUX_ASSERT(waiters_.empty(), "Notify destroyed while a Notified waits on it"); }

    /// Waits for a notification.
    ///
    /// The future counts as waiting for `notify_waiters` from the moment it
    /// is created; for `notify_one` from its first poll (when it joins the
    /// FIFO queue) or, if a permit is stored, it takes the permit on its
    /// first poll.
    ///
    /// @par Cancel safety
    /// Cancel safe: dropping it before it completes loses no notification; a
    /// `notify_one` it had received is passed to the next waiter (or stored
    /// as the permit). It loses its place in the queue. No Asio cancellation
    /// applies.
    /// @par Thread safety
    /// Shared objects: safe.
    /// @par Wakes / resumes on
    /// Woken by the thread that calls `notify_one` or `notify_waiters`; a
    /// task resumes on its own executor.
    /// @par Errors
    /// None.
    /// @par Preconditions
    /// The Notify outlives the future; not polled after Ready.
    /// @par Example
    /// @code
    /// auto n = notify.notified();   // create before checking the condition
    /// if (!ready.load()) co_await std::move(n);
    /// @endcode
    POLLUX_NODISCARD_FUTURE Notified notified() noexcept {
        return Notified(this, generation_.load());
    }

    /// Wakes the oldest waiter, or stores one permit if nobody waits.
    void notify_one() {
        std::optional<Waker> w;
        {
            std::lock_guard lock(m_);
            w = notify_one_locked();
        }
        if (w) {
            std::move(*w).wake();
        }
    }

    /// Wakes every `Notified` created before this call and not yet done.
    /// Stores no permit.
    void notify_waiters() {
        detail::WakeList wakes;
        {
            std::lock_guard lock(m_);
            generation_.store(generation_.load() + 1);
            while (Notified::Waiter* n = waiters_.pop_front()) {
                n->notification = Notified::Notification::all;
                wakes.push(n->waker);
            }
        }
        wakes.wake_all();
    }

private:
    friend class Notified;

    std::optional<Waker> notify_one_locked() {
        Notified::Waiter* n = waiters_.pop_front();
        if (n == nullptr) {
            permit_ = true;
            return std::nullopt;
        }
        n->notification = Notified::Notification::one;
        std::optional<Waker> w = std::move(n->waker);
        n->waker.reset();
        return w;
    }

    std::mutex m_;
    bool permit_ = false;
    std::atomic<std::uint64_t> generation_{0};
    detail::IntrusiveList<Notified::Waiter> waiters_;
};

inline Notified::Notified(Notify* n, std::uint64_t gen) noexcept : notify_(n), gen_(gen) {
}

inline Poll<void> Notified::complete(std::unique_lock<std::mutex>& lock, Context& cx) {
    (void)coop::poll_proceed(cx); // has_budget was checked under the lock
    phase_ = Phase::done;
    std::unique_ptr<Waiter> node = std::move(node_);
    lock.unlock();
    return Ready<void>{};
}

inline Poll<void> Notified::poll(Context& cx) {
    POLLUX_ASSERT(phase_ != Phase::done, "Notified polled after it returned Ready");
    std::unique_lock lock(notify_->m_);
    if (phase_ == Phase::init) {
        const bool broadcast = notify_->generation_.load() != gen_;
        if (broadcast || notify_->permit_) {
            if (!detail::has_budget(cx)) {
                lock.unlock();
                cx.waker().wake_by_ref();
                return Pending{};
            }
            if (!broadcast) {
                notify_->permit_ = false;
            }
            return complete(lock, cx);
        }
        if (!node_) {
            node_ = std::make_unique<Waiter>();
        }
        node_->waker.emplace(cx.waker());
        notify_->waiters_.push_back(node_.get());
        phase_ = Phase::waiting;
        return Pending{};
    }
    if (node_->notification != Notification::none) {
        if (!detail::has_budget(cx)) {
            lock.unlock();
            cx.waker().wake_by_ref();
            return Pending{};
        }
        return complete(lock, cx);
    }
    std::optional<Waker> old = detail::store_waker(node_->waker, cx);
    lock.unlock();
    return Pending{};
}

inline void Notified::cancel() noexcept {
    if (phase_ != Phase::waiting) {
        return;
    }
    std::optional<Waker> pass_on;
    {
        std::lock_guard lock(notify_->m_);
        if (node_->is_linked()) {
            notify_->waiters_.remove(node_.get());
        } else if (node_->notification == Notification::one) {
            pass_on = notify_->notify_one_locked();
        }
    }
    phase_ = Phase::done;
    node_.reset();
    if (pass_on) {
        std::move(*pass_on).wake();
    }
}

} // namespace pollux::sync
