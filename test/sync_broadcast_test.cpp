#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/broadcast.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace pollux;
using namespace pollux::sync;

TEST_CASE("broadcast every receiver sees every value", "[sync][broadcast]") {
    STATIC_REQUIRE(Future<broadcast::Receiver<int>::Recv>);
    auto [tx, rx1] = broadcast::channel<std::string>(8);
    auto rx2 = tx.subscribe();
    REQUIRE(tx.receiver_count() == 2);
    REQUIRE(tx.send("a"));
    REQUIRE(tx.send("b"));
    for (auto* rx : {&rx1, &rx2}) {
        REQUIRE(*block_on(rx->recv()) == "a");
        REQUIRE(*block_on(rx->recv()) == "b");
        REQUIRE(rx->try_recv().error() == broadcast::TryRecvError::empty);
    }
}

TEST_CASE("broadcast subscribe sees only values sent after it", "[sync][broadcast]") {
    auto [tx, rx] = broadcast::channel<int>(4);
    REQUIRE(tx.send(1));
    auto late = tx.subscribe();
    REQUIRE(tx.send(2));
    REQUIRE(*late.try_recv() == 2);
    REQUIRE(*rx.try_recv() == 1);
    auto re = rx.resubscribe();
    REQUIRE(re.try_recv().error().is_empty());
}

TEST_CASE("broadcast lagging receiver gets lagged(n) then continues from the oldest value",
          "[sync][broadcast]") {
    auto [tx, rx] = broadcast::channel<int>(4);
    for (int i = 0; i < 10; ++i) {
        REQUIRE(tx.send(i));
    }
    REQUIRE(rx.len() == 4);
    auto r = block_on(rx.recv());
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == broadcast::RecvError::lagged);
    REQUIRE(r.error().lagged_by() == 6);
    for (int i = 6; i < 10; ++i) {
        REQUIRE(*block_on(rx.recv()) == i);
    }
    auto e = rx.try_recv();
    REQUIRE(e.error().is_empty());

    SECTION("try_recv reports the lag too") {
        for (int i = 0; i < 5; ++i) {
            REQUIRE(tx.send(i));
        }
        auto t = rx.try_recv();
        REQUIRE(t.error().is_lagged());
        REQUIRE(t.error().lagged_by() == 1);
        REQUIRE(*rx.try_recv() == 1);
    }
}

TEST_CASE("broadcast recv yields closed after every sender is gone and values are read",
          "[sync][broadcast]") {
    auto [tx, rx] = broadcast::channel<int>(4);
    auto tx2 = tx;
    REQUIRE(tx.send(1));
    { auto dropped = std::move(tx); }
    { auto dropped = std::move(tx2); }
    REQUIRE(*block_on(rx.recv()) == 1);
    auto r = block_on(rx.recv());
    REQUIRE(r.error().is_closed());
}

TEST_CASE("broadcast waiting receivers are woken by send and by the last sender's drop",
          "[sync][broadcast]") {
    auto [tx, rx1] = broadcast::channel<int>(2);
    auto rx2 = tx.subscribe();
    test::MockTask t1(rx1.recv());
    test::MockTask t2(rx2.recv());
    REQUIRE(t1.poll().is_pending());
    REQUIRE(t2.poll().is_pending());
    REQUIRE(tx.send(5));
    REQUIRE(t1.is_woken());
    REQUIRE(t2.is_woken());
    REQUIRE(*t1.poll().value() == 5);
    REQUIRE(*t2.poll().value() == 5);

    test::MockTask t3(rx1.recv());
    REQUIRE(t3.poll().is_pending());
    { auto dropped = std::move(tx); }
    REQUIRE(t3.is_woken());
    REQUIRE(t3.poll().value().error().is_closed());
}

TEST_CASE("broadcast recv future dropped while waiting reads nothing", "[sync][broadcast]") {
    auto [tx, rx] = broadcast::channel<int>(2);
    {
        test::MockTask t(rx.recv());
        REQUIRE(t.poll().is_pending());
    }
    REQUIRE(tx.send(3));
    REQUIRE(*rx.try_recv() == 3);
}

TEST_CASE("broadcast send without receivers hands the value back", "[sync][broadcast]") {
    auto [tx, rx] = broadcast::channel<int>(2);
    { auto dropped = std::move(rx); }
    auto r = tx.send(4);
    REQUIRE_FALSE(r);
    REQUIRE(r.error().value == 4);
}

TEST_CASE("broadcast values are destroyed once every receiver has read or dropped them",
          "[sync][broadcast]") {
    test::Counted::reset();
    {
        auto [tx, rx1] = broadcast::channel<test::Counted>(4);
        auto rx2 = tx.subscribe();
        REQUIRE(tx.send(test::Counted(1)));
        REQUIRE(tx.send(test::Counted(2)));
        REQUIRE(rx1.try_recv()->id == 1);
        REQUIRE(rx2.try_recv()->id == 1);  // the last reader: the value moves out
        { auto dropped = std::move(rx2); } // value 2 still held for rx1
        REQUIRE(rx1.try_recv()->id == 2);
        REQUIRE(test::Counted::alive() == 0);
    }
    REQUIRE(test::Counted::alive() == 0);
}

TEST_CASE("broadcast with producer threads and receiver tasks delivers every value to each",
          "[sync][broadcast]") {
    Runtime rt(RuntimeOptions{.worker_threads = 2});
    constexpr int n = 2000;
    auto [tx, rx] = broadcast::channel<int>(n); // big enough: nobody lags
    auto rx2 = tx.subscribe();
    auto consume = [](broadcast::Receiver<int> r) -> Async<long> {
        long sum = 0;
        for (;;) {
            auto v = co_await r.recv();
            if (!v) {
                co_return v.error().is_closed() ? sum : -1; // no Catch2 off the main thread
            }
            sum += *v;
        }
    };
    auto h1 = rt.spawn(consume(std::move(rx)));
    auto h2 = rt.spawn(consume(std::move(rx2)));
    std::thread producer([t = std::move(tx)]() {
        for (int i = 1; i <= n; ++i) {
            (void)t.send(i);
        }
    });
    producer.join();
    const long expected = long{n} * (n + 1) / 2;
    REQUIRE(rt.block_on(std::move(h1)) == expected);
    REQUIRE(rt.block_on(std::move(h2)) == expected);
}
