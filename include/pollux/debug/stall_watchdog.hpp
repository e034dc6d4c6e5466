#pragma once

/// @file
/// The stall watchdog: a thread that reports a task whose single poll runs
/// longer than a threshold (a blocking call or a busy loop inside a task,
/// which stalls every other task of its thread).

#include <pollux/detail/config.hpp>

#include <boost/asio/execution_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <source_location>
#include <string>

namespace pollux::debug {

/// One poll that has run for at least the threshold.
struct StallReport {
    /// The task's id and name (see TaskInfo); the name is empty if it has
    /// none, or if the task finished before the report was made.
    std::uint64_t task_id = 0;
    /// The task's name; see `task_id`.
    std::string name;
    /// Where the task was spawned.
    std::source_location spawn_site;
    /// The await site the poll resumed from (line 0: its first poll, or a
    /// task without coroutines).
    std::source_location resumed_from;
    /// How long the poll had run when the watchdog looked.
    std::chrono::nanoseconds running_for{0};
};

/// Receives stall reports, on the watchdog's thread.
using StallHandler = std::function<void(const StallReport&)>;

/// The report as one line: `pollux: task 3 "name" has been in one poll for
/// 201 ms (spawned at file:line, resumed from file:line)`.
[[nodiscard]] POLLUX_API std::string to_string(const StallReport& report);

/// The default handler: writes `to_string(report)` and a newline to stderr.
POLLUX_API void print_stall_report(const StallReport& report);

/// Watches the polls of the tasks of one execution context from a thread
/// of its own, from construction to destruction. It turns on the
/// context's detailed metrics (each poll then records its start on a
/// per-thread record, which is all the watchdog reads). A poll is reported
/// once, when it has run `threshold`, to `handler` (default
/// `print_stall_report`); the watchdog looks every threshold / 4 (at least
/// every millisecond), so a report comes between threshold and about
/// 1.25 x threshold into the poll. It never interrupts, stops or kills
/// anything. `Runtime` makes one when `RuntimeOptions::stall_threshold` is
/// set.
///
/// @par Thread safety
/// Construction and destruction: any thread but the handler's. The handler
/// runs on the watchdog thread while tasks run; it must be thread-safe and
/// should not block for long (it delays the next check). Exceptions it
/// throws are caught and dropped.
/// @par Errors
/// Throws `std::invalid_argument` for a threshold that is not positive,
/// `std::system_error` when the thread cannot start.
/// @par Example
/// @code
/// boost::asio::io_context io;
/// pollux::debug::StallWatchdog watchdog(io, std::chrono::milliseconds(100));
/// io.run();
/// @endcode
class POLLUX_API StallWatchdog {
public:
    /// Starts watching the polls of `ctx`'s tasks on a new thread, reporting
    /// each one that runs `threshold` to `handler` (empty:
    /// `print_stall_report`), and turns on `ctx`'s detailed metrics.
    /// @par Errors
    /// See the class.
    StallWatchdog(boost::asio::execution_context& ctx,
                  std::chrono::nanoseconds threshold,
                  StallHandler handler = {});
    /// Stops and joins the watchdog thread.
    ~StallWatchdog();

    StallWatchdog(const StallWatchdog&) = delete;
    StallWatchdog& operator=(const StallWatchdog&) = delete;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace pollux::debug
