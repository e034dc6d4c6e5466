#pragma once

/// @file
/// `time::interval(period)` and `time::interval_at(start, period)`: an
/// `Interval` that ticks every period, with tokio's `MissedTickBehavior`
/// (tokio's `time::interval`). An Interval is also a `Stream<Item = Instant>`.

#include <pollux/core/context.hpp>
#include <pollux/core/future.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/time/sleep.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>

namespace pollux::time {

/// What an Interval does when ticks were missed: when a tick is taken more
/// than 5 ms after its scheduled instant (the task was busy, or nobody
/// called `tick()`). Late by 5 ms or less, the next tick is always one
/// period after the last scheduled one. With period P, ticks scheduled at
/// 0, P, 2P, ..., and a stall from just after 0 until 3.5P:
enum class MissedTickBehavior {
    /// (Default.) Keep the schedule and catch up: the missed ticks P, 2P, 3P
    /// complete at once, one per `tick()`, then 4P, 5P, ... on time.
    Burst,
    /// Start over from when the late tick was taken: P completes at once (at
    /// about 3.5P), and later ticks are one period apart from that moment:
    /// about 4.5P, 5.5P, ...
    Delay,
    /// Drop the missed ticks and return to the original grid: P completes at
    /// once, the next tick is 4P, then 5P, ...
    Skip,
};

class Interval;

/// The future returned by `Interval::tick()`: the scheduled Instant of the
/// next tick. It borrows the Interval, which must outlive it.
///
/// @par Cancel safety
/// Cancel safe: dropping a pending Tick loses no tick; the next `tick()`
/// yields the same one. (The timer wait in flight belongs to the Interval
/// and stays armed.)
/// @par Thread safety
/// As the Interval: distinct objects: safe; shared objects: unsafe.
/// @par Wakes / resumes on
/// See `Interval`.
/// @par Errors
/// See `Interval`.
/// @par Preconditions
/// Not polled again after it returned Ready (asserts).
class POLLUX_NODISCARD_FUTURE Tick {
public:
    /// The scheduled instant of the tick.
    using Output = Instant;

    /// The next tick of `interval`, which must outlive it; starts nothing.
    explicit Tick(Interval& interval) noexcept : interval_(&interval) {}

    /// As `Interval::poll_tick`; `Ready` with the scheduled instant.
    /// @par Cancel safety
    /// Cancel safe; see the class.
    /// @par Errors
    /// See `Interval`.
    Poll<Instant> poll(Context& cx);

private:
    Interval* interval_;
};

/// A timer that ticks every `period`, made by `interval` or `interval_at`.
/// `tick()` returns a future of the scheduled Instant of the next tick
/// (not the moment it was taken). The first tick is at the start instant,
/// so for `interval(period)` it completes on the first poll; ticks whose
/// instant has passed complete on the poll without a timer (spending one
/// unit of the task's cooperative budget). What happens after a stall is
/// `missed_tick_behavior()`: Burst unless set otherwise.
///
/// An Interval is a `Stream<Item = Instant>` that never ends:
/// `co_await pollux::next(interval)` is `tick()` wrapped in an optional.
///
/// The timer is created on the first poll that has to wait, on the executor
/// of the task being polled; it lives in a separate block, so an Interval may
/// be moved between polls (not while a Tick borrows it). While the clock is
/// paused (`time::pause`) it waits on virtual time, as `Sleep` does: advancing
/// by k periods yields exactly k ticks (Burst), at their scheduled instants.
///
/// Dropped after its Runtime (or io_context) is gone, or while it shuts
/// down, an Interval touches nothing of it, as `Sleep` explains.
///
/// @par Cancel safety
/// Cancel safe: a dropped `tick()` future loses no tick. Dropping the
/// Interval cancels its timer wait (`cancellation_type::terminal`, emitted
/// by the drop itself) and frees the timer.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be dropped on any
/// thread, also one that does not run its io_context, and while its Runtime
/// is being destroyed (see `Sleep`).
/// @par Wakes / resumes on
/// The waker of the latest poll is woken from the thread that runs the
/// timer's completion on the executor of the task that created the timer.
/// @par Errors
/// `interval` and `interval_at` throw `std::invalid_argument` for a period
/// that is not positive. A poll throws `std::logic_error` when the Interval
/// has no timer yet and is polled outside a pollux task, and
/// `boost::system::system_error` if a timer wait fails (Asio documents no
/// such failure).
/// @par Example
/// @code
/// auto every = pollux::time::interval(1s);
/// every.set_missed_tick_behavior(pollux::time::MissedTickBehavior::Skip);
/// for (;;) {
///     co_await every.tick(); // the first tick completes at once
///     report();
/// }
/// @endcode
class POLLUX_NODISCARD_FUTURE Interval {
public:
    /// The scheduled instant of each tick.
    using Item = Instant;

    /// Ticks at `start`, `start + period`, ...; throws std::invalid_argument
    /// unless `period` is positive.
    Interval(Instant start, Duration period) : next_(start), period_(period) {
        if (period <= Duration::zero()) {
            throw std::invalid_argument("pollux::time::interval: period must be positive");
        }
    }

    /// Moves the schedule and any timer wait in flight (a Tick keeps
    /// borrowing the moved-from Interval).
    Interval(Interval&&) noexcept = default;
    /// Drops its own timer wait (if any), then takes the moved-from
    /// Interval's schedule and wait.
    Interval& operator=(Interval&&) noexcept = default;

    /// The next tick, as a future; see `Tick`.
    POLLUX_NODISCARD_FUTURE Tick tick() noexcept { return Tick(*this); }

    /// Ready with the scheduled instant of the next tick once it has come.
    Poll<Instant> poll_tick(Context& cx) {
        if (detail::poll_deadline(timer_, vtimer_, next_, cx, "pollux::time::Interval::tick")
                .is_pending()) {
            return Pending{};
        }
        const Instant tick = next_;
        const Instant now = Clock::now();
        if (now - tick > std::chrono::milliseconds(5)) {
            next_ = next_after_missed(tick, now);
        } else {
            next_ = detail::saturating_add(tick, period_);
        }
        return Ready{tick};
    }

    /// The Stream face: `Ready(tick)` as `poll_tick`; never `nullopt`.
    Poll<std::optional<Instant>> poll_next(Context& cx) {
        Poll<Instant> p = poll_tick(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        return Ready{std::optional<Instant>(p.value())};
    }

    /// The next tick comes one period from now (tokio's `reset`).
    void reset() noexcept { next_ = detail::saturating_add(Clock::now(), period_); }
    /// The next tick comes at `when`; later ticks follow it by `period`.
    void reset_at(Instant when) noexcept { next_ = when; }

    /// The time between ticks.
    [[nodiscard]] Duration period() const noexcept { return period_; }
    /// What happens to ticks that come late; `Burst` by default.
    [[nodiscard]] MissedTickBehavior missed_tick_behavior() const noexcept { return behavior_; }
    /// Sets what happens to ticks that come late, from the next tick on.
    void set_missed_tick_behavior(MissedTickBehavior b) noexcept { behavior_ = b; }

private:
    // The instant after `tick`, taken late at `now` (now > tick + 5 ms).
    Instant next_after_missed(Instant tick, Instant now) const noexcept {
        switch (behavior_) {
        case MissedTickBehavior::Burst:
            break;
        case MissedTickBehavior::Delay:
            return detail::saturating_add(now, period_);
        case MissedTickBehavior::Skip:
            // The first instant of the grid tick + k * period after now.
            return detail::saturating_add(now, period_ - (now - tick) % period_);
        }
        return detail::saturating_add(tick, period_);
    }

    Instant next_; // scheduled instant of the next tick
    Duration period_;
    MissedTickBehavior behavior_ = MissedTickBehavior::Burst;
    detail::TimerPtr timer_;
    detail::VirtualTimerPtr vtimer_; // while the clock is paused
};

inline Poll<Instant> Tick::poll(Context& cx) {
    POLLUX_ASSERT(interval_ != nullptr, "Tick polled after it returned Ready");
    Poll<Instant> p = interval_->poll_tick(cx);
    if (p.is_ready()) {
        interval_ = nullptr;
    }
    return p;
}

/// An Interval whose first tick is now (so it completes at once), then every
/// `period`. See `Interval`.
POLLUX_NODISCARD_FUTURE inline Interval interval(Duration period) {
    return Interval(Clock::now(), period);
}

/// An Interval whose first tick is at `start`, then every `period`. See
/// `Interval`.
POLLUX_NODISCARD_FUTURE inline Interval interval_at(Instant start, Duration period) {
    return Interval(start, period);
}

} // namespace pollux::time
