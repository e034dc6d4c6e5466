#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/futures_unordered.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/mock_task.hpp"

#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>

using namespace pollux;
namespace asio = boost::asio;

namespace {

// An always-ready leaf that spends budget, as a channel with queued items
// does.
struct AlwaysReadyLeaf {
    using Output = int;
    Poll<int> poll(Context& cx) {
        if (!coop::poll_proceed(cx)) {
            return Pending{};
        }
        return Ready{1};
    }
};

} // namespace

TEST_CASE("Budget spends one unit per consume and then refuses", "[core][coop]") {
    Budget b(2);
    REQUIRE(b.consume());
    REQUIRE(b.consume());
    REQUIRE_FALSE(b.consume());
    REQUIRE(b.remaining() == 0);
}

TEST_CASE("coop poll_proceed without a budget always proceeds", "[core][coop]") {
    Context cx(Waker::noop());
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(coop::poll_proceed(cx));
    }
}

TEST_CASE("coop poll_proceed with a spent budget wakes the task and refuses", "[core][coop]") {
    auto make = []() -> Async<int> {
        int sum = 0;
        for (int i = 0; i < 10; ++i) {
            sum += co_await AlwaysReadyLeaf{};
        }
        co_return sum;
    };
    test::MockTask task(make());
    Budget b(3);
    Context cx(task.waker(), &b);
    auto p = task.future().poll(cx);
    REQUIRE(p.is_pending());
    REQUIRE(task.is_woken());
}

TEST_CASE("coop budget keeps an always-ready task from starving a timer on a current-thread "
          "runtime",
          "[scheduler][coop]") {
    Runtime rt;
    auto fired = std::make_shared<bool>(false);
    auto timer_task = [](asio::io_context& io, std::shared_ptr<bool> flag) -> Async<> {
        asio::steady_timer t(io, std::chrono::milliseconds(10));
        (void)co_await t.async_wait(use_future);
        *flag = true;
    };
    // Never suspends on anything but its budget; ends once the timer fired.
    auto busy = [](std::shared_ptr<bool> flag) -> Async<long> {
        long spins = 0;
        while (!*flag) {
            spins += co_await AlwaysReadyLeaf{};
        }
        co_return spins;
    };
    auto h = rt.spawn(timer_task(rt.io_context(), fired));
    REQUIRE(rt.block_on(busy(fired)) > 0);
    REQUIRE(*fired);
    rt.block_on(std::move(h));
}

TEST_CASE("FuturesUnordered children spend the budget of the task that polls it",
          "[core][coop][futures_unordered]") {
    FuturesUnordered<AlwaysReadyLeaf> set;
    for (int i = 0; i < 10; ++i) {
        set.push(AlwaysReadyLeaf{});
    }
    test::MockTask task(next(set));
    Budget b(0);
    Context cx(task.waker(), &b);
    REQUIRE(task.future().poll(cx).is_pending()); // no budget: no child may finish
    REQUIRE(task.is_woken());
    REQUIRE(set.size() == 10);
}
