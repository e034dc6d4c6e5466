#include <pollux/core/context.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/detail/arc_wake.hpp>

#include "support/wakers.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;
using pollux::test::CountingWaker;

TEST_CASE("Waker clones and drops balance through copies, moves, wake and destruction",
          "[core][waker]") {
    CountingWaker counter;
    {
        Waker a = counter.waker();
        Waker b = a;            // clone
        Waker c = std::move(b); // move: no clone, b becomes noop
        Waker d = Waker::noop();
        d = c;            // clone into d
        d = std::move(a); // drops d's old reference, takes a's
        std::vector<Waker> many(8, c);
        std::move(c).wake();        // consumes c's reference
        many.front().wake_by_ref(); // keeps it
        REQUIRE(counter.wakes() == 2);
        REQUIRE(counter.live() == 1 + 8); // d and the vector
    }
    REQUIRE(counter.live() == 0);
    // Every clone and the creation are matched by a drop or a consuming wake.
    REQUIRE(counter.clones() + 1 == counter.drops() + 1);
}

TEST_CASE("Waker wake consumes the reference and leaves a noop waker", "[core][waker]") {
    CountingWaker counter;
    Waker w = counter.waker();
    std::move(w).wake();
    REQUIRE(counter.live() == 0);
    REQUIRE(w.will_wake(Waker::noop()));
    w.wake_by_ref(); // a noop now
    REQUIRE(counter.wakes() == 1);
}

TEST_CASE("Waker moved-from behaves as noop", "[core][waker]") {
    CountingWaker counter;
    Waker a = counter.waker();
    Waker b = std::move(a);
    REQUIRE(a.will_wake(Waker::noop()));
    a.wake_by_ref();
    REQUIRE(counter.wakes() == 0);
    REQUIRE(b.will_wake(b));
}

TEST_CASE("Waker will_wake compares data and vtable", "[core][waker]") {
    CountingWaker one, two;
    Waker a = one.waker();
    Waker a2 = a;
    Waker b = two.waker();
    REQUIRE(a.will_wake(a2));
    REQUIRE_FALSE(a.will_wake(b));
    REQUIRE_FALSE(a.will_wake(Waker::noop()));
}

TEST_CASE("Waker noop does nothing and can be cloned freely", "[core][waker]") {
    Waker w = Waker::noop();
    Waker w2 = w;
    w2.wake_by_ref();
    std::move(w2).wake();
    REQUIRE(w.will_wake(Waker::noop()));
}

namespace {
struct Flag {
    std::atomic<int> wakes{0};
    void wake() { wakes.fetch_add(1); }
};
} // namespace

TEST_CASE("waker_from calls wake on the shared object and keeps it alive", "[core][waker]") {
    auto flag = std::make_shared<Flag>();
    std::weak_ptr<Flag> weak = flag;
    Waker w = waker_from(flag);
    flag.reset();
    REQUIRE_FALSE(weak.expired()); // the waker keeps it
    Waker w2 = w;
    w.wake_by_ref();
    std::move(w).wake();
    REQUIRE(weak.lock()->wakes.load() == 2);
    REQUIRE_FALSE(weak.expired());
    { Waker gone = std::move(w2); }
    REQUIRE(weak.expired());
}

TEST_CASE("Waker may be cloned, woken and dropped from many threads", "[core][waker]") {
    auto flag = std::make_shared<Flag>();
    std::weak_ptr<Flag> weak = flag;
    Waker w = waker_from(std::move(flag));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([copy = w] {
            for (int i = 0; i < 1000; ++i) {
                Waker c = copy;
                c.wake_by_ref();
                std::move(c).wake();
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    REQUIRE(weak.lock()->wakes.load() == 8000);
    { Waker gone = std::move(w); }
    REQUIRE(weak.expired());
}

TEST_CASE("Context hands out the waker it was built with", "[core][context]") {
    CountingWaker counter;
    Waker w = counter.waker();
    Context cx(w);
    REQUIRE(&cx.waker() == &w);
    cx.waker().wake_by_ref();
    REQUIRE(counter.wakes() == 1);
}
