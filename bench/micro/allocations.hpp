#pragma once

// Allocations per operation, reported next to the times: the process's
// heap allocation count (a counting operator new, see alloc_counter.cpp)
// sampled around a benchmark's loop.

#include <benchmark/benchmark.h>
#include <cstddef>

namespace pollux::bench {

/// Heap allocations made so far by this process (operator new and
/// aligned_alloc).
std::size_t allocations() noexcept;

/// For BENCHMARK(...)->Apply(fixed_iterations): when the environment sets
/// POLLUX_MICRO_ITERATIONS=N, the benchmark runs exactly N iterations, once
/// (bench/micro/instructions.sh counts instructions per operation that
/// way, under callgrind).
void fixed_iterations(benchmark::internal::Benchmark* b);

/// Counts the allocations made during its lifetime and reports them as the
/// counter `allocs/op`: allocations divided by the benchmark's iterations
/// (times `ops_per_iteration`, when one iteration is several operations).
/// Create it right before the measured loop, after the setup.
class CountAllocations {
public:
    explicit CountAllocations(benchmark::State& state, double ops_per_iteration = 1)
        : state_(state), ops_(ops_per_iteration), start_(allocations()) {}

    CountAllocations(const CountAllocations&) = delete;
    CountAllocations& operator=(const CountAllocations&) = delete;

    ~CountAllocations() {
        const double n = static_cast<double>(allocations() - start_);
        const double iterations = static_cast<double>(state_.iterations());
        state_.counters["allocs/op"] = iterations > 0 ? n / (iterations * ops_) : 0;
    }

private:
    benchmark::State& state_;
    double ops_;
    std::size_t start_;
};

} // namespace pollux::bench
