// Timers through the loop: pollux::time::sleep against a raw
// steady_timer (arm and fire, 1 ms deadline, so both go through the
// reactor's timer queue and the kernel wait even when valgrind slows the
// program down 50x: with a shorter one, sleep finds its deadline passed on
// its first poll and arms nothing), and a steady_timer awaited
// with pollux::use_future against the same wait with a plain handler
// (deadline already passed: the cost is the bridge, not the wait).

#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include "allocations.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <benchmark/benchmark.h>
#include <chrono>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct Rearm {
    asio::steady_timer* timer;
    benchmark::State* state;
    std::chrono::nanoseconds after;
    void operator()(boost::system::error_code) const {
        if (state->KeepRunning()) {
            timer->expires_after(after);
            timer->async_wait(*this);
        }
    }
};

void BM_asio_timer_arm_fire(benchmark::State& state) {
    asio::io_context io(1);
    asio::steady_timer timer(io);
    pollux::bench::CountAllocations allocs(state);
    Rearm{&timer, &state, 1ms}(boost::system::error_code());
    io.run();
}
BENCHMARK(BM_asio_timer_arm_fire)->Apply(pollux::bench::fixed_iterations);

pollux::Async<> sleep_loop(benchmark::State& state) {
    while (state.KeepRunning()) {
        co_await pollux::time::sleep(1ms);
    }
}

void BM_pollux_timer_arm_fire(benchmark::State& state) {
    asio::io_context io(1);
    pollux::bench::CountAllocations allocs(state);
    pollux::spawn(io.get_executor(), sleep_loop(state));
    io.run();
}
BENCHMARK(BM_pollux_timer_arm_fire)->Apply(pollux::bench::fixed_iterations);

void BM_asio_timer_wait_handler(benchmark::State& state) {
    asio::io_context io(1);
    asio::steady_timer timer(io);
    pollux::bench::CountAllocations allocs(state);
    Rearm{&timer, &state, 0ns}(boost::system::error_code());
    io.run();
}
BENCHMARK(BM_asio_timer_wait_handler)->Apply(pollux::bench::fixed_iterations);

pollux::Async<> use_future_loop(benchmark::State& state, asio::steady_timer& timer) {
    while (state.KeepRunning()) {
        timer.expires_after(0ns);
        (void)co_await timer.async_wait(pollux::use_future);
    }
}

void BM_pollux_timer_wait_use_future(benchmark::State& state) {
    asio::io_context io(1);
    asio::steady_timer timer(io);
    pollux::bench::CountAllocations allocs(state);
    pollux::spawn(io.get_executor(), use_future_loop(state, timer));
    io.run();
}
BENCHMARK(BM_pollux_timer_wait_use_future)->Apply(pollux::bench::fixed_iterations);

} // namespace
