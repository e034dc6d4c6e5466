#include <pollux/core/block_on.hpp>
#include <pollux/core/box_future.hpp>
#include <pollux/core/map.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/ready.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::MockTask;

namespace {

// Pending (with a self-wake) `n` times, then Ready(value); holds a Counted so
// that tests can see when it is destroyed.
struct CountedCountdown {
    using Output = int;
    int remaining;
    int value;
    Counted tracker{0};
    Poll<int> poll(Context& cx) {
        if (remaining-- > 0) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        return Ready{value};
    }
};

struct Throws {
    using Output = int;
    Poll<int> poll(Context&) { throw std::runtime_error("boom"); }
};

} // namespace

TEST_CASE("BoxFuture is a move-only Future of its output", "[core][box_future]") {
    STATIC_REQUIRE(Future<BoxFuture<int>>);
    STATIC_REQUIRE(Future<BoxFuture<void>>);
    STATIC_REQUIRE(std::is_same_v<output_t<BoxFuture<int>>, int>);
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<BoxFuture<int>>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<BoxFuture<int>>);
    STATIC_REQUIRE(std::is_nothrow_move_assignable_v<BoxFuture<int>>);
    STATIC_REQUIRE(std::is_same_v<LocalBoxFuture<int>, BoxFuture<int>>);
}

TEST_CASE("BoxFuture converts implicitly only from futures of the same output",
          "[core][box_future]") {
    STATIC_REQUIRE(std::is_convertible_v<ReadyFuture<int>, BoxFuture<int>>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<ReadyFuture<long>, BoxFuture<int>>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<int, BoxFuture<int>>);
    STATIC_REQUIRE_FALSE(std::is_convertible_v<BoxFuture<long>, BoxFuture<int>>);
}

TEST_CASE("BoxFuture erases the type of different futures with one output", "[core][box_future]") {
    std::vector<BoxFuture<int>> fs;
    fs.push_back(ready(1));
    fs.push_back(map(ready(1), [](int v) { return v + 1; }));
    fs.push_back(poll_fn<int>([](Context&) -> Poll<int> { return Ready{3}; }));
    fs.push_back(CountedCountdown{2, 4});
    int expected = 1;
    for (auto& f : fs) {
        REQUIRE(block_on(f) == expected++);
    }
}

TEST_CASE("BoxFuture moves between polls and keeps the erased future's state",
          "[core][box_future]") {
    Counted::reset();
    {
        BoxFuture<int> a = CountedCountdown{1, 9};
        const auto moves_after_boxing = Counted::moves;
        Context cx(Waker::noop());
        REQUIRE(a.poll(cx).is_pending());
        BoxFuture<int> b = std::move(a);
        BoxFuture<int> c = ready(0);
        c = std::move(b);
        auto p = c.poll(cx);
        REQUIRE(p.is_ready());
        REQUIRE(p.value() == 9);
        // Moving the box moved a pointer, never the erased future.
        REQUIRE(Counted::moves == moves_after_boxing);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("BoxFuture destroys the erased future when it is destroyed before completion",
          "[core][box_future]") {
    Counted::reset();
    {
        BoxFuture<int> f = CountedCountdown{5, 1};
        MockTask task(std::move(f));
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 1);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("BoxFuture passes the caller's context to the erased future", "[core][box_future]") {
    MockTask task(BoxFuture<int>(CountedCountdown{1, 5}));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().value() == 5);
}

TEST_CASE("BoxFuture of void completes", "[core][box_future]") {
    BoxFuture<void> f = ready();
    block_on(std::move(f));
    SUCCEED();
}

TEST_CASE("BoxFuture rethrows what the erased future throws", "[core][box_future]") {
    BoxFuture<int> f = Throws{};
    REQUIRE_THROWS_AS(block_on(std::move(f)), std::runtime_error);
}

TEST_CASE("boxed returns a BoxFuture of the future's output", "[core][box_future]") {
    auto b = boxed(ready(42));
    STATIC_REQUIRE(std::is_same_v<decltype(b), BoxFuture<int>>);
    REQUIRE(block_on(std::move(b)) == 42);
}

TEST_CASE("boxed of a BoxFuture moves it instead of boxing it again", "[core][box_future]") {
    Counted::reset();
    BoxFuture<int> a = CountedCountdown{0, 8};
    const auto moves_after_boxing = Counted::moves;
    auto b = boxed(std::move(a));
    STATIC_REQUIRE(std::is_same_v<decltype(b), BoxFuture<int>>);
    REQUIRE(Counted::moves == moves_after_boxing);
    REQUIRE(block_on(std::move(b)) == 8);
}
