#pragma once

/// @file
/// Private helpers of `pollux::sync`: an intrusive doubly linked list of
/// waiter nodes (`IntrusiveList`), a batch of wakers to wake once a lock is
/// released (`WakeList`), and the budget check that lets a leaf operation
/// decide under its lock whether it may complete (`has_budget`).

#include <pollux/core/context.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/detail/config.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace pollux::detail {

/// The links of a node in an `IntrusiveList`. A node is in at most one list
/// at a time; `is_linked()` tells whether it is in one now. Every access is
/// made under the lock of the primitive that owns the list.
struct ListHook {
    ListHook* prev = nullptr;
    ListHook* next = nullptr;

    [[nodiscard]] bool is_linked() const noexcept { return next != nullptr; }
};

/// A FIFO of nodes that derive from `ListHook`, linked through the nodes
/// themselves, so queueing a waiter allocates nothing. The list neither owns
/// nor frees its nodes; the future that made a node unlinks it (under the
/// owner's lock) before freeing it. The list is circular around a sentinel,
/// so it cannot be moved.
template <class Node>
class IntrusiveList {
public:
    IntrusiveList() noexcept { head_.prev = head_.next = &head_; }
    IntrusiveList(const IntrusiveList&) = delete;
    IntrusiveList& operator=(const IntrusiveList&) = delete;

    [[nodiscard]] bool empty() const noexcept { return head_.next == &head_; }

    /// The oldest node, or null.
    [[nodiscard]] Node* front() noexcept {
        static_assert(std::is_base_of_v<ListHook, Node>);
        return empty() ? nullptr : static_cast<Node*>(head_.next);
    }

    void push_back(Node* n) noexcept {
        ListHook* h = n;
        POLLUX_ASSERT(!h->is_linked(), "waiter node queued twice");
        h->prev = head_.prev;
        h->next = &head_;
        head_.prev->next = h;
        head_.prev = h;
    }

    /// Unlinks and returns the oldest node, or null.
    Node* pop_front() noexcept {
        Node* n = front();
        if (n != nullptr) {
            remove(n);
        }
        return n;
    }

    /// Unlinks `n`, which must be in this list.
    void remove(Node* n) noexcept {
        ListHook* h = n;
        POLLUX_ASSERT(h->is_linked(), "removing a waiter node that is not queued");
        h->prev->next = h->next;
        h->next->prev = h->prev;
        h->prev = h->next = nullptr;
    }

private:
    ListHook head_;
};

/// Wakers collected under a lock and woken after it is released, so no waker
/// runs (and no task is scheduled) while a primitive's lock is held. The
/// first few are stored in place (tokio's `WakeList`).
class WakeList {
public:
    WakeList() = default;
    WakeList(const WakeList&) = delete;
    WakeList& operator=(const WakeList&) = delete;

    void push(Waker w) {
        if (n_ < inline_.size()) {
            inline_[n_++].emplace(std::move(w));
        } else {
            overflow_.push_back(std::move(w));
        }
    }

    /// Moves the waker out of `slot`, if any, into the list.
    void push(std::optional<Waker>& slot) {
        if (slot) {
            push(std::move(*slot));
            slot.reset();
        }
    }

    /// Wakes everything collected; call with no lock held.
    void wake_all() {
        for (std::size_t i = 0; i < n_; ++i) {
            Waker w = std::move(*inline_[i]);
            inline_[i].reset();
            std::move(w).wake();
        }
        n_ = 0;
        std::vector<Waker> rest = std::move(overflow_);
        overflow_.clear();
        for (Waker& w : rest) {
            std::move(w).wake();
        }
    }

private:
    std::array<std::optional<Waker>, 8> inline_;
    std::size_t n_ = 0;
    std::vector<Waker> overflow_;
};

/// True when a leaf operation that is ready may complete on this poll: the
/// task has budget left (or runs unconstrained). It spends nothing, so it may
/// be asked under a lock; the operation then calls `coop::poll_proceed`,
/// which cannot fail (and so wakes nothing) after a true answer here.
[[nodiscard]] inline bool has_budget(const Context& cx) noexcept {
    const Budget* b = cx.budget();
    return b == nullptr || b->remaining() > 0;
}

/// Stores a clone of `cx`'s waker in `slot` unless it already wakes the same
/// task. Returns the waker it replaced, to be dropped after the lock.
inline std::optional<Waker> store_waker(std::optional<Waker>& slot, const Context& cx) {
    if (slot && slot->will_wake(cx.waker())) {
        return std::nullopt;
    }
    std::optional<Waker> old = std::move(slot);
    slot.emplace(cx.waker());
    return old;
}

} // namespace pollux::detail
