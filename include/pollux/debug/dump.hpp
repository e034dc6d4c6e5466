#pragma once

/// @file
/// Task dumps and metrics of any execution context's scheduler (the
/// functions behind `Runtime::dump`, `Runtime::tasks` and
/// `Runtime::metrics`, for io_contexts run by other means).

#include <pollux/debug/runtime_metrics.hpp>
#include <pollux/debug/task_info.hpp>
#include <pollux/detail/config.hpp>

#include <boost/asio/execution_context.hpp>

#include <string>
#include <vector>

namespace pollux::debug {

/// A snapshot of every live task spawned on `ctx`, oldest first.
///
/// @par Thread safety
/// Safe from any thread, inside or outside tasks, while the context is
/// alive. Each task's fields are read untorn; the snapshot is not one
/// instant across tasks (a task may move on while others are read).
/// @par Errors
/// `std::bad_alloc` only.
[[nodiscard]] POLLUX_API std::vector<TaskInfo> tasks(boost::asio::execution_context& ctx);

/// `tasks` as text, one block per task:
/// @code
/// pollux: 2 live tasks
/// task 2 "holder" idle, 1 poll, last poll 1.502 s ago
///     spawned at samples/debug_hung_task.cpp:63 in int main(int, char**)
///     awaiting at samples/debug_hung_task.cpp:31
/// @endcode
[[nodiscard]] POLLUX_API std::string format_tasks(const std::vector<TaskInfo>& tasks);

/// `format_tasks(tasks(ctx))`. Thread safety and errors as `tasks`.
[[nodiscard]] POLLUX_API std::string dump(boost::asio::execution_context& ctx);

/// A snapshot of the counters of `ctx`'s scheduler. Thread safety and
/// errors as `tasks`.
[[nodiscard]] POLLUX_API RuntimeMetrics metrics(boost::asio::execution_context& ctx);

/// Turns on detailed metrics for `ctx`'s tasks from their next poll on:
/// poll timing (two clock reads per poll), the poll-time histogram, wake
/// counts, and "last poll ... ago" in dumps. They stay on. Safe from any
/// thread.
POLLUX_API void enable_detailed_metrics(boost::asio::execution_context& ctx);

} // namespace pollux::debug
