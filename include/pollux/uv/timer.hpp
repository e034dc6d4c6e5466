#pragma once

/// @file
/// `uv::Timer`: libuv's `uv_timer_t` — a callback after a timeout, optionally
/// repeating, counted from the loop's cached time.

#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>

namespace pollux::uv {

/// A timer handle. Timers run in the last phase of a loop iteration (and,
/// under `RunMode::Default`, once before the first), once per iteration, in
/// order of due time, and timers due at the same time in the order they
/// were started (libuv 1.45's order). A timer is active from `start` until it stops (a one-shot
/// timer stops just before its callback runs).
///
/// Due times are on `Loop::Clock`, pollux's `time::Clock`, so timers obey a
/// paused clock (`time::pause`): they come due when `time::advance` moves the
/// clock past them (at the next iteration), and `Loop::run` auto-advances to
/// the next one when nothing else can run.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Timer t(loop);
/// t.start([&] { if (++ticks == 3) t.close(); }, 10ms, 10ms);
/// @endcode
class POLLUX_API Timer final : public Handle {
public:
    /// What runs each time the timer fires.
    using Callback = std::function<void()>;
    /// Timeouts and repeat intervals, in milliseconds as libuv's.
    using Duration = std::chrono::milliseconds;

    /// A stopped timer on `loop` (`uv_timer_init`).
    explicit Timer(Loop& loop);
    ~Timer();

    /// Starts (or restarts) the timer: `cb` runs `timeout` after
    /// `loop().now()` (which an I/O callback sees refreshed after the poll
    /// phase's wait), then every `repeat` if `repeat` is non-zero.
    ///
    /// @par Cancel safety
    /// `stop()` or `close()` before it fires: the callback does not run.
    /// @par Errors
    /// `boost::asio::error::bad_descriptor` if the handle is closing; the
    /// callback is then never called.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code start(Callback cb, Duration timeout, Duration repeat = Duration{0});
    /// Stops the timer; the callback does not run until the next start.
    void stop() noexcept;
    /// libuv's `uv_timer_again`: if the timer repeats, restarts it with the
    /// repeat interval as timeout; does nothing for a one-shot timer.
    /// @par Errors
    /// `errc::invalid_argument` if the timer was never started;
    /// `bad_descriptor` if it is closing.
    boost::system::error_code again();
    /// Sets the repeat interval; takes effect at the next (re)start, or when
    /// a running repeating timer re-arms.
    void set_repeat(Duration repeat) noexcept { repeat_ = repeat; }
    /// The repeat interval; 0 for a one-shot timer.
    [[nodiscard]] Duration get_repeat() const noexcept { return repeat_; }
    /// Time until the timer is due (0 if overdue or stopped), `uv_timer_get_due_in`.
    [[nodiscard]] Duration due_in() const noexcept;

private:
    friend class detail::LoopImpl;
    void on_close() noexcept override { stop(); }
    void fire();
    // (Re)inserts the timer into the loop's queue; keeps the callback.
    void arm(Duration timeout, Duration repeat);

    Callback cb_;
    Duration repeat_{0};
    Loop::Clock::time_point due_{};
    std::uint64_t start_id_ = 0;
    bool in_heap_ = false;
    bool started_ = false;
};

} // namespace pollux::uv
