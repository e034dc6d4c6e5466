// Issue 14, "Lifetimes across shutdown": use_future operations and pollux's
// I/O blocks (Sleep, Interval, the net sockets) dropped after, or on another
// thread than, their io_context or I/O object. Each case is a repro from
// review; before the fix the ASan+UBSan build reported a heap-use-after-free
// (or use-after-scope) for each, because the drop *posted* its cancellation
// or its block's destruction to the context. docs/lifetimes-io-rows.md
// states the contract these cases pin.
#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/select.hpp>
#include <pollux/net/tcp_listener.hpp>
#include <pollux/net/tcp_stream.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/interval.hpp>
#include <pollux/time/sleep.hpp>

#include "support/mock_task.hpp"
#include "support/open_fds.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <sys/socket.h>
#include <thread>
#include <utility>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

using pollux::test::open_fds;

// Keeps the one thread of an io_context busy from when it runs this handler
// until release() (or destruction), so that anything posted after it waits.
class Blocker {
public:
    explicit Blocker(asio::io_context& io) : released_(std::make_shared<std::atomic<bool>>(false)) {
        // The handler shares the flag: it may still read it after ~Blocker.
        asio::post(io, [released = released_] {
            while (!released->load()) {
                std::this_thread::yield();
            }
        });
    }
    Blocker(const Blocker&) = delete;
    Blocker& operator=(const Blocker&) = delete;
    ~Blocker() { release(); }
    void release() noexcept { released_->store(true); }

private:
    std::shared_ptr<std::atomic<bool>> released_;
};

// Polls `*f` once inside a task of `rt` and returns whether it was Pending:
// arms the wait of a Sleep, an Interval tick or a socket read there.
template <class PollOnce>
bool poll_once_in(Runtime& rt, PollOnce once) {
    return rt.block_on(poll_fn<bool>([&](Context& cx) -> Poll<bool> { return Ready{once(cx)}; }));
}

bool arm_sleep(Runtime& rt, time::Sleep& s) {
    return poll_once_in(rt, [&](Context& cx) { return s.poll(cx).is_pending(); });
}

} // namespace

// ---- use_future ---------------------------------------------------------------

TEST_CASE("a use_future wait dropped on another thread is cancelled before its timer is destroyed",
          "[io_lifetime][use_future][threads]") {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    {
        auto timer = std::make_unique<asio::steady_timer>(io, 1h);
        Blocker busy(io); // whatever the drop would post runs only after release
        {
            test::MockTask task(timer->async_wait(use_future));
            REQUIRE(task.poll().is_pending()); // initiated from this thread
        }                                      // dropped here, off the io_context's thread
        // The terminal cancellation was emitted by the drop itself: no wait
        // is left for cancel() to find. (CHECK: the runner must be joined.)
        CHECK(timer->cancel() == 0);
        timer.reset(); // the owner destroys its timer, as Asio allows
        busy.release();
    }
    guard.reset();
    runner.join();
}

TEST_CASE("a use_future timer of another runtime lost in select is cancelled before the timer dies",
          "[io_lifetime][use_future][threads]") {
    RuntimeOptions one_worker;
    one_worker.worker_threads = 1;
    Runtime rt_b(one_worker); // owns the timer's io_context
    Runtime rt_a;             // runs the coroutine on this thread
    std::size_t left_after_drop = 99;
    {
        Blocker busy(rt_b.io_context());
        rt_a.block_on([&]() -> Async<void> {
            asio::steady_timer t(rt_b.io_context(), 1h);
            auto r = co_await select(t.async_wait(use_future), time::sleep(1ms));
            REQUIRE(r.index() == 1);
            left_after_drop = t.cancel();
        }()); // ~steady_timer at the coroutine's end, while rt_b is still busy
    }
    REQUIRE(left_after_drop == 0);
}

TEST_CASE("a use_future wait whose io_context was destroyed first is dropped without emitting",
          "[io_lifetime][use_future]") {
    using Wait = decltype(std::declval<asio::steady_timer&>().async_wait(use_future));
    std::unique_ptr<test::MockTask<Wait>> task;
    {
        asio::io_context io;
        asio::steady_timer timer(io, 1h);
        task = std::make_unique<test::MockTask<Wait>>(timer.async_wait(use_future));
        REQUIRE(task->poll().is_pending());
    } // the timer, then the io_context, which destroys the handler unrun
    // The operation can never complete now; the future says Pending.
    REQUIRE(task->poll().is_pending());
    REQUIRE_FALSE(task->is_woken());
    task.reset(); // must not emit into the deleted timer service
}

// ---- time ---------------------------------------------------------------------

TEST_CASE("a Sleep dropped after its Runtime touches nothing", "[io_lifetime][time]") {
    auto s = std::make_unique<time::Sleep>(time::sleep(1h));
    {
        Runtime rt;
        REQUIRE(arm_sleep(rt, *s)); // its timer wait is in flight
    }
    s.reset(); // the context is gone: no dispatch, no timer destructor
}

TEST_CASE("an Interval dropped after its Runtime touches nothing", "[io_lifetime][time]") {
    auto every = std::make_unique<time::Interval>(time::interval_at(time::Clock::now() + 1h, 1s));
    {
        Runtime rt;
        REQUIRE(poll_once_in(rt, [&](Context& cx) { return every->poll_tick(cx).is_pending(); }));
    }
    every.reset();
}

TEST_CASE("a Sleep dropped by a handler the shutdown destroys unrun is freed with the context",
          "[io_lifetime][time]") {
    // The scheduler is the io_context's oldest service: it destroys queued
    // handlers after SchedulerService closed the gate and before any service
    // is deleted, so this drop is refused and its memory deferred to the end.
    auto s = std::make_unique<time::Sleep>(time::sleep(1h));
    Runtime rt;
    REQUIRE(arm_sleep(rt, *s));
    // A current-thread Runtime runs its loop only inside block_on.
    asio::post(rt.io_context(), [s = std::move(s)] {});
}

TEST_CASE("a Sleep dropped on another thread while its Runtime runs is destroyed there",
          "[io_lifetime][time][threads]") {
    RuntimeOptions one_worker;
    one_worker.worker_threads = 1;
    Runtime rt(one_worker);
    for (int i = 0; i < 20; ++i) {
        auto s = std::make_unique<time::Sleep>(time::sleep(1h));
        REQUIRE(arm_sleep(rt, *s)); // polled on the worker
        // Emits the cancellation and destroys the timer on that thread,
        // while the worker may be completing the wait (TSan checks this).
        std::thread([&] { s.reset(); }).join();
    }
}

TEST_CASE("a Sleep dropped on another thread while its Runtime is destroyed touches nothing of it",
          "[io_lifetime][time][threads]") {
    // ~Runtime closes the gate to other threads before any service shuts
    // down, so the drop either finishes before (and destroys the timer) or
    // is refused (and frees the memory later); it never meets the reactor's
    // unlocked shutdown (TSan and ASan check this).
    for (int round = 0; round < 50; ++round) {
        auto s = std::make_unique<time::Sleep>(time::sleep(1h));
        RuntimeOptions two;
        two.worker_threads = 2;
        auto rt = std::make_unique<Runtime>(two);
        REQUIRE(arm_sleep(*rt, *s));
        std::atomic<bool> go{false};
        std::thread dropper([&] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            s.reset();
        });
        go = true;
        rt.reset();
        dropper.join();
    }
}

TEST_CASE("a Sleep left pending in a task is dropped by the Runtime's shutdown",
          "[io_lifetime][time]") {
    Runtime rt;
    rt.block_on([]() -> Async<void> {
        (void)spawn([]() -> Async<void> { co_await time::sleep(1h); }());
        co_await time::sleep(1ms); // the task is now parked on its sleep
    }());
    // ~Runtime drops the task's future with the gate still open.
}

// ---- net ----------------------------------------------------------------------

TEST_CASE("a TcpStream dropped after its Runtime closes its descriptor",
          "[io_lifetime][net][tcp]") {
    const std::size_t before = open_fds();
    std::optional<net::TcpStream> client;
    std::optional<net::TcpStream> server;
    {
        Runtime rt;
        rt.block_on([&]() -> Async<void> {
            auto l = net::TcpListener::bind("127.0.0.1:0");
            REQUIRE(l.has_value());
            auto c = co_await net::TcpStream::connect(*l->local_addr());
            REQUIRE(c.has_value());
            auto a = co_await l->accept();
            REQUIRE(a.has_value());
            client.emplace(std::move(*c));
            server.emplace(std::move(a->first));
        }());
        // A read in flight on one stream, none on the other.
        char buf[8];
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            return client->poll_read(cx, asio::buffer(buf)).is_pending();
        }));
    }
    client.reset();
    server.reset();
    REQUIRE(open_fds() == before);
}

namespace {

// A connected pair on `rt`, made in one of its tasks.
std::pair<net::TcpStream, net::TcpStream> tcp_pair(Runtime& rt) {
    return rt.block_on([]() -> Async<std::pair<net::TcpStream, net::TcpStream>> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        REQUIRE(l.has_value());
        auto c = co_await net::TcpStream::connect(*l->local_addr());
        REQUIRE(c.has_value());
        auto a = co_await l->accept();
        REQUIRE(a.has_value());
        co_return std::pair<net::TcpStream, net::TcpStream>(std::move(*c), std::move(a->first));
    }());
}

// Queues the read wait of `s` (its next poll_read would block).
bool arm_read(Runtime& rt, net::TcpStream& s) {
    return poll_once_in(rt, [&](Context& cx) {
        char buf[8];
        return s.poll_read(cx, asio::buffer(buf)).is_pending();
    });
}

} // namespace

TEST_CASE("a TcpStream with a read wait queued, dropped on another thread while data arrives, "
          "touches nothing freed",
          "[io_lifetime][net][tcp][threads]") {
    // The drop closes the socket, which aborts the queued wait; the worker
    // may be completing it for the peer's bytes at the same time. The wait
    // owns its shared state, so its completion may run after the stream's
    // block is gone (ASan and TSan check this).
    RuntimeOptions one_worker;
    one_worker.worker_threads = 1;
    Runtime rt(one_worker);
    (void)tcp_pair(rt); // the reactor's own descriptors are made now
    const std::size_t before = open_fds();
    for (int i = 0; i < 20; ++i) {
        auto pair = tcp_pair(rt);
        auto c = std::make_unique<net::TcpStream>(std::move(pair.first));
        REQUIRE(arm_read(rt, *c));
        const int peer = pair.second.socket().native_handle();
        std::thread writer([peer] { (void)::send(peer, "x", 1, MSG_NOSIGNAL); });
        std::thread([&] { c.reset(); }).join();
        writer.join();
    }
    // Let the aborted completions run, then every descriptor is closed.
    rt.block_on(time::sleep(10ms));
    REQUIRE(open_fds() == before);
}

TEST_CASE("a TcpStream with a read wait queued, dropped on another thread while its Runtime is "
          "destroyed, touches nothing of it",
          "[io_lifetime][net][tcp][threads]") {
    const std::size_t before = open_fds();
    for (int round = 0; round < 20; ++round) {
        RuntimeOptions two;
        two.worker_threads = 2;
        auto rt = std::make_unique<Runtime>(two);
        auto pair = tcp_pair(*rt);
        auto c = std::make_unique<net::TcpStream>(std::move(pair.first));
        REQUIRE(arm_read(*rt, *c));
        std::atomic<bool> go{false};
        std::thread dropper([&] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            c.reset();
        });
        go = true;
        rt.reset();
        dropper.join();
        // pair.second, made on the destroyed runtime too, is dropped after it.
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("a TcpListener dropped after its Runtime closes its descriptor",
          "[io_lifetime][net][tcp]") {
    const std::size_t before = open_fds();
    std::optional<net::TcpListener> listener;
    {
        Runtime rt;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            auto l = net::TcpListener::bind("127.0.0.1:0");
            REQUIRE(l.has_value());
            listener.emplace(std::move(*l));
            return listener->poll_accept(cx).is_pending(); // an accept in flight
        }));
    }
    listener.reset();
    REQUIRE(open_fds() == before);
}
