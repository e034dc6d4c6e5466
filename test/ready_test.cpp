#include <pollux/core/block_on.hpp>
#include <pollux/core/lazy.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/ready.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"
#include "support/wakers.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::CountingWaker;
using pollux::test::MockTask;

// ready

TEST_CASE("ready is a Future of the decayed argument type", "[core][ready]") {
    STATIC_REQUIRE(Future<ReadyFuture<int>>);
    STATIC_REQUIRE(std::is_same_v<decltype(ready(1)), ReadyFuture<int>>);
    const std::string s = "x";
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(ready(s))>, std::string>);
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(ready("lit"))>, const char*>);
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(ready())>, void>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<ReadyFuture<std::unique_ptr<int>>>);
}

TEST_CASE("ready is ready on the first poll with its value", "[core][ready]") {
    MockTask task(ready(42));
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 42);
    REQUIRE(task.wake_count() == 0);
}

TEST_CASE("ready of void is ready on the first poll", "[core][ready]") {
    MockTask task(ready());
    REQUIRE(task.poll().is_ready());
}

TEST_CASE("ready moves its value out without copying or leaking", "[core][ready]") {
    Counted::reset();
    {
        Counted out = block_on(ready(Counted(7)));
        REQUIRE(out.id == 7);
        REQUIRE(Counted::copies == 0);
        REQUIRE(Counted::alive() == 1);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("ready dropped before its poll destroys the value", "[core][ready]") {
    Counted::reset();
    { auto f = ready(Counted(1)); }
    REQUIRE(Counted::alive() == 0);
    REQUIRE(Counted::copies == 0);
}

TEST_CASE("ready of a move-only value works", "[core][ready]") {
    auto v = block_on(ready(std::make_unique<int>(5)));
    REQUIRE(*v == 5);
}

// pending

TEST_CASE("pending never returns Ready and never wakes", "[core][pending]") {
    CountingWaker counter;
    {
        Waker w = counter.waker();
        Context cx(w);
        auto f = pending<int>();
        for (int i = 0; i < 100; ++i) {
            REQUIRE(f.poll(cx).is_pending());
        }
    }
    REQUIRE(counter.wakes() == 0);
    REQUIRE(counter.clones() == 0);
    REQUIRE(counter.live() == 0);
}

TEST_CASE("pending of void is a Future of void", "[core][pending]") {
    STATIC_REQUIRE(Future<PendingFuture<void>>);
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(pending<void>())>, void>);
    MockTask task(pending<void>());
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.wake_count() == 0);
}

// poll_fn

TEST_CASE("poll_fn calls f with the poll's context on every poll", "[core][poll_fn]") {
    int calls = 0;
    MockTask task(poll_fn<int>([&calls](Context& cx) -> Poll<int> {
        if (++calls < 3) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        return Ready{calls * 10};
    }));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().is_pending());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 30);
    REQUIRE(calls == 3);
    REQUIRE(task.wake_count() == 2);
}

TEST_CASE("poll_fn runs nothing before its first poll", "[core][poll_fn]") {
    int calls = 0;
    auto f = poll_fn<void>([&calls](Context&) -> Poll<void> {
        ++calls;
        return Ready<void>{};
    });
    REQUIRE(calls == 0);
    block_on(std::move(f));
    REQUIRE(calls == 1);
}

TEST_CASE("poll_fn keeps state in its captures across polls and moves", "[core][poll_fn]") {
    auto f = poll_fn<int>([n = 0](Context& cx) mutable -> Poll<int> {
        if (++n < 2) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        return Ready{n};
    });
    Context cx(Waker::noop());
    REQUIRE(f.poll(cx).is_pending());
    auto moved = std::move(f);
    auto p = moved.poll(cx);
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 2);
}

TEST_CASE("poll_fn rethrows what f throws", "[core][poll_fn]") {
    auto f = poll_fn<int>([](Context&) -> Poll<int> { throw std::runtime_error("boom"); });
    REQUIRE_THROWS_AS(block_on(std::move(f)), std::runtime_error);
}

// lazy

TEST_CASE("lazy runs nothing before its first poll", "[core][lazy]") {
    int calls = 0;
    auto f = lazy([&calls] { return ++calls; });
    auto moved = std::move(f);
    REQUIRE(calls == 0);
    MockTask task(std::move(moved));
    REQUIRE(calls == 0);
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 1);
    REQUIRE(calls == 1);
}

TEST_CASE("lazy of a void function is a future of void", "[core][lazy]") {
    bool ran = false;
    auto f = lazy([&ran] { ran = true; });
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, void>);
    block_on(std::move(f));
    REQUIRE(ran);
}

TEST_CASE("lazy copies a returned reference into its output", "[core][lazy]") {
    std::string s = "kept";
    auto f = lazy([&s]() -> const std::string& { return s; });
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, std::string>);
    REQUIRE(block_on(std::move(f)) == "kept");
}

TEST_CASE("lazy moves the result out of f without copying", "[core][lazy]") {
    Counted::reset();
    {
        Counted c = block_on(lazy([] { return Counted(3); }));
        REQUIRE(c.id == 3);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("lazy dropped before its poll destroys f without calling it", "[core][lazy]") {
    Counted::reset();
    bool ran = false;
    {
        auto f = lazy([c = Counted(1), &ran] { ran = true; });
        REQUIRE(Counted::alive() == 1);
    }
    REQUIRE_FALSE(ran);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("lazy rethrows what f throws", "[core][lazy]") {
    auto f = lazy([]() -> int { throw std::runtime_error("boom"); });
    REQUIRE_THROWS_AS(block_on(std::move(f)), std::runtime_error);
}
