#pragma once

/// @file
/// `FuturesUnordered<F>`: a set of futures polled concurrently, as a `Stream`
/// of their outputs in completion order (futures-rs's `FuturesUnordered`).

#include <pollux/core/future.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/detail/arc_wake.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/ready_queue.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace pollux {

namespace detail {

// One allocation holding the nodes of several children
// (FuturesUnordered::reserve, and so join_all). Its count of references:
// one per node constructed in it and not yet destroyed, and one for the set
// while slots are left. A node may be freed on any thread (its last waker),
// so the count is atomic; the last release frees the block, whichever node
// or set it was.
template <class Node>
class NodeBlock {
public:
    // Room for `n` nodes, with the set's reference.
    static NodeBlock* create(std::size_t n) {
        void* p = ::operator new(slots_offset() + n * sizeof(Node));
        // SAFETY: placement-new of the header at the start of raw memory
        // big enough for it and `n` slots after it.
        return ::new (p) NodeBlock(n);
    }
    NodeBlock(const NodeBlock&) = delete;
    NodeBlock& operator=(const NodeBlock&) = delete;

    [[nodiscard]] bool full() const noexcept { return used_ == capacity_; }
    // The set only: memory for the next node, which then holds a reference
    // (given back by the node's release_slot).
    [[nodiscard]] void* take_slot() noexcept {
        POLLUX_ASSERT(!full(), "NodeBlock slot taken from a full block");
        // ORDERING: relaxed: a new reference from the set's.
        refs_.fetch_add(1, std::memory_order_relaxed);
        // SAFETY: slot `used_` lies inside the block's allocation (create
        // sized it for capacity_ slots), aligned for Node (slots_offset).
        return reinterpret_cast<unsigned char*>(this) + slots_offset() + used_++ * sizeof(Node);
    }
    // The set, when it needs no more slots; or a node's destruction.
    void release() noexcept {
        // ORDERING: acq_rel: each holder's uses of its memory happen before
        // the last holder frees the block (as ArcWake::release).
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            this->~NodeBlock();
            ::operator delete(static_cast<void*>(this));
        }
    }

private:
    explicit NodeBlock(std::size_t n) noexcept : capacity_(n) {}
    ~NodeBlock() = default;

    // The slots start after the header, aligned for Node (the allocation is
    // aligned for anything not over-aligned: FuturesUnordered::reserve
    // makes no block for an over-aligned Node).
    static constexpr std::size_t slots_offset() noexcept {
        return (sizeof(NodeBlock) + alignof(Node) - 1) / alignof(Node) * alignof(Node);
    }

    std::atomic<std::size_t> refs_{1};
    std::size_t capacity_;
    std::size_t used_ = 0; // the set's alone
};

// One child of a FuturesUnordered: its future, its place in the registry,
// and (through ReadyNode) its waker. The future is touched and destroyed
// only by the parent; the node itself may outlive the parent while wakers of
// the child remain, and is then freed by whichever thread drops the last.
// A node lives either in an allocation of its own (`new`) or in a slot of a
// NodeBlock (`block_`), which its deletion releases.
template <class F>
class FuturesUnorderedTask final : public ReadyNode<FuturesUnorderedTask<F>> {
public:
    FuturesUnorderedTask(ArcPtr<ReadyQueue<FuturesUnorderedTask>> queue,
                         F&& f,
                         std::size_t index,
                         NodeBlock<FuturesUnorderedTask>* block = nullptr)
        : ReadyNode<FuturesUnorderedTask>(std::move(queue)), future(std::in_place, std::move(f)),
          pos(index), block_(block) {}

    ~FuturesUnorderedTask() {
        // A future left here would be destroyed on whatever thread drops the
        // last waker (as futures-rs's "future still here when dropping").
        POLLUX_ASSERT(!future.has_value(), "a child future outlived its FuturesUnordered");
    }

    // ArcWake's last release deletes the node: free it the way it was made
    // (FuturesUnordered::push constructs every node with a placement-new,
    // so no new-expression ever pairs with this destroying delete).
    void operator delete(FuturesUnorderedTask* p, std::destroying_delete_t) noexcept {
        NodeBlock<FuturesUnorderedTask>* block = p->block_;
        p->~FuturesUnorderedTask();
        if (block != nullptr) {
            block->release();
        } else {
            ::operator delete(static_cast<void*>(p));
        }
    }

    std::optional<F> future; // empty once the child is gone (the node is retired)
    std::size_t pos;         // index in the parent's registry while alive

private:
    NodeBlock<FuturesUnorderedTask>* block_; // null: allocated alone
};

// The output of a child, as a value (`Unit` for void).
template <Future F>
value_t<output_t<F>> take_output(Poll<output_t<F>>&& p) {
    if constexpr (std::is_void_v<output_t<F>>) {
        return Unit{};
    } else {
        return std::move(p).value();
    }
}

// A future with its position in the input, for join_all and select_all.
template <Future F>
class POLLUX_NODISCARD_FUTURE Indexed {
public:
    using Output = std::pair<std::size_t, value_t<output_t<F>>>;

    Indexed(F f, std::size_t index) : inner_(std::move(f)), index_(index) {}

    Poll<Output> poll(Context& cx) {
        auto p = inner_.poll(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        return Ready{Output(index_, take_output<F>(std::move(p)))};
    }

private:
    F inner_;
    std::size_t index_;
};

} // namespace detail

/// A set of futures that runs them all and yields each output as it
/// finishes, in completion order. Each child gets a waker of its own, and a
/// poll of the set polls only the children woken since their last poll, so
/// N children that are each woken once cost O(N) child polls in all, not
/// O(N^2).
///
/// `poll_next` returns `Ready(item)` when a child finishes (the child is
/// destroyed first), `Pending` when no woken child finished, and
/// `Ready(nullopt)` when the set holds no futures. Unlike most streams it may
/// be pushed to and polled again after `Ready(nullopt)`, as in Rust.
///
/// A newly pushed future is polled for the first time by the next
/// `poll_next`; `push` wakes the task that last polled the set so that this
/// happens. Within one `poll_next`, children are polled in the order they
/// were woken (pushed, for the first poll). One `poll_next` polls at most
/// `size()` children that stay pending; with more woken children left it
/// wakes its own task and returns `Pending`, so children that keep waking
/// themselves cannot starve the executor.
///
/// @par Cancel safety
/// `poll_next` is cancel safe: an output is taken out of the set only in the
/// call that returns it. Destroying the set (or calling `clear`) destroys
/// every child, cancelling them; their outputs are lost.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. The set may move to
/// another thread between polls when `F` may. The wakers it hands to its
/// children are thread-safe and may be woken from any thread at any time,
/// also after the set is destroyed (then they do nothing).
/// @par Wakes / resumes on
/// The waker of the latest `poll_next`, woken on the thread of the first
/// child wake after each poll (children woken during a poll wake it too).
/// @par Errors
/// An exception thrown by a child's `poll` propagates from `poll_next`; that
/// child is destroyed first, and the set holds the others and may be polled
/// again.
/// @par Example
/// @code
/// pollux::FuturesUnordered<pollux::BoxFuture<int>> set;
/// for (auto& f : jobs) set.push(std::move(f));
/// while (auto v = co_await pollux::next(set)) { use(*v); }
/// @endcode
template <Future F>
class POLLUX_NODISCARD_FUTURE FuturesUnordered {
    static_assert(std::is_object_v<F> && !std::is_const_v<F> && std::is_move_constructible_v<F>,
                  "FuturesUnordered holds its futures by value");

    using Task = detail::FuturesUnorderedTask<F>;
    using Queue = detail::ReadyQueue<Task>;

public:
    /// The type of the items it yields.
    using Item = value_t<output_t<F>>;

    /// An empty set; allocates nothing.
    FuturesUnordered() noexcept = default;

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    FuturesUnordered(FuturesUnordered&& other) noexcept
        : queue_(std::move(other.queue_)), tasks_(std::move(other.tasks_)),
          batch_(std::exchange(other.batch_, nullptr)),
          block_(std::exchange(other.block_, nullptr)) {
        other.tasks_.clear();
    }

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    FuturesUnordered& operator=(FuturesUnordered&& other) noexcept {
        FuturesUnordered moved(std::move(other));
        swap(moved);
        return *this;
    }

    /// Destroys every child (cancelling it); wakes of their wakers do nothing
    /// afterwards.
    ~FuturesUnordered() { destroy(); }

    /// Adds a future; it is first polled by the next `poll_next`.
    /// @par Errors
    /// `std::bad_alloc`; then `fut` was not added.
    void push(F fut) {
        if (!queue_) {
            queue_ = detail::make_arc<Queue>();
        }
        if (tasks_.size() == tasks_.capacity()) {
            tasks_.reserve(std::max<std::size_t>(8, tasks_.capacity() * 2));
        }
        // The new node's first reference is the registry's.
        Task* task = nullptr;
        if (block_ != nullptr) {
            void* slot = block_->take_slot(); // the slot's reference goes with the node
            try {
                // SAFETY: placement-new into a slot of the block sized and
                // aligned for a Task; the node's deletion gives it back.
                task = ::new (slot) Task(queue_, std::move(fut), tasks_.size(), block_);
            } catch (...) {
                block_->release(); // the slot stays unused; the block frees with the others
                release_full_block();
                throw;
            }
            release_full_block();
        } else {
            void* mem = ::operator new(sizeof(Task));
            try {
                // SAFETY: placement-new into memory of its own, which the
                // node's deletion (Task's operator delete) frees.
                task = ::new (mem) Task(queue_, std::move(fut), tasks_.size());
            } catch (...) {
                ::operator delete(mem);
                throw;
            }
        }
        tasks_.push_back(task); // no throw: capacity reserved above
        queue_->link(*task);    // the node starts Queued: link it for its first poll
    }

    /// Makes room for `n` more futures: the next `n` pushes allocate nothing
    /// (their children share one allocation, which is freed when the last
    /// of them is gone: the set destroyed it and no waker of it is left).
    /// `join_all` of n futures so makes a fixed number of allocations, not
    /// one per child.
    /// @par Errors
    /// `std::bad_alloc`; then the set is unchanged.
    void reserve(std::size_t n) {
        if (n == 0 || alignof(Task) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
            return;
        }
        if (!queue_) {
            queue_ = detail::make_arc<Queue>();
        }
        tasks_.reserve(tasks_.size() + n);
        detail::NodeBlock<Task>* block = detail::NodeBlock<Task>::create(n);
        if (block_ != nullptr) {
            block_->release(); // its slots left are not used
        }
        block_ = block;
    }

    /// The number of futures in the set.
    [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
    /// True when the set holds no future.
    [[nodiscard]] bool empty() const noexcept { return tasks_.empty(); }

    /// Destroys every child, leaving an empty set that may be reused.
    void clear() noexcept { FuturesUnordered old(std::move(*this)); }

    /// Exchanges the futures (and their queues) of two sets.
    void swap(FuturesUnordered& other) noexcept {
        std::swap(queue_, other.queue_);
        tasks_.swap(other.tasks_);
        std::swap(batch_, other.batch_);
        std::swap(block_, other.block_);
    }

    /// Polls the children woken since their last poll, until one finishes.
    /// See the class comment for what it returns.
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (!queue_) {
            return Ready{std::optional<Item>()}; // never pushed to, or moved from
        }
        queue_->register_waker(cx.waker());
        // Fairness budget (futures-rs's `polled == len`): at most size()
        // children that stay pending per call.
        const std::size_t budget = std::max<std::size_t>(tasks_.size(), 1);
        std::size_t polled = 0;
        for (;;) {
            if (batch_ == nullptr) {
                batch_ = queue_->take_all();
                if (batch_ == nullptr) {
                    // Drained: every later wake links into the empty list and
                    // so wakes cx's waker (registered above).
                    if (tasks_.empty()) {
                        return Ready{std::optional<Item>()};
                    }
                    return Pending{};
                }
            }
            if (polled == budget) {
                // Woken children are left in batch_, which no wake covers:
                // yield to the executor and come back for them.
                cx.waker().wake_by_ref();
                return Pending{};
            }
            // The list's reference on the node passes to `node`.
            const detail::ArcPtr<Task> node(Task::pop(batch_));
            if (!node->future) {
                continue; // stale: the child finished after it was linked
            }
            // Idle before the poll, so a wake during the poll links it again.
            node->transition_to_idle();
            ++polled;
            const Waker waker = node->waker();
            Context child_cx(waker, cx.budget()); // children spend the task's budget
            try {
                auto p = node->future->poll(child_cx);
                if (p.is_pending()) {
                    continue;
                }
                remove(*node);
                return Ready{
                    std::optional<Item>(std::in_place, detail::take_output<F>(std::move(p)))};
            } catch (...) {
                if (node->future) {
                    remove(*node);
                }
                throw;
            }
        }
    }

private:
    // Gives back the set's reference of a block with no slot left.
    void release_full_block() noexcept {
        if (block_->full()) {
            std::exchange(block_, nullptr)->release();
        }
    }

    // Retires a child, destroys its future and drops the registry's reference.
    void remove(Task& task) noexcept {
        task.retire();
        task.future.reset();
        Task* last = tasks_.back();
        tasks_[task.pos] = last;
        last->pos = task.pos;
        tasks_.pop_back();
        task.release();
    }

    void destroy() noexcept {
        if (queue_) {
            // First, so that wakes from the children's destructors (or from
            // any thread, from now on) do nothing.
            queue_->close();
        }
        while (batch_ != nullptr) {
            Task::pop(batch_)->release();
        }
        for (Task* task : tasks_) {
            task->retire();
            task->future.reset();
            task->release();
        }
        tasks_.clear();
        queue_ = {};
        if (block_ != nullptr) {
            std::exchange(block_, nullptr)->release();
        }
    }

    detail::ArcPtr<Queue> queue_; // null until the first push
    std::vector<Task*> tasks_;    // the live children, each holding one reference
    Task* batch_ = nullptr;       // taken from queue_ and not yet polled; owns references
    detail::NodeBlock<Task>* block_ = nullptr; // reserved slots left, with the set's reference
};

} // namespace pollux
