#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/counted.hpp"
#include "support/futures.hpp"
#include "support/wakers.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

using namespace pollux;
using pollux::test::Counted;

namespace {

// Restores the default exception hook when a test ends.
struct HookGuard {
    ~HookGuard() { (void)set_unhandled_exception_handler(nullptr); }
};

// On its first poll, aborts its own task and asks to be polled again.
struct AbortsItself {
    using Output = int;
    std::shared_ptr<std::optional<JoinHandle<int>>> me;
    std::shared_ptr<int> polls;
    std::shared_ptr<std::atomic<bool>> dropped;
    AbortsItself(std::shared_ptr<std::optional<JoinHandle<int>>> m,
                 std::shared_ptr<int> p,
                 std::shared_ptr<std::atomic<bool>> d)
        : me(std::move(m)), polls(std::move(p)), dropped(std::move(d)) {}
    AbortsItself(AbortsItself&&) = default;
    ~AbortsItself() {
        if (dropped) {
            dropped->store(true);
        }
    }
    Poll<int> poll(Context& cx) {
        ++*polls;
        (*me)->abort();
        cx.waker().wake_by_ref();
        return Pending{};
    }
};

Async<Counted> make_counted(int id) {
    co_return Counted(id);
}

} // namespace

TEST_CASE("JoinHandle returns the task's output", "[scheduler][join_handle]") {
    Runtime rt;
    auto h = rt.spawn([]() -> Async<std::string> { co_return "done"; }());
    REQUIRE(rt.block_on(std::move(h)) == "done");
}

TEST_CASE("JoinHandle rethrows the task's exception at the await", "[scheduler][join_handle]") {
    Runtime rt;
    auto h = rt.spawn([]() -> Async<int> {
        throw std::runtime_error("task failed");
        co_return 0;
    }());
    REQUIRE_THROWS_WITH(rt.block_on(std::move(h)), "task failed");
}

TEST_CASE("JoinHandle abort of a sleeping task destroys its future on the executor and throws "
          "TaskCancelled",
          "[scheduler][join_handle][abort]") {
    boost::asio::io_context io;
    auto dropped = std::make_shared<std::atomic<bool>>(false);
    auto h = spawn(io, test::PendingForever(dropped));
    io.poll(); // the task is now idle, waiting forever
    REQUIRE_FALSE(dropped->load());
    h.abort();
    REQUIRE_FALSE(dropped->load()); // abort() itself drops nothing
    io.restart();
    io.poll();
    REQUIRE(dropped->load());
    REQUIRE(h.is_finished());
    REQUIRE_THROWS_AS(block_on(std::move(h)), TaskCancelled);
}

TEST_CASE("JoinHandle abort of a running task takes effect when its poll returns",
          "[scheduler][join_handle][abort]") {
    boost::asio::io_context io;
    auto me = std::make_shared<std::optional<JoinHandle<int>>>();
    auto polls = std::make_shared<int>(0);
    auto dropped = std::make_shared<std::atomic<bool>>(false);
    me->emplace(spawn(io, AbortsItself(me, polls, dropped)));
    io.run();
    REQUIRE(*polls == 1); // the self-wake did not poll it again
    REQUIRE(dropped->load());
    JoinHandle<int> h = std::move(**me);
    me->reset();
    REQUIRE_THROWS_AS(block_on(std::move(h)), TaskCancelled);
}

TEST_CASE("JoinHandle abort after completion keeps the output", "[scheduler][join_handle][abort]") {
    boost::asio::io_context io;
    auto h = spawn(io, []() -> Async<int> { co_return 5; }());
    io.run();
    h.abort();
    REQUIRE(block_on(std::move(h)) == 5);
}

TEST_CASE("JoinHandle dropped detaches the task, which still runs to completion",
          "[scheduler][join_handle]") {
    boost::asio::io_context io;
    auto gate = std::make_shared<test::Gate>();
    bool finished = false;
    {
        auto h = spawn(io, [](std::shared_ptr<test::Gate> g, bool& f) -> Async<> {
            co_await test::wait(g);
            f = true;
        }(gate, finished));
    }
    io.poll();
    gate->open();
    io.restart();
    io.run();
    REQUIRE(finished);
}

TEST_CASE("JoinHandle is_finished turns true when the task completes", "[scheduler][join_handle]") {
    boost::asio::io_context io;
    auto gate = std::make_shared<test::Gate>();
    auto h = spawn(io, test::wait(gate));
    io.poll();
    REQUIRE_FALSE(h.is_finished());
    gate->open();
    io.restart();
    io.poll();
    REQUIRE(h.is_finished());
}

// The join slot's ownership rules ((c) in detail/task_state.hpp).
TEST_CASE("JoinHandle polled with a new waker wakes only the new one and keeps none after Ready",
          "[scheduler][join_handle]") {
    boost::asio::io_context io;
    auto gate = std::make_shared<test::Gate>();
    auto h = spawn(io, test::wait(gate));
    io.poll();
    test::CountingWaker first;
    test::CountingWaker second;
    {
        const Waker waker = first.waker();
        Context cx(waker);
        REQUIRE(h.poll(cx).is_pending());
    }
    {
        const Waker waker = second.waker();
        Context cx(waker);
        REQUIRE(h.poll(cx).is_pending());
        REQUIRE(h.poll(cx).is_pending()); // the same waker again: kept
    }
    CHECK(first.live() == 0); // replaced, and dropped at once
    gate->open();
    io.restart();
    io.run();
    CHECK(first.wakes() == 0);
    CHECK(second.wakes() == 1);
    Context cx(Waker::noop());
    REQUIRE(h.poll(cx).is_ready());
    CHECK(second.live() == 0);
}

TEST_CASE("JoinHandle dropped while its task runs on drops its waker at once and never wakes it",
          "[scheduler][join_handle]") {
    boost::asio::io_context io;
    auto gate = std::make_shared<test::Gate>();
    test::CountingWaker w;
    {
        auto h = spawn(io, test::wait(gate));
        io.poll();
        const Waker waker = w.waker();
        Context cx(waker);
        REQUIRE(h.poll(cx).is_pending());
    }
    CHECK(w.live() == 0);
    gate->open();
    io.restart();
    io.run();
    CHECK(w.wakes() == 0);
}

TEST_CASE("JoinHandle dropped after its task completed drops the waker the completion woke",
          "[scheduler][join_handle]") {
    boost::asio::io_context io;
    auto gate = std::make_shared<test::Gate>();
    test::CountingWaker w;
    {
        auto h = spawn(io, test::wait(gate));
        io.poll();
        const Waker waker = w.waker();
        Context cx(waker);
        REQUIRE(h.poll(cx).is_pending());
        gate->open();
        io.restart();
        io.run();
        CHECK(w.wakes() == 1);
    }
    CHECK(w.live() == 0);
}

TEST_CASE("JoinHandle awaited from another thread never misses its task's completion",
          "[scheduler][join_handle]") {
    // The handle's set of its waker races the completion on the loop's
    // thread (run it under TSan).
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::thread loop([&] { io.run(); });
    for (int i = 0; i < 2000; ++i) {
        REQUIRE(block_on(spawn(io, []() -> Async<int> { co_return 3; }())) == 3);
    }
    work.reset();
    loop.join();
}

TEST_CASE("JoinHandle wakes its awaiter from another thread's task", "[scheduler][join_handle]") {
    Runtime rt(RuntimeOptions{.worker_threads = 2});
    auto gate = std::make_shared<test::Gate>();
    auto h = rt.spawn([](std::shared_ptr<test::Gate> g) -> Async<int> {
        co_await test::wait(g);
        co_return 9;
    }(gate));
    gate->open();
    REQUIRE(block_on(std::move(h)) == 9);
}

TEST_CASE("an exception in a detached task goes to the handler and the runtime keeps running",
          "[scheduler][join_handle][hook]") {
    HookGuard guard;
    std::atomic<int> reported{0};
    std::string message;
    (void)set_unhandled_exception_handler([&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            message = ex.what();
        }
        ++reported;
    });
    Runtime rt;
    rt.spawn([]() -> Async<> {
        throw std::runtime_error("detached failure");
        co_return;
    }());
    REQUIRE(rt.block_on([]() -> Async<int> { co_return 1; }()) == 1);
    REQUIRE(reported.load() == 1);
    REQUIRE(message == "detached failure");
}

TEST_CASE("JoinHandle output is destroyed exactly once in every lifecycle",
          "[scheduler][join_handle][lifecycle]") {
    // 0: awaited; 1: handle dropped before completion; 2: dropped after.
    const int lifecycle = GENERATE(0, 1, 2);
    Counted::reset();
    {
        boost::asio::io_context io;
        std::optional<JoinHandle<Counted>> h(spawn(io, make_counted(lifecycle)));
        if (lifecycle == 1) {
            h.reset();
        }
        io.run();
        if (lifecycle == 0) {
            REQUIRE(block_on(std::move(*h)).id == 0);
        }
        h.reset();
    }
    REQUIRE(Counted::alive() == 0);
    REQUIRE(Counted::copies == 0);
}
