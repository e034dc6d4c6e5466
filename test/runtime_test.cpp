#include <pollux/core/async.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/futures.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace pollux;

namespace {

Async<int> seven() {
    co_return 7;
}

// Pending until it has been woken `needed` times (from any thread); counts
// its completions so a test can check "exactly once".
struct CountdownWakes {
    using Output = void;
    std::shared_ptr<std::atomic<int>> wakes_seen;
    std::shared_ptr<std::vector<Waker>> publish; // where the test finds our waker
    std::shared_ptr<std::atomic<int>> completions;
    int needed;
    bool published = false;
    Poll<void> poll(Context& cx) {
        if (!published) {
            published = true;
            publish->push_back(cx.waker());
        }
        if (wakes_seen->load() >= needed) {
            completions->fetch_add(1);
            return Ready<void>{};
        }
        return Pending{};
    }
};

} // namespace

TEST_CASE("Runtime block_on returns the future's output", "[runtime]") {
    Runtime rt;
    REQUIRE(rt.block_on(seven()) == 7);
}

TEST_CASE("Runtime block_on rethrows the future's exception", "[runtime]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        throw std::runtime_error("main failed");
        co_return 0;
    };
    REQUIRE_THROWS_WITH(rt.block_on(body()), "main failed");
}

TEST_CASE("Runtime current-thread runs every task on the calling thread", "[runtime]") {
    Runtime rt;
    const auto me = std::this_thread::get_id();
    // The coroutine lambdas capture nothing: a capturing lambda called as a
    // temporary would leave the coroutine pointing at a dead closure.
    auto on_thread = [](std::thread::id id) -> Async<bool> {
        co_return std::this_thread::get_id() == id;
    };
    auto body = [&]() -> Async<bool> {
        auto h = spawn(on_thread(me));
        co_return co_await h&& std::this_thread::get_id() == me;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("Runtime spawn before block_on runs during the next block_on", "[runtime]") {
    Runtime rt;
    bool ran = false;
    auto set = [](bool& flag) -> Async<> {
        flag = true;
        co_return;
    };
    auto h = rt.spawn(set(ran));
    REQUIRE_FALSE(ran);
    rt.block_on(std::move(h));
    REQUIRE(ran);
}

TEST_CASE("Runtime block_on can be called again after it returned", "[runtime]") {
    Runtime rt;
    REQUIRE(rt.block_on(seven()) == 7);
    REQUIRE(rt.block_on(seven()) == 7);
}

TEST_CASE("Runtime multi-thread runs tasks on its worker threads", "[runtime][multi_thread]") {
    Runtime rt(RuntimeOptions{.worker_threads = 2});
    const auto me = std::this_thread::get_id();
    auto body = [&]() -> Async<bool> { co_return std::this_thread::get_id() != me; };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("Runtime destructor drops a task that holds its own waker", "[runtime][shutdown]") {
    auto dropped = std::make_shared<std::atomic<bool>>(false);
    {
        Runtime rt;
        auto h = rt.spawn(test::HoldsOwnWaker(dropped));
        rt.block_on(yield_now()); // lets the task run and park on itself
        REQUIRE_FALSE(dropped->load());
        REQUIRE(rt.live_tasks() == 1);
    }
    REQUIRE(dropped->load());
}

TEST_CASE("Runtime destructor makes pending JoinHandles report TaskCancelled",
          "[runtime][shutdown]") {
    auto dropped = std::make_shared<std::atomic<bool>>(false);
    std::optional<JoinHandle<int>> h;
    {
        Runtime rt;
        h.emplace(rt.spawn(test::PendingForever(dropped)));
        rt.block_on(yield_now());
    }
    REQUIRE(dropped->load());
    REQUIRE(h->is_finished());
    REQUIRE_THROWS_AS(block_on(std::move(*h)), TaskCancelled);
}

TEST_CASE("Runtime multi-thread wake storm completes every task exactly once",
          "[runtime][multi_thread][stress]") {
    constexpr int tasks = 200;
    constexpr int wakers = 4;
    constexpr int needed = 50;
    Runtime rt(RuntimeOptions{.worker_threads = 4});
    auto completions = std::make_shared<std::atomic<int>>(0);
    std::vector<std::shared_ptr<std::atomic<int>>> seen;
    std::vector<std::shared_ptr<std::vector<Waker>>> published;
    std::vector<JoinHandle<void>> handles;
    for (int i = 0; i < tasks; ++i) {
        seen.push_back(std::make_shared<std::atomic<int>>(0));
        published.push_back(std::make_shared<std::vector<Waker>>());
        handles.push_back(
            rt.spawn(CountdownWakes{seen.back(), published.back(), completions, needed}));
    }
    // Wait until every task has published its waker (each was polled once).
    for (auto& p : published) {
        while (true) {
            auto t = block_on(rt.spawn([p]() -> Async<bool> { co_return !p->empty(); }()));
            if (t) {
                break;
            }
            std::this_thread::yield();
        }
    }
    // Many threads wake the same and different tasks, concurrently.
    std::vector<std::thread> threads;
    for (int w = 0; w < wakers; ++w) {
        threads.emplace_back([&, w] {
            for (int round = 0; round < needed; ++round) {
                for (int i = 0; i < tasks; ++i) {
                    const int t = (i + w) % tasks;
                    if (w == 0) {
                        seen[t]->fetch_add(1);
                    }
                    published[t]->front().wake_by_ref();
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (auto& h : handles) {
        block_on(std::move(h));
    }
    REQUIRE(completions->load() == tasks);
}

TEST_CASE("run drives a future on a fresh current-thread runtime", "[runtime]") {
    REQUIRE(run(seven()) == 7);
}
