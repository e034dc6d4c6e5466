#pragma once

/// @file
/// `debug::TaskInfo`: one live task as a dump sees it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <source_location>
#include <string>

namespace pollux::debug {

/// The scheduling state of a task (the five states of DESIGN.md).
enum class TaskRunState {
    idle,                 ///< waiting for a wake
    scheduled,            ///< woken; a poll is posted
    running,              ///< a thread is polling it
    running_and_notified, ///< woken during its poll; polled again after it
    complete,             ///< finished (about to leave the registry)
};

/// "idle", "scheduled", "running", "running+notified" or "complete".
[[nodiscard]] const char* to_string(TaskRunState s) noexcept;

/// A snapshot of one live task, taken by `debug::tasks` or `Runtime::tasks`.
struct TaskInfo {
    /// Unique among the tasks spawned on one execution context, from 1 in
    /// spawn order.
    std::uint64_t id = 0;
    /// The name given to `spawn(..., name)`; empty if none.
    std::string name;
    /// Where `spawn` (or `Runtime::block_on`) was called.
    std::source_location spawn_site;
    /// Its scheduling state when the snapshot was taken.
    TaskRunState state = TaskRunState::idle;
    /// abort() was called (or the loop shut down) and the task has not
    /// finished yet.
    bool cancelled = false;
    /// The `co_await` of a pollux coroutine that this task last went
    /// through: where it is suspended when idle. Empty (line 0) before the
    /// first co_await, or for a task without coroutines.
    std::source_location await_site;
    /// Polls started so far.
    std::uint64_t polls = 0;
    /// Time since the start of the last poll; empty when detailed metrics
    /// are off, or before the first timed poll.
    std::optional<std::chrono::nanoseconds> since_last_poll;
    /// Total time spent in polls while detailed metrics were on.
    std::chrono::nanoseconds poll_time{0};
};

} // namespace pollux::debug
