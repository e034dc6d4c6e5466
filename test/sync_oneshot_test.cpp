#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/oneshot.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <thread>

using namespace pollux;
using namespace pollux::sync;

TEST_CASE("oneshot send then receive yields the value", "[sync][oneshot]") {
    auto [tx, rx] = oneshot::channel<std::string>();
    REQUIRE(tx.send("hello"));
    Result<std::string> r = block_on(std::move(rx));
    REQUIRE(r.has_value());
    REQUIRE(*r == "hello");
}

TEST_CASE("oneshot recv after sender dropped yields closed", "[sync][oneshot]") {
    auto [tx, rx] = oneshot::channel<int>();
    test::MockTask t(std::move(rx));
    REQUIRE(t.poll().is_pending());
    { auto dropped = std::move(tx); }
    REQUIRE(t.is_woken());
    auto p = t.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value().error() == errc::closed);
}

TEST_CASE("oneshot receiver is woken by send", "[sync][oneshot]") {
    auto [tx, rx] = oneshot::channel<int>();
    test::MockTask t(std::move(rx));
    REQUIRE(t.poll().is_pending());
    REQUIRE_FALSE(t.is_woken());
    REQUIRE(tx.send(5));
    REQUIRE(t.wake_count() == 1);
    auto p = t.poll();
    REQUIRE(p.is_ready());
    REQUIRE(*p.value() == 5);
}

TEST_CASE("oneshot send after receiver dropped returns the value", "[sync][oneshot]") {
    auto [tx, rx] = oneshot::channel<std::unique_ptr<int>>();
    REQUIRE_FALSE(tx.is_closed());
    { auto dropped = std::move(rx); }
    REQUIRE(tx.is_closed());
    auto r = tx.send(std::make_unique<int>(9));
    REQUIRE_FALSE(r);
    REQUIRE(r.code() == errc::closed);
    REQUIRE(*std::move(r).error().value == 9);
}

TEST_CASE("oneshot try_recv reports empty, then the value, then closed", "[sync][oneshot]") {
    auto [tx, rx] = oneshot::channel<int>();
    auto r1 = rx.try_recv();
    REQUIRE(r1.error() == TryRecvError::empty);
    REQUIRE(tx.send(3));
    auto r2 = rx.try_recv();
    REQUIRE(*r2 == 3);
    REQUIRE(rx.try_recv().error() == TryRecvError::closed);
}

TEST_CASE("oneshot try_recv after sender dropped reports closed", "[sync][oneshot]") {
    auto [tx, rx] = oneshot::channel<int>();
    { auto dropped = std::move(tx); }
    REQUIRE(rx.try_recv().error() == TryRecvError::closed);
}

TEST_CASE("oneshot close fails later sends but keeps a value sent before", "[sync][oneshot]") {
    SECTION("value sent before close") {
        auto [tx, rx] = oneshot::channel<int>();
        REQUIRE(tx.send(1));
        rx.close();
        REQUIRE(*block_on(std::move(rx)) == 1);
    }
    SECTION("send after close") {
        auto [tx, rx] = oneshot::channel<int>();
        rx.close();
        auto r = tx.send(2);
        REQUIRE_FALSE(r);
        REQUIRE(r.error().value == 2);
        REQUIRE(block_on(std::move(rx)).error() == errc::closed);
    }
}

TEST_CASE("oneshot Sender closed completes when the receiver is dropped", "[sync][oneshot]") {
    auto [tx, rx] = oneshot::channel<int>();
    test::MockTask t(tx.closed());
    REQUIRE(t.poll().is_pending());
    { auto dropped = std::move(rx); }
    REQUIRE(t.is_woken());
    REQUIRE(t.poll().is_ready());
}

TEST_CASE("oneshot receiver dropped destroys an unreceived value once", "[sync][oneshot]") {
    test::Counted::reset();
    {
        auto [tx, rx] = oneshot::channel<test::Counted>();
        REQUIRE(tx.send(test::Counted(1)));
    }
    REQUIRE(test::Counted::alive() == 0);
    REQUIRE(test::Counted::copies == 0);
}

TEST_CASE("oneshot receiver with no budget left returns Pending without taking the value",
          "[sync][oneshot][coop]") {
    auto [tx, rx] = oneshot::channel<int>();
    REQUIRE(tx.send(4));
    test::MockTask t(std::move(rx)); // for its waker
    Budget spent(0);
    Context cx(t.waker(), &spent);
    REQUIRE(t.future().poll(cx).is_pending());
    REQUIRE(t.is_woken());
    Budget one(1);
    Context cx1(t.waker(), &one);
    auto p = t.future().poll(cx1);
    REQUIRE(p.is_ready());
    REQUIRE(*p.value() == 4);
    REQUIRE(one.remaining() == 0);
}

TEST_CASE("oneshot delivers across threads of a multi-thread Runtime", "[sync][oneshot]") {
    Runtime rt(RuntimeOptions{.worker_threads = 2});
    for (int i = 0; i < 200; ++i) {
        auto [tx, rx] = oneshot::channel<int>();
        std::thread producer([t = std::move(tx), i]() mutable { (void)t.send(i); });
        auto consumer = [](oneshot::Receiver<int> r) -> Async<int> {
            co_return *(co_await std::move(r));
        };
        auto h = rt.spawn(consumer(std::move(rx)));
        REQUIRE(rt.block_on(std::move(h)) == i);
        producer.join();
    }
}
