#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/watch.hpp>

#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <thread>

using namespace pollux;
using namespace pollux::sync;

TEST_CASE("watch borrow shows the initial value, which counts as seen", "[sync][watch]") {
    STATIC_REQUIRE(Future<watch::Receiver<int>::Changed>);
    auto [tx, rx] = watch::channel<std::string>("init");
    REQUIRE(*rx.borrow() == "init");
    REQUIRE_FALSE(rx.borrow().has_changed());
    REQUIRE(*tx.borrow() == "init");
    REQUIRE(rx.has_changed().value() == false);
}

TEST_CASE("watch changed completes after send and marks the value seen", "[sync][watch]") {
    auto [tx, rx] = watch::channel<int>(0);
    test::MockTask t(rx.changed());
    REQUIRE(t.poll().is_pending());
    REQUIRE(tx.send(1));
    REQUIRE(t.is_woken());
    REQUIRE(t.poll().value().has_value());
    REQUIRE(*rx.borrow() == 1);
    REQUIRE_FALSE(rx.has_changed().value());
}

TEST_CASE("watch changed is ready at once when an unseen value is there", "[sync][watch]") {
    auto [tx, rx] = watch::channel<int>(0);
    REQUIRE(tx.send(1));
    REQUIRE(tx.send(2)); // only the latest value is kept
    REQUIRE(rx.has_changed().value());
    REQUIRE(block_on(rx.changed()).has_value());
    REQUIRE(*rx.borrow() == 2);
}

TEST_CASE("watch changed reports closed after the sender is dropped", "[sync][watch]") {
    auto [tx, rx] = watch::channel<int>(0);
    test::MockTask t(rx.changed());
    REQUIRE(t.poll().is_pending());
    { auto dropped = std::move(tx); }
    REQUIRE(t.is_woken());
    REQUIRE(t.poll().value().error() == errc::closed);
    REQUIRE(*rx.borrow() == 0); // the last value stays readable
    REQUIRE(rx.has_changed().error() == errc::closed);
}

TEST_CASE("watch changed after a final send still sees it before closed", "[sync][watch]") {
    auto [tx, rx] = watch::channel<int>(0);
    REQUIRE(tx.send(5));
    { auto dropped = std::move(tx); }
    REQUIRE(block_on(rx.changed()).has_value());
    REQUIRE(block_on(rx.changed()).error() == errc::closed);
}

TEST_CASE("watch send wakes every receiver", "[sync][watch]") {
    auto [tx, rx1] = watch::channel<int>(0);
    auto rx2 = tx.subscribe();
    auto rx3 = rx1; // a copy has seen the same version
    test::MockTask t1(rx1.changed());
    test::MockTask t2(rx2.changed());
    test::MockTask t3(rx3.changed());
    REQUIRE(t1.poll().is_pending());
    REQUIRE(t2.poll().is_pending());
    REQUIRE(t3.poll().is_pending());
    REQUIRE(tx.receiver_count() == 3);
    tx.send_modify([](int& v) { v += 10; });
    REQUIRE((t1.is_woken() && t2.is_woken() && t3.is_woken()));
    REQUIRE(t1.poll().is_ready());
    REQUIRE(t2.poll().is_ready());
    REQUIRE(t3.poll().is_ready());
    REQUIRE(*rx2.borrow() == 10);
}

TEST_CASE("watch changed dropped before it completes leaves the change to see", "[sync][watch]") {
    auto [tx, rx] = watch::channel<int>(0);
    {
        test::MockTask t(rx.changed());
        REQUIRE(t.poll().is_pending());
    }
    REQUIRE(tx.send(1));
    REQUIRE(rx.has_changed().value());
    auto r = rx.borrow_and_update();
    REQUIRE(r.has_changed());
    REQUIRE(*r == 1);
}

TEST_CASE("watch send fails without receivers; send_replace always stores", "[sync][watch]") {
    auto [tx, rx] = watch::channel<int>(0);
    { auto dropped = std::move(rx); }
    REQUIRE(tx.is_closed());
    auto r = tx.send(3);
    REQUIRE_FALSE(r);
    REQUIRE(r.error().value == 3);
    REQUIRE(tx.send_replace(4) == 0);
    REQUIRE(*tx.borrow() == 4);
    REQUIRE_FALSE(tx.send_if_modified([](int&) { return false; }));
}

TEST_CASE("watch receiver task follows a producer thread to its last value", "[sync][watch]") {
    Runtime rt(RuntimeOptions{.worker_threads = 2});
    auto [tx, rx] = watch::channel<int>(0);
    auto follow = [](watch::Receiver<int> r) -> Async<int> {
        int last = 0;
        bool monotonic = true; // checked on the main thread: Catch2 is not thread-safe
        while (co_await r.changed()) {
            const int v = *r.borrow();
            monotonic = monotonic && v >= last;
            last = v;
        }
        co_return monotonic ? last : -1;
    };
    auto h = rt.spawn(follow(std::move(rx)));
    std::thread producer([t = std::move(tx)]() {
        for (int i = 1; i <= 5000; ++i) {
            (void)t.send(i);
        }
    });
    producer.join();
    REQUIRE(rt.block_on(std::move(h)) == 5000);
}
