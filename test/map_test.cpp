#include <pollux/core/block_on.hpp>
#include <pollux/core/map.hpp>
#include <pollux/core/ready.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::interleave_pending;
using pollux::test::MockTask;

namespace {

// Ready on its first poll; sets *destroyed when it is destroyed (a moved-from
// one does not count).
struct Tracked {
    using Output = int;
    int value;
    bool* destroyed;
    Tracked(int v, bool* d) : value(v), destroyed(d) {}
    Tracked(Tracked&& o) noexcept
        : value(o.value), destroyed(std::exchange(o.destroyed, nullptr)) {}
    ~Tracked() {
        if (destroyed) {
            *destroyed = true;
        }
    }
    Poll<int> poll(Context&) { return Ready{value}; }
};

struct Throws {
    using Output = int;
    Poll<int> poll(Context&) { throw std::runtime_error("boom"); }
};

// A future, and a type that is not one.
template <class T>
concept Mappable = requires(T t) {
    map(std::move(t), [](auto&&...) { return 0; });
};

} // namespace

TEST_CASE("map applies f to the output", "[core][map]") {
    auto f = map(ready(20), [](int v) { return std::to_string(v + 22); });
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, std::string>);
    REQUIRE(block_on(std::move(f)) == "42");
}

TEST_CASE("map runs nothing before its first poll", "[core][map]") {
    int calls = 0;
    auto f = map(ready(1), [&calls](int v) { return calls += v; });
    REQUIRE(calls == 0);
    REQUIRE(block_on(std::move(f)) == 1);
    REQUIRE(calls == 1);
}

TEST_CASE("map of a void future calls f with no argument", "[core][map]") {
    auto f = map(ready(), [] { return 7; });
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, int>);
    REQUIRE(block_on(std::move(f)) == 7);
}

TEST_CASE("map with a function returning void is a future of void", "[core][map]") {
    int seen = 0;
    auto f = map(ready(3), [&seen](int v) { seen = v; });
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, void>);
    block_on(std::move(f));
    REQUIRE(seen == 3);
}

TEST_CASE("map of a void future to void runs f once", "[core][map]") {
    int calls = 0;
    block_on(map(ready(), [&calls] { ++calls; }));
    REQUIRE(calls == 1);
}

TEST_CASE("map passes Pending through and the inner future wakes the caller's waker",
          "[core][map]") {
    MockTask task(map(interleave_pending(ready(2)), [](int v) { return v * 2; }));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 4);
    REQUIRE(task.wake_count() == 1);
}

TEST_CASE("map moves the output into f and out again without copying", "[core][map]") {
    Counted::reset();
    {
        Counted c = block_on(map(ready(Counted(5)), [](Counted v) {
            v.id += 1;
            return v;
        }));
        REQUIRE(c.id == 6);
        REQUIRE(Counted::alive() == 1);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("map destroys the inner future before it calls f", "[core][map]") {
    bool destroyed = false;
    bool destroyed_when_called = false;
    block_on(map(Tracked(1, &destroyed), [&](int) { destroyed_when_called = destroyed; }));
    REQUIRE(destroyed_when_called);
}

TEST_CASE("map dropped before completion drops the inner future and f without calling it",
          "[core][map]") {
    Counted::reset();
    bool called = false;
    {
        MockTask task(map(interleave_pending(ready(Counted(1))),
                          [c = Counted(2), &called](Counted) { called = true; }));
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 2);
    }
    REQUIRE_FALSE(called);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("map rethrows what the inner future throws", "[core][map]") {
    REQUIRE_THROWS_AS(block_on(map(Throws{}, [](int v) { return v; })), std::runtime_error);
}

TEST_CASE("map rethrows what f throws", "[core][map]") {
    auto f = map(ready(1), [](int) -> int { throw std::logic_error("f"); });
    REQUIRE_THROWS_AS(block_on(std::move(f)), std::logic_error);
}

TEST_CASE("map accepts a move-only output and a move-only function", "[core][map]") {
    auto f = map(ready(std::make_unique<int>(4)),
                 [k = std::make_unique<int>(10)](std::unique_ptr<int> v) { return *v * *k; });
    REQUIRE(block_on(std::move(f)) == 40);
}

TEST_CASE("map is constrained on Future", "[core][map]") {
    STATIC_REQUIRE(Mappable<ReadyFuture<int>>);
    STATIC_REQUIRE_FALSE(Mappable<int>);
    STATIC_REQUIRE_FALSE(Mappable<std::string>);
}
