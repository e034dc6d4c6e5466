#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/counted.hpp"
#include "support/futures.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace pollux;
using pollux::test::Counted;

namespace {

Async<int> answer() {
    co_return 42;
}

// Counts its polls; on the first poll wakes itself `wakes` times.
struct WakesItselfDuringPoll {
    using Output = int;
    int wakes;
    std::shared_ptr<int> polls = std::make_shared<int>(0);
    Poll<int> poll(Context& cx) {
        if (++*polls == 1) {
            for (int i = 0; i < wakes; ++i) {
                cx.waker().wake_by_ref();
            }
            return Pending{};
        }
        return Ready{*polls};
    }
};

// Collects a task's waker, so the test can wake it while it is scheduled.
struct ParkOnce {
    using Output = int;
    std::shared_ptr<std::optional<Waker>> slot;
    std::shared_ptr<int> polls = std::make_shared<int>(0);
    Poll<int> poll(Context& cx) {
        if (++*polls == 1) {
            *slot = cx.waker();
            return Pending{};
        }
        return Ready{*polls};
    }
};

Async<int> await_spawned_answer() {
    co_return co_await spawn(answer());
}

Async<int> await_spawned_awaiter() {
    co_return co_await spawn(await_spawned_answer());
}

Async<int> await_answer_on(boost::asio::io_context& io) {
    co_return co_await spawn(io, answer());
}

// Awaits a child on its own context (the joiner slot's path); both outputs
// count their destructions, and each task's moved-from output lives until
// that task is deleted.
Async<Counted> await_counted_child() {
    Counted child = co_await spawn(ready(Counted(7)));
    co_return Counted(child.id);
}

} // namespace

TEST_CASE("spawn onto a plain io_context runs the task when the context runs",
          "[scheduler][spawn]") {
    boost::asio::io_context io;
    auto handle = spawn(io.get_executor(), answer());
    REQUIRE_FALSE(handle.is_finished());
    io.run();
    REQUIRE(handle.is_finished());
    REQUIRE(block_on(std::move(handle)) == 42);
}

TEST_CASE("spawn is lazy about nothing: the task is posted at once, polled only by the loop",
          "[scheduler][spawn]") {
    boost::asio::io_context io;
    bool ran = false;
    auto body = [&]() -> Async<> {
        ran = true;
        co_return;
    };
    auto handle = spawn(io, body());
    REQUIRE_FALSE(ran);
    REQUIRE(io.run_one() == 1);
    REQUIRE(ran);
}

TEST_CASE("spawn onto a strand runs the task through the strand", "[scheduler][spawn]") {
    boost::asio::io_context io;
    auto strand = boost::asio::make_strand(io);
    auto body = [&]() -> Async<bool> { co_return strand.running_in_this_thread(); };
    auto handle = spawn(strand, body());
    io.run();
    REQUIRE(block_on(std::move(handle)));
}

TEST_CASE("spawn(f) inside a task spawns onto the same executor", "[scheduler][spawn]") {
    boost::asio::io_context io;
    auto outer = []() -> Async<int> {
        auto inner = spawn(answer());
        co_return co_await std::move(inner) + 1;
    };
    auto handle = spawn(io, outer());
    io.run();
    REQUIRE(block_on(std::move(handle)) == 43);
}

TEST_CASE("spawn(f) outside a task throws std::logic_error", "[scheduler][spawn]") {
    REQUIRE_THROWS_AS(spawn(answer()), std::logic_error);
}

TEST_CASE("spawn of 100,000 tasks that are all joined returns every output", "[scheduler][spawn]") {
    Runtime rt;
    auto body = []() -> Async<long> {
        std::vector<JoinHandle<int>> handles;
        handles.reserve(100'000);
        for (int i = 0; i < 100'000; ++i) {
            handles.push_back(spawn([](int v) -> Async<int> { co_return v; }(i)));
        }
        long sum = 0;
        for (auto& h : handles) {
            sum += co_await h;
        }
        co_return sum;
    };
    REQUIRE(rt.block_on(body()) == 100'000L * 99'999L / 2);
    REQUIRE(rt.live_tasks() == 0);
}

TEST_CASE("wake during its own poll re-polls the task exactly once afterwards",
          "[scheduler][task_state]") {
    boost::asio::io_context io;
    WakesItselfDuringPoll fut{10};
    auto polls = fut.polls;
    auto handle = spawn(io, std::move(fut));
    io.run();
    REQUIRE(*polls == 2);
    REQUIRE(block_on(std::move(handle)) == 2);
}

TEST_CASE("a task that wakes itself in every poll is polled once per posted run",
          "[scheduler][task_state]") {
    // Each re-poll is one handler of the io_context, so other handlers run
    // between them (task_state.hpp, (e)).
    boost::asio::io_context io;
    auto polls = std::make_shared<int>(0);
    auto handle = spawn(io, poll_fn<int>([polls](Context& cx) -> Poll<int> {
                            if (++*polls == 5) {
                                return Ready{*polls};
                            }
                            cx.waker().wake_by_ref();
                            return Pending{};
                        }));
    for (int i = 1; i <= 5; ++i) {
        REQUIRE(io.run_one() == 1);
        REQUIRE(*polls == i);
    }
    REQUIRE(handle.is_finished());
    REQUIRE(io.poll() == 0);
}

TEST_CASE("a task that wakes itself and is woken from another thread is polled again once",
          "[scheduler][task_state]") {
    boost::asio::io_context io;
    auto polls = std::make_shared<int>(0);
    auto handle = spawn(io, poll_fn<int>([polls](Context& cx) -> Poll<int> {
                            if (++*polls == 2) {
                                return Ready{*polls};
                            }
                            cx.waker().wake_by_ref(); // on the polling thread
                            std::thread([w = cx.waker()] { w.wake_by_ref(); }).join();
                            return Pending{};
                        }));
    io.run();
    REQUIRE(*polls == 2);
    REQUIRE(handle.is_finished());
}

TEST_CASE("a task that wakes itself and is aborted in the same poll is not polled again",
          "[scheduler][task_state]") {
    boost::asio::io_context io;
    auto polls = std::make_shared<int>(0);
    auto abort = std::make_shared<std::optional<AbortHandle>>();
    auto handle = spawn(io, poll_fn<int>([polls, abort](Context& cx) -> Poll<int> {
                            ++*polls;
                            cx.waker().wake_by_ref();
                            (*abort)->abort();
                            return Pending{};
                        }));
    *abort = handle.abort_handle();
    io.run();
    REQUIRE(*polls == 1);
    REQUIRE_THROWS_AS(block_on(std::move(handle)), TaskCancelled);
}

TEST_CASE("wake of a scheduled task posts nothing", "[scheduler][task_state]") {
    boost::asio::io_context io;
    auto slot = std::make_shared<std::optional<Waker>>();
    ParkOnce fut{slot};
    auto polls = fut.polls;
    auto handle = spawn(io, std::move(fut));
    REQUIRE(io.poll() == 1); // first poll: parks
    REQUIRE(slot->has_value());
    io.restart(); // poll() ran out of work and stopped the context
    for (int i = 0; i < 100; ++i) {
        (*slot)->wake_by_ref(); // the first schedules; the rest find it scheduled
    }
    slot->reset();
    REQUIRE(io.poll() == 1); // exactly one run handler was posted
    REQUIRE(*polls == 2);
    REQUIRE(handle.is_finished());
}

TEST_CASE("wake after completion is harmless", "[scheduler][task_state]") {
    boost::asio::io_context io;
    auto slot = std::make_shared<std::optional<Waker>>();
    auto handle = spawn(io, ParkOnce{slot});
    io.poll();
    Waker kept = **slot;
    (*slot)->wake_by_ref();
    io.restart();
    io.poll();
    REQUIRE(handle.is_finished());
    kept.wake_by_ref();
    std::move(kept).wake();
    io.restart();
    REQUIRE(io.poll() == 0);
}

TEST_CASE("yield_now lets another ready task run first", "[scheduler][yield_now]") {
    Runtime rt;
    std::vector<std::string> order;
    auto a = [&]() -> Async<> {
        order.push_back("a1");
        co_await yield_now();
        order.push_back("a2");
    };
    auto b = [&]() -> Async<> {
        order.push_back("b");
        co_return;
    };
    auto main_task = [&]() -> Async<> {
        auto ha = spawn(a());
        auto hb = spawn(b());
        co_await ha;
        co_await hb;
    };
    rt.block_on(main_task());
    REQUIRE(order == std::vector<std::string>{"a1", "b", "a2"});
}

TEST_CASE("spawn_blocking runs the function on another thread and returns its value",
          "[scheduler][spawn_blocking]") {
    Runtime rt;
    const auto loop_thread = std::this_thread::get_id();
    auto body = [&]() -> Async<bool> {
        auto id = co_await spawn_blocking([] { return std::this_thread::get_id(); });
        co_return id != loop_thread;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("spawn_blocking rethrows the function's exception at the await",
          "[scheduler][spawn_blocking]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        co_return co_await spawn_blocking([]() -> int { throw std::runtime_error("blocking"); });
    };
    REQUIRE_THROWS_WITH(rt.block_on(body()), "blocking");
}

TEST_CASE("spawn_blocking functions still running are waited for by ~Runtime",
          "[scheduler][spawn_blocking]") {
    auto finished = std::make_shared<std::atomic<bool>>(false);
    {
        Runtime rt;
        auto body = [&]() -> Async<> {
            auto h = spawn_blocking([finished] {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                finished->store(true);
            });
            (void)h; // detached
            co_return;
        };
        rt.block_on(body());
    }
    REQUIRE(finished->load());
}

// The joiner slot (lib/task/task.cpp, docs/design.md phase 2).
TEST_CASE("a joiner is polled in the handler that completes its task, before handlers queued "
          "earlier",
          "[scheduler][join_handle]") {
    boost::asio::io_context io;
    auto parent = spawn(io, await_spawned_answer());
    REQUIRE(io.run_one() == 1); // the parent spawns the child and awaits it
    bool marker = false;
    boost::asio::post(io, [&marker] { marker = true; });
    REQUIRE(io.run_one() == 1); // the child completes, and the parent is polled after it
    REQUIRE(parent.is_finished());
    REQUIRE_FALSE(marker);
    REQUIRE(io.run_one() == 1);
    REQUIRE(marker);
    REQUIRE(io.poll() == 0);
    REQUIRE(block_on(std::move(parent)) == 42);
}

TEST_CASE("a joiner polled in place and its child are deleted once both are done, awaited or "
          "detached",
          "[scheduler][join_handle]") {
    // The slot's run takes over the child's join waker (TaskHeader::wake_join):
    // a reference lost would leave a task undeleted, one released twice
    // would delete the joiner while it runs.
    const bool detached = GENERATE(false, true);
    Counted::reset();
    boost::asio::io_context io;
    std::optional<JoinHandle<Counted>> parent(spawn(io, await_counted_child()));
    if (detached) {
        parent.reset();
    }
    REQUIRE(io.run() == 2); // the parent, then the child with the parent after it
    if (!detached) {
        REQUIRE(block_on(std::move(*parent)).id == 7);
        parent.reset();
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("a joiner polled in place posts the wake of its own joiner", "[scheduler][join_handle]") {
    boost::asio::io_context io;
    auto grandparent = spawn(io, await_spawned_awaiter());
    REQUIRE(io.run_one() == 1); // the grandparent spawns the parent
    REQUIRE(io.run_one() == 1); // the parent spawns the child
    REQUIRE(io.run_one() == 1); // the child completes, the parent after it
    REQUIRE_FALSE(grandparent.is_finished());
    REQUIRE(io.run_one() == 1); // the grandparent's posted run
    REQUIRE(grandparent.is_finished());
    REQUIRE(io.poll() == 0);
    REQUIRE(block_on(std::move(grandparent)) == 42);
}

TEST_CASE("a joiner on a context that this thread is not running is posted",
          "[scheduler][join_handle]") {
    boost::asio::io_context io1;
    boost::asio::io_context io2;
    auto parent = spawn(io1, await_answer_on(io2));
    REQUIRE(io1.run_one() == 1); // the parent spawns the child onto io2 and awaits it
    REQUIRE(io2.run_one() == 1); // the child completes where io1 is not running
    REQUIRE_FALSE(parent.is_finished());
    io1.restart(); // it ran out of work (the parent was idle) and stopped
    REQUIRE(io1.run_one() == 1);
    REQUIRE(parent.is_finished());
    REQUIRE(block_on(std::move(parent)) == 42);
}
