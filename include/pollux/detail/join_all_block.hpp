#pragma once

/// @file
/// `detail::JoinAllBlock<Slot>`: the one allocation behind a `join_all` whose
/// children wait: the ready queue, a waker node per child and a slot per
/// child (the child while it runs, then its output), in one ref-counted
/// block. `join_all` of children that are all ready without keeping a waker
/// makes none (include/pollux/core/join_all.hpp).

#include <pollux/core/waker.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/light_mutex.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <utility>

// Design (STYLE H4)
// =================
//
// (a) Objects and references.
//   JoinAllBlock: one allocation, made by the JoinAll the first time one of
//   its children needs a waker that outlives the child's poll (a clone, a
//   wake, or the child staying pending). Layout: the header (count of
//   references, a LightMutex, the intrusive FIFO list of woken nodes
//   head_/tail_, `closed_`, the parent's waker `parent_`), then `count_`
//   Nodes, then `count_` Slots, for the children from index `base_` on (the
//   children before it finished in the first poll and never needed one).
//   References: one for the JoinAll while it holds the block, one per Waker
//   of any node. Linked nodes hold none: the list is read only by the
//   JoinAll (which holds its reference) and emptied by `close()`. The last
//   release frees the block, on whichever thread drops the last waker.
//   Node (one per child): `queued` and `next`, and the block it lives in.
//   The Slots (the child future, then its output) are the JoinAll's: it
//   constructs and destroys them (`destroy_slots`) before it releases the
//   block, which then frees only memory.
//
// (b) The per-node word: `queued` (a bool).
//   false  Idle: not linked, child alive. A wake must link it.
//   true   Queued: linked, or in the batch the JoinAll took and has not
//          reached yet; or Retired: the child finished (or the JoinAll is
//          gone). A wake does nothing.
//   Retired is never unset. A node starts Idle: the first poll of every
//   child is the JoinAll's first pass over the input, not a wake.
//
// (c) Who touches what.
//   queued    any thread (atomic RMW); the JoinAll clears it.
//   next      under the mutex while the node is in the list; by the JoinAll
//             alone while the node is in its taken batch.
//   head_, tail_, closed_: under the mutex. parent_: written by the JoinAll
//             under the mutex; read under the mutex by wakers, and without it
//             by the JoinAll (the only writer).
//   Slots: the JoinAll only.
//
// (d) Transitions of `queued`.
//   wake            false -> true, then link under the mutex (unless closed);
//                   true -> true: nothing (dedup, or retired).
//   JoinAll, before
//   polling child   true -> false (`transition_to_idle`), after it unlinked
//                   the node from its batch, so a wake during the poll links
//                   it again and the child is polled again.
//   retire          -> true, for good, when the child finished.
//
// (e) Safety: the awkward interleavings.
//   * No lost wake: as detail/ready_queue.hpp (a wake finds `queued` false
//     and links, or true and the JoinAll polls the child after clearing it
//     with acquire). The parent waker is woken on every empty -> non-empty
//     transition of the list; the JoinAll registers its waker before it
//     takes the list. Wakes during the first pass link nodes while the
//     parent waker is still the no-op one: the JoinAll registers its waker
//     and takes the list right after the pass, so it finds them.
//   * Stale nodes: a node retired while linked stays linked; the JoinAll
//     finds no child in its slot and skips it.
//   * Late wakes: after `close()` a wake sets `queued`, finds `closed_` under
//     the mutex and does nothing. The block lives while any waker does.
//   * Re-entrancy: the mutex is never held while user code runs (the parent
//     waker is cloned under it, woken after unlocking).
// Tests (join_all_test.cpp) pinning these rules: "join_all polls a child
// again only after it is woken", "join_all polls a child woken during its
// first poll again", "join_all child woken after the future was dropped does
// nothing", "join_all completes under block_on when children are woken from
// other threads" (run it under TSan).

namespace pollux::detail {

template <class Slot>
class JoinAllBlock {
public:
    // One child's waker. Trivially destructible: the block frees it as
    // memory.
    struct Node {
        JoinAllBlock* block;
        std::atomic<bool> queued{false};
        Node* next = nullptr;
    };

    // A block for `count` children from index `base` on, holding the
    // creator's reference; every slot holds a default-constructed Slot.
    static JoinAllBlock* create(std::size_t base, std::size_t count) {
        void* p = over_aligned() ? ::operator new (bytes(count), std::align_val_t{alignment()})
                                 : ::operator new(bytes(count));
        // SAFETY: placement-new of the header, then of each node and slot,
        // into raw memory sized and aligned for them (bytes, alignment).
        auto* b = ::new (p) JoinAllBlock(base, count);
        for (std::size_t j = 0; j < count; ++j) {
            ::new (static_cast<void*>(b->node_at(j))) Node{b};
            ::new (static_cast<void*>(b->slot_at(j))) Slot();
        }
        return b;
    }

    JoinAllBlock(const JoinAllBlock&) = delete;
    JoinAllBlock& operator=(const JoinAllBlock&) = delete;

    [[nodiscard]] std::size_t base() const noexcept { return base_; }
    // The node and slot of child `i` (an index of the input, >= base()).
    [[nodiscard]] Node& node(std::size_t i) noexcept { return *node_at(i - base_); }
    [[nodiscard]] Slot& slot(std::size_t i) noexcept { return *slot_at(i - base_); }
    [[nodiscard]] std::size_t index(const Node& n) noexcept {
        return base_ + static_cast<std::size_t>(&n - node_at(0));
    }

    // The JoinAll only, before its release: destroys every slot (children
    // left and outputs not taken).
    void destroy_slots() noexcept {
        for (std::size_t j = 0; j < count_; ++j) {
            std::destroy_at(slot_at(j));
        }
    }

    void retain() noexcept {
        // ORDERING: a new reference is made from one the caller holds.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept {
        // ORDERING: acq_rel: release publishes this holder's last uses; the
        // last holder's acquire pairs with every other's release before the
        // memory is freed (as ArcWake::release).
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            this->~JoinAllBlock();
            if constexpr (over_aligned()) {
                ::operator delete (static_cast<void*>(this), std::align_val_t{alignment()});
            } else {
                ::operator delete(static_cast<void*>(this));
            }
        }
    }

    // A new waker of `n` (it holds a reference on the block).
    [[nodiscard]] static RawWaker raw_waker(Node& n) noexcept {
        n.block->retain();
        return RawWaker{&n, &vtable};
    }

    // Wakes child `n`: links it unless it is already (or retired). Any
    // thread; the caller keeps the block alive.
    static void wake(Node& n) {
        // ORDERING: acq_rel, as ReadyNode::wake: release pairs with the
        // acquire of transition_to_idle (what the waker did is visible to
        // the child's next poll); acquire pairs with its release (the
        // JoinAll's last use of `next` happens before link writes it).
        if (n.queued.exchange(true, std::memory_order_acq_rel)) {
            return;
        }
        n.block->link(n);
    }

    // The JoinAll, before polling the child of a node it popped.
    static void transition_to_idle(Node& n) noexcept {
        // ORDERING: acq_rel, pairing with the exchange in wake().
        const bool was_queued = n.queued.exchange(false, std::memory_order_acq_rel);
        POLLUX_ASSERT(was_queued, "join_all child polled while not queued");
        (void)was_queued;
    }

    // The JoinAll, when the child finished: later wakes do nothing.
    static void retire(Node& n) noexcept {
        // ORDERING: relaxed: nothing is published (as ReadyNode::retire).
        n.queued.store(true, std::memory_order_relaxed);
    }

    // The JoinAll only: unlinks the first node of a batch from take_all.
    [[nodiscard]] static Node& pop(Node*& batch) noexcept {
        Node* n = batch;
        batch = n->next;
        n->next = nullptr;
        return *n;
    }

    // The JoinAll only: the waker to wake when the list becomes non-empty.
    void register_waker(const Waker& w) {
        // Only the JoinAll writes parent_, so it may read it unlocked.
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

    // The JoinAll only: takes the whole list, oldest first.
    [[nodiscard]] Node* take_all() noexcept {
        std::lock_guard lock(mu_);
        tail_ = nullptr;
        return std::exchange(head_, nullptr);
    }

    // The JoinAll only, when it lets go: later wakes do nothing; drops the
    // parent's waker.
    void close() noexcept {
        Waker parent = Waker::noop();
        {
            std::lock_guard lock(mu_);
            closed_ = true;
            head_ = nullptr;
            tail_ = nullptr;
            parent_.swap(parent);
        }
    }

private:
    static constexpr std::size_t round_up(std::size_t n, std::size_t a) noexcept {
        return (n + a - 1) / a * a;
    }
    // (Functions: the class is complete only inside their bodies.)
    static constexpr std::size_t nodes_offset() noexcept {
        return round_up(sizeof(JoinAllBlock), alignof(Node));
    }
    static constexpr std::size_t alignment() noexcept {
        return std::max({alignof(JoinAllBlock), alignof(Node), alignof(Slot)});
    }
    static constexpr bool over_aligned() noexcept {
        return alignment() > __STDCPP_DEFAULT_NEW_ALIGNMENT__;
    }

    static constexpr std::size_t slots_offset(std::size_t count) noexcept {
        return round_up(nodes_offset() + count * sizeof(Node), alignof(Slot));
    }
    static constexpr std::size_t bytes(std::size_t count) noexcept {
        return slots_offset(count) + count * sizeof(Slot);
    }

    JoinAllBlock(std::size_t base, std::size_t count) noexcept : base_(base), count_(count) {}
    ~JoinAllBlock() = default;

    Node* node_at(std::size_t j) noexcept {
        // SAFETY: node j lies inside the allocation (bytes), aligned for Node.
        return std::launder(reinterpret_cast<Node*>(reinterpret_cast<unsigned char*>(this) +
                                                    nodes_offset() + j * sizeof(Node)));
    }
    Slot* slot_at(std::size_t j) noexcept {
        // SAFETY: slot j lies inside the allocation (bytes), aligned for Slot.
        return std::launder(reinterpret_cast<Slot*>(reinterpret_cast<unsigned char*>(this) +
                                                    slots_offset(count_) + j * sizeof(Slot)));
    }

    // Links a node whose `queued` this caller set; wakes the parent when the
    // list was empty. Does nothing once closed.
    void link(Node& n) {
        std::optional<Waker> to_wake;
        {
            std::lock_guard lock(mu_);
            if (closed_) {
                return;
            }
            if (tail_ == nullptr) {
                head_ = &n;
            } else {
                tail_->next = &n;
            }
            tail_ = &n;
            if (head_ == &n) {
                to_wake.emplace(parent_);
            }
        }
        if (to_wake) {
            std::move(*to_wake).wake();
        }
    }

    static RawWaker clone_fn(const void* p) {
        return raw_waker(*static_cast<Node*>(const_cast<void*>(p)));
    }
    static void wake_fn(const void* p) {
        Node& n = *static_cast<Node*>(const_cast<void*>(p));
        JoinAllBlock* b = n.block;
        wake(n);
        b->release();
    }
    static void wake_by_ref_fn(const void* p) { wake(*static_cast<Node*>(const_cast<void*>(p))); }
    static void drop_fn(const void* p) { static_cast<const Node*>(p)->block->release(); }
    static constexpr RawWakerVTable vtable{&clone_fn, &wake_fn, &wake_by_ref_fn, &drop_fn};

    std::atomic<std::size_t> refs_{1};
    LightMutex mu_;
    Node* head_ = nullptr;
    Node* tail_ = nullptr;
    bool closed_ = false;
    Waker parent_ = Waker::noop();
    std::size_t base_;
    std::size_t count_;
};

} // namespace pollux::detail
