#include <pollux/uv/async_handle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;

TEST_CASE("uv AsyncHandle send from 8 threads coalesces and never loses the last send",
          "[uv][async][threads]") {
    constexpr int threads = 8;
    constexpr int sends_per_thread = 10000;
    constexpr int total = threads * sends_per_thread;

    uv::Loop loop;
    std::atomic<int> sent{0};
    int async_cb_called = 0;
    int close_cb_called = 0;
    int last_seen = 0;
    uv::AsyncHandle async(loop, [&] {
        ++async_cb_called;
        // Every send() happens after its increment, so the callback that
        // follows the last send sees them all.
        last_seen = sent.load();
        if (last_seen == total) {
            async.close([&] { ++close_cb_called; });
        }
    });
    REQUIRE(async.is_active());

    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t) {
        senders.emplace_back([&] {
            for (int i = 0; i < sends_per_thread; ++i) {
                sent.fetch_add(1);
                async.send();
            }
        });
    }
    REQUIRE(loop.run() == 0);
    for (auto& s : senders) {
        s.join();
    }
    REQUIRE(last_seen == total);
    REQUIRE(async_cb_called >= 1);
    REQUIRE(async_cb_called <= total);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv AsyncHandle sends before the callback runs coalesce into one call", "[uv][async]") {
    uv::Loop loop;
    int async_cb_called = 0;
    uv::AsyncHandle async(loop, [&] { ++async_cb_called; });
    async.send();
    async.send();
    async.send();
    REQUIRE(async_cb_called == 0); // never inside send()
    REQUIRE(loop.run(uv::RunMode::NoWait) == 1);
    REQUIRE(async_cb_called == 1);
    async.close();
    async.send(); // ignored after close
    REQUIRE(loop.run() == 0);
    REQUIRE(async_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv AsyncHandle unreferenced does not keep the loop alive", "[uv][async][unref]") {
    uv::Loop loop;
    int async_cb_called = 0;
    uv::AsyncHandle async(loop, [&] { ++async_cb_called; });
    async.unref();
    REQUIRE(loop.run() == 0);
    // A send wakes a blocked loop from another thread.
    async.ref();
    std::thread t([&] {
        std::this_thread::sleep_for(10ms);
        async.send();
    });
    REQUIRE(loop.run(uv::RunMode::Once) == 1);
    t.join();
    REQUIRE(async_cb_called == 1);
    async.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv AsyncHandle destroyed with a send in flight calls nothing", "[uv][async][close]") {
    uv::Loop loop;
    int async_cb_called = 0;
    {
        uv::AsyncHandle async(loop, [&] { ++async_cb_called; });
        async.send();
    }
    REQUIRE(loop.run(uv::RunMode::NoWait) == 0);
    REQUIRE(async_cb_called == 0);
    require_loop_quiescent(loop);
}
