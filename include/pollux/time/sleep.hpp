#pragma once

/// @file
/// `time::sleep(duration)` and `time::sleep_until(instant)`: the future
/// `Sleep`, which completes once a deadline has passed (tokio's
/// `time::sleep`). It also includes `time::Clock`, `time::Instant` and
/// `time::Duration` (pollux/time/clock.hpp).

#include <pollux/asio.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/future.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/io_block.hpp>
#include <pollux/detail/virtual_clock.hpp>
#include <pollux/time/clock.hpp>
#include <pollux/time/pause.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

namespace pollux::detail {

// `t + d`, clamped to the clock's range, so `sleep(Duration::max())` means
// "for ever" instead of overflowing.
inline time::Instant saturating_add(time::Instant t, time::Duration d) noexcept {
    using time::Duration;
    using time::Instant;
    if (d > Duration::zero() && t > Instant::max() - d) {
        return Instant::max();
    }
    if (d < Duration::zero() && t < Instant::min() - d) {
        return Instant::min();
    }
    return t + d;
}

using TimerPtr = IoBlockPtr<boost::asio::steady_timer>;

// The paused-clock half of poll_deadline: nullopt when the clock is not
// paused (wait on real time), else the poll's result. While paused nothing
// waits on real time: a real wait armed before pause() is cancelled (its
// operation_aborted completion is consumed by a later poll), and the future
// waits in the virtual-timer list through its VirtualTimer node, allocated
// on its first paused wait.
inline std::optional<Poll<void>> poll_paused_deadline(TimerPtr& timer,
                                                      VirtualTimerPtr& vtimer,
                                                      time::Instant deadline,
                                                      Context& cx,
                                                      const char* what) {
    if (!time::is_paused()) {
        return std::nullopt;
    }
    if (timer && timer->wait) {
        timer->io.cancel();
        Poll<Result<void>> p = Pending{};
        try {
            p = timer->wait->poll(cx);
        } catch (...) {
            timer->wait.reset();
            throw;
        }
        if (p.is_ready()) {
            timer->wait.reset();
            const Result<void>& r = p.value();
            if (!r && r.error() != boost::asio::error::operation_aborted) {
                throw boost::system::system_error(r.error(), what);
            }
        }
    }
    if (!vtimer) {
        vtimer = std::make_unique<VirtualTimer>();
    }
    switch (vtimer->wait_until(deadline, cx.waker())) {
    case VirtualTimer::Wait::registered:
        return Poll<void>(Pending{});
    case VirtualTimer::Wait::due:
        if (!coop::poll_proceed(cx)) {
            return Poll<void>(Pending{});
        }
        return Poll<void>(Ready<void>{});
    case VirtualTimer::Wait::not_paused:
        break;
    }
    return std::nullopt;
}

// Polls until `deadline` has passed: the engine of Sleep and Interval.
//
// A deadline that has already passed is Ready at once (after spending one
// unit of the task's cooperative budget), without a timer, as in tokio.
// Otherwise the timer is created on the first poll that needs it, on the
// current task's executor, and a wait is kept in flight for the deadline. A
// wait armed for a later expiry than `deadline` (Interval::reset moved the
// deadline earlier) is re-armed: expires_at aborts it, and once it completes
// with operation_aborted a new wait starts. A wait armed for an earlier
// expiry simply fires and is followed by another. Whatever completes, the
// clock decides.
//
// Paused clock (pollux/time/pause.hpp): once the process ever paused the
// clock, each poll first asks poll_paused_deadline; unpaused, the real
// timer's expiry is the deadline converted to steady_clock (to_steady: minus
// the time advanced so far). Never paused, that costs one relaxed load.
//
// `what` names the operation in the logic_error thrown outside a task.
inline Poll<void> poll_deadline(TimerPtr& timer,
                                VirtualTimerPtr& vtimer,
                                time::Instant deadline,
                                Context& cx,
                                const char* what) {
    using time::Clock;
    if (!timer) {
        // Checked on every poll before the timer exists, even when the
        // deadline has passed, so that polling outside a task fails the same
        // way whatever the clock says.
        (void)require_current_task(what);
    }
    if (clock_altered.load(std::memory_order_relaxed)) [[unlikely]] {
        if (std::optional<Poll<void>> p = poll_paused_deadline(timer, vtimer, deadline, cx, what)) {
            return std::move(*p);
        }
    }
    const auto expiry = to_steady(deadline);
    for (;;) {
        if (timer && timer->wait) {
            if (timer->io.expiry() > expiry) {
                timer->io.expires_at(expiry); // aborts the wait in flight
            }
            Poll<Result<void>> p = Pending{};
            try {
                p = timer->wait->poll(cx);
            } catch (...) {
                timer->wait.reset();
                throw;
            }
            if (p.is_pending()) {
                return Pending{};
            }
            timer->wait.reset();
            const Result<void>& r = p.value();
            if (!r && r.error() != boost::asio::error::operation_aborted) {
                throw boost::system::system_error(r.error(), what);
            }
            // The AsioFuture spent this poll's budget unit already.
            if (Clock::now() >= deadline) {
                return Ready<void>{};
            }
            continue; // aborted by a re-arm, or fired for an earlier deadline
        }
        if (Clock::now() >= deadline) {
            if (!coop::poll_proceed(cx)) {
                return Pending{};
            }
            return Ready<void>{};
        }
        if (!timer) {
            timer = TimerPtr::make(executor_of_current_task(what));
        }
        timer->io.expires_at(expiry);
        timer->wait.emplace(timer->io.async_wait(use_future));
    }
}

} // namespace pollux::detail

namespace pollux::time {

/// The future returned by `sleep` and `sleep_until`: completes (Output
/// `void`) on the first poll at or after its deadline.
///
/// The deadline is set when the Sleep is made (and moved by `reset`);
/// nothing starts before the first poll. A deadline that has passed by the time of a poll
/// (including `sleep(0ms)` and any deadline in the past) completes on that poll without arming a
/// timer, as in tokio; it still spends one unit of the task's cooperative budget, so a loop of such
/// sleeps cannot starve the event loop. Otherwise the first poll creates an Asio `steady_timer` on
/// the executor of the task being polled and waits on it with `use_future`. The timer lives in a
/// separate block from Asio's recycling allocator, so a Sleep may be moved between polls and a
/// steady stream of sleeps allocates nothing.
///
/// While the clock is paused (`time::pause`, pollux/time/pause.hpp) no Asio
/// timer is used: the Sleep waits in the process-wide virtual-timer list
/// (through a node allocated on its first paused wait) and completes when
/// `time::advance` or auto-advance moves the clock to its deadline; a wait on
/// real time already in flight is cancelled. On `time::resume` it re-arms a
/// real timer for what is left.
///
/// Dropped after its Runtime (or io_context) is gone, or while it shuts
/// down, a Sleep touches nothing of it: once the context's shutdown has
/// dropped the tasks, the timer's destructor is skipped (the context has
/// abandoned its wait already) and only the Sleep's memory is released, at
/// the latest when the context is destroyed.
///
/// @par Cancel safety
/// Cancel safe: dropping a pending Sleep cancels its timer wait
/// (`cancellation_type::terminal`, emitted by the drop itself), frees the
/// timer, and loses nothing; the io_context is left with no work from it.
/// On a paused clock, dropping it removes its virtual timer.
/// Timer waits honour terminal, partial and total cancellation.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be dropped on any
/// thread, also one that does not run its io_context: the drop cancels and
/// destroys the timer on the dropping thread (Asio's timer service locks),
/// or, once the context is shut down, does as above. A drop on another thread
/// while a Runtime is being destroyed is refused by the context's gate and
/// frees the memory without touching the context (docs/design.md,
/// "Lifetimes"); with a plain io_context that you destroy yourself, do not
/// drop it on another thread during that destruction.
/// @par Wakes / resumes on
/// The waker of the latest poll is woken from the thread that runs the
/// timer's completion on the executor of the task that first polled it; a
/// task resumes on its own executor. On a paused clock, from the thread that
/// calls `time::advance` or `time::resume` (or the auto-advancing loop).
/// @par Errors
/// Throws `std::logic_error` when its first poll happens outside a pollux
/// task (for example under plain `pollux::block_on`, with no event loop),
/// whether or not the deadline has passed. Throws
/// `boost::system::system_error` if the timer wait fails with anything but
/// `operation_aborted` (Asio documents no such failure).
/// @par Preconditions
/// Not polled again after it returned Ready (asserts).
/// @par Example
/// @code
/// pollux::Async<> tick_twice() {
///     co_await pollux::time::sleep(100ms);
///     co_await pollux::time::sleep_until(pollux::time::Clock::now() + 1s);
/// }
/// @endcode
class POLLUX_NODISCARD_FUTURE Sleep {
public:
    /// Completes with no value.
    using Output = void;

    /// A sleep until `deadline`; starts nothing.
    explicit Sleep(Instant deadline) noexcept : deadline_(deadline) {}

    /// Moves the deadline and any timer wait in flight.
    Sleep(Sleep&&) noexcept = default;
    /// Drops its own timer wait (if any), then takes the moved-from Sleep's
    /// deadline and wait.
    Sleep& operator=(Sleep&&) noexcept = default;

    /// `Ready` once the deadline has passed, else `Pending` (and the latest
    /// waker is woken at the deadline).
    /// @par Cancel safety
    /// See the class.
    /// @par Errors
    /// See the class.
    Poll<void> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "Sleep polled after it returned Ready");
        Poll<void> p = detail::poll_deadline(timer_, vtimer_, deadline_, cx, "pollux::time::sleep");
        if (p.is_ready()) {
            done_ = true;
            timer_.reset(); // no wait is engaged: freed here and now
        }
        return p;
    }

    /// The instant at which it completes.
    [[nodiscard]] Instant deadline() const noexcept { return deadline_; }

    /// Moves the deadline to `deadline` (tokio's `Sleep::reset`), earlier or
    /// later, also after the Sleep completed: the next poll waits for the new
    /// deadline. A wait in flight is kept: one for a later expiry is re-armed
    /// (aborted and started again), one for an earlier expiry fires and is
    /// followed by another, so a deadline pushed back on every read (an
    /// idle timeout) costs no new timer. A deadline that has already passed
    /// drops the timer (as dropping the Sleep would), so the next poll is
    /// Ready, as tokio's. Wakes nothing: poll it again.
    /// @par Cancel safety
    /// Not an operation; the Sleep stays cancel safe.
    void reset(Instant deadline) noexcept {
        deadline_ = deadline;
        done_ = false;
        if (timer_ && Clock::now() >= deadline) {
            timer_.reset();
        }
    }

    /// True once the deadline has passed (whether or not it was polled).
    [[nodiscard]] bool is_elapsed() const noexcept { return Clock::now() >= deadline_; }

private:
    Instant deadline_;
    detail::TimerPtr timer_;
    detail::VirtualTimerPtr vtimer_; // while the clock is paused
    bool done_ = false;
};

/// A future that completes `duration` after this call (not after its first
/// poll). A zero or negative duration completes on the first poll; see
/// `Sleep`. Durations too long for the clock mean "never".
POLLUX_NODISCARD_FUTURE inline Sleep sleep(Duration duration) noexcept {
    return Sleep(detail::saturating_add(Clock::now(), duration));
}

/// A future that completes at `deadline`; a deadline in the past completes on
/// the first poll. See `Sleep`.
POLLUX_NODISCARD_FUTURE inline Sleep sleep_until(Instant deadline) noexcept {
    return Sleep(deadline);
}

} // namespace pollux::time
