#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/mutex.hpp>

#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

using namespace pollux;
using namespace pollux::sync;

using LockTask = test::MockTask<Mutex<std::vector<int>>::Lock>;

TEST_CASE("Mutex lock gives exclusive access until the guard is dropped", "[sync][mutex]") {
    STATIC_REQUIRE(Future<Mutex<int>::Lock>);
    Mutex<int> m(1);
    {
        auto g = block_on(m.lock());
        *g += 1;
        REQUIRE(m.try_lock().error() == TryLockError::would_block);
    }
    auto g = m.try_lock();
    REQUIRE(g.has_value());
    REQUIRE(**g == 2);
}

TEST_CASE("Mutex lock is handed to waiters in FIFO order", "[sync][mutex]") {
    Mutex<std::vector<int>> m;
    auto held = m.try_lock();
    REQUIRE(held.has_value());
    std::vector<std::unique_ptr<LockTask>> waiting;
    for (int i = 0; i < 5; ++i) {
        waiting.push_back(std::make_unique<LockTask>(m.lock()));
        REQUIRE(waiting.back()->poll().is_pending());
    }
    { auto release = std::move(*held); }
    for (int i = 0; i < 5; ++i) {
        auto& t = *waiting[static_cast<std::size_t>(i)];
        REQUIRE(t.is_woken());
        for (std::size_t j = static_cast<std::size_t>(i) + 1; j < waiting.size(); ++j) {
            REQUIRE_FALSE(waiting[j]->is_woken());
        }
        auto g = t.poll();
        REQUIRE(g.is_ready());
        g.value()->push_back(i);
        // try_lock cannot jump the queue while others wait.
        if (i < 4) {
            REQUIRE_FALSE(m.try_lock().has_value());
        }
    }
    REQUIRE(*m.try_lock().value() == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("Mutex lock future dropped after the lock was handed to it passes the lock on",
          "[sync][mutex]") {
    Mutex<std::vector<int>> m;
    auto held = m.try_lock();
    auto first = std::make_unique<LockTask>(m.lock());
    LockTask second(m.lock());
    REQUIRE(first->poll().is_pending());
    REQUIRE(second.poll().is_pending());
    { auto release = std::move(*held); }
    REQUIRE(first->is_woken());
    first.reset();
    REQUIRE(second.is_woken());
    REQUIRE(second.poll().is_ready());
}

TEST_CASE("Mutex lock guards a counter across tasks of a multi-thread Runtime", "[sync][mutex]") {
    Runtime rt(RuntimeOptions{.worker_threads = 4});
    auto m = std::make_shared<Mutex<long>>(0);
    auto work = [](std::shared_ptr<Mutex<long>> mu) -> Async<> {
        for (int i = 0; i < 1000; ++i) {
            auto g = co_await mu->lock();
            const long v = *g;
            if (i % 7 == 0) {
                co_await yield_now(); // hold the lock across a suspension
            }
            *g = v + 1;
        }
    };
    std::vector<JoinHandle<void>> hs;
    for (int t = 0; t < 8; ++t) {
        hs.push_back(rt.spawn(work(m)));
    }
    for (auto& h : hs) {
        rt.block_on(std::move(h));
    }
    REQUIRE(m->get_mut() == 8000);
}
