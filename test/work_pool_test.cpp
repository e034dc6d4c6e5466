// The one worker pool of an io_context (pollux/detail/work_pool.hpp):
// spawn_blocking, uv::queue_work and the fs operations share it.

#include <pollux/core/async.hpp>
#include <pollux/detail/work_pool.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/work.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

using namespace pollux;
using pollux::detail::WorkKind;
using pollux::detail::WorkPool;

namespace {

// A latch the test opens: jobs that wait on it hold their thread.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    int waiting = 0;
    void wait() {
        std::unique_lock lock(m);
        ++waiting;
        cv.notify_all();
        cv.wait(lock, [&] { return open; });
    }
    void wait_for_waiters(int n) {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return waiting >= n; });
    }
    void release() {
        std::lock_guard lock(m);
        open = true;
        cv.notify_all();
    }
};

template <class Fn>
bool submit(WorkPool& pool, Fn fn, WorkKind kind = WorkKind::abandonable) {
    return pool.submit(std::make_unique<pollux::detail::FnWorkJob<Fn>>(std::move(fn)), kind);
}

} // namespace

TEST_CASE("work pool: jobs start in submission order on a one-thread pool", "[work_pool]") {
    WorkPool pool(1, 100);
    std::mutex m;
    std::vector<int> order;
    for (int i = 0; i < 20; ++i) {
        // mandatory: the shutdown below must still run those not started
        REQUIRE(submit(
            pool,
            [&, i] {
                std::lock_guard lock(m);
                order.push_back(i);
            },
            WorkKind::mandatory));
    }
    pool.shutdown();
    REQUIRE(order.size() == 20);
    for (int i = 0; i < 20; ++i) {
        CHECK(order[static_cast<std::size_t>(i)] == i);
    }
}

TEST_CASE("work pool: threads start on demand up to the maximum", "[work_pool]") {
    WorkPool pool(3, 100);
    CHECK_FALSE(pool.started());
    CHECK(pool.metrics().threads == 0);
    Gate gate;
    for (int i = 0; i < 5; ++i) {
        REQUIRE(submit(
            pool, [&] { gate.wait(); }, WorkKind::mandatory));
    }
    gate.wait_for_waiters(3);
    const auto m = pool.metrics();
    CHECK(m.threads == 3);
    CHECK(m.running == 3);
    CHECK(m.queued == 2);
    gate.release();
    pool.shutdown();
    CHECK(pool.metrics().completed == 5);
}

TEST_CASE("work pool: a submission beyond the queue bound is refused and its job destroyed",
          "[work_pool]") {
    WorkPool pool(1, 2);
    Gate gate;
    REQUIRE(submit(pool, [&] { gate.wait(); }));
    gate.wait_for_waiters(1); // the one thread holds the first job
    REQUIRE(submit(
        pool, [] {}, WorkKind::mandatory));
    REQUIRE(submit(
        pool, [] {}, WorkKind::mandatory));
    auto witness = std::make_shared<int>(0);
    std::weak_ptr<int> weak = witness;
    CHECK_FALSE(submit(pool, [w = std::move(witness)] { ++*w; }));
    CHECK(weak.expired());
    CHECK(pool.metrics().refused == 1);
    gate.release();
    pool.shutdown();
    CHECK(pool.metrics().completed == 3);
}

TEST_CASE("work pool: shutdown runs queued mandatory jobs and drops queued abandonable ones",
          "[work_pool]") {
    WorkPool pool(1, 1 << 24);
    Gate gate;
    std::atomic<int> mandatory{0};
    std::atomic<int> abandonable{0};
    REQUIRE(submit(pool, [&] { gate.wait(); }));
    gate.wait_for_waiters(1);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(submit(
            pool, [&] { ++mandatory; }, WorkKind::mandatory));
        REQUIRE(submit(
            pool, [&] { ++abandonable; }, WorkKind::abandonable));
    }
    std::thread closer([&] { pool.shutdown(); });
    // The shutdown must wait for the running job; open its gate only once
    // shutdown has begun (a submit is refused), so the queued jobs meet a
    // stopping pool. The queue's bound is far above what this loop can add
    // before the closer thread runs, so a refusal means the shutdown.
    while (submit(pool, [] {})) {
        std::this_thread::yield();
    }
    gate.release();
    closer.join();
    CHECK(mandatory == 3);
    CHECK(abandonable == 0);
}

TEST_CASE("work pool: a submission after shutdown is refused, mandatory or not", "[work_pool]") {
    WorkPool pool(1, 10);
    pool.shutdown();
    std::atomic<int> ran{0};
    CHECK_FALSE(submit(
        pool, [&] { ++ran; }, WorkKind::mandatory));
    CHECK_FALSE(submit(
        pool, [&] { ++ran; }, WorkKind::abandonable));
    CHECK(ran == 0);
}

TEST_CASE("work pool: spawn_blocking and uv::queue_work on one context share one pool",
          "[work_pool]") {
    // One thread in the runtime's pool: if both faces share it, both
    // functions run on that one thread.
    Runtime rt(RuntimeOptions{.max_blocking_threads = 1});
    uv::Loop loop(rt.io_context());
    CHECK(loop.threadpool_size() == 1);
    std::thread::id blocking_thread;
    std::thread::id work_thread;
    rt.block_on([](std::thread::id* id) -> Async<> {
        co_await spawn_blocking([id] { *id = std::this_thread::get_id(); });
    }(&blocking_thread));
    bool after = false;
    uv::queue_work(
        loop,
        [&] { work_thread = std::this_thread::get_id(); },
        [&](boost::system::error_code ec) { after = !ec; });
    loop.run();
    CHECK(after);
    CHECK(blocking_thread != std::thread::id());
    CHECK(work_thread == blocking_thread);
    CHECK(pollux::detail::work_pool(rt.io_context()).metrics().threads == 1);
}

TEST_CASE("work pool: spawn_blocking beyond the queue bound throws EAGAIN at the await",
          "[work_pool]") {
    Runtime rt(RuntimeOptions{.max_blocking_threads = 1, .max_queued_blocking = 1});
    auto gate = std::make_shared<Gate>();
    auto body = [gate]() -> Async<bool> {
        auto busy = spawn_blocking([gate] { gate->wait(); });
        gate->wait_for_waiters(1);
        auto queued = spawn_blocking([] {});
        auto refused = spawn_blocking([] {});
        bool eagain = false;
        try {
            co_await refused;
        } catch (const std::system_error& e) {
            eagain = e.code() == std::errc::resource_unavailable_try_again;
        }
        gate->release();
        co_await busy;
        co_await queued;
        co_return eagain;
    };
    CHECK(rt.block_on(body()));
}

TEST_CASE("work pool: uv::queue_work beyond the queue bound calls back with EAGAIN",
          "[work_pool]") {
    Runtime rt(RuntimeOptions{.max_blocking_threads = 1, .max_queued_blocking = 1});
    uv::Loop loop(rt.io_context());
    Gate gate;
    std::vector<boost::system::error_code> results(3);
    int calls = 0;
    bool refused_work_ran = false;
    uv::queue_work(
        loop,
        [&] { gate.wait(); },
        [&](boost::system::error_code ec) {
            results[0] = ec;
            ++calls;
        });
    gate.wait_for_waiters(1);
    uv::queue_work(
        loop,
        [] {},
        [&](boost::system::error_code ec) {
            results[1] = ec;
            ++calls;
        });
    uv::queue_work(
        loop,
        [&] { refused_work_ran = true; },
        [&](boost::system::error_code ec) {
            results[2] = ec;
            ++calls;
            gate.release();
        });
    CHECK(calls == 0); // never called back from inside queue_work
    loop.run();
    CHECK(calls == 3);
    CHECK_FALSE(results[0]);
    CHECK_FALSE(results[1]);
    CHECK(results[2] == boost::system::errc::resource_unavailable_try_again);
    CHECK_FALSE(refused_work_ran);
}

TEST_CASE("work pool: a loop's set_threadpool_size is refused once the pool has started",
          "[work_pool]") {
    uv::Loop loop;
    CHECK_FALSE(loop.set_threadpool_size(3));
    CHECK(loop.threadpool_size() == 3);
    uv::queue_work(
        loop, [] {}, [](boost::system::error_code) {});
    loop.run();
    CHECK(loop.set_threadpool_size(5) == boost::system::errc::device_or_resource_busy);
    CHECK(loop.threadpool_size() == 3);
}

// ---- the fs cap (WorkLane::fs) ---------------------------------------------------------------

namespace {

using pollux::detail::WorkLane;

template <class Fn>
bool submit_fs(WorkPool& pool, Fn fn, WorkKind kind = WorkKind::abandonable) {
    return pool.submit(
        std::make_unique<pollux::detail::FnWorkJob<Fn>>(std::move(fn)), kind, WorkLane::fs);
}

// The most jobs seen inside `enter`/`leave` at once.
struct Concurrency {
    std::atomic<int> now{0};
    std::atomic<int> most{0};
    void enter() {
        const int n = ++now;
        int m = most.load();
        while (n > m && !most.compare_exchange_weak(m, n)) {
        }
    }
    void leave() { --now; }
};

// Waits (hang guard: a minute) until `pred()` holds.
template <class Pred>
bool eventually(Pred pred) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > give_up) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

} // namespace

TEST_CASE("work pool: at most max_fs_jobs fs jobs run at once, on as many threads",
          "[work_pool][fs_cap]") {
    WorkPool pool(16, 100);
    pool.set_max_fs_jobs(2);
    CHECK(pool.max_fs_jobs() == 2);
    Gate gate;
    Concurrency c;
    for (int i = 0; i < 6; ++i) {
        REQUIRE(submit_fs(
            pool,
            [&] {
                c.enter();
                gate.wait();
                c.leave();
            },
            WorkKind::mandatory));
    }
    gate.wait_for_waiters(2);
    const auto m = pool.metrics();
    CHECK(m.running == 2);
    CHECK(m.fs_running == 2);
    CHECK(m.queued == 4);
    CHECK(m.threads == 2); // no thread started for a job the cap holds back
    gate.release();
    pool.shutdown();
    CHECK(pool.metrics().completed == 6);
    CHECK(c.most == 2);
}

TEST_CASE("work pool: blocking jobs get their threads while the fs cap is full",
          "[work_pool][fs_cap]") {
    WorkPool pool(8, 100);
    pool.set_max_fs_jobs(2);
    Gate fs_gate;
    Gate blocking_gate;
    for (int i = 0; i < 4; ++i) {
        REQUIRE(submit_fs(pool, [&] { fs_gate.wait(); }));
    }
    fs_gate.wait_for_waiters(2);
    // Submitted after fs jobs that wait for the cap, these still start.
    for (int i = 0; i < 3; ++i) {
        REQUIRE(submit(pool, [&] { blocking_gate.wait(); }));
    }
    blocking_gate.wait_for_waiters(3);
    const auto m = pool.metrics();
    CHECK(m.running == 5);
    CHECK(m.fs_running == 2);
    CHECK(m.queued == 2);
    fs_gate.release();
    blocking_gate.release();
    REQUIRE(eventually([&] { return pool.metrics().completed == 7; }));
}

TEST_CASE("work pool: a blocked blocking job does not stop fs jobs", "[work_pool][fs_cap]") {
    WorkPool pool(2, 100);
    pool.set_max_fs_jobs(4);
    Gate gate;
    REQUIRE(submit(pool, [&] { gate.wait(); }));
    gate.wait_for_waiters(1);
    std::atomic<int> ran{0};
    for (int i = 0; i < 10; ++i) {
        REQUIRE(submit_fs(pool, [&] { ++ran; }));
    }
    CHECK(eventually([&] { return ran == 10; }));
    gate.release();
    pool.shutdown();
    CHECK(pool.metrics().completed == 11);
}

TEST_CASE("work pool: jobs of both lanes start in submission order on a one-thread pool",
          "[work_pool][fs_cap]") {
    WorkPool pool(1, 100);
    pool.set_max_fs_jobs(1);
    std::mutex m;
    std::vector<int> order;
    for (int i = 0; i < 20; ++i) {
        auto job = [&, i] {
            std::lock_guard lock(m);
            order.push_back(i);
        };
        // Lanes in an irregular pattern; mandatory, so shutdown runs them all.
        const bool queued = i % 3 == 0 ? submit_fs(pool, job, WorkKind::mandatory)
                                       : submit(pool, job, WorkKind::mandatory);
        REQUIRE(queued);
    }
    pool.shutdown();
    REQUIRE(order.size() == 20);
    for (int i = 0; i < 20; ++i) {
        CHECK(order[static_cast<std::size_t>(i)] == i);
    }
}

TEST_CASE("work pool: an fs job waits for a free slot, not for a blocking job ahead of it",
          "[work_pool][fs_cap]") {
    // Two threads, one fs slot held; a blocking job holds the other thread.
    // An fs job queued behind the held slot starts as soon as the slot frees.
    WorkPool pool(3, 100);
    pool.set_max_fs_jobs(1);
    Gate fs_gate;
    Gate blocking_gate;
    std::atomic<bool> second_fs{false};
    REQUIRE(submit_fs(pool, [&] { fs_gate.wait(); }));
    fs_gate.wait_for_waiters(1);
    REQUIRE(submit_fs(pool, [&] { second_fs = true; }));
    REQUIRE(submit(pool, [&] { blocking_gate.wait(); }));
    blocking_gate.wait_for_waiters(1); // started although an older fs job waits
    CHECK_FALSE(second_fs);
    fs_gate.release();
    CHECK(eventually([&] { return second_fs.load(); }));
    blocking_gate.release();
    pool.shutdown();
    CHECK(pool.metrics().completed == 3);
}

TEST_CASE("work pool: raising max_fs_jobs starts fs jobs the old cap held back",
          "[work_pool][fs_cap]") {
    WorkPool pool(8, 100);
    pool.set_max_fs_jobs(1);
    Gate gate;
    for (int i = 0; i < 4; ++i) {
        REQUIRE(submit_fs(
            pool, [&] { gate.wait(); }, WorkKind::mandatory));
    }
    gate.wait_for_waiters(1);
    pool.set_max_fs_jobs(3);
    gate.wait_for_waiters(3);
    CHECK(pool.metrics().fs_running == 3);
    gate.release();
    pool.shutdown();
    CHECK(pool.metrics().completed == 4);
}

TEST_CASE("work pool: shutdown runs mandatory fs jobs queued behind the cap and drops the rest",
          "[work_pool][fs_cap]") {
    WorkPool pool(8, 1 << 24);
    pool.set_max_fs_jobs(1);
    Gate gate;
    std::atomic<int> mandatory{0};
    std::atomic<int> abandonable{0};
    Concurrency c;
    REQUIRE(submit_fs(pool, [&] { gate.wait(); }));
    gate.wait_for_waiters(1);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(submit_fs(
            pool,
            [&] {
                c.enter();
                ++mandatory;
                c.leave();
            },
            WorkKind::mandatory));
        REQUIRE(submit_fs(
            pool, [&] { ++abandonable; }, WorkKind::abandonable));
    }
    std::thread closer([&] { pool.shutdown(); });
    while (submit(pool, [] {})) { // until the shutdown has begun (see above)
        std::this_thread::yield();
    }
    gate.release();
    closer.join();
    CHECK(mandatory == 3);
    CHECK(abandonable == 0);
    CHECK(c.most == 1); // still one at a time
}

TEST_CASE("work pool: a runtime's fs cap is RuntimeOptions::max_fs_threads, a loop's its pool size",
          "[work_pool][fs_cap]") {
    {
        Runtime rt;
        CHECK(pollux::detail::work_pool(rt.io_context()).max_fs_jobs() == 4);
    }
    {
        Runtime rt(RuntimeOptions{.max_fs_threads = 2});
        CHECK(pollux::detail::work_pool(rt.io_context()).max_fs_jobs() == 2);
        CHECK(pollux::detail::work_pool(rt.io_context()).max_threads() == 16);
    }
    uv::Loop loop;
    REQUIRE_FALSE(loop.set_threadpool_size(7));
    CHECK(pollux::detail::work_pool(loop.io_context()).max_fs_jobs() == 7);
}

// ---- the spin after an fs job ----------------------------------------------------------------

TEST_CASE("work pool: fs jobs submitted one at a time, each as the last ends, all run",
          "[work_pool][spin]") {
    // Each submit falls inside the spin of the thread that ran the job
    // before, at its end, or after it (the thread asleep): a spinning thread
    // counts as one on its way, so none of these may leave a job unserved.
    WorkPool pool(4, 100);
    std::mutex m;
    std::condition_variable cv;
    int done = 0;
    constexpr int n = 1200;
    for (int i = 0; i < n; ++i) {
        REQUIRE(submit_fs(pool, [&] {
            std::lock_guard lock(m);
            ++done;
            cv.notify_all();
        }));
        {
            std::unique_lock lock(m);
            REQUIRE(cv.wait_for(lock, std::chrono::minutes(1), [&] { return done == i + 1; }));
        }
        if (i % 3 == 1) {
            std::this_thread::sleep_for(std::chrono::microseconds(pollux::detail::fs_spin_us));
        } else if (i % 3 == 2) {
            std::this_thread::sleep_for(std::chrono::microseconds(3 * pollux::detail::fs_spin_us));
        }
    }
    pool.shutdown();
    CHECK(pool.metrics().completed == n);
}

TEST_CASE("work pool: a thread that ended an fs job stops spinning when no job comes",
          "[work_pool][spin]") {
    WorkPool pool(4, 100);
    std::atomic<int> ran{0};
    REQUIRE(submit_fs(pool, [&] { ++ran; }));
    REQUIRE(eventually([&] {
        const auto m = pool.metrics();
        return m.completed == 1 && m.running == 0 && m.spinning == 0;
    }));
    CHECK(ran == 1);
    // Asleep now: a later job still gets a thread.
    REQUIRE(submit_fs(pool, [&] { ++ran; }));
    REQUIRE(eventually([&] { return ran == 2; }));
    CHECK(pool.metrics().spinning <= pollux::detail::max_spinning_threads);
}

TEST_CASE("work pool: a blocking job is not a reason to spin", "[work_pool][spin]") {
    WorkPool pool(4, 100);
    std::atomic<int> ran{0};
    REQUIRE(submit(pool, [&] { ++ran; }));
    REQUIRE(eventually([&] { return pool.metrics().completed == 1; }));
    // The thread went from its blocking job straight to sleep.
    CHECK(pool.metrics().spinning == 0);
    CHECK(ran == 1);
}

TEST_CASE("work pool: shutdown right after an fs job ends joins the spinning thread",
          "[work_pool][spin]") {
    WorkPool pool(4, 100);
    std::atomic<bool> ran{false};
    REQUIRE(submit_fs(pool, [&] { ran = true; }));
    REQUIRE(eventually([&] { return pool.metrics().completed == 1; }));
    pool.shutdown(); // most likely inside the spin
    CHECK(ran);
    const auto m = pool.metrics();
    CHECK(m.spinning == 0);
    CHECK(m.running == 0);
    CHECK_FALSE(submit_fs(
        pool, [] {}, WorkKind::mandatory));
}
