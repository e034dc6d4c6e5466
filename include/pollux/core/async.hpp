#pragma once

/// @file
/// `Async<T>`: the coroutine return type that plays Rust's `async fn`.

#include <pollux/core/future.hpp>
#include <pollux/debug/await_site.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/coro_chain.hpp>

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

namespace pollux {

template <class T = void>
class Async;

namespace detail {

template <class F>
inline constexpr bool is_async_v = false;
template <class T>
inline constexpr bool is_async_v<Async<T>> = true;

// What every coroutine promise of a chain has: the chain pointer, the parent
// to continue when this frame finishes, the stored exception, and the
// await_transform that turns any Future into an awaiter.
class ChainPromiseBase {
public:
    std::suspend_always initial_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept { exception_ = std::current_exception(); }

    // `co_await fut` for any Future: an rvalue is moved, once, into the
    // awaiter (which lives in the frame and owns it); an lvalue is awaited by
    // reference (the caller keeps it). An `Async` that has not started joins
    // this chain instead of being polled as a future.
    //
    // Moving the operand does not protect against g++ 12 destroying a
    // braced aggregate temporary `co_await Aggr{...}` twice: the second
    // destruction hits a bitwise copy that no library code can reach
    // (docs/debugging.md, "Compiler notes").
    //
    // `site` is where the `co_await` is written: g++ 12 evaluates a
    // current() default argument of await_transform at the co_await
    // expression (test/task_registry_test.cpp checks the line); it is
    // recorded on the polled task as its await site.
    template <class F>
    auto await_transform(F&& fut, std::source_location site = std::source_location::current()) {
        static_assert(Future<F>, "pollux coroutines can co_await only pollux Futures");
        record_await_site(site);
        if constexpr (is_async_v<std::remove_cvref_t<F>>) {
            return typename std::remove_cvref_t<F>::template ChainAwaiter<F>(std::forward<F>(fut),
                                                                             chain_);
        } else {
            POLLUX_ASSERT(chain_->cx != nullptr, "co_await outside a poll of its Async");
            // Polls once (FutureAwaiter's constructor).
            return FutureAwaiter<F>(std::forward<F>(fut), *chain_->cx);
        }
    }

    CoroChain* chain_ = &own_chain_;       // the root's chain; our own until awaited
    std::coroutine_handle<> continuation_; // the parent awaiting us, if any
    std::exception_ptr exception_;
    bool started_ = false; // set by the first poll or await: it may not join a chain later
    CoroChain own_chain_;  // used only while this frame is a root

    // Links between a parent and the child Async it awaits on its chain
    // (the ChainAwaiter path; an Async awaited as a plain Future has none).
    // `awaited_child_` is set in the parent, and `parent_` in the child,
    // exactly while the parent is suspended awaiting that child; both are
    // cleared when the child finishes (ChainAwaiter::await_resume), when it
    // is destroyed with its parent, or when it is detached. `destroy_owner_`
    // and `owner_` are set for an owned child only (the Async object inside
    // the parent's awaiter, and the function that destroys it); a null
    // `destroy_owner_` marks a borrowed (lvalue) child, which the parent
    // must not destroy. See destroy_awaited_children.
    ChainPromiseBase* awaited_child_ = nullptr;
    ChainPromiseBase* parent_ = nullptr;
    void* owner_ = nullptr;
    void (*destroy_owner_)(void*) noexcept = nullptr;
};

// Turns `child`, a borrowed Async whose awaiting parent is about to be
// destroyed, back into a root, suspended where it was: it takes over the
// parked leaf state of the chain it was running on (its leaf is below it, or
// is itself), every frame from it down points at its own chain, and it has no
// parent to continue when it finishes. Its next poll (or the fallback poll
// of a later co_await) drives that chain, so the leaf's future is polled
// again with the new Context and registers the new waker. Costs one step per
// frame below `child`.
inline void detach_from_parent(ChainPromiseBase& child) noexcept {
    CoroChain& from = *child.chain_;
    CoroChain& own = child.own_chain_;
    own.leaf = std::exchange(from.leaf, nullptr);
    own.awaiter = std::exchange(from.awaiter, nullptr);
    own.repoll = std::exchange(from.repoll, nullptr);
    child.parent_->awaited_child_ = nullptr;
    child.parent_ = nullptr;
    child.continuation_ = nullptr;
    for (ChainPromiseBase* p = &child; p != nullptr; p = p->awaited_child_) {
        p->chain_ = &own;
    }
}

// Called before a frame that may be suspended on a chain is destroyed.
//
// Destroying a frame destroys the awaiter it is suspended in, and with it an
// owned child Async, whose frame destroys its own child, and so on: one
// native stack level per level of the chain, enough to overflow the stack
// when a deep suspended chain is dropped. So this first walks down the
// awaited children while they are owned, then destroys those frames
// innermost first, each through the Async that owns it, and only then lets
// the root's frame go: the order the recursion would use (an owned child's
// locals are gone before any of its parent's), in constant stack.
//
// The walk stops at the first borrowed child: that frame, and everything it
// awaits, belongs to whoever holds its Async, so it is detached rather than
// destroyed (detach_from_parent). Its holder destroys it in C++ scope order:
// if the holder is a frame of this chain (the parent's local, say), that
// happens when that frame is destroyed below, recursively, one native stack
// level per borrowed link.
inline void destroy_awaited_children(ChainPromiseBase& root) noexcept {
    ChainPromiseBase* p = &root;
    while (ChainPromiseBase* child = p->awaited_child_) {
        if (child->destroy_owner_ == nullptr) {
            detach_from_parent(*child);
            break;
        }
        p = child;
    }
    while (p != &root) {
        ChainPromiseBase* parent = p->parent_;
        parent->awaited_child_ = nullptr;
        p->parent_ = nullptr;
        // The owner's own destroy finds no awaited child left: no recursion.
        p->destroy_owner_(p->owner_);
        p = parent;
    }
}

// Hands control back to the parent through the trampoline (see CoroChain).
struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) const noexcept {
        auto& p = h.promise();
        p.chain_->next = p.continuation_;
    }
    void await_resume() const noexcept {}
};

template <class T>
class AsyncPromise : public ChainPromiseBase {
public:
    Async<T> get_return_object() noexcept;
    FinalAwaiter final_suspend() noexcept { return {}; }

    template <class U>
    requires std::constructible_from<T, U&&>
    void return_value(U&& v) { value_.emplace(std::forward<U>(v)); }

    T take() {
        if (exception_) {
            std::rethrow_exception(exception_);
        }
        return std::move(*value_);
    }

private:
    std::optional<T> value_;
};

template <>
class AsyncPromise<void> : public ChainPromiseBase {
public:
    Async<void> get_return_object() noexcept;
    FinalAwaiter final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void take() {
        if (exception_) {
            std::rethrow_exception(exception_);
        }
    }
};

} // namespace detail

/// The `async fn` of pollux: a coroutine that is a move-only
/// `Future<Output = T>`.
///
/// ```cpp
/// pollux::Async<int> add_later(int a) {
///     int b = co_await some_future;
///     co_return a + b;
/// }
/// ```
///
/// It is lazy: the body starts on the first `poll` (or `co_await`).
/// `co_await` accepts any `Future`, by value or lvalue reference; the awaited
/// future is polled with the `Context` of this `Async`'s own poll, and a
/// `Pending` suspends the coroutine and makes the outer poll return
/// `Pending`. A future awaited by value (a temporary, or `std::move(f)`) is
/// moved into the `co_await` and destroyed as soon as it is Ready, or its
/// poll threw, before the coroutine continues (Rust's `.await` consumes its
/// future); one awaited by lvalue reference stays with its holder. An
/// exception escaping the body is rethrown from `poll` (so at
/// the parent's `co_await`, or from `block_on`).
///
/// `co_await` of an `Async` by lvalue reference borrows it, as Rust's
/// `(&mut fut).await` does: if the awaiting coroutine is destroyed first
/// (it lost a `select`, say), the borrowed `Async` is left with its holder,
/// not finished, suspended where it was, and the next `poll` or `co_await`
/// of it continues it (its body runs once, to the end). An rvalue `Async`
/// (a temporary, or `std::move(a)`) is owned by the `co_await` and goes
/// with the awaiting coroutine.
///
/// Awaiting another `Async` does not nest polls: after a wake, the innermost
/// suspended coroutine's future is polled directly, so a wake costs O(1)
/// whatever the depth, and chains that complete synchronously run in
/// constant stack (100,000 deep is tested).
///
/// @par Cancel safety
/// Destroying an `Async` destroys its frame, and with it the future it is
/// suspended on (and that future's own children): what they started is
/// cancelled. It is cancel safe exactly when the operation it is suspended
/// on is. Order: a suspended chain of `Async`s each awaiting an owned
/// (rvalue) child is destroyed innermost frame first: the child's locals,
/// then its parent's (in reverse order of declaration), then the
/// grandparent's, and so on, as nested destructors would, but in constant
/// stack (dropping a 100,000-deep suspended chain is tested). A borrowed
/// (lvalue) child is not destroyed with the coroutine that awaits it; it is
/// destroyed when its own holder's scope ends, in ordinary C++ scope order
/// (so after the locals declared later than it), and keeps what it awaits
/// until then.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be polled on
/// different threads over its life, one poll at a time.
/// @par Preconditions
/// Not polled again after it returned Ready (asserts). Not polled, moved
/// from, assigned to or destroyed while a coroutine awaits it by reference
/// (polling, assigning and destroying assert when that coroutine awaits it
/// on its own chain, i.e. it had not started before).
template <class T>
class POLLUX_NODISCARD_FUTURE Async {
    static_assert(!std::is_reference_v<T>, "Async<T&> is not supported: return a pointer");

public:
    /// The value the coroutine body `co_return`s.
    using Output = T;
    /// The coroutine promise (the compiler's business).
    using promise_type = detail::AsyncPromise<T>;

    /// Takes over the coroutine of `other`, which is left empty.
    Async(Async&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    /// Destroys the coroutine it holds (if any), then takes over that of
    /// `other`, which is left empty.
    Async& operator=(Async&& other) noexcept {
        if (this != &other) {
            destroy();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Async() { destroy(); }

    /// Runs the body (and the Async chain it awaits) until it suspends or
    /// finishes: `Ready` with the value it returned, else `Pending`.
    /// @par Cancel safety
    /// As the body: dropping the Async destroys the frame and whatever it
    /// awaits.
    /// @par Errors
    /// Rethrows what the body threw.
    Poll<T> poll(Context& cx) {
        POLLUX_ASSERT(handle_ && !handle_.done(), "Async polled after it returned Ready");
        auto& p = handle_.promise();
        POLLUX_ASSERT(p.chain_ == &p.own_chain_, "Async polled while another coroutine awaits it");
        p.started_ = true;
        if (!p.own_chain_.drive(cx) || !handle_.done()) {
            return Pending{};
        }
        if constexpr (std::is_void_v<T>) {
            p.take();
            return Ready<void>{};
        } else {
            return Ready<T>{p.take()};
        }
    }

    /// True once the body has finished (returned or thrown).
    [[nodiscard]] bool is_done() const noexcept { return !handle_ || handle_.done(); }

    // The awaiter a parent coroutine uses for `co_await` of an Async that has
    // not started: the child joins the parent's chain (see CoroChain). An
    // Async that was already polled on its own (or was detached from an
    // earlier awaiter) is awaited as a plain Future, through `fallback_`.
    //
    // `Stored` is `Async` for an owned child (moved into `child_`) and
    // `Async&` for a borrowed one. A child on the chain path goes
    //   unstarted --await_suspend--> linked (parent_/awaited_child_ set)
    //   linked --finishes, await_resume--> done, links cleared
    //   linked --parent destroyed--> owned: destroyed first (innermost first);
    //                                borrowed: detached, a root again
    // (destroy_awaited_children). `chain_` is read only in await_suspend.
    /// The awaiter for `co_await` of an Async (the compiler's business).
    template <class Stored>
    class ChainAwaiter {
    public:
        /// Awaits `child` on behalf of the coroutine chain `chain`.
        ChainAwaiter(Stored&& child, detail::CoroChain* chain)
            : child_(std::forward<Stored>(child)), chain_(chain) {}

        /// Always false: the child runs on the parent's chain.
        bool await_ready() const noexcept { return false; }

        /// Hands the chain to the child (or, for an Async already polled on its
        /// own, polls it like any Future); `parent` resumes when it finishes.
        template <class ParentPromise>
        void await_suspend(std::coroutine_handle<ParentPromise> parent) {
            auto& p = child_.handle_.promise();
            POLLUX_ASSERT(!child_.handle_.done(), "co_await of an Async that already finished");
            if (p.started_) {
                // Already driven as a root: poll it like any Future.
                fallback_.emplace(child_, *chain_->cx);
                if (fallback_->await_ready()) {
                    chain_->next = parent;
                } else {
                    fallback_->await_suspend(parent);
                }
                return;
            }
            p.started_ = true;
            p.chain_ = chain_;
            p.continuation_ = parent;
            detail::ChainPromiseBase& pp = parent.promise();
            pp.awaited_child_ = &p;
            p.parent_ = &pp;
            if constexpr (!std::is_reference_v<Stored>) {
                p.owner_ = std::addressof(child_);
                p.destroy_owner_ = &destroy_owned;
            }
            chain_->next = child_.handle_;
        }

        /// The child's value.
        /// @par Errors
        /// Rethrows what the child threw.
        T await_resume() {
            // The child finished (an owned child's frame lives until this
            // awaiter goes): its parent awaits it no more. Null for the
            // fallback path.
            auto& p = child_.handle_.promise();
            if (detail::ChainPromiseBase* parent = std::exchange(p.parent_, nullptr)) {
                parent->awaited_child_ = nullptr;
            }
            if (fallback_) {
                return fallback_->await_resume();
            }
            return child_.handle_.promise().take();
        }

    private:
        static void destroy_owned(void* child) noexcept { static_cast<Async*>(child)->destroy(); }

        Stored child_;
        detail::CoroChain* chain_;
        std::optional<detail::FutureAwaiter<Async&>> fallback_;
    };

private:
    friend promise_type;
    explicit Async(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {
        h.promise().own_chain_.leaf = h;
    }

    void destroy() noexcept {
        if (handle_) {
            POLLUX_ASSERT(handle_.promise().parent_ == nullptr,
                          "Async destroyed while a coroutine awaits it by reference");
            detail::destroy_awaited_children(handle_.promise());
            // SAFETY: we own the frame; it is suspended (initially, at an
            // await, or finally), never running, while we are reachable.
            handle_.destroy();
            handle_ = nullptr;
        }
    }

    std::coroutine_handle<promise_type> handle_;
};

namespace detail {

template <class T>
Async<T> AsyncPromise<T>::get_return_object() noexcept {
    return Async<T>(std::coroutine_handle<AsyncPromise<T>>::from_promise(*this));
}

inline Async<void> AsyncPromise<void>::get_return_object() noexcept {
    return Async<void>(std::coroutine_handle<AsyncPromise<void>>::from_promise(*this));
}

} // namespace detail

} // namespace pollux
