// The scheduler against Asio's own queue: waking a task (which posts its
// next poll) against asio::post of a handler, and spawn+join of an empty
// task against a post and its completion. Each benchmark runs its whole
// loop inside one io_context::run(), as a server does (Asio's recycling
// allocator caches memory per run call).

#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/spawn.hpp>

#include "allocations.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <benchmark/benchmark.h>

namespace asio = boost::asio;

namespace {

// Baseline of wake-and-repoll: a handler that posts itself again, once per
// iteration.
struct Repost {
    asio::io_context* io;
    benchmark::State* state;
    void operator()() const {
        if (state->KeepRunning()) {
            asio::post(*io, Repost{io, state});
        }
    }
};

void BM_asio_post(benchmark::State& state) {
    asio::io_context io(1);
    pollux::bench::CountAllocations allocs(state);
    asio::post(io, Repost{&io, &state});
    io.run();
}
BENCHMARK(BM_asio_post)->Apply(pollux::bench::fixed_iterations);

// A task that wakes itself and returns Pending, once per iteration: each
// iteration is one wake (which schedules the task) and one poll.
void BM_pollux_wake_repoll(benchmark::State& state) {
    asio::io_context io(1);
    pollux::bench::CountAllocations allocs(state);
    pollux::spawn(io.get_executor(),
                  pollux::poll_fn<void>([&state](pollux::Context& cx) -> pollux::Poll<void> {
                      if (!state.KeepRunning()) {
                          return pollux::Ready<void>{};
                      }
                      cx.waker().wake_by_ref();
                      return pollux::Pending{};
                  }));
    io.run();
}
BENCHMARK(BM_pollux_wake_repoll)->Apply(pollux::bench::fixed_iterations);

pollux::Async<> yield_loop(benchmark::State& state) {
    while (state.KeepRunning()) {
        co_await pollux::yield_now();
    }
}

// The same through a coroutine: each iteration is a `co_await yield_now()`
// (which records its await site on the task), one wake and one poll that
// resumes the coroutine.
void BM_pollux_wake_repoll_coro(benchmark::State& state) {
    asio::io_context io(1);
    pollux::bench::CountAllocations allocs(state);
    pollux::spawn(io.get_executor(), yield_loop(state));
    io.run();
}
BENCHMARK(BM_pollux_wake_repoll_coro)->Apply(pollux::bench::fixed_iterations);

// Baseline of spawn+join: post a unit of work, and when it has run, post
// its completion back to the waiting side, which starts the next one.
struct PostAndComplete {
    asio::io_context* io;
    benchmark::State* state;
    void operator()() const {
        if (!state->KeepRunning()) {
            return;
        }
        asio::post(*io, [io = io, state = state] {       // the work: empty
            asio::post(*io, PostAndComplete{io, state}); // its completion
        });
    }
};

void BM_asio_post_and_complete(benchmark::State& state) {
    asio::io_context io(1);
    pollux::bench::CountAllocations allocs(state);
    asio::post(io, PostAndComplete{&io, &state});
    io.run();
}
BENCHMARK(BM_asio_post_and_complete)->Apply(pollux::bench::fixed_iterations);

pollux::Async<> spawn_join_loop(benchmark::State& state) {
    while (state.KeepRunning()) {
        co_await pollux::spawn(pollux::ready());
    }
}

// A task that spawns an empty task and awaits its JoinHandle, once per
// iteration.
void BM_pollux_spawn_join(benchmark::State& state) {
    asio::io_context io(1);
    pollux::bench::CountAllocations allocs(state);
    pollux::spawn(io.get_executor(), spawn_join_loop(state));
    io.run();
}
BENCHMARK(BM_pollux_spawn_join)->Apply(pollux::bench::fixed_iterations);

} // namespace
