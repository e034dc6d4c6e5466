#pragma once

/// @file
/// `detail::IoBlockPtr<Io>`: the owner of a heap block that holds an Asio I/O
/// object (a timer, a signal_set) and the `use_future` wait in flight on it.
/// Private; used by pollux::time and pollux::signal.

#include <pollux/asio.hpp>
#include <pollux/detail/context_gate.hpp>
#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/task.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
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
// Where and how the block dies (drop_io_block below): on the dropping
// thread, whatever it is, in one of two ways that the gate of the I/O
// object's context (context_gate.hpp, recorded when the block was made)
// chooses:
//
// - Gate entered (the context is alive, and stays so until we leave): the
//   block is destroyed right here. `wait`'s AsioFuture emits terminal
//   cancellation synchronously (a timer or signal wait's cancellation
//   handler takes its service's lock, so any thread may), then the I/O
//   object's destructor runs (it locks the same service). Emit-then-destroy
//   is thus ordered on the dropping thread, on every executor, strands and
//   multi-threaded io_contexts included. While the context is being
//   destroyed only the destroying thread enters (the gate is `closing`):
//   the futures its shutdown drops destroy their I/O objects as usual; the
//   newer services (the reactor, the timer and signal services) may have
//   shut down already, which left them usable (their shutdown only
//   abandoned the operations, which marked the AsioFuture `gone`: no emit),
//   and they are deleted only after the gate is closed. Another thread is
//   refused from the start of the destruction: epoll_reactor::shutdown
//   unlinks the timers without its lock (and signal_set_service::shutdown
//   walks its registrations without one). ~Runtime closes the gate to
//   other threads before any service shuts down; a plain io_context closes
//   it in SchedulerService::shutdown, after the services made later.
// - Gate refused (the context is closed: its services are shut down and may
//   be deleted at any time, even as we speak): the I/O object's destructor
//   must not run, and it need not: every service's shutdown has abandoned
//   the operations (their handlers are destroyed, or will be by the
//   context, which never calls them now) and the reactor unlinks every timer
//   when it shuts down. `wait` is disowned (destroyed without emitting) and
//   the memory is freed without the destructor, at once if the gate is
//   buried, else when it is (gate->defer_free): a reactor that shuts down
//   after the gate closed may still walk a timer's links until then. What a
//   skipped destructor would have released beyond the memory: a socket's
//   descriptor (closed by hand, see lib/net/socket_block.hpp), a
//   signal_set's registrations (see docs/lifetimes-io-rows.md), and the I/O
//   object's executor: nothing for an io_context's; for a strand's, one
//   reference to the strand's state, leaked rather than released into a
//   service that may be deleted.
//
// Memory: see BlockCache below.
template <class Io>
struct IoBlock {
    using Wait = decltype(std::declval<Io&>().async_wait(use_future));

    IoBlock(const boost::asio::any_io_executor& ex, GateRef g) : gate(std::move(g)), io(ex) {}

    GateRef gate;             // of io's context; moved out by drop_io_block
    Io io;                    // never moves while the block lives
    std::optional<Wait> wait; // engaged while a wait may be in flight

    // The refused path's part (see above): forget the wait, keep `io`.
    void abandon_closed() noexcept {
        if (wait) {
            wait->disown();
            wait.reset();
        }
    }
};

/// The gate of the execution context of `ex` (created with its
/// SchedulerService if need be).
inline GateRef gate_of_executor(const boost::asio::any_io_executor& ex) {
    return GateRef(gate_of(boost::asio::query(ex, boost::asio::execution::context)));
}

/// Destroys block `b`, or disposes of it when its context is closed: see the
/// comment above IoBlock. `Block` has `gate`, `abandon_closed()` (which
/// releases what the skipped destructor would, the I/O object's memory
/// aside) and a destructor. `free_memory(b)` releases the storage only.
template <class Block>
void drop_io_block(Block* b, void (*free_memory)(void*)) noexcept {
    // The block's reference, held until the end (past the GatePass and the
    // deferred free) instead of by the block being destroyed.
    GateRef gate = std::move(b->gate);
    {
        GatePass pass(gate.get());
        if (pass) {
            b->~Block();
            free_memory(b);
            return;
        }
    }
    b->abandon_closed();
    // SAFETY: no destructor of b runs: the memory is released as raw storage
    // (the members that abandon_closed left are not destroyed, see above).
    if (!gate->defer_free(b, free_memory)) {
        free_memory(b);
    }
}

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
        GateRef gate = gate_of_executor(ex);
        Block* p = BlockCache<Block>::allocate();
        try {
            // SAFETY: p is fresh storage for one Block, suitably aligned.
            ::new (static_cast<void*>(p)) Block(ex, std::move(gate));
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

    /// Destroys the block, on this thread (see the comment above IoBlock).
    void reset() noexcept {
        if (Block* b = std::exchange(p_, nullptr)) {
            drop_io_block(b, &free_memory);
        }
    }

private:
    static void free_memory(void* p) noexcept {
        BlockCache<Block>::deallocate(static_cast<Block*>(p));
    }

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
