#pragma once

/// @file
/// `Runtime`: an io_context with the threads that run it, `block_on`, and
/// `pollux::run` (tokio's `#[tokio::main]` in one line).

#include <pollux/core/block_on.hpp>
#include <pollux/core/future.hpp>
#include <pollux/debug/runtime_metrics.hpp>
#include <pollux/debug/stall_watchdog.hpp>
#include <pollux/debug/task_info.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/future_arg.hpp>
#include <pollux/detail/virtual_clock.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/spawn.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace pollux {

namespace detail {

// The main future of a current-thread Runtime::block_on: stops the
// io_context once it has finished, by value or by exception, so the run()
// that drives it returns.
template <class F>
class StopWhenDone {
public:
    using Output = output_t<F>;

    template <class G>
    StopWhenDone(G&& fut, boost::asio::io_context& io) : fut_(std::forward<G>(fut)), io_(&io) {}

    Poll<Output> poll(Context& cx) {
        try {
            auto p = fut_.poll(cx);
            if (p.is_ready()) {
                io_->stop();
            }
            return p;
        } catch (...) {
            io_->stop();
            throw;
        }
    }

private:
    F fut_;
    boost::asio::io_context* io_;
};

} // namespace detail

/// Settings for a `Runtime`; the defaults give a current-thread runtime.
struct RuntimeOptions {
    /// 0: current-thread (the loop runs inside block_on, on the caller's
    /// thread). N > 0: N worker threads run the loop all the time.
    std::size_t worker_threads = 0;
    /// Threads of the runtime's worker pool — the one pool that runs
    /// spawn_blocking, pollux::fs and the uv work requests of loops on this
    /// runtime (docs/design.md, "The worker pool"). Threads start as work
    /// arrives, up to this many (at least 1).
    std::size_t max_blocking_threads = 16;
    /// File operations (pollux::fs, and uv::fs on loops of this runtime) that
    /// run on the pool at once, at least 1; more wait in the queue, in
    /// order. libuv's 4 (`UV_THREADPOOL_SIZE`'s default): a read of a cached
    /// page is shorter than waking a thread, so more threads than cores only
    /// add futex traffic (docs/fs.md, "The worker pool"). spawn_blocking
    /// keeps `max_blocking_threads`; a file operation counts against both.
    std::size_t max_fs_threads = 4;
    /// Jobs that may wait in the pool's queue for a thread; a submission
    /// beyond it fails with `errc::resource_unavailable_try_again` (EAGAIN)
    /// through the operation's own error channel (at least 1).
    std::size_t max_queued_blocking = 65536;
    /// Each `block_on` runs with the clock paused (tokio's `start_paused`):
    /// it pauses the process-wide clock on entry unless it is paused, and
    /// resumes it on exit if it paused it. A current-thread runtime then
    /// auto-advances the clock whenever every task is idle; a multi-thread
    /// one does not (see pollux/time/pause.hpp).
    bool start_paused = false;
    /// Stall watchdog (docs/debugging.md): when positive, a watchdog thread
    /// reports every single poll that runs at least this long, through
    /// `on_stall`. Off (0, no thread) by default. Turns on detailed metrics.
    std::chrono::nanoseconds stall_threshold{0};
    /// Receives stall reports on the watchdog thread; empty: the default,
    /// `debug::print_stall_report` (one line on stderr).
    debug::StallHandler on_stall{};
    /// Detailed metrics: poll timing (two clock reads per poll), the
    /// poll-time histogram, wake counts and "last poll ... ago" in dumps.
    /// Off by default; a stall threshold turns them on.
    bool detailed_metrics = false;
    /// File operations (pollux::fs, uv::fs on this runtime's loops) go
    /// through one io_uring where the kernel allows it, else the worker
    /// pool; false: always the pool. The environment's `POLLUX_IO_URING=0`
    /// does the same for every runtime. `metrics().fs_backend` says which
    /// one the runtime took.
    bool io_uring = true;
};

/// An io_context and the threads that drive it. Convenience, not a
/// requirement: pollux tasks run on any io_context, whoever runs it.
///
/// @par Thread safety
/// `spawn` and `io_context()` are safe from any thread; `block_on` may be
/// called from one thread at a time, never from inside a task.
class POLLUX_API Runtime {
public:
    Runtime();
    /// A runtime set up as `options` says: starts `options.worker_threads`
    /// worker threads and, with a positive `stall_threshold`, the stall
    /// watchdog thread.
    /// @par Errors
    /// Throws `std::system_error` if a thread cannot be started.
    explicit Runtime(RuntimeOptions options);
    /// Stops the loop, joins the worker threads, waits for running
    /// spawn_blocking functions, then destroys every task still alive
    /// without polling it again (cycles included) and frees everything.
    ///
    /// What may outlive it (docs/design.md, "Lifetimes"): Wakers,
    /// JoinHandles, and the futures pollux made (Sleep, Interval, signal
    /// futures, net sockets): a late wake, await or drop touches nothing of
    /// the runtime. Another thread may keep waking, aborting or dropping
    /// handles while it runs. A plain Asio I/O object made on
    /// `io_context()` must still be destroyed before the runtime.
    ~Runtime();

    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    /// Runs `f` as a task on this runtime and blocks until it finishes; a
    /// current-thread runtime runs its loop (and every other task) on the
    /// calling thread meanwhile. Returns the output, or rethrows what the
    /// task threw.
    ///
    /// @par Errors
    /// Rethrows `f`'s exception; `TaskCancelled` if the runtime was shut
    /// down under it.
    template <Future F>
    output_t<F> block_on(F&& f, std::source_location site = std::source_location::current()) {
        const detail::PauseScope paused(options_.start_paused);
        if (options_.worker_threads > 0) {
            return pollux::block_on(detail::spawn_task(
                io_.get_executor(), std::forward<F>(f), detail::TaskOrigin{site, "block_on"}));
        }
        auto handle = detail::spawn_task(
            io_.get_executor(),
            detail::StopWhenDone<std::remove_cvref_t<F>>(std::forward<F>(f), io_),
            detail::TaskOrigin{site, "block_on"});
        // One long run() while the clock is not paused (what keeps
        // steady-state operations allocation-free); auto-advance while it is.
        // See detail::drive_current_thread.
        detail::drive_current_thread(
            io_,
            [](const void* h) { return static_cast<const decltype(handle)*>(h)->is_finished(); },
            &handle);
        return pollux::block_on(std::move(handle));
    }

    /// Spawns `f` on this runtime. On a current-thread runtime it runs
    /// during the next `block_on`.
    template <detail::FutureArg F>
    JoinHandle<detail::arg_output_t<F>>
    spawn(F&& f, std::source_location site = std::source_location::current()) {
        static_assert(detail::CheckFutureArg<F>::ok);
        return detail::spawn_task(
            io_.get_executor(), std::forward<F>(f), detail::TaskOrigin{site, {}});
    }

    /// `spawn(f)` with a name for dumps and stall reports.
    template <detail::FutureArg F>
    JoinHandle<detail::arg_output_t<F>> spawn(
        F&& f, std::string_view name, std::source_location site = std::source_location::current()) {
        static_assert(detail::CheckFutureArg<F>::ok);
        return detail::spawn_task(
            io_.get_executor(), std::forward<F>(f), detail::TaskOrigin{site, name});
    }

    /// The io_context that runs this runtime's tasks.
    boost::asio::io_context& io_context() noexcept { return io_; }

    /// Number of tasks spawned on this runtime that have not finished.
    [[nodiscard]] std::size_t live_tasks() const;

    /// A snapshot of every live task, oldest first: see `debug::tasks`.
    /// Safe from any thread.
    [[nodiscard]] std::vector<debug::TaskInfo> tasks() const;

    /// The live tasks as text (id, name, state, polls, spawn site, await
    /// site): see `debug::format_tasks`. Safe from any thread, inside or
    /// outside tasks.
    [[nodiscard]] std::string dump() const;

    /// The scheduler's counters; see `RuntimeMetrics` for which need
    /// `RuntimeOptions::detailed_metrics`. Safe from any thread.
    [[nodiscard]] RuntimeMetrics metrics() const;

private:
    RuntimeOptions options_;
    boost::asio::io_context io_; // destroyed last: its shutdown drops the tasks
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::vector<std::thread> workers_;
    std::unique_ptr<debug::StallWatchdog> watchdog_; // stopped first
};

/// `int main() { return pollux::run(async_main()); }`: block_on on a fresh
/// current-thread Runtime.
template <Future F>
output_t<F> run(F&& f, std::source_location site = std::source_location::current()) {
    Runtime rt;
    return rt.block_on(std::forward<F>(f), site);
}

} // namespace pollux
