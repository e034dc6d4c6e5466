#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/task_tracker.hpp>

#include "support/futures.hpp"
#include "support/mock_task.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;

namespace {

using WaitTask = test::MockTask<TaskTrackerWait>;

Async<int> value_after(std::shared_ptr<test::Gate> gate, int v) {
    co_await test::wait(std::move(gate));
    co_return v;
}

Async<void> yields(int n, std::shared_ptr<std::atomic<int>> finished) {
    for (int i = 0; i < n; ++i) {
        co_await yield_now();
    }
    finished->fetch_add(1);
}

} // namespace

TEST_CASE("TaskTracker wait completes when closed and the last task finishes",
          "[scheduler][task_tracker]") {
    STATIC_REQUIRE(Future<TaskTrackerWait>);
    TaskTracker tracker;
    std::optional<TaskTrackerToken> a(tracker.token());
    std::optional<TaskTrackerToken> b(tracker.token());
    REQUIRE(tracker.len() == 2);
    WaitTask w(tracker.wait());
    REQUIRE(w.poll().is_pending());
    REQUIRE(tracker.close());
    REQUIRE_FALSE(w.is_woken());
    a.reset();
    REQUIRE_FALSE(w.is_woken());
    b.reset();
    REQUIRE(w.is_woken());
    REQUIRE(w.poll().is_ready());
    REQUIRE(tracker.is_empty());
}

TEST_CASE("TaskTracker wait completes at once when closed and empty", "[scheduler][task_tracker]") {
    TaskTracker tracker;
    REQUIRE(tracker.close());
    REQUIRE_FALSE(tracker.close()); // already closed
    REQUIRE(tracker.is_closed());
    WaitTask w(tracker.wait());
    REQUIRE(w.poll().is_ready());
}

TEST_CASE("TaskTracker wait does not complete while open, even when empty",
          "[scheduler][task_tracker]") {
    TaskTracker tracker;
    WaitTask w(tracker.wait());
    REQUIRE(w.poll().is_pending());
    { TaskTrackerToken t = tracker.token(); }
    REQUIRE_FALSE(w.is_woken());
    tracker.close();
    REQUIRE(w.is_woken());
    REQUIRE(w.poll().is_ready());
}

TEST_CASE("TaskTracker reopen makes wait wait again", "[scheduler][task_tracker]") {
    TaskTracker tracker;
    std::optional<TaskTrackerToken> t(tracker.token());
    tracker.close();
    REQUIRE(tracker.reopen());
    REQUIRE_FALSE(tracker.reopen());
    WaitTask w(tracker.wait());
    REQUIRE(w.poll().is_pending());
    t.reset();
    REQUIRE_FALSE(w.is_woken());
    REQUIRE(w.poll().is_pending());
    tracker.close();
    REQUIRE(w.poll().is_ready());
}

TEST_CASE("TaskTracker copies share one count", "[scheduler][task_tracker]") {
    TaskTracker a;
    TaskTracker b = a;
    TaskTrackerToken t = b.token();
    REQUIRE(a.len() == 1);
    b.close();
    REQUIRE(a.is_closed());
}

TEST_CASE("TaskTracker track_future counts the future until it is destroyed",
          "[scheduler][task_tracker]") {
    TaskTracker tracker;
    auto gate = std::make_shared<test::Gate>();
    std::optional<TrackedFuture<Async<int>>> f(tracker.track_future(value_after(gate, 3)));
    REQUIRE(tracker.len() == 1);
    gate->open();
    REQUIRE(block_on(std::move(*f)) == 3);
    f.reset();
    REQUIRE(tracker.len() == 0);
}

TEST_CASE("TaskTracker counts a spawned task until its future is destroyed",
          "[scheduler][task_tracker]") {
    boost::asio::io_context io;
    TaskTracker tracker;
    auto gate = std::make_shared<test::Gate>();
    JoinHandle<int> h = tracker.spawn_on(io, value_after(gate, 1));
    io.run();
    REQUIRE(tracker.len() == 1);
    gate->open();
    io.restart();
    io.run();
    REQUIRE(tracker.len() == 0);
    REQUIRE(block_on(std::move(h)) == 1);
}

TEST_CASE("TaskTracker counts an aborted task until the abort drops its future",
          "[scheduler][task_tracker][abort]") {
    boost::asio::io_context io;
    TaskTracker tracker;
    auto gate = std::make_shared<test::Gate>();
    JoinHandle<int> h = tracker.spawn_on(io, value_after(gate, 1));
    io.run();
    tracker.close();
    WaitTask w(tracker.wait());
    REQUIRE(w.poll().is_pending());
    h.abort();
    REQUIRE(tracker.len() == 1); // dropped on the executor, not by abort()
    io.restart();
    io.run();
    REQUIRE(tracker.len() == 0);
    REQUIRE(w.is_woken());
    REQUIRE(w.poll().is_ready());
}

TEST_CASE("TaskTracker graceful shutdown: wait in a task for tasks finishing on workers",
          "[scheduler][task_tracker][thread]") {
    RuntimeOptions o;
    o.worker_threads = 2;
    Runtime rt(o);
    auto finished = std::make_shared<std::atomic<int>>(0);
    auto body = [](std::shared_ptr<std::atomic<int>> done) -> Async<void> {
        TaskTracker tracker;
        for (int i = 0; i < 200; ++i) {
            (void)tracker.spawn(yields(i % 5, done));
        }
        tracker.close();
        co_await tracker.wait();
        REQUIRE(tracker.is_empty());
    };
    rt.block_on(body(finished));
    REQUIRE(finished->load() == 200);
}

TEST_CASE("TaskTracker close from another thread wakes a task waiting on wait",
          "[scheduler][task_tracker][thread]") {
    RuntimeOptions o;
    o.worker_threads = 2;
    Runtime rt(o);
    TaskTracker tracker;
    JoinHandle<void> waiter =
        rt.spawn([](TaskTracker t) -> Async<void> { co_await t.wait(); }(tracker));
    std::thread closer([tracker] { tracker.close(); });
    rt.block_on(std::move(waiter));
    closer.join();
}

TEST_CASE("TaskTracker tasks dropped by their Runtime's shutdown release their count",
          "[scheduler][task_tracker][lifetime]") {
    TaskTracker tracker;
    auto rt = std::make_unique<Runtime>();
    std::vector<std::shared_ptr<test::Gate>> gates;
    for (int i = 0; i < 3; ++i) {
        gates.push_back(std::make_shared<test::Gate>());
        (void)tracker.spawn_on(rt->io_context(), value_after(gates.back(), i));
    }
    JoinHandle<void> waiter =
        rt->spawn([](TaskTracker t) -> Async<void> { co_await t.wait(); }(tracker));
    rt->block_on(yield_now());
    tracker.close();
    REQUIRE(tracker.len() == 3);
    rt.reset(); // drops every task: the tracked ones and the waiter
    REQUIRE(tracker.len() == 0);
    REQUIRE_THROWS_AS(block_on(std::move(waiter)), TaskCancelled);
    block_on(tracker.wait()); // closed and empty: ready at once
}

TEST_CASE("TaskTracker closed from another thread while its Runtime shuts down",
          "[scheduler][task_tracker][lifetime][thread]") {
    for (int round = 0; round < 50; ++round) {
        TaskTracker tracker;
        RuntimeOptions o;
        o.worker_threads = 2;
        auto rt = std::make_unique<Runtime>(o);
        auto done = std::make_shared<std::atomic<int>>(0);
        for (int i = 0; i < 4; ++i) {
            (void)tracker.spawn_on(rt->io_context(), yields(1000, done));
        }
        (void)rt->spawn([](TaskTracker t) -> Async<void> { co_await t.wait(); }(tracker));
        std::thread closer([tracker] { tracker.close(); });
        rt.reset();
        closer.join();
        REQUIRE(tracker.is_empty());
        block_on(tracker.wait()); // closed and empty
    }
}
