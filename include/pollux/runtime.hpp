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
        auto handle = pollux::spawn(io_.get_executor(), std::forward<F>(f));
        if (options_.worker_threads == 0) {
            drive_until([&] { return handle.is_finished(); });
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
    template <class Done>
    void drive_until(Done done) {
        auto guard = boost::asio::make_work_guard(io_);
        while (!done()) {
            if (io_.stopped()) {
                io_.restart();
            }
            io_.run_one();
        }
    }

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
