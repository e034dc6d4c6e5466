// mpsc: one send and one receive per iteration through the futures
// (`send(v)`, `recv()`), polled directly with a no-op waker; the channel
// never fills, so neither side waits.

#include <pollux/core/context.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/sync/mpsc.hpp>

#include "allocations.hpp"

#include <benchmark/benchmark.h>

namespace {

void BM_pollux_mpsc_send_recv(benchmark::State& state) {
    auto [tx, rx] = pollux::sync::mpsc::channel<int>(1024);
    pollux::Context cx(pollux::Waker::noop());
    pollux::bench::CountAllocations allocs(state);
    int i = 0;
    for (auto _ : state) {
        auto s = tx.send(i++);
        auto sp = s.poll(cx);
        auto r = rx.recv();
        auto rp = r.poll(cx);
        benchmark::DoNotOptimize(sp);
        benchmark::DoNotOptimize(rp);
    }
}
BENCHMARK(BM_pollux_mpsc_send_recv);

void BM_pollux_mpsc_unbounded_send_recv(benchmark::State& state) {
    auto [tx, rx] = pollux::sync::mpsc::unbounded_channel<int>();
    pollux::Context cx(pollux::Waker::noop());
    pollux::bench::CountAllocations allocs(state);
    int i = 0;
    for (auto _ : state) {
        auto sent = tx.send(i++);
        auto r = rx.recv();
        auto rp = r.poll(cx);
        benchmark::DoNotOptimize(sent);
        benchmark::DoNotOptimize(rp);
    }
}
BENCHMARK(BM_pollux_mpsc_unbounded_send_recv);

} // namespace
