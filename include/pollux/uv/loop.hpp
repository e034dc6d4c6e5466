#pragma once

/// @file
/// `uv::Loop`: libuv's event loop (`uv_loop_t`, `uv_run`) on a Boost.Asio
/// `io_context` — its own, or one it shares with pollux futures (a
/// `Runtime`'s, for instance). docs/callbacks.md maps each phase of an
/// iteration onto the io_context.

#include <pollux/detail/config.hpp>
#include <pollux/time/clock.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <memory>

namespace pollux::uv {

namespace detail {
class LoopImpl;
}

/// How `Loop::run` runs, as libuv's `uv_run_mode`.
enum class RunMode {
    /// Run until the loop is no longer alive, or `stop()` was called.
    Default,
    /// Run one iteration, blocking for I/O if nothing is pending.
    Once,
    /// Run one iteration without blocking.
    NoWait,
};

/// The event loop. Each iteration runs libuv's phases in order: update the
/// cached time and run due timers; run pending (deferred) callbacks; idle;
/// prepare; poll for I/O (run the io_context's ready handlers — I/O
/// completions, spawned futures — blocking for at most the time to the next
/// timer); check; closing callbacks.
///
/// The loop is *alive* while it has an active and referenced handle, a
/// request in flight, or a handle that is closing (libuv's rule). Spawned
/// futures do not keep it alive by themselves.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. A loop, its handles and
/// the io_context under it belong to the thread that calls `run()`: no
/// other thread may run that io_context while handles exist. Only
/// `AsyncHandle::send` and `Mailbox::send` may be called from other threads.
/// @par Example
/// @code
/// pollux::uv::Loop loop;
/// pollux::uv::Timer timer(loop);
/// timer.start([&] { std::puts("tick"); timer.close(); }, std::chrono::milliseconds(10));
/// loop.run();
/// @endcode
class POLLUX_API Loop {
public:
    /// pollux's clock (`time::Clock`): steady_clock that tests can pause.
    using Clock = time::Clock;

    /// A loop with an io_context of its own.
    Loop();
    /// A loop on `io`, which must outlive it (for example a current-thread
    /// `Runtime`'s io_context: futures spawned there run inside `run()`).
    explicit Loop(boost::asio::io_context& io);
    /// @par Preconditions
    /// Every handle of the loop is destroyed and no request is in flight
    /// (asserts): destroy handles before their loop.
    ~Loop();

    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    /// Runs the loop in `mode` (libuv's `uv_run`). Returns non-zero if the
    /// loop is still alive (more callbacks are expected: `stop()` was
    /// called, or Once/NoWait returned with work left), 0 otherwise.
    ///
    /// While the clock is paused (`time::pause`), when an iteration would
    /// wait and a non-blocking poll ran nothing, it moves the clock to the
    /// earliest virtual deadline (its own timers' and pollux timers' alike)
    /// instead of blocking: auto-advance. With no such deadline it blocks
    /// for I/O as usual.
    ///
    /// @par Errors
    /// An exception thrown by a callback propagates out of `run()`; the loop
    /// is then in an unspecified (but destructible) state.
    /// @par Preconditions
    /// Not called from inside a callback of this loop (asserts).
    int run(RunMode mode = RunMode::Default);

    /// Makes `run()` return after the current iteration (`uv_stop`).
    void stop() noexcept;

    /// True while there are active referenced handles, requests in flight
    /// or closing handles (`uv_loop_alive`).
    [[nodiscard]] bool alive() const noexcept;

    /// The loop's cached time, updated at the start of each iteration (and
    /// by `update_time()`), as `uv_now`. Timers count from it.
    [[nodiscard]] Clock::time_point now() const noexcept;
    /// Refreshes the cached time (`uv_update_time`).
    void update_time() noexcept;

    /// The io_context the loop runs: spawn futures on it with
    /// `pollux::spawn(loop.io_context(), fut)`, post to it from any thread.
    /// For a loop made without an io_context of yours, run it yourself only
    /// while `run()` is not running (on any thread), e.g. to drain it after
    /// `run()` returned: the poll phase relies on being its only runner.
    [[nodiscard]] boost::asio::io_context& io_context() noexcept;
    /// The executor of `io_context()`.
    [[nodiscard]] boost::asio::io_context::executor_type get_executor() noexcept;

    /// Handles of this loop that are neither closed nor destroyed (what
    /// `uv_walk` would visit).
    [[nodiscard]] std::size_t handle_count() const noexcept;
    /// Requests in flight (work, getaddrinfo, writes, connects, shutdowns,
    /// sends).
    [[nodiscard]] std::size_t active_requests() const noexcept;

    /// libuv's `uv_loop_close`: succeeds if no handle is open and no request
    /// is in flight, else returns `errc::device_or_resource_busy`. Nothing
    /// else happens either way; the destructor does the freeing.
    boost::system::error_code close() noexcept;

    /// The implementation seam for handles (not API).
    [[nodiscard]] detail::LoopImpl& impl() const noexcept { return *impl_; }

private:
    std::shared_ptr<detail::LoopImpl> impl_;
};

} // namespace pollux::uv
