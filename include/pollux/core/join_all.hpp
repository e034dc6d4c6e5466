#pragma once

/// @file
/// `join_all(futures)`: waits for every future of a vector and collects
/// their outputs in input order (futures-rs's `join_all`).

#include <pollux/core/future.hpp>
#include <pollux/core/futures_unordered.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/join_all_block.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <utility>
#include <variant>
#include <vector>

namespace pollux {

/// The future returned by `join_all`.
template <Future F>
class POLLUX_NODISCARD_FUTURE JoinAll {
    using Item = value_t<output_t<F>>;
    // A child's place once it has waited: the child, then its output.
    using Slot = std::variant<std::monostate, F, Item>;
    using Block = detail::JoinAllBlock<Slot>;
    using Node = typename Block::Node;
    static constexpr std::size_t child = 1;
    static constexpr std::size_t output = 2;

public:
    /// What it completes with.
    using Output = std::vector<Item>;

    /// Made by `join_all(...)`, which is the one to call.
    explicit JoinAll(std::vector<F> futures) noexcept : futures_(std::move(futures)) {}

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    JoinAll(JoinAll&& other) noexcept
        : futures_(std::move(other.futures_)), out_(std::move(other.out_)),
          block_(other.block_.exchange(nullptr, std::memory_order_relaxed)),
          batch_(std::exchange(other.batch_, nullptr)), count_(other.count_),
          pending_(other.pending_), started_(other.started_), done_(other.done_) {}

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    JoinAll& operator=(JoinAll&& other) noexcept {
        if (this != &other) {
            destroy();
            futures_ = std::move(other.futures_);
            out_ = std::move(other.out_);
            block_.store(other.block_.exchange(nullptr, std::memory_order_relaxed),
                         std::memory_order_relaxed);
            batch_ = std::exchange(other.batch_, nullptr);
            count_ = other.count_;
            pending_ = other.pending_;
            started_ = other.started_;
            done_ = other.done_;
        }
        return *this;
    }

    JoinAll(const JoinAll&) = delete;
    JoinAll& operator=(const JoinAll&) = delete;

    /// Destroys every child left (cancelling it).
    ~JoinAll() { destroy(); }

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "JoinAll polled after it returned Ready (or threw)");
        try {
            std::size_t polled = 0;
            if (!started_) {
                started_ = true;
                polled = first_pass(cx);
            }
            if (pending_ == 0) {
                return Ready{finish()};
            }
            return poll_woken(cx, polled);
        } catch (...) {
            // The first exception wins: the other children are cancelled.
            done_ = true;
            destroy();
            throw;
        }
    }

private:
    // The waker a child gets in the first pass: borrowed for that poll only,
    // it points at the JoinAll and the child's index. It makes the block on
    // first need: a clone (the child keeps a waker) or a wake. So children
    // that are ready at once, and keep no waker, cost no allocation but the
    // output vector. (A child may clone it from another thread while its
    // poll runs: ensure_block publishes the block with a compare-exchange.)
    struct FirstPollWaker {
        JoinAll* self;
        std::size_t index;
    };

    static RawWaker first_clone(const void* p) {
        const auto* w = static_cast<const FirstPollWaker*>(p);
        return Block::raw_waker(w->self->ensure_block(w->index)->node(w->index));
    }
    static void first_wake_by_ref(const void* p) {
        const auto* w = static_cast<const FirstPollWaker*>(p);
        Block::wake(w->self->ensure_block(w->index)->node(w->index));
    }
    static void first_drop(const void*) noexcept {} // borrowed: holds nothing
    static constexpr RawWakerVTable first_vtable{
        &first_clone, &first_wake_by_ref, &first_wake_by_ref, &first_drop};

    // The block, made on first need for the children from `index` on (the
    // ones before it finished without needing one).
    Block* ensure_block(std::size_t index) {
        // ORDERING: acquire pairs with the release of the compare-exchange
        // below, when another thread's clone made the block (see
        // FirstPollWaker).
        Block* b = block_.load(std::memory_order_acquire);
        if (b != nullptr) {
            return b;
        }
        Block* fresh = Block::create(index, count_ - index);
        // ORDERING: acq_rel: release publishes the new block's contents;
        // acquire, on failure, those of the one another thread made.
        if (block_.compare_exchange_strong(
                b, fresh, std::memory_order_acq_rel, std::memory_order_acquire)) {
            return fresh;
        }
        fresh->destroy_slots();
        fresh->release();
        return b;
    }

    // Polls every child once, in input order, each in the input vector.
    // Outputs go straight to the result while every child so far finished;
    // from the first one that waits on, children move to the block's slots.
    // Returns how many stayed pending.
    std::size_t first_pass(Context& cx) {
        count_ = futures_.size();
        out_.reserve(count_);
        std::size_t stayed = 0;
        for (std::size_t i = 0; i < count_; ++i) {
            const FirstPollWaker first{this, i};
            const Waker waker = Waker::from_raw(RawWaker{&first, &first_vtable});
            Context child_cx(waker, cx.budget()); // children spend the task's budget
            auto p = futures_[i].poll(child_cx);
            if (p.is_pending()) {
                ensure_block(i)->slot(i).template emplace<child>(std::move(futures_[i]));
                ++pending_;
                ++stayed;
                continue;
            }
            Block* b = block_.load(std::memory_order_relaxed);
            if (b != nullptr) {
                Block::retire(b->node(i));
            }
            if (pending_ == 0) {
                out_.push_back(detail::take_output<F>(std::move(p)));
            } else {
                b->slot(i).template emplace<output>(detail::take_output<F>(std::move(p)));
            }
        }
        // The finished children and the moved-from ones go now.
        std::vector<F>().swap(futures_);
        return stayed;
    }

    // Polls the children woken since their last poll (FuturesUnordered's
    // loop, with its fairness budget: at most as many polls as children left
    // per call, `polled` already spent).
    Poll<Output> poll_woken(Context& cx, std::size_t polled) {
        Block* b = block_.load(std::memory_order_relaxed); // made: a child waits
        b->register_waker(cx.waker());
        const std::size_t budget = std::max<std::size_t>(pending_, 1);
        for (;;) {
            if (batch_ == nullptr) {
                batch_ = b->take_all();
                if (batch_ == nullptr) {
                    // Drained: every later wake links into the empty list and
                    // so wakes cx's waker (registered above).
                    return Pending{};
                }
            }
            if (polled >= budget) {
                // Woken children are left in batch_, which no wake covers:
                // yield to the executor and come back for them.
                cx.waker().wake_by_ref();
                return Pending{};
            }
            Node& node = Block::pop(batch_);
            const std::size_t i = b->index(node);
            Slot& slot = b->slot(i);
            if (slot.index() != child) {
                continue; // stale: the child finished after it was linked
            }
            // Idle before the poll, so a wake during the poll links it again.
            Block::transition_to_idle(node);
            ++polled;
            const Waker waker = Waker::from_raw(Block::raw_waker(node));
            Context child_cx(waker, cx.budget());
            auto p = std::get<child>(slot).poll(child_cx);
            if (p.is_pending()) {
                continue;
            }
            Block::retire(node);
            slot.template emplace<output>(detail::take_output<F>(std::move(p)));
            if (--pending_ == 0) {
                return Ready{finish()};
            }
        }
    }

    Output finish() {
        done_ = true;
        if (Block* b = block_.load(std::memory_order_relaxed); b != nullptr) {
            // out_ holds the outputs before the first child that waited; the
            // others are in the slots.
            for (std::size_t i = out_.size(); i < count_; ++i) {
                out_.push_back(std::move(std::get<output>(b->slot(i))));
            }
        }
        destroy();
        return std::move(out_);
    }

    // Lets go of every child left and of the block.
    void destroy() noexcept {
        batch_ = nullptr;
        if (Block* b = block_.exchange(nullptr, std::memory_order_relaxed); b != nullptr) {
            // First, so that wakes from the children's destructors (or from
            // any thread, from now on) do nothing.
            b->close();
            b->destroy_slots();
            b->release();
        }
        std::vector<F>().swap(futures_);
    }

    std::vector<F> futures_; // the input, until the end of the first poll
    Output out_;             // the result: reserved by the first poll
    // Null until a child needs it; atomic only for a clone of a first-poll
    // waker from another thread during the child's poll.
    std::atomic<Block*> block_{nullptr};
    Node* batch_ = nullptr;   // taken from the block's list, not yet polled
    std::size_t count_ = 0;   // the number of children
    std::size_t pending_ = 0; // children in slots, not finished
    bool started_ = false;
    bool done_ = false;
};

/// A future that polls every future of `futures` concurrently and resolves
/// to their outputs in input order (`Unit` for `void` outputs). Only the
/// children woken since their last poll are polled, so N children that are
/// each woken once cost O(N) child polls in all. An empty vector gives a
/// future that is ready at once with an empty vector.
///
/// Allocations: the returned vector, reserved by the first poll. When a
/// child waits (or keeps its waker), one block more holds the children's
/// wakers, the queue of woken children, the children that wait and their
/// outputs (docs/decisions.md). Children are polled in the input vector
/// first, and moved into the block when they wait.
///
/// @par Cancel safety
/// Not cancel safe: dropping the future destroys every child (cancelling
/// it), and the outputs of the children that had finished are lost.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. The children's wakers may
/// be woken from any thread.
/// @par Wakes / resumes on
/// The waker of the latest poll, woken by the first child wake after it.
/// @par Errors
/// An exception thrown by a child's `poll` propagates from `poll`; the other
/// children are destroyed before it does, and the future counts as finished.
/// @par Preconditions
/// Not polled again after it returned `Ready` or threw (asserts).
/// @par Example
/// @code
/// std::vector<pollux::BoxFuture<int>> fs = make_requests();
/// std::vector<int> replies = co_await pollux::join_all(std::move(fs));
/// @endcode
template <Future F>
POLLUX_NODISCARD_FUTURE JoinAll<F> join_all(std::vector<F> futures) {
    return JoinAll<F>(std::move(futures));
}

} // namespace pollux
