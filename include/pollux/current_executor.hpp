#pragma once

/// @file
/// `current_executor()` and `try_current_executor()`: the executor of the
/// task running on this thread (tokio's `Handle::current()` and
/// `Handle::try_current()`).

#include <pollux/detail/task.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <optional>
#include <stdexcept>

namespace pollux {

/// The executor of the task whose poll is running on this thread: the
/// executor it was spawned on (an io_context executor, a strand, ...), the
/// runtime's inside `Runtime::block_on` or `pollux::run`. Use it to make Asio
/// I/O objects inside a task, to await their operations with
/// `pollux::use_future`, or to spawn onto the same executor later from
/// outside the task.
///
/// It is also the current task while a task's future is being destroyed by
/// an abort or by the runtime's shutdown, so a destructor may call it.
///
/// @par Thread safety
/// Reads only this thread's current task; safe on any thread.
/// @par Errors
/// Throws `std::logic_error` when no task is being polled on this thread
/// (plain code, another thread, or `pollux::block_on`, which runs no task).
/// @par Example
/// @code
/// pollux::Async<void> tick() {
///     boost::asio::steady_timer timer(pollux::current_executor(), 10ms);
///     auto r = co_await timer.async_wait(pollux::use_future);
/// }
/// @endcode
[[nodiscard]] inline boost::asio::any_io_executor current_executor() {
    detail::TaskHeader* task = detail::current_task();
    if (task == nullptr) {
        throw std::logic_error(
            "pollux::current_executor() called outside a task: call it from a spawned task or "
            "inside Runtime::block_on, or keep the io_context's executor and pass it along");
    }
    return task->executor();
}

/// `current_executor()`, or `std::nullopt` when no task is being polled on
/// this thread (tokio's `Handle::try_current()`).
///
/// @par Thread safety
/// Safe on any thread.
/// @par Errors
/// None beyond what copying the executor may throw.
[[nodiscard]] inline std::optional<boost::asio::any_io_executor> try_current_executor() {
    detail::TaskHeader* task = detail::current_task();
    if (task == nullptr) {
        return std::nullopt;
    }
    return task->executor();
}

} // namespace pollux
