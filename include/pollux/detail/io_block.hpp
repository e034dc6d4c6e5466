#pragma once

/// @file
/// `detail::IoBlockPtr<Io>`: the owner of a heap block that holds an Asio I/O
/// object (a timer, a signal_set) and the `use_future` wait in flight on it.
/// Private; used by pollux::time and pollux::signal.

#include <pollux/asio.hpp>
#include <pollux/detail/task.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/recycling_allocator.hpp>

#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace pollux::detail {

// Why a separate block: Asio's per-operation cancellation handler (the one
// a timer wait installs in the AsioFuture's cancellation slot) keeps a
// pointer into the I/O object's implementation, so the I/O object must not
// move while a wait is in flight. The future or stream that owns the block
// holds only a pointer and moves freely (DESIGN rule 4).
//
// Member order: `wait` is declared after `io`, so it is destroyed first. Its
// destructor emits terminal cancellation into `io`, which is still alive.
//
// Where the block dies: if no wait is engaged, on the spot, on any thread
// (Asio's timer and signal services lock internally; only concurrent use of
// one I/O object is unsafe, and nobody else holds this one). If one may be in
// flight, on the I/O object's executor (asio::dispatch: inline when we are
// already on it, the usual case of a task dropping its own future). The
// reason: an AsioFuture dropped off its executor posts its cancellation
// instead of emitting it; were the I/O object destroyed here meanwhile, the
// posted emit would reach a dead object. Destroying the whole block over
// there keeps "emit, then destroy" in order on every executor, strands and
// multi-threaded io_contexts included. A block whose posted destruction never
// runs (the io_context shut down) is freed when Asio destroys the handler.
//
// Memory: see BlockCache below.
template <class Io>
struct IoBlock {
    using Wait = decltype(std::declval<Io&>().async_wait(use_future));

    explicit IoBlock(const boost::asio::any_io_executor& ex) : io(ex) {}

    Io io;                    // never moves while the block lives
    std::optional<Wait> wait; // engaged while a wait may be in flight
};

// A few freed blocks of one type kept per thread, in front of Asio's
// recycling allocator, so that a steady stream of sleeps allocates nothing.
//
// Why not the recycling allocator alone: its per-thread cache holds two
// blocks (BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE, which a library cannot
// change without an ODR hazard), and one use_future wait already keeps two
// alive at once: its OpState and Asio's own operation. A third block from
// the same cache missed on every sleep (two std::aligned_alloc calls per
// sleep, measured by test/time_alloc_test.cpp). Also, Asio keeps that cache
// in a thread_info that lives for one io_context::run() or run_one() call,
// so a loop driven by run_one() loses it after every handler; this cache is
// per thread and survives.
//
// Thread exit: the slots are freed by a thread_local destructor, which then
// sets `dead_` (trivially destructible, so readable for the rest of the
// thread's exit); blocks freed after that go straight to the allocator.
template <class Block>
class BlockCache {
public:
    static Block* allocate() {
        if (!dead_) {
            for (Block*& slot : slots().free) {
                if (slot != nullptr) {
                    return std::exchange(slot, nullptr);
                }
            }
        }
        return allocator().allocate(1);
    }

    static void deallocate(Block* p) noexcept {
        if (!dead_) {
            for (Block*& slot : slots().free) {
                if (slot == nullptr) {
                    slot = p;
                    return;
                }
            }
        }
        allocator().deallocate(p, 1);
    }

private:
    using allocator = boost::asio::recycling_allocator<Block>;

    struct Slots {
        Block* free[4] = {}; // raw storage, no live Block
        Slots() = default;
        Slots(const Slots&) = delete;
        Slots& operator=(const Slots&) = delete;
        ~Slots() {
            dead_ = true;
            for (Block* p : free) {
                if (p != nullptr) {
                    allocator().deallocate(p, 1);
                }
            }
        }
    };

    static Slots& slots() noexcept {
        thread_local Slots s;
        return s;
    }

    static inline thread_local bool dead_ = false;
};

template <class Io>
class IoBlockPtr {
public:
    using Block = IoBlock<Io>;

    IoBlockPtr() noexcept = default;
    IoBlockPtr(IoBlockPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    IoBlockPtr& operator=(IoBlockPtr&& o) noexcept {
        if (this != &o) {
            reset();
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    ~IoBlockPtr() { reset(); }

    /// A new block whose I/O object runs on `ex`.
    [[nodiscard]] static IoBlockPtr make(const boost::asio::any_io_executor& ex) {
        Block* p = BlockCache<Block>::allocate();
        try {
            // SAFETY: p is fresh storage for one Block, suitably aligned.
            ::new (static_cast<void*>(p)) Block(ex);
        } catch (...) {
            BlockCache<Block>::deallocate(p);
            throw;
        }
        IoBlockPtr out;
        out.p_ = p;
        return out;
    }

    [[nodiscard]] Block* get() const noexcept { return p_; }
    Block* operator->() const noexcept { return p_; }
    Block& operator*() const noexcept { return *p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

    /// Destroys the block (see the comment above for where).
    void reset() noexcept {
        Block* b = std::exchange(p_, nullptr);
        if (b == nullptr) {
            return;
        }
        if (!b->wait) {
            destroy(b);
            return;
        }
        Destroyer d(b);
        try {
            boost::asio::dispatch(b->io.get_executor(), std::move(d));
        } catch (...) {
            // The executor could not take the handler: whichever Destroyer
            // still owns the block (`d`, or the moved-into copy that Asio
            // destroyed while unwinding) frees it.
        }
    }

private:
    static void destroy(Block* b) noexcept {
        b->~Block();
        BlockCache<Block>::deallocate(b);
    }

    // The handler that destroys a block on its executor; if Asio destroys it
    // without running it, it destroys the block anyway.
    class Destroyer {
    public:
        explicit Destroyer(Block* b) noexcept : b_(b) {}
        Destroyer(Destroyer&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
        Destroyer& operator=(Destroyer&&) = delete;
        ~Destroyer() {
            if (b_) {
                destroy(b_);
            }
        }
        void operator()() { destroy(std::exchange(b_, nullptr)); }

    private:
        Block* b_;
    };

    Block* p_ = nullptr;
};

/// The pollux task running on this thread, for an I/O object that `what`
/// creates; throws std::logic_error outside a task.
inline TaskHeader& require_current_task(const char* what) {
    TaskHeader* task = current_task();
    if (task == nullptr) {
        throw std::logic_error(std::string(what) +
                               " used outside a pollux task: it needs the executor of the task "
                               "running on this thread; use it inside Runtime::block_on, "
                               "pollux::run or a spawned task");
    }
    return *task;
}

/// The executor of the pollux task running on this thread, for an I/O object
/// that `what` creates; throws std::logic_error outside a task.
inline boost::asio::any_io_executor executor_of_current_task(const char* what) {
    return require_current_task(what).executor();
}

} // namespace pollux::detail
