#include <pollux/core/async.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/debug/dump.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/mutex.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace pollux;

namespace {

std::string site(unsigned line) {
    return "task_dump_test.cpp:" + std::to_string(line);
}

struct Locks {
    sync::Mutex<int> first;
    sync::Mutex<int> second;
};

unsigned a_waits_line = 0;
unsigned b_waits_line = 0;

// Takes `first`, lets `b` take `second`, then waits for `second`.
Async<void> lock_first_then_second(Locks& locks) {
    auto g1 = co_await locks.first.lock();
    co_await yield_now();
    a_waits_line = __LINE__ + 1;
    auto g2 = co_await locks.second.lock();
}

// The mirror image: a lock-order inversion.
Async<void> lock_second_then_first(Locks& locks) {
    auto g2 = co_await locks.second.lock();
    co_await yield_now();
    b_waits_line = __LINE__ + 1;
    auto g1 = co_await locks.first.lock();
}

Async<void> yield_many(int n) {
    for (int i = 0; i < n; ++i) {
        co_await yield_now();
    }
}

} // namespace

TEST_CASE("a dump of two deadlocked tasks names both spawn sites and both await sites") {
    boost::asio::io_context io;
    Locks locks;
    const unsigned a_spawn = __LINE__ + 1;
    auto a = spawn(io.get_executor(), lock_first_then_second(locks), "a");
    const unsigned b_spawn = __LINE__ + 1;
    auto b = spawn(io.get_executor(), lock_second_then_first(locks), "b");
    io.run(); // returns when both wait for each other: no more work
    REQUIRE_FALSE(a.is_finished());
    REQUIRE_FALSE(b.is_finished());

    const std::string text = debug::dump(io);
    INFO(text);
    CHECK(text.find("pollux: 2 live tasks") != std::string::npos);
    CHECK(text.find("task 1 \"a\" idle") != std::string::npos);
    CHECK(text.find("task 2 \"b\" idle") != std::string::npos);
    CHECK(text.find("spawned at ") != std::string::npos);
    CHECK(text.find(site(a_spawn)) != std::string::npos);
    CHECK(text.find(site(b_spawn)) != std::string::npos);
    CHECK(text.find("awaiting at ") != std::string::npos);
    CHECK(text.find(site(a_waits_line)) != std::string::npos);
    CHECK(text.find(site(b_waits_line)) != std::string::npos);
    // Each task's block has its own await site under its own spawn site.
    CHECK(text.find(site(a_spawn)) < text.find(site(a_waits_line)));
    CHECK(text.find(site(a_waits_line)) < text.find(site(b_spawn)));
    CHECK(text.find(site(b_spawn)) < text.find(site(b_waits_line)));

    a.abort();
    b.abort();
    io.restart();
    io.run();
}

TEST_CASE("a dump of an empty runtime says it has no tasks") {
    Runtime rt;
    CHECK(rt.dump() == "pollux: 0 live tasks\n");
}

TEST_CASE("a dump taken inside a task shows that task as running") {
    Runtime rt;
    const std::string text =
        rt.block_on([](Runtime& r) -> Async<std::string> { co_return r.dump(); }(rt));
    INFO(text);
    CHECK(text.find("pollux: 1 live task\n") == 0);
    CHECK(text.find("\"block_on\" running, 1 poll") != std::string::npos);
}

TEST_CASE("dumps from another thread while worker threads poll see every live task") {
    RuntimeOptions opts;
    opts.worker_threads = 2;
    opts.detailed_metrics = true;
    Runtime rt(opts);
    std::vector<JoinHandle<void>> busy;
    for (int i = 0; i < 4; ++i) {
        busy.push_back(rt.spawn(yield_many(20000), "busy"));
    }
    // Dumps race with the polls (and the completions) on the workers.
    int dumps = 0;
    while (!std::all_of(busy.begin(), busy.end(), [](auto& h) { return h.is_finished(); })) {
        const std::string text = rt.dump();
        REQUIRE(text.rfind("pollux: ", 0) == 0);
        ++dumps;
    }
    CHECK(dumps > 0);
    // A finished handle can be seen a moment before its task leaves the
    // registry (the completing worker unregisters it after the wake).
    for (int i = 0; i < 5000 && rt.live_tasks() != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(rt.dump() == "pollux: 0 live tasks\n");
}
