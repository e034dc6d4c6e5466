// Combinators polled directly (no loop): join of 2, 100 and 10,000 ready
// futures, select of 2, and FuturesUnordered draining 10,000 children.
// Figures are per whole operation; items/s counts the children.

#include <pollux/core/context.hpp>
#include <pollux/core/futures_unordered.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/join_all.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/select.hpp>
#include <pollux/core/waker.hpp>

#include "allocations.hpp"

#include <benchmark/benchmark.h>
#include <cstdint>
#include <vector>

namespace {

void BM_pollux_join_2_ready(benchmark::State& state) {
    pollux::Context cx(pollux::Waker::noop());
    pollux::bench::CountAllocations allocs(state);
    for (auto _ : state) {
        auto f = pollux::join(pollux::ready(1), pollux::ready(2));
        auto p = f.poll(cx);
        benchmark::DoNotOptimize(p);
    }
    state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_pollux_join_2_ready);

// join_all of N ready futures; building the input vector is not measured.
void BM_pollux_join_all_ready(benchmark::State& state) {
    const auto n = static_cast<int>(state.range(0));
    pollux::Context cx(pollux::Waker::noop());
    std::size_t allocs = 0;
    for (auto _ : state) {
        state.PauseTiming();
        std::vector<pollux::ReadyFuture<int>> v;
        v.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            v.push_back(pollux::ready(i));
        }
        const std::size_t before = pollux::bench::allocations();
        state.ResumeTiming();
        auto f = pollux::join_all(std::move(v));
        auto p = f.poll(cx);
        benchmark::DoNotOptimize(p);
        allocs += pollux::bench::allocations() - before;
    }
    state.SetItemsProcessed(state.iterations() * n);
    state.counters["allocs/op"] =
        static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_pollux_join_all_ready)->Arg(100)->Arg(10000);

// Two branches, one ready: the ready one wins whichever is polled first.
void BM_pollux_select_2(benchmark::State& state) {
    pollux::Context cx(pollux::Waker::noop());
    pollux::bench::CountAllocations allocs(state);
    for (auto _ : state) {
        auto f = pollux::select(pollux::ready(1), pollux::pending<int>());
        auto p = f.poll(cx);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(BM_pollux_select_2);

// Push 10,000 ready children, then drain them all with poll_next.
void BM_pollux_futures_unordered_10000(benchmark::State& state) {
    constexpr int n = 10000;
    pollux::Context cx(pollux::Waker::noop());
    pollux::bench::CountAllocations allocs(state);
    for (auto _ : state) {
        pollux::FuturesUnordered<pollux::ReadyFuture<int>> set;
        for (int i = 0; i < n; ++i) {
            set.push(pollux::ready(i));
        }
        std::int64_t sum = 0;
        for (;;) {
            auto p = set.poll_next(cx);
            if (p.is_pending() || !p.value()) {
                break;
            }
            sum += *p.value();
        }
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_pollux_futures_unordered_10000);

} // namespace
