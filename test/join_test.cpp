#include <pollux/core/block_on.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/ready.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::interleave_pending;
using pollux::test::MockTask;

namespace {

// A future completed by the test: pending (keeping the latest waker) until
// `open()`, then Ready(value). Counts its polls and its live instances.
struct GateState {
    bool open = false;
    int polls = 0;
    bool destroyed = false;
    std::optional<Waker> waker;
    void release() {
        open = true;
        if (waker) {
            std::move(*waker).wake();
        }
    }
};

struct Gate {
    using Output = int;
    std::shared_ptr<GateState> st;
    int value;
    Gate(std::shared_ptr<GateState> s, int v) : st(std::move(s)), value(v) {}
    Gate(Gate&&) noexcept = default;
    ~Gate() {
        if (st) {
            st->destroyed = true;
        }
    }
    Poll<int> poll(Context& cx) {
        ++st->polls;
        if (!st->open) {
            st->waker = cx.waker();
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

TEST_CASE("join returns all outputs in a tuple in argument order", "[core][join]") {
    auto f = join(ready(1), ready(std::string("two")), ready(3.0));
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, std::tuple<int, std::string, double>>);
    auto [a, b, c] = block_on(std::move(f));
    REQUIRE(a == 1);
    REQUIRE(b == "two");
    REQUIRE(c == 3.0);
}

TEST_CASE("join turns void outputs into Unit", "[core][join]") {
    auto f = join(ready(), ready(2), ready());
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, std::tuple<Unit, int, Unit>>);
    auto out = block_on(std::move(f));
    REQUIRE(std::get<1>(out) == 2);
}

TEST_CASE("join of one future is a tuple of one", "[core][join]") {
    REQUIRE(block_on(join(ready(9))) == std::tuple<int>(9));
}

TEST_CASE("join of no futures is ready with an empty tuple", "[core][join]") {
    MockTask task(join());
    REQUIRE(task.poll().is_ready());
}

TEST_CASE("join runs nothing before its first poll", "[core][join]") {
    auto st = std::make_shared<GateState>();
    auto f = join(Gate(st, 1), ready(2));
    auto moved = std::move(f);
    REQUIRE(st->polls == 0);
}

TEST_CASE("join waits for the slowest branch and re-polls using the context's waker",
          "[core][join]") {
    MockTask task(join(ready(1), interleave_pending(ready(2)), ready(3)));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.is_woken()); // the slow child woke the task's own waker
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == std::tuple<int, int, int>(1, 2, 3));
    REQUIRE(task.wake_count() == 1);
}

TEST_CASE("join is woken by the waker of the poll that left a child pending", "[core][join]") {
    auto st = std::make_shared<GateState>();
    MockTask task(join(ready(1), Gate(st, 2)));
    REQUIRE(task.poll().is_pending());
    REQUIRE_FALSE(task.is_woken());
    REQUIRE(st->waker->will_wake(task.waker()));
    st->release();
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().value() == std::tuple<int, int>(1, 2));
}

TEST_CASE("join polls every unfinished child on each poll and never a finished one",
          "[core][join]") {
    auto a = std::make_shared<GateState>();
    auto b = std::make_shared<GateState>();
    MockTask task(join(Gate(a, 1), Gate(b, 2)));
    REQUIRE(task.poll().is_pending());
    REQUIRE((a->polls == 1 && b->polls == 1));
    a->release();
    REQUIRE(task.poll().is_pending());
    REQUIRE((a->polls == 2 && b->polls == 2));
    REQUIRE(task.poll().is_pending());
    REQUIRE((a->polls == 2 && b->polls == 3));
    b->release();
    REQUIRE(task.poll().is_ready());
    REQUIRE((a->polls == 2 && b->polls == 4));
}

TEST_CASE("join destroys each child as soon as it completes", "[core][join]") {
    auto a = std::make_shared<GateState>();
    auto b = std::make_shared<GateState>();
    MockTask task(join(Gate(a, 1), Gate(b, 2)));
    a->release();
    REQUIRE(task.poll().is_pending());
    REQUIRE(a->destroyed);
    REQUIRE_FALSE(b->destroyed);
}

TEST_CASE("join moves outputs into the tuple without copying or leaking", "[core][join]") {
    Counted::reset();
    {
        auto out = block_on(join(ready(Counted(1)), interleave_pending(ready(Counted(2)))));
        REQUIRE(std::get<0>(out).id == 1);
        REQUIRE(std::get<1>(out).id == 2);
        REQUIRE(Counted::alive() == 2);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("join dropped before completion drops the children and the stored outputs",
          "[core][join]") {
    Counted::reset();
    auto st = std::make_shared<GateState>();
    {
        MockTask task(join(ready(Counted(1)), Gate(st, 2)));
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 1); // the stored output of the first child
    }
    REQUIRE(st->destroyed);
    REQUIRE(Counted::alive() == 0);
    REQUIRE(Counted::copies == 0);
}

TEST_CASE("join rethrows what a child's poll throws", "[core][join]") {
    REQUIRE_THROWS_AS(block_on(join(ready(1), Throws{})), std::runtime_error);
}

TEST_CASE("join of a never-ready child stays pending", "[core][join]") {
    MockTask task(join(ready(1), pending<int>()));
    for (int i = 0; i < 3; ++i) {
        REQUIRE(task.poll().is_pending());
    }
}
