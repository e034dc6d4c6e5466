// The scheduler against Asio's own queue: waking a task (which posts its
// next poll) against asio::post of a handler, and spawn+join of an empty
// task against a post and its completion (the Asio baselines are in
// asio_baseline.cpp). Each benchmark runs its whole loop inside one
// io_context::run(), as a server does (Asio's recycling allocator caches
// memory per run call).

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
