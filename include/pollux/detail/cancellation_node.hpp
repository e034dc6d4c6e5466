#pragma once

/// @file
/// The tree behind `sync::CancellationToken`: one reference-counted node per
/// token family, linked to its parent. Private; the public face is
/// pollux/sync/cancellation_token.hpp.

#include <pollux/core/context.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>
#include <utility>

namespace pollux::detail {

// # The cancellation tree (STYLE H4)
//
// (a) References. A node is intrusively counted (`refs_`). Holders: every
//     CancellationToken of the node (copies are clones, one reference
//     each), every WaitForCancellation future made from one, and every
//     child node that is linked to it (one each, through `parent_`). The
//     last release unlinks the node from its parent, deletes it, and then
//     releases the parent, iteratively (a chain of dying ancestors costs no
//     stack). So a node lives exactly as long as something can observe it;
//     a child whose tokens are all dropped leaves its parent's list at once,
//     and a long-lived parent with many short-lived children holds only the
//     live ones. A node whose tokens are gone but whose children live stays
//     in the tree as a plain relay: cancelling its ancestor still reaches
//     its children through it (tokio re-parents them instead; same result).
// (b) State.
//     - `cancelled_`: never unset once set. Whoever flips it from false to
//       true (exchange) *owns* the node's cancellation: it wakes the
//       node's waiters and cancels its children. Everyone else only reads.
//     - `parent_`: set at construction, immutable; null for a root, and for
//       a child made from a parent that was already cancelled (it starts
//       cancelled and needs no link).
//     - the child list and `waiters_`: intrusive lists, under `m_`.
//     - `next_pending_`: the link of the canceller's work stack, touched
//       only by the thread that owns the node's cancellation.
// (c) Who touches what. The child list of a node (`first_child_` and the
//     children's sibling links): its own child_token (push), its children's
//     last release (remove), its canceller's walk (read), all under the
//     node's `m_`. `waiters_`: the futures (push, remove) and the canceller
//     (pop), under `m_`. No operation holds two nodes' locks at once (the
//     walk claims children by the atomic exchange under the parent's lock
//     and locks each later, by itself), so there is no lock order to get
//     wrong.
// (d) Transitions.
//     - child_token: lock parent; cancelled -> new node, cancelled, no
//       link; else retain parent, link the new node (newest first).
//     - poll of a future: cancelled (atomic load) -> Ready. Else lock; if
//       cancelled -> Ready; else store the waker, link the waiter -> Pending.
//     - cancel: exchange(true) on the node; lost -> return (someone else
//       owns it, or it was done). Won -> push it on the work stack; for
//       each node popped: under its lock, pop up to 8 waiters, then wake
//       them with the lock released, until none is left; under its lock,
//       for each child, exchange(true) and, if won and the child can still
//       be retained (refs > 0), push the child; then release the node.
//     - last release: lock parent, unlink, unlock, delete, release parent.
// (e) Safety.
//     - No lost wake: a future links its waiter only after reading
//       `cancelled_ == false` under the node's lock; the canceller set the
//       flag before taking that lock to drain, so it finds the waiter, or
//       the future saw the flag. The same argument covers a child_token
//       racing a cancel.
//     - No waiter is added after the drain: every poll after the flag was
//       set sees it, so the drain loop ends.
//     - A child found in the list may be dying (refs == 0, its last
//       release waiting for this lock to unlink it): try_retain refuses it,
//       and such a node has no waiters and no children (each would hold a
//       reference), so there is nothing to cancel below it. Nothing is ever
//       released under a lock (a last release takes the parent's lock).
//     - cancel allocates nothing (the work stack is intrusive, wakes go in
//       batches of a fixed array), so it is noexcept and a
//       DropGuard may call it from a destructor.
//
// Tests: sync_cancellation_token_test.cpp ("CancellationToken cancel wakes
// every waiting cancelled future", "CancellationToken dropped children
// leave their parent's list", "CancellationToken cancel of a parent reaches
// grandchildren through a child whose tokens are gone",
// "CancellationToken child_token of a cancelled token starts cancelled").
class CancellationNode final {
public:
    /// A waiting `cancelled()` future's node in `waiters_`.
    struct Waiter : ListHook {
        std::optional<Waker> waker; // under the node's m_
    };

    /// A new root node with one reference.
    [[nodiscard]] static CancellationNode* make_root() { return new CancellationNode(nullptr); }

    /// A new child of `parent` with one reference: linked to `parent`, or
    /// cancelled at once if `parent` is.
    [[nodiscard]] static CancellationNode* make_child(CancellationNode& parent) {
        auto* child = new CancellationNode(&parent);
        std::lock_guard lock(parent.m_);
        if (parent.cancelled_.load()) {
            child->parent_ = nullptr;
            child->cancelled_.store(true);
        } else {
            parent.retain();
            parent.link_child(*child);
        }
        return child;
    }

    CancellationNode(const CancellationNode&) = delete;
    CancellationNode& operator=(const CancellationNode&) = delete;

    void retain() noexcept {
        // ORDERING: a new reference from one the caller holds.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }

    // A reference to a node the caller only found in a list (under the
    // parent's lock): fails once the count reached zero.
    [[nodiscard]] bool try_retain() noexcept {
        std::size_t n = refs_.load(std::memory_order_relaxed);
        while (n != 0) {
            // ORDERING: relaxed, as retain: the parent's lock keeps the
            // node's memory alive during the attempt.
            if (refs_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }

    void release() noexcept {
        CancellationNode* n = this;
        // ORDERING: acq_rel, as TaskHeader::release: the last holder sees
        // every other holder's uses before it deletes.
        while (n != nullptr && n->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            CancellationNode* parent = n->parent_;
            if (parent != nullptr) {
                std::lock_guard lock(parent->m_);
                parent->unlink_child(*n);
            }
            delete n;
            n = parent; // the dead child's reference on its parent goes next
        }
    }

    [[nodiscard]] bool is_cancelled() const noexcept {
        // ORDERING: acquire pairs with the canceller's exchange, so what was
        // written before cancel() is visible to whoever sees the flag.
        return cancelled_.load(std::memory_order_acquire);
    }

    /// Cancels this node and every node below it; see (d).
    void cancel() noexcept {
        if (cancelled_.exchange(true)) {
            return;
        }
        retain();
        next_pending_ = nullptr;
        CancellationNode* stack = this;
        while (stack != nullptr) {
            CancellationNode* n = stack;
            stack = n->next_pending_;
            n->wake_waiters();
            {
                std::lock_guard lock(n->m_);
                for (CancellationNode* c = n->first_child_; c != nullptr; c = c->next_sibling_) {
                    if (!c->cancelled_.exchange(true) && c->try_retain()) {
                        c->next_pending_ = stack;
                        stack = c;
                    }
                }
            }
            n->release();
        }
    }

    /// Ready (true) when cancelled; else stores `cx`'s waker in `w` and links
    /// it (false).
    [[nodiscard]] bool register_waiter(Waiter& w, const Context& cx) {
        std::optional<Waker> old;
        std::lock_guard lock(m_);
        if (cancelled_.load()) {
            return true;
        }
        old = store_waker(w.waker, cx);
        if (!w.is_linked()) {
            waiters_.push_back(&w);
            ++waiter_count_;
        }
        return false;
    }

    /// How many children are linked now, and how many waiters are queued
    /// (for tests: pollux::detail::cancellation_node_counts).
    [[nodiscard]] std::pair<std::size_t, std::size_t> counts() noexcept {
        std::lock_guard lock(m_);
        std::size_t children = 0;
        for (CancellationNode* c = first_child_; c != nullptr; c = c->next_sibling_) {
            ++children;
        }
        return {children, waiter_count_};
    }

    /// Unlinks `w` if it is still queued.
    void unregister_waiter(Waiter& w) noexcept {
        std::lock_guard lock(m_);
        if (w.is_linked()) {
            waiters_.remove(&w);
            --waiter_count_;
        }
    }

private:
    explicit CancellationNode(CancellationNode* parent) noexcept : parent_(parent) {}
    ~CancellationNode() {
        POLLUX_ASSERT(first_child_ == nullptr && waiters_.empty(),
                      "a cancellation node died with children or waiters");
    }

    // Wakes every waiter, a batch at a time with the lock released, without
    // allocating. Only the owner of the node's cancellation calls it.
    void wake_waiters() noexcept {
        for (;;) {
            std::array<std::optional<Waker>, 8> batch;
            std::size_t taken = 0;
            {
                std::lock_guard lock(m_);
                while (taken < batch.size()) {
                    Waiter* w = waiters_.pop_front();
                    if (w == nullptr) {
                        break;
                    }
                    --waiter_count_;
                    batch[taken++] = std::move(w->waker);
                    w->waker.reset();
                }
            }
            if (taken == 0) {
                return;
            }
            for (std::size_t i = 0; i < taken; ++i) {
                if (batch[i]) {
                    std::move(*batch[i]).wake();
                }
            }
        }
    }

    // Under m_: the child list, newest first.
    void link_child(CancellationNode& c) noexcept {
        c.prev_sibling_ = nullptr;
        c.next_sibling_ = first_child_;
        if (first_child_ != nullptr) {
            first_child_->prev_sibling_ = &c;
        }
        first_child_ = &c;
    }
    void unlink_child(CancellationNode& c) noexcept {
        if (c.prev_sibling_ != nullptr) {
            c.prev_sibling_->next_sibling_ = c.next_sibling_;
        } else {
            first_child_ = c.next_sibling_;
        }
        if (c.next_sibling_ != nullptr) {
            c.next_sibling_->prev_sibling_ = c.prev_sibling_;
        }
        c.prev_sibling_ = c.next_sibling_ = nullptr;
    }

    std::atomic<std::size_t> refs_{1};
    std::atomic<bool> cancelled_{false};
    std::mutex m_;
    CancellationNode* parent_;                 // holds a reference; immutable
    CancellationNode* first_child_ = nullptr;  // under m_
    CancellationNode* prev_sibling_ = nullptr; // under the parent's m_
    CancellationNode* next_sibling_ = nullptr; // under the parent's m_
    IntrusiveList<Waiter> waiters_;            // under m_
    std::size_t waiter_count_ = 0;             // under m_: the length of waiters_
    CancellationNode* next_pending_ = nullptr; // the canceller's
};

} // namespace pollux::detail
