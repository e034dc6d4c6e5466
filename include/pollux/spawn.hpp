#pragma once

/// @file
/// `spawn`, `spawn_blocking`, and the hook for exceptions of detached tasks.

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/future_arg.hpp>
#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/task.hpp>
#include <pollux/detail/work_pool.hpp>
#include <pollux/join_handle.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace pollux {

// The spawn functions are not [[nodiscard]]: dropping the JoinHandle is the
// documented way to detach a task, as `tokio::spawn(...);` is.

namespace detail {

// Spawns onto `ex`, whose context's scheduler is `service`. Always
// inlined into its two callers: one call fewer per spawn (issue 22).
template <class Executor, class F>
[[gnu::always_inline]] inline JoinHandle<output_t<F>>
spawn_task_in(SchedulerService& service, const Executor& ex, F&& f, const TaskOrigin& origin) {
    using Fut = std::remove_cvref_t<F>;
    auto* task = detail::Task<Fut, Executor>::create(ex, std::forward<F>(f), service, origin);
    JoinHandle<output_t<F>> handle(task);
    if (!service.register_task(*task)) {
        // Spawned after the context's scheduler shut down (from a
        // destructor that the shutdown ran): the task never runs; its
        // future is dropped here and the handle reports TaskCancelled.
        task->refuse();
        return handle;
    }
    task->post_first_run();
    return handle;
}

template <class Executor, class F>
JoinHandle<output_t<F>> spawn_task(const Executor& ex, F&& f, const TaskOrigin& origin) {
    auto& ctx = boost::asio::query(ex, boost::asio::execution::context);
    // use_service locks the context's service registry: spawn(f) inside a
    // task skips it (spawn_on_current).
    auto& service = boost::asio::use_service<detail::SchedulerService>(
        static_cast<boost::asio::execution_context&>(ctx));
    return spawn_task_in(service, ex, std::forward<F>(f), origin);
}

inline detail::TaskHeader& current_task_or_throw(const char* what) {
    detail::TaskHeader* current = detail::current_task();
    if (current == nullptr) {
        throw std::logic_error(what);
    }
    return *current;
}

} // namespace detail

/// Starts `f` as a task on `ex` (an io_context executor, a strand, or any
/// Asio executor whose context is an execution_context) and returns its
/// JoinHandle. The task is posted at once; each wake posts its next poll to
/// `ex`. Works whoever runs the context: `Runtime::block_on`,
/// `uv::Loop::run`, or a plain `io_context::run()`.
///
/// `site` defaults to the caller's location: task dumps
/// (docs/debugging.md) show it as the task's spawn site. The overloads with
/// a `name` also give the task a name for dumps and stall reports.
///
/// @par Thread safety
/// Safe from any thread.
/// @par Errors
/// Allocation failure throws `std::bad_alloc`; nothing else.
/// @par Example
/// @code
/// boost::asio::io_context io;
/// auto handle = pollux::spawn(io.get_executor(), compute());
/// auto named = pollux::spawn(io.get_executor(), serve(), "acceptor");
/// io.run();
/// @endcode
template <class Executor, detail::FutureArg F>
requires boost::asio::execution::executor<Executor> JoinHandle<detail::arg_output_t<F>>
spawn(const Executor& ex, F&& f, std::source_location site = std::source_location::current()) {
    static_assert(detail::CheckFutureArg<F>::ok);
    return detail::spawn_task(ex, std::forward<F>(f), detail::TaskOrigin{site, {}});
}

/// `spawn(ex, f)` with a name for dumps.
template <class Executor, detail::FutureArg F>
requires boost::asio::execution::executor<Executor> JoinHandle<detail::arg_output_t<F>>
spawn(const Executor& ex,
      F&& f,
      std::string_view name,
      std::source_location site = std::source_location::current()) {
    static_assert(detail::CheckFutureArg<F>::ok);
    return detail::spawn_task(ex, std::forward<F>(f), detail::TaskOrigin{site, name});
}

/// `spawn(io.get_executor(), f)`.
template <detail::FutureArg F>
JoinHandle<detail::arg_output_t<F>>
spawn(boost::asio::io_context& io,
      F&& f,
      std::source_location site = std::source_location::current()) {
    static_assert(detail::CheckFutureArg<F>::ok);
    return detail::spawn_task(io.get_executor(), std::forward<F>(f), detail::TaskOrigin{site, {}});
}

/// `spawn(io.get_executor(), f, name)`.
template <detail::FutureArg F>
JoinHandle<detail::arg_output_t<F>>
spawn(boost::asio::io_context& io,
      F&& f,
      std::string_view name,
      std::source_location site = std::source_location::current()) {
    static_assert(detail::CheckFutureArg<F>::ok);
    return detail::spawn_task(
        io.get_executor(), std::forward<F>(f), detail::TaskOrigin{site, name});
}

namespace detail {

// spawn(f) inside a task: a task stored with a type-erased executor
// (any_io_executor) would pay for the erasure on every wake
// (docs/performance.md measured ~370 instructions per echo round trip).
// When the current task's executor is (or wraps) a plain io_context
// executor, which is what Runtime and spawn(io, f) use, the new task gets
// that concrete type, read from the current task without making an
// any_io_executor. The child runs on the current task's context, so it
// takes the current task's scheduler instead of looking it up (finding 5).
template <Future F>
JoinHandle<output_t<F>> spawn_on_current(F&& f, const TaskOrigin& origin) {
    TaskHeader& current =
        current_task_or_throw("pollux::spawn(f) called outside a task; use spawn(executor, f)");
    if (const auto* io_ex = current.io_executor()) {
        return spawn_task_in(current.service(), *io_ex, std::forward<F>(f), origin);
    }
    return spawn_task_in(current.service(), current.executor(), std::forward<F>(f), origin);
}

} // namespace detail

/// Starts `f` on the executor of the task that is running on this thread
/// (so inside any spawned task, or inside `Runtime::block_on`).
///
/// @par Errors
/// Throws `std::logic_error` when called outside a task.
template <detail::FutureArg F>
JoinHandle<detail::arg_output_t<F>>
spawn(F&& f, std::source_location site = std::source_location::current()) {
    static_assert(detail::CheckFutureArg<F>::ok);
    return detail::spawn_on_current(std::forward<F>(f), detail::TaskOrigin{site, {}});
}

/// `spawn(f)` with a name for dumps.
template <detail::FutureArg F>
JoinHandle<detail::arg_output_t<F>>
spawn(F&& f, std::string_view name, std::source_location site = std::source_location::current()) {
    static_assert(detail::CheckFutureArg<F>::ok);
    return detail::spawn_on_current(std::forward<F>(f), detail::TaskOrigin{site, name});
}

namespace detail {

// The shared block between a blocking function on the pool and the future
// that waits for it. The pool thread writes the result, then wakes; the
// future reads it after seeing `done` (both under the mutex).
template <class T>
struct BlockingState {
    std::mutex mutex;
    bool done = false;
    std::optional<value_t<T>> value;
    std::exception_ptr error;
    Waker waker = Waker::noop();
};

// Waits for the result that a blocking-pool thread writes into `state`.
template <class T>
class BlockingFuture {
public:
    using Output = T;

    explicit BlockingFuture(std::shared_ptr<BlockingState<T>> state) : state_(std::move(state)) {}

    Poll<T> poll(Context& cx) {
        std::unique_lock lock(state_->mutex);
        if (!state_->done) {
            if (!state_->waker.will_wake(cx.waker())) {
                state_->waker = cx.waker();
            }
            return Pending{};
        }
        lock.unlock();
        if (state_->error) {
            // Taken out, not copied: the pool thread's last reference to
            // the state must not be the one that destroys the exception
            // (libstdc++'s exception and string counts are invisible to
            // TSan, which then reports the delete against our reads).
            std::rethrow_exception(std::exchange(state_->error, nullptr));
        }
        if constexpr (std::is_void_v<T>) {
            return Ready<void>{};
        } else {
            return Ready<T>{std::move(*state_->value)};
        }
    }

private:
    std::shared_ptr<BlockingState<T>> state_;
};

} // namespace detail

/// Runs `fn()` on the worker pool of the current task's io_context (16
/// threads unless `RuntimeOptions::max_blocking_threads` says otherwise; the
/// pool that pollux::fs and uv::queue_work share, in submission order), and
/// returns a JoinHandle for its result. For blocking system calls and
/// CPU-heavy work that would stall the loop.
///
/// @par Cancel safety
/// `abort()` cannot interrupt `fn` once it started: the handle reports
/// `TaskCancelled`, and `fn` runs to the end on the pool. Runtime shutdown
/// waits for running functions to return and runs those still queued (tokio
/// drops these unrun; we keep "once spawned, it runs").
/// @par Errors
/// Throws `std::logic_error` outside a task. An exception thrown by `fn` is
/// rethrown where the handle is awaited; so is a `std::system_error` with
/// `errc::resource_unavailable_try_again` when the pool's queue is full
/// (`RuntimeOptions::max_queued_blocking`).
template <class Fn>
JoinHandle<std::invoke_result_t<std::decay_t<Fn>&>>
spawn_blocking(Fn&& fn, std::source_location site = std::source_location::current()) {
    using T = std::invoke_result_t<std::decay_t<Fn>&>;
    detail::TaskHeader& current =
        detail::current_task_or_throw("pollux::spawn_blocking called outside a task");
    auto state = std::make_shared<detail::BlockingState<T>>();
    // Like tokio, the function starts now, whether or not the handle is
    // ever awaited; the task below only waits for its result.
    auto& ctx = boost::asio::query(current.executor(), boost::asio::execution::context);
    const bool queued = detail::submit_blocking(
        ctx,
        [fn = std::decay_t<Fn>(std::forward<Fn>(fn)), st = state]() mutable {
            std::optional<value_t<T>> v;
            std::exception_ptr err;
            try {
                if constexpr (std::is_void_v<T>) {
                    fn();
                    v.emplace();
                } else {
                    v.emplace(fn());
                }
            } catch (...) {
                err = std::current_exception();
            }
            Waker w = Waker::noop();
            {
                std::lock_guard lock(st->mutex);
                st->value = std::move(v);
                st->error = std::move(err);
                st->done = true;
                w = std::move(st->waker);
            }
            std::move(w).wake();
        },
        // Once spawned, the function runs even if the runtime shuts down
        // before a thread takes it (the shutdown waits for it), as the
        // blocking pool always did here; tokio drops such tasks unrun.
        detail::WorkKind::mandatory);
    if (!queued) {
        // The pool's queue is full (or the context shut down): the handle
        // reports it when awaited, as an exception thrown by `fn` would be.
        std::lock_guard lock(state->mutex);
        state->error = std::make_exception_ptr(
            std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                              "pollux::spawn_blocking: the worker pool's queue is full"));
        state->done = true;
    }
    return detail::spawn_task(current.executor(),
                              detail::BlockingFuture<T>(std::move(state)),
                              detail::TaskOrigin{site, "spawn_blocking"});
}

/// Sets the function that receives exceptions thrown by tasks whose
/// JoinHandle was dropped (detached tasks), and returns the previous one. An
/// empty function restores the default, which prints the exception's
/// `what()` to stderr. It is called on the thread that completed the task
/// (or that dropped the handle), must be thread-safe, and should not throw.
POLLUX_API std::function<void(std::exception_ptr)>
set_unhandled_exception_handler(std::function<void(std::exception_ptr)> handler);

} // namespace pollux
