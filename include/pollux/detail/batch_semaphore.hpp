#pragma once

/// @file
/// `detail::BatchSemaphore`: a fair (FIFO) counting semaphore whose waiters
/// ask for several permits at once (tokio's `batch_semaphore`). It is the
/// engine of `sync::Semaphore`, `sync::Mutex`, `sync::RwLock` and the capacity
/// of a bounded `sync::mpsc` channel.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pollux::detail {

// Design (STYLE H4). There is no atomic word: one std::mutex guards all of
// the semaphore's state, as tokio's batch_semaphore guards its wait list.
//
// (a) References. The semaphore is owned by its user (a `Semaphore`, a
//     `Mutex`, an mpsc channel's shared block) and must outlive every
//     `Acquire` made from it. An `Acquire` owns its `Waiter` node through a
//     unique_ptr: the node is a separate allocation, so the future may be
//     moved between polls while the node sits in the queue. The queue only
//     borrows nodes.
// (b) State, all under `m_`:
//     - `permits_`: permits nobody holds or is owed.
//     - `closed_`: never unset once set.
//     - `waiters_`: queued nodes, oldest first.
//     - per node: `needed` (permits still owed to it), `requested` (its n),
//       `closed` (the semaphore closed while it waited; never unset), and the
//       waker of its latest poll.
// (c) Who touches what. Every field of a node is read and written only under
//     `m_`, by its Acquire (poll, destructor) or by whoever releases or closes.
//     A node out of the queue is touched only by its Acquire.
// (d) Transitions.
//     - acquire, first poll: if closed, Ready(false). If the queue is empty
//       and `permits_ >= n`, take n and Ready(true). Otherwise take what
//       there is (partial assignment), queue the node with `needed = n -
//       taken`, Pending.
//     - release(k): give the permits to the queue front to back, as much as
//       each still needs; a node whose `needed` reaches 0 is unlinked and
//       its waker woken; what is left goes to `permits_`.
//     - acquire, later poll: `needed == 0` (unlinked by a release) ->
//       Ready(true); `closed` -> Ready(false); else refresh the waker.
//     - close: set `closed_`; unlink every node, give its partial permits
//       back to `permits_`, mark it `closed`, wake it.
//     - Acquire dropped while queued or owed: unlink it if queued, and
//       release(requested - needed), which passes the permits it had been
//       given to the next waiters (nothing is swallowed).
// (e) Safety.
//     - Invariant: `permits_ > 0` implies the queue is empty, because a
//       release serves the queue before `permits_`, and a queued acquire took
//       every permit there was. So try_acquire and the fast path never
//       overtake a waiter: FIFO fairness, and a large request (an RwLock
//       writer) cannot be starved by small ones.
//     - A budget-exhausted poll returns Pending before taking anything; an
//       owed node keeps its permits until it is polled again or dropped.
//     - Wakers are woken after `m_` is released (WakeList).
//
// Tests: sync_semaphore_test.cpp ("Semaphore acquire is served in FIFO
// order", "Semaphore acquire dropped after partial assignment returns its
// permits", "Semaphore close wakes every waiter with closed").
class BatchSemaphore {
public:
    /// The most permits a semaphore can hold (tokio's MAX_PERMITS).
    static constexpr std::size_t max_permits = std::numeric_limits<std::size_t>::max() >> 3;

    explicit BatchSemaphore(std::size_t permits) : permits_(permits) {
        POLLUX_ASSERT(permits <= max_permits, "semaphore created with too many permits");
    }
    BatchSemaphore(const BatchSemaphore&) = delete;
    BatchSemaphore& operator=(const BatchSemaphore&) = delete;
    ~BatchSemaphore() {
        POLLUX_ASSERT(waiters_.empty(), "semaphore destroyed while an acquire waits on it");
    }

    enum class TryAcquire { acquired, no_permits, closed };

    [[nodiscard]] TryAcquire try_acquire(std::size_t n) {
        std::lock_guard lock(m_);
        if (closed_) {
            return TryAcquire::closed;
        }
        if (permits_ >= n && (n == 0 || waiters_.empty())) {
            permits_ -= n;
            return TryAcquire::acquired;
        }
        return TryAcquire::no_permits;
    }

    /// Adds `n` permits, serving queued acquires first (in order).
    void release(std::size_t n) {
        if (n == 0) {
            return;
        }
        WakeList wakes;
        {
            std::lock_guard lock(m_);
            release_locked(n, wakes);
        }
        wakes.wake_all();
    }

    /// Removes up to `n` available permits for good; returns how many.
    std::size_t forget_permits(std::size_t n) {
        std::lock_guard lock(m_);
        const std::size_t k = std::min(n, permits_);
        permits_ -= k;
        return k;
    }

    /// Closes the semaphore: every queued and later acquire fails.
    void close() {
        WakeList wakes;
        {
            std::lock_guard lock(m_);
            closed_ = true;
            while (Waiter* w = waiters_.pop_front()) {
                permits_ += w->requested - w->needed;
                w->needed = w->requested;
                w->closed = true;
                wakes.push(w->waker);
            }
        }
        wakes.wake_all();
    }

    [[nodiscard]] bool is_closed() const {
        std::lock_guard lock(m_);
        return closed_;
    }

    [[nodiscard]] std::size_t available_permits() const {
        std::lock_guard lock(m_);
        return permits_;
    }

    class Acquire;

private:
    struct Waiter : ListHook {
        explicit Waiter(std::size_t n) noexcept : needed(n), requested(n) {}
        std::size_t needed;
        std::size_t requested;
        bool closed = false;
        std::optional<Waker> waker;
    };

    void release_locked(std::size_t n, WakeList& wakes) {
        while (n > 0) {
            Waiter* w = waiters_.front();
            if (w == nullptr) {
                break;
            }
            const std::size_t give = std::min(n, w->needed);
            w->needed -= give;
            n -= give;
            if (w->needed == 0) {
                waiters_.remove(w);
                wakes.push(w->waker);
            }
        }
        POLLUX_ASSERT(n <= max_permits - permits_, "semaphore permit count overflow");
        permits_ += n;
    }

    mutable std::mutex m_;
    std::size_t permits_;
    bool closed_ = false;
    IntrusiveList<Waiter> waiters_;
};

/// The future of acquiring `n` permits: Ready(true) once they are the
/// caller's, Ready(false) if the semaphore is closed. Movable between polls;
/// dropping it before Ready gives back whatever it had been assigned.
class BatchSemaphore::Acquire {
public:
    Acquire(BatchSemaphore& sem, std::size_t n) noexcept : sem_(&sem), n_(n) {}
    Acquire(Acquire&& o) noexcept
        : sem_(o.sem_), n_(o.n_), node_(std::move(o.node_)), finished_(o.finished_) {
        o.finished_ = true;
    }
    Acquire& operator=(Acquire&& o) noexcept {
        if (this != &o) {
            cancel();
            sem_ = o.sem_;
            n_ = o.n_;
            node_ = std::move(o.node_);
            finished_ = std::exchange(o.finished_, true);
        }
        return *this;
    }
    ~Acquire() { cancel(); }

    [[nodiscard]] std::size_t permits() const noexcept { return n_; }

    Poll<bool> poll(Context& cx) {
        POLLUX_ASSERT(!finished_, "semaphore acquire polled after it returned Ready");
        std::unique_lock lock(sem_->m_);
        if (!node_) {
            if (sem_->closed_) {
                return finish(lock, cx, false);
            }
            if (sem_->permits_ >= n_ && (n_ == 0 || sem_->waiters_.empty())) {
                if (!has_budget(cx)) {
                    return yield(lock, cx);
                }
                (void)coop::poll_proceed(cx);
                sem_->permits_ -= n_;
                finished_ = true;
                return Ready{true};
            }
            node_ = std::make_unique<Waiter>(n_);
            // The queue is empty whenever permits_ > 0 (see the invariant), so
            // this partial assignment never overtakes a waiter.
            const std::size_t taken = std::min(sem_->permits_, n_);
            sem_->permits_ -= taken;
            node_->needed -= taken;
            node_->waker.emplace(cx.waker());
            sem_->waiters_.push_back(node_.get());
            return Pending{};
        }
        if (node_->needed == 0) {
            return finish(lock, cx, true);
        }
        if (node_->closed) {
            return finish(lock, cx, false);
        }
        std::optional<Waker> old = store_waker(node_->waker, cx);
        lock.unlock();
        return Pending{};
    }

private:
    Poll<bool> finish(std::unique_lock<std::mutex>& lock, Context& cx, bool acquired) {
        if (!has_budget(cx)) {
            return yield(lock, cx);
        }
        (void)coop::poll_proceed(cx);
        finished_ = true;
        std::unique_ptr<Waiter> node = std::move(node_);
        lock.unlock();
        return Ready{acquired};
    }

    static Poll<bool> yield(std::unique_lock<std::mutex>& lock, Context& cx) {
        lock.unlock();
        cx.waker().wake_by_ref();
        return Pending{};
    }

    void cancel() noexcept {
        if (finished_ || !node_) {
            return;
        }
        WakeList wakes;
        {
            std::lock_guard lock(sem_->m_);
            if (node_->is_linked()) {
                sem_->waiters_.remove(node_.get());
            }
            sem_->release_locked(node_->requested - node_->needed, wakes);
        }
        node_.reset();
        wakes.wake_all();
    }

    BatchSemaphore* sem_;
    std::size_t n_;
    std::unique_ptr<Waiter> node_;
    bool finished_ = false;
};

} // namespace pollux::detail
