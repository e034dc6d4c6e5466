#pragma once

/// @file
/// `RuntimeMetrics`: counters of a runtime (or any execution context's
/// scheduler), read with `Runtime::metrics()` or `debug::metrics()`.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pollux {

/// A snapshot of the scheduler's counters. The figures marked "detailed"
/// are counted only while detailed metrics are on
/// (`RuntimeOptions::detailed_metrics`, or a stall threshold, or
/// `debug::enable_detailed_metrics`); they stay 0 otherwise, and
/// `detailed` says which.
struct RuntimeMetrics {
    /// Buckets of the poll-time histogram: bucket 0 counts polls under
    /// 1 us; bucket i (1..18) polls in [2^(i-1), 2^i) us; the last bucket
    /// polls of 2^18 us (262 ms) or more. See `bucket_upper_bound`.
    static constexpr std::size_t poll_time_buckets = 20;

    /// Tasks spawned and not yet complete.
    std::size_t live_tasks = 0;
    /// Tasks spawned since the context was created.
    std::uint64_t spawned = 0;
    /// Polls of every task, live or finished.
    std::uint64_t polls = 0;
    /// Wakes that led to a poll: every poll of a task but its first. A
    /// wake of a task that is already scheduled or running is merged into
    /// that poll and counts once; a wake whose poll never ran (the task was
    /// aborted, or the context shut down) does not count.
    std::uint64_t wakes = 0;
    /// Detailed: poll durations.
    std::array<std::uint64_t, poll_time_buckets> poll_time_histogram{};
    /// Whether detailed metrics are on.
    bool detailed = false;
    /// How this context runs its file operations (pollux::fs, uv::fs):
    /// "io_uring" (one ring, its completions watched by the loop), "pool"
    /// (the worker pool: no ring here, or turned off with
    /// `RuntimeOptions::io_uring = false` or `POLLUX_IO_URING=0`), or
    /// "undecided" until the first file operation chooses
    /// (docs/decisions.md, "Files: io_uring where the kernel allows, else the pool").
    std::string_view fs_backend = "undecided";
    /// Operations handed to the ring, and those whose completion ran (or,
    /// at shutdown, was dropped unrun). 0 on the pool.
    std::uint64_t fs_ring_submitted = 0;
    std::uint64_t fs_ring_completed = 0;

    /// The exclusive upper bound of histogram bucket `i`; the last bucket's
    /// is `nanoseconds::max()`.
    static constexpr std::chrono::nanoseconds bucket_upper_bound(std::size_t i) noexcept {
        if (i + 1 >= poll_time_buckets) {
            return std::chrono::nanoseconds::max();
        }
        return std::chrono::microseconds(std::int64_t{1} << i);
    }
};

} // namespace pollux
