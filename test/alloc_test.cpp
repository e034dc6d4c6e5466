// Allocation counts per operation. This binary replaces the global operator
// new, so it is its own test executable. It also counts aligned_alloc, which
// Asio's recycling allocator uses for fresh memory.
#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> allocations{0};
}

void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    return operator new(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}

// Interposes the C library's aligned_alloc for this executable; the memory
// is freed with free(), as posix_memalign's is.
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    void* p = nullptr;
    if (alignment < sizeof(void*)) {
        alignment = sizeof(void*);
    }
    return ::posix_memalign(&p, alignment, size) == 0 ? p : nullptr;
}

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
