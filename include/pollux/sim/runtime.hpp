#pragma once

/// @file
/// `sim::Runtime`: runs pollux code in a deterministic simulation: one
/// thread, a seeded choice among ready tasks, and the paused (virtual)
/// clock. The same seed gives the same schedule and the same output.

#include <pollux/core/block_on.hpp>
#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/sim/error.hpp>
#include <pollux/sim/executor.hpp>
#include <pollux/sim/rng.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/clock.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace pollux::sim {

class Network;

/// A deterministic simulation of pollux code (after FoundationDB's
/// simulation and tokio's turmoil).
///
/// What it does:
/// - Tasks run on a `sim::Executor`: every wake puts the task's next poll on
///   the runtime's ready list, and the loop runs one ready handler at a
///   time, chosen by a generator seeded with `seed`. So tasks interleave in
///   an order the seed fixes, and different seeds explore different orders.
/// - Time is the paused clock of `pollux/time/pause.hpp`, paused on
///   construction and resumed on destruction. When nothing is ready the loop
///   moves it straight to the earliest timer's deadline, so `sleep`,
///   `timeout` and `interval` run unmodified in virtual time, and a 30 s
///   timeout takes microseconds.
/// - `network()` connects simulated hosts with `sim::TcpStream` and
///   `sim::TcpListener`, with latency, loss, reordering, partitions and
///   resets injected from the test (`pollux/sim/network.hpp`).
/// - A run whose main future throws prints `pollux::sim: seed N failed:
///   <what>` to stderr. `Runtime::from_env(default_seed)` takes the seed from
///   `POLLUX_SIM_SEED` when it is set, so a printed seed replays without
///   editing the test.
///
/// The same seed replays the same run as long as the simulated code is
/// itself deterministic: it must not read real time (`std::chrono::
/// steady_clock::now()`; `pollux::time::Clock::now()` is virtual here),
/// threads, real I/O or unseeded randomness. In particular real Asio I/O
/// objects (sockets, `steady_timer`, signals), `pollux::net`, `uv` handles,
/// and `spawn_blocking` must not be used inside a simulation: the io_context
/// never runs, so they would never complete, and their timing would not be
/// deterministic anyway. `select`'s fair choice of a first branch is seeded
/// from the simulation seed.
///
/// Everything is single-threaded: the runtime and every task run on the
/// thread that calls `block_on`. The clock is process-wide, so only one
/// `sim::Runtime` may exist at a time in a process, and no other runtime
/// should run timers meanwhile.
///
/// @par Thread safety
/// Not thread safe: one thread creates, runs and destroys it.
/// @par Errors
/// The constructor throws `std::logic_error` if the clock is already paused
/// (another simulation, or a test's own `time::pause()`, is active).
/// @par Example
/// @code
/// for (std::uint64_t seed = 0; seed < 1000; ++seed) {
///     pollux::sim::Runtime rt(seed);
///     rt.network().add_host("10.0.0.2");
///     rt.block_on(scenario(rt)); // prints the seed and rethrows on failure
/// }
/// // Replay: auto rt = pollux::sim::Runtime::from_env(0); with POLLUX_SIM_SEED=<seed>.
/// @endcode
class POLLUX_API Runtime {
public:
    /// A simulation whose every choice follows from `seed`.
    explicit Runtime(std::uint64_t seed);
    /// Destroys every task still alive (without polling it), then resumes
    /// the clock.
    ~Runtime();

    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    /// A runtime seeded from the environment variable `POLLUX_SIM_SEED` (a
    /// decimal number) if it is set, else with `default_seed`.
    ///
    /// @par Errors
    /// Throws `std::invalid_argument` if `POLLUX_SIM_SEED` is set but is not
    /// a decimal 64-bit number.
    static Runtime from_env(std::uint64_t default_seed);

    /// Runs `f` as the main task on host 0 until it finishes, running every
    /// other task of the simulation meanwhile, and returns its output.
    ///
    /// @par Errors
    /// Rethrows what `f` throws. Throws `sim::Deadlock` if `f` can no longer
    /// finish (nothing ready, no timer) and `sim::TimeLimitExceeded` if the
    /// virtual clock would pass the time limit. In each case it first
    /// writes `pollux::sim: seed N failed: <what>` to stderr. Throws
    /// `std::logic_error` if called from inside a simulation task.
    template <Future F>
    output_t<F> block_on(F&& f) {
        auto handle = pollux::spawn(executor(), std::forward<F>(f));
        try {
            run_until(&is_finished<output_t<F>>, &handle);
            return pollux::block_on(std::move(handle));
        } catch (...) {
            report_failure(std::current_exception());
            throw;
        }
    }

    /// Spawns `f` on host 0; it runs during `block_on`.
    template <Future F>
    JoinHandle<output_t<F>> spawn(F&& f) {
        return pollux::spawn(executor(), std::forward<F>(f));
    }

    /// Spawns `f` on simulated host `host` (see `Network::add_host`); tasks
    /// it spawns stay on that host. Throws `std::out_of_range` for an
    /// unknown host.
    template <Future F>
    JoinHandle<output_t<F>> spawn_on(HostId host, F&& f) {
        return pollux::spawn(executor(host), std::forward<F>(f));
    }

    /// The executor of host `host` (0: the main host). Throws
    /// `std::out_of_range` for a host the network does not have.
    [[nodiscard]] Executor executor(HostId host = 0);

    /// The seed this simulation runs with.
    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
    /// The virtual now (`time::Clock::now()` while the simulation lives).
    [[nodiscard]] time::Instant now() const noexcept;
    /// Virtual time since the runtime was created: the same for the same
    /// seed, unlike `now()`, which starts from the real time of creation.
    [[nodiscard]] time::Duration elapsed() const noexcept;
    /// Handlers run so far.
    [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }

    /// Sets the virtual time limit of a `block_on` (measured from the
    /// runtime's creation): 1 hour by default.
    void set_time_limit(time::Duration limit) noexcept { time_limit_ = limit; }

    /// The simulated network of this runtime.
    [[nodiscard]] Network& network() noexcept { return *network_; }

    /// A generator for the simulated code's own random choices, seeded from
    /// the runtime's seed (its draws do not disturb the schedule's).
    [[nodiscard]] Rng& rng() noexcept { return user_rng_; }

    /// The simulation running on this thread, or null outside one.
    [[nodiscard]] static Runtime* current() noexcept;
    /// The host whose handler is running now (0 outside a handler).
    [[nodiscard]] static HostId current_host() noexcept;

    /// The io_context that owns the simulation's tasks. It never runs.
    [[nodiscard]] boost::asio::io_context& io_context() noexcept { return *io_; }

private:
    friend void detail::enqueue(Runtime&, HostId, std::unique_ptr<detail::Handler>);

    struct Ready {
        std::unique_ptr<detail::Handler> handler;
        HostId host;
    };

    template <class T>
    static bool is_finished(const void* handle) {
        return static_cast<const JoinHandle<T>*>(handle)->is_finished();
    }

    // The loop: until done(arg), run one ready handler chosen by the seeded
    // generator, or move the clock to the next timer, or throw.
    void run_until(bool (*done)(const void*), const void* arg);
    void report_failure(std::exception_ptr e) const noexcept;

    std::uint64_t seed_;
    std::thread::id owner_; // the only thread that may queue handlers
    Rng schedule_rng_;
    Rng user_rng_;
    std::uint64_t steps_ = 0;
    time::Duration time_limit_;
    time::Instant start_;
    // Declared before io_ so that handlers queued while the io_context shuts
    // down still find the list.
    std::vector<Ready> ready_;
    std::unique_ptr<boost::asio::io_context> io_;
    std::unique_ptr<Network> network_;
};

} // namespace pollux::sim
