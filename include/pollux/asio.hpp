#pragma once

/// @file
/// `pollux::use_future`: the Asio completion token that turns any Asio
/// asynchronous operation into a lazy pollux Future.

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/atomic_waker.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/future_arg.hpp>
#include <pollux/detail/task.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace pollux {

/// The completion token: `timer.async_wait(pollux::use_future)` returns a
/// Future instead of starting the operation.
struct UseFuture {};
/// The completion token object: pass it where Asio takes a completion
/// token. See `UseFuture` and `AsioFuture`.
inline constexpr UseFuture use_future{};

namespace detail {

// How a completion signature becomes a future's Output:
//   void()                    -> void
//   void(error_code)          -> Result<void>
//   void(error_code, T)       -> Result<T>
//   void(error_code, Ts...)   -> Result<std::tuple<Ts...>>
//   void(Ts...)               -> std::tuple<Ts...>
template <class Sig>
struct SignatureOutput;

template <class... Ts>
struct SignatureOutput<void(Ts...)> {
    using type = std::tuple<std::decay_t<Ts>...>;
    template <class... As>
    static type make(As&&... as) {
        return type(std::forward<As>(as)...);
    }
};
template <>
struct SignatureOutput<void()> {
    using type = void;
};
template <class E, class... Ts>
requires std::is_same_v<std::decay_t<E>, boost::system::error_code>
struct SignatureOutput<void(E, Ts...)> {
    using value = std::conditional_t<
        sizeof...(Ts) == 0,
        void,
        std::conditional_t<sizeof...(Ts) == 1,
                           std::decay_t<std::tuple_element_t<0, std::tuple<Ts..., void>>>,
                           std::tuple<std::decay_t<Ts>...>>>;
    using type = Result<value>;
    template <class... As>
    static type make(const boost::system::error_code& ec, As&&... as) {
        if (ec) {
            return type(boost::system::in_place_error, ec);
        }
        if constexpr (sizeof...(Ts) == 0) {
            return type();
        } else if constexpr (sizeof...(Ts) == 1) {
            return type(boost::system::in_place_value, std::forward<As>(as)...);
        } else {
            return type(boost::system::in_place_value, std::forward<As>(as)...);
        }
    }
};

// The block an in-flight operation and its future share. The future holds
// one reference, the completion handler another; whoever releases last frees
// it, through Asio's per-thread recycling allocator, so in steady state an
// operation allocates nothing.
//
// The handler writes `result`, then sets `done` (release); the future reads
// `result` after seeing `done` (acquire). `waker` is the AtomicWaker the
// future registers into and the handler wakes.
//
// `gone` is set when Asio destroys the handler without invoking it: its
// io_context was shut down (or the initiation threw). The operation is then
// over, but it has no result, so `done` (which promises one) stays false and
// the future stays Pending for ever. What `gone` forbids is the terminal
// emit of a later drop: the slot handler inside `signal` was installed by
// the operation's service (a timer's points at the timer service and the
// timer's data), and those services are shut down or already deleted. Both
// flags are never unset once set; at most one of them is ever set.
template <class Out>
struct OpState {
    std::atomic<std::uint32_t> refs{1};
    std::atomic<bool> done{false};
    std::atomic<bool> gone{false};
    AtomicWaker waker;
    std::optional<value_t<Out>> result;
    boost::asio::cancellation_signal signal;

    // Recycled in Asio's per-thread cache, but not in the default slots that
    // the operations themselves use: a completion handler polls its task
    // inline (wake_from_completion) while this block is still held, so the
    // next operation's OpState and its Asio op are allocated while the old
    // op's memory is the one cached block; sharing two first-fit slots, the
    // small OpState could take the op-sized block and the op then missed the
    // cache (an allocation per tick now and then, time_alloc_test). The
    // slots are those of Asio's experimental parallel_group, which pollux
    // does not use; a task's own memory takes the awaitable-frame slots
    // (detail/task.hpp), so neither competes with the other either.
    using allocator = boost::asio::detail::
        recycling_allocator<OpState, boost::asio::detail::thread_info_base::parallel_group_tag>;

    static OpState* create() {
        allocator alloc;
        OpState* p = alloc.allocate(1);
        // SAFETY: p is fresh, suitably aligned storage for one OpState.
        return ::new (static_cast<void*>(p)) OpState();
    }
    void retain() noexcept {
        // ORDERING: a new reference from one the caller holds.
        refs.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept {
        // ORDERING: acq_rel: the last releaser sees every other holder's
        // writes before it destroys the block.
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            allocator alloc;
            this->~OpState();
            alloc.deallocate(this, 1);
        }
    }
};

// The completion handler given to the Asio initiation. Its associated
// allocator is the recycling allocator (so Asio's own operation state is
// recycled as well) and its cancellation slot is the shared block's.
template <class Sig>
class UseFutureHandler {
    using Out = typename SignatureOutput<Sig>::type;

public:
    using allocator_type = boost::asio::recycling_allocator<void>;
    using cancellation_slot_type = boost::asio::cancellation_slot;

    explicit UseFutureHandler(OpState<Out>* st) noexcept : st_(st) {}
    UseFutureHandler(UseFutureHandler&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
    UseFutureHandler& operator=(UseFutureHandler&&) = delete;
    // A handler that Asio destroys without calling it (its io_context shut
    // down, or the initiation threw) marks the block `gone`, so that a later
    // drop of the future emits nothing into the dead services, and gives up
    // its reference. A moved-from handler owns nothing.
    ~UseFutureHandler() {
        if (st_) {
            // ORDERING: release pairs with the acquire load in
            // AsioFuture::abandon (the refcount's acq_rel alone would order
            // it only for the last releaser).
            st_->gone.store(true, std::memory_order_release);
            st_->release();
        }
    }

    allocator_type get_allocator() const noexcept { return {}; }
    cancellation_slot_type get_cancellation_slot() const noexcept { return st_->signal.slot(); }

    template <class... As>
    void operator()(As&&... as) {
        OpState<Out>* st = std::exchange(st_, nullptr);
        if constexpr (std::is_void_v<Out>) {
            st->result.emplace();
        } else {
            st->result.emplace(SignatureOutput<Sig>::make(std::forward<As>(as)...));
        }
        // ORDERING: release publishes `result` to the future's acquire load.
        st->done.store(true, std::memory_order_release);
        if (std::optional<Waker> w = st->waker.take()) {
            // A task's own waker may poll the task right here (one trip
            // through the scheduler per completion, as a plain handler).
            wake_from_completion(std::move(*w));
        }
        st->release();
    }

private:
    OpState<Out>* st_;
};

} // namespace detail

/// The future an Asio operation returns when given `use_future`.
///
/// Lazy: the operation is initiated on the first poll (with the Context's
/// waker registered first, so its completion cannot be missed). Dropping the
/// future before the operation completed emits
/// `cancellation_type::terminal` on the operation's cancellation slot,
/// synchronously, on the thread that drops it. The handler that then runs
/// (usually with `operation_aborted`) frees the shared block and touches
/// nothing else. If the operation's io_context was shut down first (Asio
/// destroyed the handler unrun), the drop emits nothing and just frees.
///
/// Where to drop it: where the I/O object's destruction is ordered after the
/// drop, which is always the case on the thread that owns (and later
/// destroys) the I/O object. A *primitive* Asio operation (a timer or
/// signal_set wait, a socket's `async_wait`, `async_read_some`,
/// `async_write_some`, `async_accept`, `async_connect` on one socket) may be
/// dropped on any thread, also one that does not run its io_context: its
/// cancellation handler takes its service's lock. A *composed* operation
/// (`asio::async_read`, `async_write`, `async_read_until`, `co_spawn`,
/// anything built with `async_compose`) re-installs its slot handler from
/// its intermediate steps, on its executor, so it must be dropped on its I/O
/// object's executor (inside a strand, or on the single thread running its
/// io_context).
///
/// @par Cancel safety
/// As the Asio operation under `terminal` cancellation: a timer wait or an
/// accept loses nothing; a read or write may have transferred bytes that
/// are then lost. Prefer the readiness-based pollux::net streams where
/// that matters.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be polled from any
/// thread; the operation completes on its I/O object's executor. A drop off
/// the executor's thread: see above (primitive operations only).
/// @par Wakes / resumes on
/// The waker is woken from the thread that runs the completion handler.
/// @par Errors
/// Asio's error codes pass through unchanged in the `Result`. An exception
/// thrown by the initiation is rethrown from the first `poll`.
template <class Sig, class Initiation, class... Args>
class POLLUX_NODISCARD_FUTURE AsioFuture {
public:
    /// What it completes with.
    using Output = typename detail::SignatureOutput<Sig>::type;

    /// Made by an Asio initiating function given `use_future`.
    // A non-const lvalue AsioFuture would pick this constructor over the
    // deleted copy (it is not explicit for that case, so `auto g = f;` does
    // too): the check, run before `init_` is built from it, names that
    // mistake first.
    template <class I, class... As>
    requires std::constructible_from<Initiation, I> ||
        std::same_as<std::remove_cvref_t<I>, AsioFuture>
    explicit(!std::same_as<std::remove_cvref_t<I>, AsioFuture>) AsioFuture(I&& init, As&&... args)
        : init_((static_cast<void>(detail::CheckNotSelfLvalue<I, AsioFuture>::ok),
                 std::forward<I>(init))),
          args_(std::forward<As>(args)...) {}

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    AsioFuture(AsioFuture&& o) noexcept(std::is_nothrow_move_constructible_v<Initiation> &&
                                        (std::is_nothrow_move_constructible_v<Args> && ...))
        : init_(std::move(o.init_)), args_(std::move(o.args_)), st_(std::exchange(o.st_, nullptr)),
          finished_(o.finished_) {}
    AsioFuture& operator=(AsioFuture&&) = delete;
    ~AsioFuture() { abandon(); }

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!finished_, "AsioFuture polled after it returned Ready");
        if (st_ == nullptr) {
            start(cx);
        } else {
            st_->waker.register_waker(cx.waker());
        }
        // ORDERING: acquire pairs with the handler's release of `result`.
        if (!st_->done.load(std::memory_order_acquire) || !coop::poll_proceed(cx)) {
            return Pending{};
        }
        finished_ = true;
        detail::OpState<Output>* st = std::exchange(st_, nullptr);
        if constexpr (std::is_void_v<Output>) {
            st->release();
            return Ready<void>{};
        } else {
            Output out(std::move(*st->result));
            st->release();
            return Ready<Output>{std::move(out)};
        }
    }

    /// Gives up the operation without emitting cancellation, for an owner
    /// that knows the operation's io_context is shut down (pollux's I/O
    /// blocks, when the context's gate refuses them): the handler is gone,
    /// or Asio will destroy it unrun, and the slot handler may point into
    /// deleted services. The future may then only be destroyed.
    void disown() noexcept {
        if (st_ != nullptr) {
            std::exchange(st_, nullptr)->release();
            finished_ = true;
        }
    }

private:
    void start(Context& cx) {
        st_ = detail::OpState<Output>::create();
        st_->waker.register_waker(cx.waker());
        st_->retain(); // the handler's reference
        try {
            std::apply(
                [&](Args&... as) {
                    std::move(init_)(detail::UseFutureHandler<Sig>(st_), std::move(as)...);
                },
                args_);
        } catch (...) {
            // The handler, if Asio built it, was destroyed and released its
            // reference; drop ours.
            std::exchange(st_, nullptr)->release();
            finished_ = true;
            throw;
        }
    }

    // Emits terminal cancellation if the operation is still in flight, here
    // and now, then releases the future's reference to the shared block.
    //
    // Why synchronously, on the dropping thread (it used to be posted to the
    // operation's executor when dropped elsewhere): the owner of an I/O
    // object may destroy it right after dropping a future of it (ordinary
    // Asio usage; a timer destroyed with a wait in flight aborts the wait).
    // A posted emit would run later, against the dead object. Emitting here
    // orders the drop before that destruction on the owner's thread.
    //
    // Why that is safe off the executor's thread: the cancellation handlers
    // of Asio's primitive operations (timer waits, reactor socket
    // operations, signal waits) take their service's lock and find the
    // operation by key, so they race with neither the completion nor the
    // reactor. (On an io_context run by several threads, emit has always
    // run concurrently with the operation's other threads.) A composed
    // operation re-installs its slot handler from its intermediate steps on
    // its executor, unlocked: it must be dropped there (see the class).
    //
    // `gone` (the handler was destroyed unrun with its io_context): the slot
    // handler points into shut-down or deleted services; emit nothing. The
    // drop must then not race with the context's destruction, which the same
    // ownership rule gives.
    void abandon() noexcept {
        if (st_ == nullptr) {
            return;
        }
        detail::OpState<Output>* st = std::exchange(st_, nullptr);
        // ORDERING: acquire pairs with the handler's release store of `done`
        // or of `gone` (a finished operation needs no cancellation).
        if (!st->done.load(std::memory_order_acquire) &&
            !st->gone.load(std::memory_order_acquire)) {
            st->signal.emit(boost::asio::cancellation_type::terminal);
        }
        st->release();
    }

    Initiation init_;
    std::tuple<Args...> args_;
    detail::OpState<Output>* st_ = nullptr;
    bool finished_ = false;
};

} // namespace pollux

/// Makes `use_future` a completion token: any Asio initiating function
/// given `pollux::use_future` returns an `AsioFuture` (not started) instead of
/// initiating the operation.
template <class Sig>
struct boost::asio::async_result<pollux::UseFuture, Sig> {
    /// Wraps the initiation and its arguments in an `AsioFuture`; nothing
    /// starts until its first poll.
    template <class Initiation, class... Args>
    static auto initiate(Initiation&& init, pollux::UseFuture, Args&&... args) {
        return pollux::AsioFuture<Sig, std::decay_t<Initiation>, std::decay_t<Args>...>(
            std::forward<Initiation>(init), std::forward<Args>(args)...);
    }
};
