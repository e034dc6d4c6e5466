// Allocation counts per operation. This binary replaces the global operator
// new, so it is its own test executable. It also counts aligned_alloc, which
// Asio's recycling allocator uses for fresh memory.
#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/join_all.hpp>
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
#include <utility>
#include <vector>

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

TEST_CASE("spawn of a ready future awaited in a task reuses the task memory after warm-up",
          "[scheduler][spawn][alloc]") {
    // The task's block comes from the thread's recycling cache, and the
    // joined task gives it back before the next spawn (finding 5 of
    // docs/performance.md).
    Runtime rt;
    auto body = []() -> Async<std::size_t> {
        for (int i = 0; i < 100; ++i) { // warm-up
            co_await spawn(ready(i));
        }
        const std::size_t before = allocations.load();
        for (int i = 0; i < 1000; ++i) {
            co_await spawn(ready(i));
        }
        co_return allocations.load() - before;
    };
    REQUIRE(rt.block_on(body()) == 0);
}

namespace {
// Allocations of one join_all of n ready futures, polled to the end
// (building the input vector is not counted).
std::size_t join_all_allocations(int n) {
    std::vector<ReadyFuture<int>> v;
    v.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        v.push_back(ready(i));
    }
    Context cx(Waker::noop());
    std::size_t outputs = 0;
    const std::size_t before = allocations.load();
    {
        auto f = join_all(std::move(v));
        auto p = f.poll(cx);
        outputs = p.is_ready() ? p.value().size() : 0;
    }
    const std::size_t made = allocations.load() - before;
    REQUIRE(outputs == static_cast<std::size_t>(n));
    return made;
}
} // namespace

TEST_CASE("join_all of ready futures makes one allocation, the returned vector",
          "[core][join_all][alloc]") {
    // Children ready at once are polled in the input vector and keep no
    // waker: no block for wakers is made (docs/decisions.md).
    (void)join_all_allocations(10); // warm-up: one-time allocations of the first use
    CHECK(join_all_allocations(10) == 1);
    CHECK(join_all_allocations(1000) == 1);
}

namespace {
// A child that keeps its waker and waits for one wake.
struct WaitOnce {
    using Output = int;
    int id;
    bool waited = false;
    Waker* keep;
    Poll<int> poll(Context& cx) {
        if (waited) {
            return Ready{id};
        }
        waited = true;
        keep[id] = cx.waker();
        return Pending{};
    }
};

// Allocations of one join_all of n children that each wait for one wake.
std::size_t join_all_waiting_allocations(int n) {
    std::vector<Waker> wakers(static_cast<std::size_t>(n), Waker::noop());
    std::vector<WaitOnce> v;
    v.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        v.push_back(WaitOnce{i, false, wakers.data()});
    }
    Context cx(Waker::noop());
    std::size_t outputs = 0;
    const std::size_t before = allocations.load();
    {
        auto f = join_all(std::move(v));
        REQUIRE(f.poll(cx).is_pending());
        for (auto& w : wakers) {
            std::exchange(w, Waker::noop()).wake();
        }
        auto p = f.poll(cx);
        outputs = p.is_ready() ? p.value().size() : 0;
    }
    const std::size_t made = allocations.load() - before;
    REQUIRE(outputs == static_cast<std::size_t>(n));
    return made;
}
} // namespace

TEST_CASE("join_all of waiting futures makes two allocations, the vector and one block",
          "[core][join_all][alloc]") {
    (void)join_all_waiting_allocations(10); // warm-up
    CHECK(join_all_waiting_allocations(10) == 2);
    CHECK(join_all_waiting_allocations(1000) == 2);
}
