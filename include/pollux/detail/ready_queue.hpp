#pragma once

/// @file
/// `detail::ReadyQueue<D>` and `detail::ReadyNode<D>`: the per-child wakers
/// behind `FuturesUnordered` (and so `join_all` and `select_all`). Each child
/// has a node that is its waker; waking a node links it into the parent's
/// ready queue, so the parent polls only the children that were woken
/// (futures-rs's `ReadyToRunQueue` and `Task`, with a mutex instead of the
/// lock-free MPSC queue).

#include <pollux/core/waker.hpp>
#include <pollux/detail/arc_wake.hpp>
#include <pollux/detail/config.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>
#include <utility>

// Design (STYLE H4)
// =================
//
// (a) Objects and references.
//   ReadyQueue: one per parent (FuturesUnordered). Holds a mutex, an intrusive
//   FIFO list of linked nodes (head_, tail_), the parent's waker (parent_) and
//   a `closed_` flag. Ref-counted; references are held by the parent (one)
//   and by every node (one each, `ReadyNode::queue_`).
//   ReadyNode (the node `D`, one per child): an `ArcWake`, so every `Waker`
//   of the child is one reference. Further references: the parent's registry
//   holds one while the child is alive, and the queue (or the parent's taken
//   batch) holds one while the node is linked. A new node starts with the
//   registry's reference, and the parent adds the queue's when it links it.
//   The queue never refers to the parent, and the node's reference from the
//   queue is dropped by `close()`: no cycle outlives the parent. (Rust's
//   tasks hold a Weak to their queue instead; ours is strong, and `closed_`
//   plays the part of the failed upgrade.)
//
// (b) The per-node word: `queued_` (a bool).
//   false  Idle: not linked, child alive. A wake must link it.
//   true   Queued: linked in the queue, or in the batch the parent took and
//          has not reached yet; or Retired: the child is gone (completed,
//          threw, cleared, or the parent was destroyed). A wake does nothing.
//   Retired is never unset: only the parent clears `queued_`, and only for a
//   node whose child is still alive.
//
// (c) Who touches what.
//   queued_   any thread (atomic RMW); the parent clears it.
//   next_     under the queue mutex while the node is in the queue; by the
//             parent alone while the node is in its taken batch.
//   head_, tail_, closed_: under the mutex. parent_: written by the parent
//             under the mutex; read under the mutex by wakers, and without it
//             by the parent (the only writer).
//   The child future itself (in `D`) is touched only by the parent.
//
// (d) Transitions of `queued_`.
//   new node        starts true (Queued), and the parent links it at once, so
//                   every child gets a first poll.
//   wake            false -> true, then link under the mutex (unless closed);
//                   true -> true: nothing (dedup, or retired).
//   parent, before
//   polling child   true -> false (`transition_to_idle`), after it unlinked
//                   the node from its batch, so a wake during the child's poll
//                   links it again and the child is polled again.
//   retire          -> true, for good (`retire`): the child is destroyed after.
//
// (e) Safety: the awkward interleavings.
//   * No lost wake. A wake either finds `queued_` false, and links the node,
//     or finds it true. True means the node is linked and not yet cleared by
//     the parent, and the parent clears it (acquire) *before* it polls the
//     child, so that poll sees everything the waker did before waking; or
//     the node is retired and nobody needs the wake.
//   * The parent waker is woken on every empty -> non-empty transition of the
//     list. The parent refreshes `parent_` before it takes the list, so after
//     every take, the first link wakes the waker of the current poll; linked
//     nodes never wait for a wake that went elsewhere. The parent returns
//     Pending only after a take came back empty, or after waking itself when
//     it stops early with work left (the fairness budget).
//   * Stale nodes. A node retired while it is linked stays linked, holding the
//     queue's reference; the parent finds its child gone, skips it and drops
//     the reference. A wake that raced with retire (it saw false) may link it
//     the same way.
//   * Late wakes. After `close()` a wake sets `queued_` and finds `closed_`
//     under the mutex: it links nothing, takes no reference and wakes nobody.
//     Nodes then free themselves when their last waker goes, and the last node
//     frees the queue.
//   * Re-entrancy. The mutex is never held while user code runs: a waker is
//     cloned under it but woken (and an old one dropped) after unlocking, so
//     a parent waker that re-enters a queue cannot deadlock.
// Tests (futures_unordered_test.cpp) pinning these rules:
//   transition_to_idle before the poll: "FuturesUnordered child woken during
//     its own poll is polled again";
//   dedup of wakes: "FuturesUnordered polls a child once for several wakes
//     before the next poll";
//   a link from a foreign thread wakes parent_: "FuturesUnordered wake from
//     another thread reaches the task polling it", "... collects outputs of
//     children woken from many threads" (run it under TSan);
//   close() and late wakes: "FuturesUnordered child woken after the set was
//     destroyed does nothing and leaks nothing" (run it under ASan/LSan);
//   retire and stale nodes: "FuturesUnordered clear destroys every child and
//     leaves a usable set";
//   the budget: "FuturesUnordered yields to its task when children keep
//     waking themselves".

namespace pollux::detail {

template <class D>
class ReadyQueue;

/// Base of a child node `D` (CRTP). `D` must be final and give the parent a
/// way to tell whether its child is still alive.
template <class D>
class ReadyNode : public ArcWake<D> {
public:
    /// Wakes the child: links it into the queue unless it already is (or is
    /// retired). Any thread.
    void wake() const {
        // ORDERING: acq_rel. Release pairs with the acquire of
        // transition_to_idle(), so what this thread did before waking is
        // visible to the child's next poll even when the node is already
        // queued and this wake does nothing more. Acquire pairs with the
        // release of transition_to_idle(): the parent's last use of `next_`
        // happens before link() writes it again.
        if (queued_.exchange(true, std::memory_order_acq_rel)) {
            return;
        }
        queue_->link(static_cast<const D&>(*this));
    }

    /// Parent only, before polling the child: Queued -> Idle.
    void transition_to_idle() noexcept {
        // ORDERING: acq_rel, pairing with the exchange in wake() (see there).
        const bool was_queued = queued_.exchange(false, std::memory_order_acq_rel);
        POLLUX_ASSERT(was_queued, "ReadyNode polled while not queued");
        (void)was_queued;
    }

    /// Parent only, when the child is destroyed: later wakes do nothing.
    void retire() noexcept {
        // ORDERING: relaxed: a wake that reads `true` does nothing, and one
        // that read `false` just before links a node the parent will skip;
        // nothing is published either way.
        queued_.store(true, std::memory_order_relaxed);
    }

    /// Parent only: unlinks the first node of a batch taken by `take_all`,
    /// returning the next one. The caller now owns the queue's reference.
    [[nodiscard]] static D* pop(D*& batch) noexcept {
        D* node = batch;
        batch = node->next_;
        node->next_ = nullptr;
        return node;
    }

protected:
    explicit ReadyNode(ArcPtr<ReadyQueue<D>> queue) noexcept : queue_(std::move(queue)) {}
    ~ReadyNode() = default;

private:
    friend class ReadyQueue<D>;

    ArcPtr<ReadyQueue<D>> queue_;
    // A new node is Queued: the parent links it right after creating it.
    mutable std::atomic<bool> queued_{true};
    mutable D* next_ = nullptr;
};

/// The parent's side: the list of woken children and the parent's waker.
template <class D>
class ReadyQueue {
public:
    ReadyQueue() = default;
    ReadyQueue(const ReadyQueue&) = delete;
    ReadyQueue& operator=(const ReadyQueue&) = delete;

    void retain() const noexcept {
        // ORDERING: a new reference is made from one the caller holds.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void release() const noexcept {
        // ORDERING: acq_rel: release publishes this holder's last uses; the
        // last holder's acquire pairs with every other holder's release
        // before the delete. (An RMW rather than ArcWake's acquire fence, so
        // TSan, which does not model fences, sees the pairing.)
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

    /// Parent only: the waker to wake when the list becomes non-empty. Skips
    /// the swap when `w` wakes the same task.
    void register_waker(const Waker& w) {
        // Only the parent writes parent_, so it may read it unlocked.
        if (parent_.will_wake(w)) {
            return;
        }
        Waker fresh = w;
        {
            std::lock_guard lock(mu_);
            parent_.swap(fresh);
        }
        // `fresh` now holds the old waker: dropped here, outside the lock.
    }

    /// Links a node whose `queued_` this caller set (a wake, or the parent
    /// adding a child), taking a reference for the list; wakes the parent
    /// when the list was empty. Does nothing once closed.
    void link(const D& node) {
        // SAFETY: every node is created non-const (make_arc); const is only
        // the waker protocol's view of it.
        D* n = const_cast<D*>(&node);
        std::optional<Waker> to_wake;
        {
            std::lock_guard lock(mu_);
            if (closed_) {
                return;
            }
            n->retain();
            if (tail_ == nullptr) {
                head_ = n;
            } else {
                tail_->next_ = n;
            }
            tail_ = n;
            if (head_ == n) {
                to_wake.emplace(parent_);
            }
        }
        if (to_wake) {
            std::move(*to_wake).wake();
        }
    }

    /// Parent only: takes the whole list, oldest first (walk it with
    /// `ReadyNode::pop`). The caller owns one reference per node.
    [[nodiscard]] D* take_all() noexcept {
        std::lock_guard lock(mu_);
        tail_ = nullptr;
        return std::exchange(head_, nullptr);
    }

    /// Parent only, when it is destroyed: later links do nothing; drops the
    /// parent's waker and the list's references.
    void close() noexcept {
        D* list = nullptr;
        Waker parent = Waker::noop();
        {
            std::lock_guard lock(mu_);
            closed_ = true;
            list = std::exchange(head_, nullptr);
            tail_ = nullptr;
            parent_.swap(parent);
        }
        while (list != nullptr) {
            ReadyNode<D>::pop(list)->release();
        }
    }

private:
    ~ReadyQueue() = default;

    mutable std::atomic<std::size_t> refs_{1};
    std::mutex mu_;
    D* head_ = nullptr;
    D* tail_ = nullptr;
    bool closed_ = false;
    Waker parent_ = Waker::noop();
};

} // namespace pollux::detail
