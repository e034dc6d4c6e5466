#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/rw_lock.hpp>

#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

using namespace pollux;
using namespace pollux::sync;

TEST_CASE("RwLock read admits many readers at once", "[sync][rw_lock]") {
    STATIC_REQUIRE(Future<RwLock<int>::Read>);
    STATIC_REQUIRE(Future<RwLock<int>::Write>);
    RwLock<int> l(3);
    auto r1 = block_on(l.read());
    auto r2 = block_on(l.read());
    auto r3 = l.try_read();
    REQUIRE((*r1 == 3 && *r2 == 3 && **r3 == 3));
    REQUIRE(l.try_write().error() == TryLockError::would_block);
}

TEST_CASE("RwLock write waits for readers and excludes everyone", "[sync][rw_lock]") {
    RwLock<int> l(0);
    auto r = l.try_read();
    test::MockTask w(l.write());
    REQUIRE(w.poll().is_pending());
    { auto release = std::move(*r); }
    REQUIRE(w.is_woken());
    auto g = w.poll();
    REQUIRE(g.is_ready());
    *g.value() = 5;
    REQUIRE_FALSE(l.try_read().has_value());
    REQUIRE_FALSE(l.try_write().has_value());
}

TEST_CASE("RwLock write queued behind readers holds back later readers", "[sync][rw_lock]") {
    RwLock<int> l(0);
    auto r1 = l.try_read();
    test::MockTask w(l.write());
    REQUIRE(w.poll().is_pending());
    // A reader arriving after the writer waits (writer-preferring)...
    REQUIRE_FALSE(l.try_read().has_value());
    test::MockTask r2(l.read());
    REQUIRE(r2.poll().is_pending());
    { auto release = std::move(*r1); }
    REQUIRE(w.is_woken());
    REQUIRE_FALSE(r2.is_woken());
    {
        auto g = w.poll();
        REQUIRE(g.is_ready());
    } // ...and gets in once the writer is done.
    REQUIRE(r2.is_woken());
    REQUIRE(r2.poll().is_ready());
}

TEST_CASE("RwLock write future dropped while queued lets the readers behind it in",
          "[sync][rw_lock]") {
    RwLock<int> l(0);
    auto r1 = l.try_read();
    auto w = std::make_unique<test::MockTask<RwLock<int>::Write>>(l.write());
    REQUIRE(w->poll().is_pending());
    test::MockTask r2(l.read());
    REQUIRE(r2.poll().is_pending());
    w.reset();
    REQUIRE(r2.is_woken());
    REQUIRE(r2.poll().is_ready());
}

TEST_CASE("RwLock keeps writers exclusive across a multi-thread Runtime", "[sync][rw_lock]") {
    Runtime rt(RuntimeOptions{.worker_threads = 4});
    auto l = std::make_shared<RwLock<std::pair<long, long>>>();
    auto writer = [](std::shared_ptr<RwLock<std::pair<long, long>>> lk) -> Async<> {
        for (int i = 0; i < 500; ++i) {
            auto g = co_await lk->write();
            ++g->first;
            co_await yield_now();
            ++g->second;
        }
    };
    auto reader = [](std::shared_ptr<RwLock<std::pair<long, long>>> lk) -> Async<bool> {
        bool consistent = true;
        for (int i = 0; i < 500; ++i) {
            auto g = co_await lk->read();
            consistent = consistent && g->first == g->second;
        }
        co_return consistent;
    };
    std::vector<JoinHandle<void>> ws;
    std::vector<JoinHandle<bool>> rs;
    for (int t = 0; t < 4; ++t) {
        ws.push_back(rt.spawn(writer(l)));
        rs.push_back(rt.spawn(reader(l)));
    }
    for (auto& h : ws) {
        rt.block_on(std::move(h));
    }
    for (auto& h : rs) {
        REQUIRE(rt.block_on(std::move(h)));
    }
    REQUIRE(l->get_mut().first == 2000);
}
