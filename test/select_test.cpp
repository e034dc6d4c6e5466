#include <pollux/core/block_on.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/select.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::interleave_pending;
using pollux::test::MockTask;

namespace {

// A future completed by the test: pending (keeping the latest waker) until
// `release()`, then Ready(value). Records its polls, in a shared log too, and
// its destruction.
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
    std::vector<int>* log = nullptr;
    Gate(std::shared_ptr<GateState> s, int v, std::vector<int>* l = nullptr)
        : st(std::move(s)), value(v), log(l) {}
    Gate(Gate&&) noexcept = default;
    ~Gate() {
        if (st) {
            st->destroyed = true;
        }
    }
    Poll<int> poll(Context& cx) {
        ++st->polls;
        if (log) {
            log->push_back(value);
        }
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

TEST_CASE("select is ready with the ready branch's output at its argument index",
          "[core][select]") {
    auto f = select(pending<int>(), ready(std::string("b")), pending<double>());
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, std::variant<int, std::string, double>>);
    auto v = block_on(std::move(f));
    REQUIRE(v.index() == 1);
    REQUIRE(std::get<1>(v) == "b");
}

TEST_CASE("select with duplicate output types tells the branches apart by index",
          "[core][select]") {
    auto f = select(pending<int>(), ready(5), pending<int>());
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, std::variant<int, int, int>>);
    auto v = block_on(std::move(f));
    REQUIRE(v.index() == 1);
    REQUIRE(std::get<1>(v) == 5);
}

TEST_CASE("select turns void outputs into Unit", "[core][select]") {
    auto f = select(pending<int>(), ready());
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, std::variant<int, Unit>>);
    REQUIRE(block_on(std::move(f)).index() == 1);
}

TEST_CASE("select runs nothing before its first poll", "[core][select]") {
    auto st = std::make_shared<GateState>();
    auto f = select(Gate(st, 1), pending<int>());
    auto moved = std::move(f);
    REQUIRE(st->polls == 0);
}

TEST_CASE("select destroys the losers before it returns Ready", "[core][select]") {
    Counted::reset();
    auto loser = std::make_shared<GateState>();
    auto winner = std::make_shared<GateState>();
    MockTask task(select(Gate(loser, 1), Gate(winner, 2), interleave_pending(ready(Counted(3)))));
    REQUIRE(task.poll().is_pending());
    winner->release();
    auto p = task.poll();
    // Either the gate or the Counted branch may win this poll, both being
    // ready; whichever lost is gone, while the Select itself is still alive.
    REQUIRE(p.is_ready());
    REQUIRE(p.value().index() != 0);
    REQUIRE(loser->destroyed);
    REQUIRE(winner->destroyed);
    if (p.value().index() == 1) {
        REQUIRE(Counted::alive() == 0);
    } else {
        REQUIRE(Counted::alive() == 1); // the output only
        REQUIRE(std::get<2>(p.value()).id == 3);
    }
    REQUIRE(Counted::copies == 0);
}

TEST_CASE("select over many runs with two always-ready branches lets both win", "[core][select]") {
    int wins[2] = {0, 0};
    for (int i = 0; i < 1000; ++i) {
        ++wins[block_on(select(ready(0), ready(1))).index()];
    }
    REQUIRE(wins[0] > 100);
    REQUIRE(wins[1] > 100);
}

TEST_CASE("select chooses the branch it polls first at random on each poll", "[core][select]") {
    auto a = std::make_shared<GateState>();
    auto b = std::make_shared<GateState>();
    std::vector<int> log;
    MockTask task(select(Gate(a, 0, &log), Gate(b, 1, &log)));
    int first[2] = {0, 0};
    for (int i = 0; i < 1000; ++i) {
        log.clear();
        REQUIRE(task.poll().is_pending());
        REQUIRE(log.size() == 2); // every branch is polled while all pend
        ++first[log.front()];
    }
    REQUIRE(first[0] > 100);
    REQUIRE(first[1] > 100);
}

TEST_CASE("select_biased always picks the first ready branch in argument order", "[core][select]") {
    for (int i = 0; i < 1000; ++i) {
        auto v = block_on(select_biased(pending<int>(), ready(1), ready(2)));
        REQUIRE(v.index() == 1);
    }
}

TEST_CASE("select_biased polls the branches in argument order", "[core][select]") {
    auto a = std::make_shared<GateState>();
    auto b = std::make_shared<GateState>();
    auto c = std::make_shared<GateState>();
    std::vector<int> log;
    MockTask task(select_biased(Gate(a, 0, &log), Gate(b, 1, &log), Gate(c, 2, &log)));
    REQUIRE(task.poll().is_pending());
    REQUIRE(log == std::vector<int>{0, 1, 2});
    b->release();
    c->release();
    auto p = task.poll();
    REQUIRE(p.value().index() == 1);
    REQUIRE(log == std::vector<int>{0, 1, 2, 0, 1});
}

TEST_CASE("select waits for the first branch to be ready and re-polls using the context's waker",
          "[core][select]") {
    auto st = std::make_shared<GateState>();
    MockTask task(select(Gate(st, 7), pending<int>()));
    REQUIRE(task.poll().is_pending());
    REQUIRE_FALSE(task.is_woken());
    REQUIRE(st->waker->will_wake(task.waker()));
    st->release();
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(std::get<0>(p.value()) == 7);
}

TEST_CASE("select moves the winner's output without copying or leaking", "[core][select]") {
    Counted::reset();
    {
        auto v = block_on(select(pending<int>(), interleave_pending(ready(Counted(4)))));
        REQUIRE(std::get<1>(v).id == 4);
        REQUIRE(Counted::alive() == 1);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("select dropped before completion drops every branch", "[core][select]") {
    auto a = std::make_shared<GateState>();
    auto b = std::make_shared<GateState>();
    {
        MockTask task(select(Gate(a, 0), Gate(b, 1)));
        REQUIRE(task.poll().is_pending());
        REQUIRE_FALSE(a->destroyed);
    }
    REQUIRE(a->destroyed);
    REQUIRE(b->destroyed);
}

TEST_CASE("select rethrows what a branch's poll throws", "[core][select]") {
    REQUIRE_THROWS_AS(block_on(select(pending<int>(), Throws{})), std::runtime_error);
}

TEST_CASE("select_biased rethrows what a branch's poll throws", "[core][select]") {
    REQUIRE_THROWS_AS(block_on(select_biased(Throws{}, ready(1))), std::runtime_error);
}

TEST_CASE("select of one future is ready with its output", "[core][select]") {
    REQUIRE(std::get<0>(block_on(select(ready(3)))) == 3);
}
