#include <pollux/core/block_on.hpp>
#include <pollux/core/lazy.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/then.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

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

} // namespace

TEST_CASE("then runs the future f returns and is ready with its output", "[core][then]") {
    auto f = then(ready(2), [](int v) { return ready(std::to_string(v * 21)); });
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, std::string>);
    REQUIRE(block_on(std::move(f)) == "42");
}

TEST_CASE("then runs nothing before its first poll", "[core][then]") {
    int calls = 0;
    auto f = then(ready(1), [&calls](int v) {
        ++calls;
        return ready(v);
    });
    REQUIRE(calls == 0);
    REQUIRE(block_on(std::move(f)) == 1);
    REQUIRE(calls == 1);
}

TEST_CASE("then of a void future calls f with no argument", "[core][then]") {
    auto f = then(ready(), [] { return ready(5); });
    REQUIRE(block_on(std::move(f)) == 5);
}

TEST_CASE("then to a future of void is a future of void", "[core][then]") {
    int seen = 0;
    auto f = then(ready(3), [&seen](int v) { return lazy([&seen, v] { seen = v; }); });
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, void>);
    block_on(std::move(f));
    REQUIRE(seen == 3);
}

TEST_CASE("then polls the second future in the poll where the first completes", "[core][then]") {
    MockTask task(then(ready(1), [](int v) { return ready(v + 1); }));
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 2);
    REQUIRE(task.poll_count() == 1);
}

TEST_CASE("then waits on both futures using the caller's waker", "[core][then]") {
    MockTask task(
        then(interleave_pending(ready(1)), [](int v) { return interleave_pending(ready(v + 1)); }));
    REQUIRE(task.poll().is_pending()); // the first future's forced Pending
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().is_pending()); // the first is ready; the second pends
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 2);
    REQUIRE(task.wake_count() == 2);
}

TEST_CASE("then destroys the first future before it calls f", "[core][then]") {
    bool destroyed = false;
    bool destroyed_when_called = false;
    block_on(then(Tracked(1, &destroyed), [&](int v) {
        destroyed_when_called = destroyed;
        return ready(v);
    }));
    REQUIRE(destroyed_when_called);
}

TEST_CASE("then moves the outputs through without copying", "[core][then]") {
    Counted::reset();
    {
        Counted c =
            block_on(then(ready(Counted(1)), [](Counted v) { return ready(Counted(v.id + 1)); }));
        REQUIRE(c.id == 2);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("then dropped while running the second future destroys it", "[core][then]") {
    Counted::reset();
    {
        MockTask task(then(ready(1), [](int) { return interleave_pending(ready(Counted(1))); }));
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 1);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("then rethrows what the first future throws", "[core][then]") {
    REQUIRE_THROWS_AS(block_on(then(Throws{}, [](int v) { return ready(v); })), std::runtime_error);
}

TEST_CASE("then rethrows what f throws", "[core][then]") {
    auto f = then(ready(1), [](int) -> ReadyFuture<int> { throw std::logic_error("f"); });
    REQUIRE_THROWS_AS(block_on(std::move(f)), std::logic_error);
}

TEST_CASE("then rethrows what the second future throws", "[core][then]") {
    REQUIRE_THROWS_AS(block_on(then(ready(), [] { return Throws{}; })), std::runtime_error);
}
