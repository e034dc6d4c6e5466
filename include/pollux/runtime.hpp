#pragma once

/// @file
/// `Runtime`: an io_context with the threads that run it, `block_on`, and
/// `pollux::run` (tokio's `#[tokio::main]` in one line).

#include <pollux/core/block_on.hpp>
#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/spawn.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <optional>
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

struct RuntimeOptions {
    /// 0: current-thread (the loop runs inside block_on, on the caller's
    /// thread). N > 0: N worker threads run the loop all the time.
    std::size_t worker_threads = 0;
    /// Size of the spawn_blocking pool, created on first use.
    std::size_t max_blocking_threads = 16;
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
    explicit Runtime(RuntimeOptions options);
    /// Stops the loop, joins the worker threads, waits for running
    /// spawn_blocking functions, then destroys every task still alive
    /// without polling it again (cycles included) and frees everything.
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
    output_t<F> block_on(F&& f) {
        if (options_.worker_threads > 0) {
            return pollux::block_on(pollux::spawn(io_.get_executor(), std::forward<F>(f)));
        }
        auto handle =
            pollux::spawn(io_.get_executor(),
                          detail::StopWhenDone<std::remove_cvref_t<F>>(std::forward<F>(f), io_));
        // run(), not a loop of run_one(): Asio keeps its per-thread recycling
        // cache for the length of one run call, so one long run is what makes
        // steady-state operations allocation-free. The main task stops the
        // context when it finishes; a stop() from anyone else just loops.
        auto guard = boost::asio::make_work_guard(io_);
        while (!handle.is_finished()) {
            io_.restart();
            io_.run();
        }
        return pollux::block_on(std::move(handle));
    }

    /// Spawns `f` on this runtime. On a current-thread runtime it runs
    /// during the next `block_on`.
    template <Future F>
    JoinHandle<output_t<F>> spawn(F&& f) {
        return pollux::spawn(io_.get_executor(), std::forward<F>(f));
    }

    boost::asio::io_context& io_context() noexcept { return io_; }

    /// Number of tasks spawned on this runtime that have not finished.
    [[nodiscard]] std::size_t live_tasks() const;

private:
    RuntimeOptions options_;
    boost::asio::io_context io_; // destroyed last: its shutdown drops the tasks
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::vector<std::thread> workers_;
};

/// `int main() { return pollux::run(async_main()); }`: block_on on a fresh
/// current-thread Runtime.
template <Future F>
output_t<F> run(F&& f) {
    Runtime rt;
    return rt.block_on(std::forward<F>(f));
}

} // namespace pollux
