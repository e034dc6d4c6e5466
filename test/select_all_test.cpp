#include <pollux/core/block_on.hpp>
#include <pollux/core/select_all.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::MockTask;

namespace {

// A harness of gates: child i stays pending, keeping its latest waker here,
// until gate i is open; every child poll is counted.
struct Gates {
    explicit Gates(std::size_t n) : open(n, 0), wakers(n, Waker::noop()) {}
    std::vector<char> open;
    std::vector<Waker> wakers;
    std::size_t polls = 0;

    void wake(std::size_t i) { std::exchange(wakers[i], Waker::noop()).wake(); }
    void open_and_wake(std::size_t i) {
        open[i] = 1;
        wake(i);
    }
};

// A gated child that also holds a Counted, to observe its destruction.
struct Gate {
    using Output = int;
    Gates* gates;
    int id;
    Counted state{0};
    Poll<int> poll(Context& cx) {
        ++gates->polls;
        const auto i = static_cast<std::size_t>(id);
        if (gates->open[i]) {
            return Ready{id * 10};
        }
        gates->wakers[i] = cx.waker();
        return Pending{};
    }
};

std::vector<Gate> make_gates(Gates& gates, std::size_t n) {
    std::vector<Gate> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        v.push_back(Gate{&gates, static_cast<int>(i)});
    }
    return v;
}

} // namespace

TEST_CASE("select_all is a Future of the winner's output and index", "[core][select_all]") {
    STATIC_REQUIRE(Future<SelectAll<Gate>>);
    STATIC_REQUIRE(std::is_same_v<output_t<SelectAll<Gate>>, std::pair<int, std::size_t>>);
}

TEST_CASE("select_all returns the first finished value and its index", "[core][select_all]") {
    Gates gates(5);
    MockTask task(select_all(make_gates(gates, 5)));
    REQUIRE(task.poll().is_pending());
    gates.open_and_wake(3);
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == std::pair<int, std::size_t>(30, 3));
}

TEST_CASE("select_all picks the earliest woken when several finish at once", "[core][select_all]") {
    Gates gates(5);
    MockTask task(select_all(make_gates(gates, 5)));
    REQUIRE(task.poll().is_pending());
    gates.open_and_wake(4);
    gates.open_and_wake(1);
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value().second == 4);
}

TEST_CASE("select_all destroys the other futures before it returns Ready", "[core][select_all]") {
    Counted::reset();
    Gates gates(4);
    {
        MockTask task(select_all(make_gates(gates, 4)));
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 4);
        gates.open_and_wake(2);
        auto p = task.poll();
        REQUIRE(p.is_ready());
        REQUIRE(p.value().second == 2);
        // The SelectAll still exists, but holds no child any more.
        REQUIRE(Counted::alive() == 0);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("select_all of an empty vector throws std::invalid_argument", "[core][select_all]") {
    REQUIRE_THROWS_AS((void)select_all(std::vector<Gate>{}), std::invalid_argument);
}

TEST_CASE("select_all polls N children N+1 times when one of them is woken", "[core][select_all]") {
    constexpr std::size_t n = 10'000;
    Gates gates(n);
    MockTask task(select_all(make_gates(gates, n)));
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == n);
    gates.open_and_wake(n / 2);
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value().second == n / 2);
    REQUIRE(gates.polls == n + 1);
}

TEST_CASE("select_all polls N children 2N times when woken one at a time between polls",
          "[core][select_all]") {
    constexpr std::size_t n = 10'000;
    Gates gates(n);
    MockTask task(select_all(make_gates(gates, n)));
    REQUIRE(task.poll().is_pending());
    for (std::size_t i = 0; i + 1 < n; ++i) {
        gates.wake(i); // woken, but its gate is shut: pending again
        REQUIRE(task.poll().is_pending());
    }
    gates.open_and_wake(n - 1);
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value().second == n - 1);
    REQUIRE(gates.polls == 2 * n);
}

TEST_CASE("select_all polls N children 2N times when all are woken at once", "[core][select_all]") {
    constexpr std::size_t n = 10'000;
    Gates gates(n);
    MockTask task(select_all(make_gates(gates, n)));
    REQUIRE(task.poll().is_pending());
    for (std::size_t i = 0; i < n; ++i) {
        gates.wake(i); // all woken, none finished
    }
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == 2 * n);
}

TEST_CASE("select_all destroys every child when dropped", "[core][select_all]") {
    Counted::reset();
    Gates gates(3);
    {
        MockTask task(select_all(make_gates(gates, 3)));
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 3);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("select_all moves the winner's output without copies", "[core][select_all]") {
    struct Make {
        using Output = Counted;
        int id;
        Poll<Counted> poll(Context&) {
            if (id == 1) {
                return Ready{Counted(id)};
            }
            return Pending{};
        }
    };
    Counted::reset();
    {
        auto [value, index] = block_on(select_all(std::vector<Make>{{0}, {1}, {2}}));
        REQUIRE(value.id == 1);
        REQUIRE(index == 1);
        REQUIRE(Counted::alive() == 1);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("select_all propagates a child's exception and destroys the other children",
          "[core][select_all]") {
    struct Throws {
        using Output = int;
        bool fail;
        Counted state{0};
        Poll<int> poll(Context&) {
            if (fail) {
                throw std::runtime_error("child failed");
            }
            return Pending{};
        }
    };
    Counted::reset();
    {
        std::vector<Throws> fs;
        fs.push_back(Throws{false});
        fs.push_back(Throws{true});
        MockTask task(select_all(std::move(fs)));
        REQUIRE_THROWS_AS(task.poll(), std::runtime_error);
        REQUIRE(Counted::alive() == 0);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("select_all of void futures gives Unit and the index", "[core][select_all]") {
    struct Done {
        using Output = void;
        Poll<void> poll(Context&) { return Ready<void>{}; }
    };
    std::vector<Done> fs(3);
    auto out = block_on(select_all(std::move(fs)));
    REQUIRE(out == std::pair<Unit, std::size_t>(Unit{}, 0));
}
