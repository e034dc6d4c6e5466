#include <pollux/core/async.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/barrier.hpp>

#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

using namespace pollux;
using namespace pollux::sync;

using WaitTask = test::MockTask<Barrier::Wait>;

TEST_CASE("Barrier wait releases all n waiters with exactly one leader", "[sync][barrier]") {
    STATIC_REQUIRE(Future<Barrier::Wait>);
    Barrier b(3);
    WaitTask a(b.wait());
    WaitTask c(b.wait());
    REQUIRE(a.poll().is_pending());
    REQUIRE(c.poll().is_pending());
    WaitTask last(b.wait());
    auto r = last.poll();
    REQUIRE(r.is_ready());
    REQUIRE(r.value().is_leader());
    REQUIRE(a.is_woken());
    REQUIRE(c.is_woken());
    REQUIRE_FALSE(a.poll().value().is_leader());
    REQUIRE_FALSE(c.poll().value().is_leader());
}

TEST_CASE("Barrier wait can be reused for the next generation", "[sync][barrier]") {
    Barrier b(2);
    for (int round = 0; round < 3; ++round) {
        WaitTask a(b.wait());
        REQUIRE(a.poll().is_pending());
        WaitTask c(b.wait());
        REQUIRE(c.poll().value().is_leader());
        REQUIRE_FALSE(a.poll().value().is_leader());
    }
}

TEST_CASE("Barrier wait dropped before the barrier opens withdraws its arrival",
          "[sync][barrier]") {
    Barrier b(2);
    {
        WaitTask gone(b.wait());
        REQUIRE(gone.poll().is_pending());
    }
    WaitTask a(b.wait());
    REQUIRE(a.poll().is_pending()); // still needs a second arrival
    WaitTask c(b.wait());
    REQUIRE(c.poll().is_ready());
    REQUIRE(a.poll().is_ready());
}

TEST_CASE("Barrier of 0 or 1 opens at once", "[sync][barrier]") {
    Barrier b(0);
    WaitTask a(b.wait());
    REQUIRE(a.poll().value().is_leader());
}

TEST_CASE("Barrier wait across tasks of a multi-thread Runtime elects one leader per round",
          "[sync][barrier]") {
    Runtime rt(RuntimeOptions{.worker_threads = 4});
    constexpr int tasks = 8;
    auto b = std::make_shared<Barrier>(tasks);
    auto work = [](std::shared_ptr<Barrier> bar) -> Async<int> {
        int leaders = 0;
        for (int round = 0; round < 50; ++round) {
            if ((co_await bar->wait()).is_leader()) {
                ++leaders;
            }
        }
        co_return leaders;
    };
    std::vector<JoinHandle<int>> hs;
    for (int i = 0; i < tasks; ++i) {
        hs.push_back(rt.spawn(work(b)));
    }
    int leaders = 0;
    for (auto& h : hs) {
        leaders += rt.block_on(std::move(h));
    }
    REQUIRE(leaders == 50);
}
