#pragma once

/// @file
/// The machinery shared by `Async<T>` and `AsyncStream<T>`: how a chain of
/// coroutines that await each other is driven from one `poll`.

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>

#include <coroutine>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux::detail {

// A *chain* is a root coroutine (the `Async` or `AsyncStream` that someone
// polls) plus the `Async`s it is awaiting, nested: root awaits A, A awaits B,
// and so on. Only the innermost one, the *leaf*, is ever suspended on a
// non-`Async` future. The chain's state lives in the root's promise, which
// never moves, and every promise in the chain points at it.
//
// Who keeps each frame alive: the root's frame by the `Async` being polled; a
// child's frame either by its parent's awaiter (an *owned* child: the
// `Async` was an rvalue, moved into the `co_await`) or by whoever holds the
// `Async` the parent awaits by lvalue reference (a *borrowed* child; it must
// outlive the await, as any reference must). When a suspended chain is
// destroyed, owned children go with it and a borrowed child is *detached*:
// it becomes the root of its own chain, with the leaf state below it, and is
// polled or awaited again later (see destroy_awaited_children in async.hpp).
//
// Driving (`drive`, called from the root's `poll`):
// 1. If the leaf is parked on a future, poll that future directly through
//    `repoll` with the caller's Context. Still Pending: return at once. A wake
//    therefore costs O(1), whatever the depth of the chain (Rust re-polls
//    from the top: O(depth)).
// 2. Otherwise resume `next` (the leaf, or on the first poll the root) in a
//    trampoline loop. A coroutine that starts awaiting a child `Async` sets
//    `next` to the child and suspends back into the loop; a child that
//    finishes sets `next` to its parent in `final_suspend` and suspends back
//    into the loop. So the native stack never grows with the depth of the
//    chain: a 100,000-deep chain of synchronous completions runs in constant
//    stack.
//
// We bounce through a loop rather than use symmetric transfer (returning the
// next handle from `await_suspend`, as cppcoro does) because symmetric
// transfer is only stack-safe when the compiler emits a tail call, which
// g++ 12 does not promise at -O0 or under the sanitizers. The loop costs one
// indirect call per hand-over and is stack-safe in every build.
struct CoroChain {
    Context* cx = nullptr;                     // the Context of the poll in progress
    std::coroutine_handle<> next;              // the next frame the trampoline resumes
    std::coroutine_handle<> leaf;              // the innermost suspended frame
    void* awaiter = nullptr;                   // the leaf's parked FutureAwaiter
    bool (*repoll)(void*, Context&) = nullptr; // polls it; true once ready

    // Returns false when the leaf's future is still pending; true when the
    // chain ran until it parked again, yielded or finished.
    bool drive(Context& ctx) {
        cx = &ctx;
        if (repoll != nullptr) {
            if (!repoll(awaiter, ctx)) {
                cx = nullptr;
                return false;
            }
            repoll = nullptr;
            awaiter = nullptr;
        }
        next = leaf;
        while (next) {
            // SAFETY: `next` is a suspended frame of this chain, kept alive as
            // described above (by the polled Async, the parent's awaiter or
            // the borrowed Async's holder), and a parent cannot finish while
            // a child runs.
            std::exchange(next, nullptr).resume();
        }
        cx = nullptr;
        return true;
    }
};

/// Awaits a plain `Future` inside a chain. `Stored` is the future type (the
/// future was passed as an rvalue and is moved, once, into this awaiter, in
/// the coroutine frame) or an lvalue reference to it (the caller keeps it).
///
/// An owned future is dropped as soon as it is Ready (or its poll threw),
/// before the coroutine resumes, as Rust's `.await` consumes its future: the
/// awaiter keeps the future, then the output or the exception, in one slot,
/// so a `co_await` costs the frame the largest of the three, not their sum
/// (docs/performance.md, "Idle memory (issue 22): the coroutine sample").
template <class Stored>
class FutureAwaiter {
    using Fut = std::remove_reference_t<Stored>;
    using Out = output_t<Fut>;
    using Value = value_t<Out>;
    static constexpr bool owned = !std::is_reference_v<Stored>;

    // What `slot_` holds: the owned future until it finished (`future`
    // for a borrowed one too, whose slot is empty meanwhile), then its
    // output or the exception its poll threw. `nothing` only between
    // dropping the future and storing what replaces it, or after a move of
    // the output threw.
    enum class Holds : unsigned char { future, value, error, nothing };

    // Trivial for an empty member: only one of them is alive, as `holds_`
    // says; the awaiter constructs and destroys them.
    union Slot {
        Slot() noexcept {}
        ~Slot() {}
        std::conditional_t<owned, Fut, Unit> fut;
        Value value;
        std::exception_ptr error;
    };

public:
    // `Stored&&` is `Fut&&` for an owned future and `Fut&` for a borrowed
    // one: the operand is moved straight into the slot, with no by-value
    // parameter in between.
    //
    // The first poll happens here, with `cx`, the Context of the outer poll
    // that is running the coroutine (most awaits complete without
    // suspending): polling in await_ready would need the chain's address in
    // every awaiter, 8 bytes of the frame per `co_await`. The awaiter is
    // made by await_transform, just before await_ready, in the same
    // expression: the order of what runs is the same. If the poll throws,
    // the future is dropped and the exception leaves at the co_await.
    FutureAwaiter(Stored&& fut, Context& cx) {
        if constexpr (owned) {
            ::new (static_cast<void*>(std::addressof(slot_.fut))) Fut(std::forward<Stored>(fut));
        } else {
            borrowed_ = std::addressof(fut);
        }
        try {
            (void)store(future().poll(cx));
        } catch (...) {
            reset();
            throw;
        }
    }
    FutureAwaiter(const FutureAwaiter&) = delete;
    FutureAwaiter& operator=(const FutureAwaiter&) = delete;
    // await_resume leaves the slot empty on the path every completed await
    // takes: only an await the coroutine never resumed from (destroyed while
    // suspended), or whose await_resume threw, has something to destroy.
    ~FutureAwaiter() {
        if (holds_ != Holds::nothing) {
            reset();
        }
    }

    // Ready when the constructor's poll was.
    bool await_ready() const noexcept { return holds_ != Holds::future; }

    // Parks this awaiter as the leaf of the chain that `h` (a frame of a
    // chain: its promise derives from ChainPromiseBase) runs on. Once
    // suspended, the frame may be detached into another chain (see
    // CoroChain), and repoll gets its Context from the chain that drives it.
    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> h) noexcept {
        CoroChain* chain = h.promise().chain_;
        chain->leaf = h;
        chain->awaiter = this;
        chain->repoll = &repoll;
    }

    // Moves the output out and destroys the slot's (moved-from) value, so
    // the destructor has nothing left to do. If the move throws, the value
    // stays and the destructor destroys it.
    Out await_resume() {
        if (holds_ == Holds::error) {
            std::rethrow_exception(slot_.error);
        }
        POLLUX_ASSERT(holds_ == Holds::value, "co_await resumed without an output");
        if constexpr (std::is_void_v<Out>) {
            std::destroy_at(std::addressof(slot_.value));
            holds_ = Holds::nothing;
        } else {
            Out out(std::move(slot_.value));
            std::destroy_at(std::addressof(slot_.value));
            holds_ = Holds::nothing;
            return out;
        }
    }

private:
    Fut& future() noexcept {
        if constexpr (owned) {
            return slot_.fut;
        } else {
            return *borrowed_;
        }
    }

    // Destroys the owned future if the slot still holds it (a move of the
    // output that threw left `nothing`); cheaper than reset()'s switch on
    // the path every completion takes.
    void drop_future() noexcept {
        if constexpr (owned) {
            if (holds_ == Holds::future) {
                std::destroy_at(std::addressof(slot_.fut));
            }
        }
        holds_ = Holds::nothing;
    }

    // Destroys what the slot holds: the owned future, the output or the
    // exception.
    void reset() noexcept {
        switch (std::exchange(holds_, Holds::nothing)) {
        case Holds::future:
            if constexpr (owned) {
                std::destroy_at(std::addressof(slot_.fut));
            }
            break;
        case Holds::value:
            std::destroy_at(std::addressof(slot_.value));
            break;
        case Holds::error:
            std::destroy_at(std::addressof(slot_.error));
            break;
        case Holds::nothing:
            break;
        }
    }

    // Called by CoroChain::drive with the coroutine suspended. An exception
    // from the future's poll is kept and rethrown inside the coroutine, at
    // the co_await, by await_resume.
    static bool repoll(void* self, Context& cx) {
        auto* a = static_cast<FutureAwaiter*>(self);
        try {
            return a->store(a->future().poll(cx));
        } catch (...) {
            a->drop_future();
            ::new (static_cast<void*>(std::addressof(a->slot_.error)))
                std::exception_ptr(std::current_exception());
            a->holds_ = Holds::error;
            return true;
        }
    }

    // On Ready: drops the owned future (the output lives in `p`), then
    // moves the output into the slot.
    bool store(Poll<Out>&& p) {
        if (p.is_pending()) {
            return false;
        }
        drop_future();
        if constexpr (std::is_void_v<Out>) {
            ::new (static_cast<void*>(std::addressof(slot_.value))) Value{};
        } else {
            ::new (static_cast<void*>(std::addressof(slot_.value))) Value(std::move(p).value());
        }
        holds_ = Holds::value;
        return true;
    }

    Slot slot_;
    [[no_unique_address]] std::conditional_t<owned, Unit, Fut*> borrowed_{};
    Holds holds_ = Holds::future;
};

} // namespace pollux::detail
