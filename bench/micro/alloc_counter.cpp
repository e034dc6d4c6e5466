// The one translation unit of pollux_micro that replaces the global
// operator new with the counting one the allocation tests use.

#include "../../test/support/alloc_counter.hpp"

#include "allocations.hpp"

#include <cstdlib>

namespace pollux::bench {

std::size_t allocations() noexcept {
    return pollux::test::allocations.load(std::memory_order_relaxed);
}

void fixed_iterations(benchmark::internal::Benchmark* b) {
    if (const char* n = std::getenv("POLLUX_MICRO_ITERATIONS")) {
        b->Iterations(std::atoll(n));
    }
}

} // namespace pollux::bench
