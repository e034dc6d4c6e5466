#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/notify.hpp>

#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace pollux;
using namespace pollux::sync;

using NotifiedTask = test::MockTask<Notified>;

TEST_CASE("Notify notify_one without waiters stores one permit", "[sync][notify]") {
    STATIC_REQUIRE(Future<Notified>);
    Notify n;
    n.notify_one();
    n.notify_one(); // permits do not add up
    NotifiedTask a(n.notified());
    NotifiedTask b(n.notified());
    REQUIRE(a.poll().is_ready());
    REQUIRE(b.poll().is_pending());
    n.notify_one();
    REQUIRE(b.is_woken());
    REQUIRE(b.poll().is_ready());
}

TEST_CASE("Notify notify_one wakes waiters in FIFO order", "[sync][notify]") {
    Notify n;
    std::vector<std::unique_ptr<NotifiedTask>> ts;
    for (int i = 0; i < 3; ++i) {
        ts.push_back(std::make_unique<NotifiedTask>(n.notified()));
        REQUIRE(ts.back()->poll().is_pending());
    }
    for (std::size_t i = 0; i < 3; ++i) {
        n.notify_one();
        REQUIRE(ts[i]->is_woken());
        for (std::size_t j = i + 1; j < 3; ++j) {
            REQUIRE_FALSE(ts[j]->is_woken());
        }
        REQUIRE(ts[i]->poll().is_ready());
    }
}

TEST_CASE("Notify notified dropped after notify_one passes the permit to the next waiter",
          "[sync][notify]") {
    Notify n;
    auto first = std::make_unique<NotifiedTask>(n.notified());
    NotifiedTask second(n.notified());
    REQUIRE(first->poll().is_pending());
    REQUIRE(second.poll().is_pending());
    n.notify_one();
    REQUIRE(first->is_woken());
    first.reset(); // notified but never completed
    REQUIRE(second.is_woken());
    REQUIRE(second.poll().is_ready());

    SECTION("with no other waiter the permit is stored") {
        auto lone = std::make_unique<NotifiedTask>(n.notified());
        REQUIRE(lone->poll().is_pending());
        n.notify_one();
        lone.reset();
        NotifiedTask later(n.notified());
        REQUIRE(later.poll().is_ready());
    }
}

TEST_CASE("Notify notified dropped while waiting loses nothing", "[sync][notify]") {
    Notify n;
    {
        NotifiedTask t(n.notified());
        REQUIRE(t.poll().is_pending());
    }
    n.notify_one();
    NotifiedTask later(n.notified());
    REQUIRE(later.poll().is_ready());
}

TEST_CASE("Notify notify_waiters wakes every waiter and stores no permit", "[sync][notify]") {
    Notify n;
    std::vector<std::unique_ptr<NotifiedTask>> ts;
    for (int i = 0; i < 20; ++i) { // more than the WakeList keeps in place
        ts.push_back(std::make_unique<NotifiedTask>(n.notified()));
        REQUIRE(ts.back()->poll().is_pending());
    }
    n.notify_waiters();
    for (auto& t : ts) {
        REQUIRE(t->is_woken());
        REQUIRE(t->poll().is_ready());
    }
    NotifiedTask later(n.notified());
    REQUIRE(later.poll().is_pending());
}

TEST_CASE("Notify notify_waiters wakes futures created before it, even unpolled",
          "[sync][notify]") {
    Notify n;
    NotifiedTask early(n.notified());
    n.notify_waiters();
    NotifiedTask late(n.notified());
    REQUIRE(early.poll().is_ready());
    REQUIRE(late.poll().is_pending());
}

TEST_CASE("Notify notified moved between polls still completes", "[sync][notify]") {
    Notify n;
    auto t = std::make_unique<NotifiedTask>(n.notified());
    REQUIRE(t->poll().is_pending());
    Notified moved = std::move(t->future());
    n.notify_one();
    REQUIRE(t->is_woken());
    Context cx(t->waker());
    REQUIRE(moved.poll(cx).is_ready());
}

namespace {
constexpr int rounds = 1000;
} // namespace

TEST_CASE("Notify ping-pongs between a runtime task and a plain thread", "[sync][notify]") {
    Runtime rt(RuntimeOptions{.worker_threads = 2});
    auto ping = std::make_shared<Notify>();
    auto pong = std::make_shared<Notify>();
    auto task = [](std::shared_ptr<Notify> in, std::shared_ptr<Notify> out) -> Async<int> {
        for (int i = 0; i < rounds; ++i) {
            co_await in->notified();
            out->notify_one();
        }
        co_return rounds;
    };
    auto h = rt.spawn(task(ping, pong));
    std::thread t([ping, pong]() {
        for (int i = 0; i < rounds; ++i) {
            ping->notify_one();
            block_on(pong->notified()); // each round waits for the task's answer
        }
    });
    t.join();
    REQUIRE(rt.block_on(std::move(h)) == rounds);
}
