#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/join_set.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/futures.hpp"
#include "support/mock_task.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;

namespace {

std::shared_ptr<std::atomic<bool>> flag() {
    return std::make_shared<std::atomic<bool>>(false);
}

Async<int> value_after(std::shared_ptr<test::Gate> gate, int v) {
    co_await test::wait(std::move(gate));
    co_return v;
}

Async<int> throws_after(std::shared_ptr<test::Gate> gate) {
    co_await test::wait(std::move(gate));
    throw std::runtime_error("task threw");
}

Async<int> yields_then(int v, int yields) {
    for (int i = 0; i < yields; ++i) {
        co_await yield_now();
    }
    co_return v;
}

std::vector<std::shared_ptr<test::Gate>> gates(int n) {
    std::vector<std::shared_ptr<test::Gate>> g;
    for (int i = 0; i < n; ++i) {
        g.push_back(std::make_shared<test::Gate>());
    }
    return g;
}

// Drains `set`, counting outputs and TaskCancelled separately.
struct Drained {
    int values = 0;
    int cancelled = 0;
    int sum = 0;
};
Drained drain(JoinSet<int>& set) {
    Drained d;
    for (;;) {
        try {
            std::optional<int> v = block_on(set.join_next());
            if (!v) {
                return d;
            }
            ++d.values;
            d.sum += *v;
        } catch (const TaskCancelled&) {
            ++d.cancelled;
        }
    }
}

} // namespace

TEST_CASE("JoinSet join_next on an empty set returns nullopt at once", "[scheduler][join_set]") {
    STATIC_REQUIRE(Future<JoinNext<int>>);
    STATIC_REQUIRE(std::is_same_v<output_t<JoinNext<int>>, std::optional<int>>);
    STATIC_REQUIRE(std::is_same_v<output_t<JoinNext<void>>, std::optional<Unit>>);
    JoinSet<int> set;
    test::MockTask t(set.join_next());
    auto p = t.poll();
    REQUIRE(p.is_ready());
    REQUIRE_FALSE(p.value().has_value());
    REQUIRE(set.is_empty());
}

TEST_CASE("JoinSet join_next returns outputs in the order the tasks finish",
          "[scheduler][join_set]") {
    Runtime rt;
    auto body = []() -> Async<std::vector<int>> {
        auto g = gates(3);
        JoinSet<int> set;
        for (int i = 0; i < 3; ++i) {
            set.spawn(value_after(g[i], i));
        }
        REQUIRE(set.len() == 3);
        std::vector<int> order;
        for (int i : {2, 0, 1}) {
            g[i]->open();
            order.push_back(*co_await set.join_next());
        }
        REQUIRE(set.is_empty());
        std::optional<int> none = co_await set.join_next();
        REQUIRE_FALSE(none.has_value());
        co_return order;
    };
    REQUIRE(rt.block_on(body()) == std::vector<int>{2, 0, 1});
}

TEST_CASE("JoinSet join_next rethrows a task's exception and that task leaves the set",
          "[scheduler][join_set]") {
    Runtime rt;
    auto body = []() -> Async<void> {
        auto g = gates(2);
        JoinSet<int> set;
        set.spawn(throws_after(g[0]));
        set.spawn(value_after(g[1], 9));
        g[0]->open();
        std::string what;
        try {
            (void)co_await set.join_next();
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        REQUIRE(what == "task threw");
        REQUIRE(set.size() == 1);
        g[1]->open();
        std::optional<int> v = co_await set.join_next();
        REQUIRE(v == std::optional<int>(9));
    };
    rt.block_on(body());
}

TEST_CASE("JoinSet abort_all makes join_next throw TaskCancelled for each task",
          "[scheduler][join_set][abort]") {
    boost::asio::io_context io;
    auto g = gates(3);
    JoinSet<int> set;
    for (int i = 0; i < 3; ++i) {
        set.spawn_on(io, value_after(g[i], i));
    }
    io.run();
    set.abort_all();
    REQUIRE(set.len() == 3); // aborted tasks stay until joined
    io.restart();
    io.run();
    Drained d = drain(set);
    REQUIRE(d.cancelled == 3);
    REQUIRE(d.values == 0);
}

TEST_CASE("JoinSet spawn returns an AbortHandle of that task only",
          "[scheduler][join_set][abort]") {
    boost::asio::io_context io;
    auto g = gates(2);
    JoinSet<int> set;
    AbortHandle first = set.spawn_on(io, value_after(g[0], 1));
    set.spawn_on(io, value_after(g[1], 2));
    first.abort();
    g[1]->open();
    io.run();
    Drained d = drain(set);
    REQUIRE(d.cancelled == 1);
    REQUIRE(d.values == 1);
    REQUIRE(d.sum == 2);
}

TEST_CASE("JoinSet destroyed aborts every task still in it", "[scheduler][join_set][abort]") {
    boost::asio::io_context io;
    std::vector<std::shared_ptr<std::atomic<bool>>> dropped;
    {
        JoinSet<int> set;
        for (int i = 0; i < 4; ++i) {
            dropped.push_back(flag());
            set.spawn_on(io, test::PendingForever(dropped.back()));
        }
        io.run();
        for (auto& d : dropped) {
            REQUIRE_FALSE(d->load());
        }
    }
    io.restart();
    io.run();
    for (auto& d : dropped) {
        REQUIRE(d->load());
    }
}

TEST_CASE("JoinSet detach_all empties the set and leaves the tasks running",
          "[scheduler][join_set]") {
    boost::asio::io_context io;
    auto dropped = flag();
    auto finished = flag();
    auto gate = std::make_shared<test::Gate>();
    JoinSet<void> set;
    set.spawn_on(io, test::HoldsOwnWaker(dropped));
    set.spawn_on(
        io, [](std::shared_ptr<test::Gate> g, std::shared_ptr<std::atomic<bool>> f) -> Async<void> {
            co_await test::wait(std::move(g));
            f->store(true);
        }(gate, finished));
    io.run();
    set.detach_all();
    REQUIRE(set.is_empty());
    io.restart();
    io.run();
    REQUIRE_FALSE(dropped->load()); // not aborted
    gate->open();
    io.restart();
    io.run();
    REQUIRE(finished->load());
    REQUIRE_FALSE(block_on(set.join_next()).has_value());
}

TEST_CASE("JoinSet join_next is cancel safe: a dropped join_next loses no task",
          "[scheduler][join_set]") {
    boost::asio::io_context io;
    auto gate = std::make_shared<test::Gate>();
    JoinSet<int> set;
    set.spawn_on(io, value_after(gate, 5));
    io.run();
    {
        test::MockTask t(set.join_next());
        REQUIRE(t.poll().is_pending());
        gate->open();
        io.restart();
        io.run();
        REQUIRE(t.is_woken());
    } // dropped without taking the output
    REQUIRE(set.len() == 1);
    REQUIRE(block_on(set.join_next()) == std::optional<int>(5));
}

TEST_CASE("JoinSet of void yields Unit for each finished task", "[scheduler][join_set]") {
    boost::asio::io_context io;
    JoinSet<void> set;
    set.spawn_on(io, []() -> Async<void> { co_return; }());
    io.run();
    REQUIRE(block_on(set.join_next()).has_value());
    REQUIRE_FALSE(block_on(set.join_next()).has_value());
}

TEST_CASE("JoinSet moved keeps its tasks; the moved-from set is empty and reusable",
          "[scheduler][join_set]") {
    boost::asio::io_context io;
    JoinSet<int> a;
    a.spawn_on(io, yields_then(1, 0));
    JoinSet<int> b = std::move(a);
    REQUIRE(b.len() == 1);
    REQUIRE(a.is_empty()); // NOLINT(bugprone-use-after-move): specified
    a.spawn_on(io, yields_then(2, 0));
    io.run();
    REQUIRE(block_on(b.join_next()) == std::optional<int>(1));
    REQUIRE(block_on(a.join_next()) == std::optional<int>(2));
}

TEST_CASE("JoinSet joins many tasks finishing on worker threads, each exactly once",
          "[scheduler][join_set][thread]") {
    RuntimeOptions o;
    o.worker_threads = 2;
    Runtime rt(o);
    auto body = []() -> Async<Drained> {
        JoinSet<int> set;
        for (int i = 1; i <= 500; ++i) {
            set.spawn(yields_then(i, i % 4));
        }
        Drained d;
        while (auto v = co_await set.join_next()) {
            ++d.values;
            d.sum += *v;
        }
        co_return d;
    };
    Drained d = rt.block_on(body());
    REQUIRE(d.values == 500);
    REQUIRE(d.sum == 500 * 501 / 2);
}

TEST_CASE("JoinSet tasks woken from another thread are joined", "[scheduler][join_set][thread]") {
    RuntimeOptions o;
    o.worker_threads = 2;
    Runtime rt(o);
    auto g = gates(50);
    JoinSet<int> set;
    for (int i = 0; i < 50; ++i) {
        set.spawn_on(rt.io_context(), value_after(g[i], 1));
    }
    std::thread opener([&g] {
        for (auto& gate : g) {
            gate->open();
        }
    });
    auto body = [](JoinSet<int>* s) -> Async<int> {
        int n = 0;
        while (auto v = co_await s->join_next()) {
            n += *v;
        }
        co_return n;
    };
    REQUIRE(rt.block_on(body(&set)) == 50);
    opener.join();
}

TEST_CASE("JoinSet outlives its Runtime: finished outputs stay, the rest throw TaskCancelled",
          "[scheduler][join_set][lifetime]") {
    auto rt = std::make_unique<Runtime>();
    auto dropped = flag();
    JoinSet<int> set;
    AbortHandle done = set.spawn_on(rt->io_context(), yields_then(4, 0));
    set.spawn_on(rt->io_context(), test::PendingForever(dropped));
    rt->block_on([](AbortHandle d) -> Async<void> {
        while (!d.is_finished()) {
            co_await yield_now();
        }
    }(done));
    rt.reset();
    REQUIRE(dropped->load());
    Drained d = drain(set);
    REQUIRE(d.values == 1);
    REQUIRE(d.sum == 4);
    REQUIRE(d.cancelled == 1);
}

TEST_CASE("JoinSet dropped after its Runtime touches nothing of it",
          "[scheduler][join_set][lifetime]") {
    auto rt = std::make_unique<Runtime>();
    std::optional<JoinSet<int>> set(std::in_place);
    set->spawn_on(rt->io_context(), test::PendingForever(flag()));
    rt->block_on(yield_now());
    rt.reset();
    set.reset(); // aborts finished tasks (nothing) and frees them
}

TEST_CASE("JoinSet owned by a task is dropped by its Runtime's shutdown with its tasks",
          "[scheduler][join_set][lifetime]") {
    auto rt = std::make_unique<Runtime>();
    std::vector<std::shared_ptr<std::atomic<bool>>> dropped;
    for (int i = 0; i < 3; ++i) {
        dropped.push_back(flag());
    }
    auto owner = [](std::vector<std::shared_ptr<std::atomic<bool>>> d) -> Async<void> {
        JoinSet<int> set;
        for (auto& f : d) {
            set.spawn(test::PendingForever(f));
        }
        (void)co_await set.join_next(); // never: the shutdown drops this frame
    };
    JoinHandle<void> h = rt->spawn(owner(dropped));
    rt->block_on(yield_now());
    rt.reset();
    for (auto& d : dropped) {
        REQUIRE(d->load());
    }
    REQUIRE_THROWS_AS(block_on(std::move(h)), TaskCancelled);
}

TEST_CASE("JoinSet spawn outside a task throws logic_error and leaves the set unchanged",
          "[scheduler][join_set]") {
    JoinSet<int> set;
    REQUIRE_THROWS_AS(set.spawn(yields_then(1, 0)), std::logic_error);
    REQUIRE(set.is_empty());
}
