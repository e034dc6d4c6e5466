// Allocation counts of pollux::time. This binary replaces the global
// operator new, so it is its own test executable (as alloc_test is). It also
// counts aligned_alloc: Asio's recycling allocator gets fresh memory from
// std::aligned_alloc, not operator new, so a recycling cache miss would go
// unseen by operator new alone.
#include <pollux/core/async.hpp>
#include <pollux/runtime.hpp>
#include <pollux/time.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <stdlib.h>

using pollux::test::allocations;

using namespace pollux;
using namespace std::chrono_literals;

// Runs `body()` on a Runtime with `workers` worker threads and returns its
// output (the allocations it counted).
template <class Body>
std::size_t run_with(std::size_t workers, Body body) {
    RuntimeOptions opts;
    opts.worker_threads = workers;
    Runtime rt(opts);
    return rt.block_on(body());
}

TEST_CASE("sleep of zero allocates nothing per await after warm-up", "[time][sleep][alloc]") {
    const std::size_t workers = GENERATE(0, 1);
    auto body = []() -> Async<std::size_t> {
        for (int i = 0; i < 100; ++i) {
            co_await time::sleep(0ms);
        }
        const std::size_t before = allocations.load();
        for (int i = 0; i < 10'000; ++i) {
            co_await time::sleep(0ms);
        }
        co_return allocations.load() - before;
    };
    REQUIRE(run_with(workers, body) == 0);
}

TEST_CASE("sleep through its timer allocates nothing per await after warm-up",
          "[time][sleep][alloc]") {
    const std::size_t workers = GENERATE(0, 1);
    // 50us is long enough that the first poll finds the deadline ahead and
    // arms the timer; either path must allocate nothing.
    auto body = []() -> Async<std::size_t> {
        for (int i = 0; i < 100; ++i) {
            co_await time::sleep(50us);
        }
        const std::size_t before = allocations.load();
        for (int i = 0; i < 2'000; ++i) {
            co_await time::sleep(50us);
        }
        co_return allocations.load() - before;
    };
    REQUIRE(run_with(workers, body) == 0);
}

// On a worker thread only: the current-thread Runtime drives its loop with
// io_context::run_one(), and Asio keeps its recycling cache in a
// thread_info that lives for one run_one() call, so memory freed by one
// handler is not reused by the next. The sleep loops above happen to pair
// every allocation with a free in the same handler; an interval's mix of
// immediate and timer ticks does not, and misses that cache now and then.
TEST_CASE("interval ticks allocate nothing per tick after warm-up", "[time][interval][alloc]") {
    auto body = []() -> Async<std::size_t> {
        for (int i = 0; i < 100; ++i) {
            co_await time::sleep(50us);
        }
        auto iv = time::interval(50us);
        for (int i = 0; i < 100; ++i) {
            (void)co_await iv.tick();
        }
        const std::size_t before = allocations.load();
        for (int i = 0; i < 2'000; ++i) {
            (void)co_await iv.tick();
        }
        co_return allocations.load() - before;
    };
    REQUIRE(run_with(1, body) == 0);
}
