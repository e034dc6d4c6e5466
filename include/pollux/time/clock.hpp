#pragma once

/// @file
/// `time::Clock`, pollux's clock, and its `time::Instant` and
/// `time::Duration`: `std::chrono::steady_clock` that tests can pause and
/// move forward (see `pollux/time/pause.hpp`).

#include <pollux/detail/config.hpp>

#include <atomic>
#include <chrono>

namespace pollux::time {
struct Clock;
} // namespace pollux::time

namespace pollux::detail {

// True once the process has paused the clock: from then on Clock::now() and
// to_steady() take the slow path in lib/time/clock.cpp. It is set once and
// never cleared, so a relaxed load is enough: a thread that has not yet seen
// it also cannot have seen any pause() or advance() it happened before (the
// clock values differ only after it is set, and whoever wants them ordered
// orders them with a synchronising operation, which also publishes the flag).
POLLUX_API extern std::atomic<bool> clock_altered;

POLLUX_API std::chrono::steady_clock::time_point altered_clock_now() noexcept;
POLLUX_API std::chrono::steady_clock::time_point
altered_to_steady(std::chrono::steady_clock::time_point t) noexcept;

} // namespace pollux::detail

namespace pollux::time {

/// The clock of pollux::time: monotonic, never adjusted, and pausable for
/// tests. Unpaused, `now()` is `std::chrono::steady_clock::now()` plus the
/// total time that `time::advance` (and auto-advance) moved the clock
/// forward while paused, so it never goes backwards; zero unless the process
/// ever paused the clock. Paused, `now()` is the frozen virtual instant. Its
/// time_point and duration are steady_clock's, so steady_clock values mix
/// with it freely (they differ only by that offset, once time was advanced).
///
/// @par Thread safety
/// `now()` is safe from any thread. Unless the clock was ever paused, it is
/// one relaxed atomic load and `steady_clock::now()`.
struct Clock {
    /// `steady_clock`'s duration.
    using duration = std::chrono::steady_clock::duration;
    /// The tick count type of `duration`.
    using rep = duration::rep;
    /// The tick period of `duration`.
    using period = duration::period;
    /// `steady_clock`'s time_point, so the two mix freely.
    using time_point = std::chrono::steady_clock::time_point;
    /// Never goes backwards (a paused clock only stands still or advances).
    static constexpr bool is_steady = true;

    /// The current instant; see `Clock`.
    [[nodiscard]] static time_point now() noexcept {
        if (!detail::clock_altered.load(std::memory_order_relaxed)) [[likely]] {
            return std::chrono::steady_clock::now();
        }
        return detail::altered_clock_now();
    }
};

/// A point in time of `Clock` (tokio's `Instant`); steady_clock's time_point.
using Instant = Clock::time_point;
/// A span of `Clock` time, in nanoseconds. Any integral std::chrono
/// duration converts to it implicitly (`10ms`, `2s`).
using Duration = Clock::duration;

} // namespace pollux::time

namespace pollux::detail {

// The real steady_clock instant at which the pollux Instant `t` comes, for
// arming a real timer (steady_timer, uv): `t` minus the time advanced so far,
// saturating. Meaningless while paused (no real timer is armed then).
[[nodiscard]] inline std::chrono::steady_clock::time_point to_steady(time::Instant t) noexcept {
    if (!clock_altered.load(std::memory_order_relaxed)) [[likely]] {
        return t;
    }
    return altered_to_steady(t);
}

} // namespace pollux::detail
