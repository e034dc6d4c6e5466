// The Asio baselines of scheduler.cpp: asio::post of a handler, and a post
// and its completion. They live in a translation unit of their own, with
// no pollux header in it, because Asio's queue is header code: the
// compiler's inlining decisions for it depend on everything else in the
// same file, and next to pollux's templates the same two loops measured
// 490 or 521 instructions per iteration depending on pollux's headers.
// Here they compile as a plain Asio program would. Each runs its whole
// loop inside one io_context::run(), as a server does.

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

} // namespace
