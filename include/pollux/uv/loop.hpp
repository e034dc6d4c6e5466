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
#include <functional>
#include <memory>
#include <optional>

namespace pollux::uv {

namespace detail {
class LoopImpl;
}
class Handle;

/// Threads in a loop's work pool when `UV_THREADPOOL_SIZE` is not set
/// (libuv's default).
inline constexpr std::size_t default_threadpool_size = 4;
/// The most threads a loop's work pool may have (libuv's
/// `MAX_THREADPOOL_SIZE`).
inline constexpr std::size_t max_threadpool_size = 1024;

/// How `Loop::run` runs, as libuv's `uv_run_mode`.
enum class RunMode {
    /// Run until the loop is no longer alive, or `stop()` was called.
    Default,
    /// Run one iteration, blocking for I/O if nothing is pending.
    Once,
    /// Run one iteration without blocking.
    NoWait,
};

/// The event loop. Each iteration runs libuv's (1.45's) phases in order:
/// run pending (deferred) callbacks; idle; prepare; poll for I/O (run the
/// io_context's ready handlers — I/O completions, spawned futures — blocking
/// for at most `backend_timeout()` first, then refreshing the cached time);
/// check; closing callbacks; update the cached time and run due timers.
/// `RunMode::Default` also runs due timers once before its first iteration.
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
    /// A work-pool request (`queue_work`, `getaddrinfo`, `getnameinfo`,
    /// `fs::*`) still in flight never calls back: with an io_context of the
    /// loop's own, its running work finishes and its queued work is dropped
    /// (queued fs calls that change files run) before this returns; on a
    /// shared io_context it completes later and finds the loop gone.
    /// @par Preconditions
    /// Every handle of the loop is destroyed (asserts): destroy handles
    /// before their loop.
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

    /// The loop's cached time, as `uv_now`: updated when `run()` starts,
    /// when the poll phase's wait returns (so a callback run by the poll
    /// sees the time it woke up), before the timer phase, and by
    /// `update_time()`. Timers count from it.
    [[nodiscard]] Clock::time_point now() const noexcept;
    /// Refreshes the cached time (`uv_update_time`).
    void update_time() noexcept;

    /// How long the poll phase would block now (`uv_backend_timeout`):
    /// `std::nullopt` for "until I/O arrives" (libuv's -1); zero if `stop()`
    /// was called, nothing active or referenced keeps the loop alive, an idle
    /// handle is started, a deferred callback is pending or a close callback
    /// is ready; else the time from `now()` to the next timer, rounded up to
    /// a millisecond (zero if it is overdue).
    [[nodiscard]] std::optional<std::chrono::milliseconds> backend_timeout() const noexcept;

    /// Threads of the loop's work pool — its io_context's one worker pool,
    /// which runs `queue_work`, `getaddrinfo`, `getnameinfo` and the `fs`
    /// requests, and `spawn_blocking` and `pollux::fs` of futures on the same
    /// context. A loop with its own context: `UV_THREADPOOL_SIZE` from the
    /// environment (read once per process; clamped to 1..1024 as libuv
    /// does), `default_threadpool_size` (4) if it is unset, or what
    /// `set_threadpool_size` set; a loop on a Runtime's context: the
    /// runtime's `max_blocking_threads` unless set here. File operations run
    /// on at most as many threads at once: this size on a loop's own context
    /// (libuv runs fs requests on every pool thread), the runtime's
    /// `max_fs_threads` (4) on a Runtime's unless set here.
    [[nodiscard]] std::size_t threadpool_size() const noexcept;
    /// Sets the number of threads of the loop's work pool, clamped to
    /// 1..`max_threadpool_size`, and as many file operations at once. The
    /// pool starts on the first request that needs it and grows to this many
    /// threads; each io_context has one pool.
    /// @par Errors
    /// `errc::device_or_resource_busy` if the pool has already started
    /// (nothing changes).
    boost::system::error_code set_threadpool_size(std::size_t threads) noexcept;

    /// The io_context the loop runs: spawn futures on it with
    /// `pollux::spawn(loop.io_context(), fut)`, post to it from any thread.
    /// For a loop made without an io_context of yours, run it yourself only
    /// while `run()` is not running (on any thread), e.g. to drain it after
    /// `run()` returned: the poll phase relies on being its only runner.
    [[nodiscard]] boost::asio::io_context& io_context() noexcept;
    /// The executor of `io_context()`.
    [[nodiscard]] boost::asio::io_context::executor_type get_executor() noexcept;

    /// Handles of this loop that are neither closed nor destroyed (what
    /// `uv::walk` visits).
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

/// Calls `fn` once for each handle of `loop` that is not closed yet, in the
/// order they were made (libuv's `uv_walk`): open handles and closing ones
/// whose close callback has not run (`is_closing()` tells them apart); not
/// those closed or destroyed. `fn` may close or destroy any handle (one
/// destroyed before its turn is skipped); handles made during the walk are
/// not visited. Use `Handle::type()` to tell kinds apart, e.g. to close
/// every handle before destroying the loop:
/// @code
/// uv::walk(loop, [](uv::Handle& h) { if (!h.is_closing()) h.close(); });
/// loop.run();
/// @endcode
/// @par Errors
/// None; an exception from `fn` propagates (the walk stops, every handle
/// stays on the loop).
/// @par Preconditions
/// On the loop's thread.
POLLUX_API void walk(Loop& loop, const std::function<void(Handle&)>& fn);

} // namespace pollux::uv
