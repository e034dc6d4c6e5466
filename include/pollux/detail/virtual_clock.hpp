#pragma once

/// @file
/// The paused clock's private interface: the virtual-timer list that `sleep`,
/// `Interval` and `timeout` wait on while `time::pause()` is in effect, and
/// what `Runtime::block_on`, `uv::Loop::run` and `sim::Runtime` use to
/// auto-advance. Private; not part of the API.

#include <pollux/core/waker.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/time/clock.hpp>

#include <map>
#include <memory>
#include <optional>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace pollux::detail {

// Earliest deadline among timers waiting on the paused clock; nullopt if none (or not paused).
POLLUX_API std::optional<time::Instant> next_paused_deadline();
// Paused only: sets the virtual now to max(now, t) and wakes every waiter whose deadline <= now.
// Throws std::logic_error if the clock is not paused.
POLLUX_API void advance_paused_clock_to(time::Instant t);

// One waiter on the paused clock: the stable node of one Sleep or Interval
// (heap-allocated on its first paused wait, so the future may move). While
// linked it sits in the process-wide list as deadline -> waker; a re-poll
// replaces its entry, never adds one. advance() unlinks it and wakes the
// waker once the deadline is reached; resume() unlinks and wakes every node
// (each re-polls and arms a real timer). Destroying it unlinks it.
//
// Thread safety: all of it goes through the clock's mutex; a node is used by
// one future at a time, but advance() may run on any thread.
class POLLUX_API VirtualTimer {
public:
    enum class Wait {
        registered, // pending: the waker is woken at the deadline or on resume()
        due,        // the (paused) clock has reached the deadline
        not_paused, // the clock is not paused: wait on real time instead
    };

    VirtualTimer() = default;
    ~VirtualTimer();
    VirtualTimer(const VirtualTimer&) = delete;
    VirtualTimer& operator=(const VirtualTimer&) = delete;

    // Atomically with respect to pause/resume/advance: reports whether the
    // clock is paused and the deadline reached, and if paused and not yet
    // due, (re)registers `w` for `deadline`.
    Wait wait_until(time::Instant deadline, const Waker& w);

    // Unlinks the node if it is linked; its waker is dropped, not woken.
    void cancel() noexcept;

private:
    friend struct ClockState;
    using List = std::multimap<time::Instant, VirtualTimer*>;

    Waker waker_ = Waker::noop();
    std::optional<List::iterator> pos_; // engaged while linked
};

using VirtualTimerPtr = std::unique_ptr<VirtualTimer>;

// While it lives, the current-thread loop that runs `io` with run() is
// registered, so that pause() stops `io` and the loop can switch to its
// paused (auto-advancing) form. Construct it after io.restart() and check
// time::is_paused() after constructing it: a pause() that came first did
// not see the registration.
class POLLUX_API RealTimeRun {
public:
    explicit RealTimeRun(boost::asio::io_context& io);
    ~RealTimeRun();
    RealTimeRun(const RealTimeRun&) = delete;
    RealTimeRun& operator=(const RealTimeRun&) = delete;

private:
    friend struct ClockState;
    boost::asio::io_context* io_;
    RealTimeRun* prev_ = nullptr;
    RealTimeRun* next_ = nullptr;
};

// Drives a current-thread io_context until `done(arg)`: one long run() while
// the clock is not paused; while paused, poll() and auto-advance to the next
// virtual deadline when nothing is ready (run_one() if no virtual timer).
// The body of a current-thread Runtime::block_on.
POLLUX_API void
drive_current_thread(boost::asio::io_context& io, bool (*done)(const void*), const void* arg);

// RuntimeOptions::start_paused: pauses the clock for its lifetime if `want`
// and the clock is not paused yet; resumes it at the end if it paused it
// and it is still paused.
class POLLUX_API PauseScope {
public:
    explicit PauseScope(bool want);
    ~PauseScope();
    PauseScope(const PauseScope&) = delete;
    PauseScope& operator=(const PauseScope&) = delete;

private:
    bool paused_by_me_ = false;
};

} // namespace pollux::detail
