// Allocation counts per operation. This binary replaces the global operator
// new, so it is its own test executable. It also counts aligned_alloc, which
// Asio's recycling allocator uses for fresh memory.
#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/alloc_counter.hpp"

#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <new>

using pollux::test::allocations;

using namespace pollux;
namespace asio = boost::asio;

TEST_CASE("use_future timer waits allocate nothing per operation after warm-up",
          "[asio][use_future][alloc]") {
    Runtime rt;
    auto body = [](asio::io_context& io) -> Async<std::size_t> {
        asio::steady_timer timer(io);
        for (int i = 0; i < 100; ++i) { // warm-up: fills Asio's recycling caches
            timer.expires_after(std::chrono::seconds(0));
            (void)co_await timer.async_wait(use_future);
        }
        const std::size_t before = allocations.load();
        for (int i = 0; i < 10'000; ++i) {
            timer.expires_after(std::chrono::seconds(0));
            (void)co_await timer.async_wait(use_future);
        }
        co_return allocations.load() - before;
    };
    REQUIRE(rt.block_on(body(rt.io_context())) == 0);
}

TEST_CASE("spawn of a ready future costs at most two allocations", "[scheduler][spawn][alloc]") {
    Runtime rt;
    auto body = []() -> Async<std::size_t> {
        for (int i = 0; i < 100; ++i) { // warm-up
            co_await spawn(ready(i));
        }
        const std::size_t before = allocations.load();
        constexpr int n = 1000;
        for (int i = 0; i < n; ++i) {
            co_await spawn(ready(i));
        }
        co_return (allocations.load() - before + n - 1) / n;
    };
    REQUIRE(rt.block_on(body()) <= 2);
}
