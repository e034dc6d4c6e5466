#include <pollux/core/async_stream.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/stream.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"
#include "support/small_stack.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

using namespace pollux;
using pollux::test::Counted;

namespace {

// Pending once (waking itself), then Ready(v).
struct Later {
    using Output = int;
    int v;
    bool pended = false;
    Poll<int> poll(Context& cx) {
        if (!pended) {
            pended = true;
            cx.waker().wake_by_ref();
            return Pending{};
        }
        return Ready{v};
    }
};

AsyncStream<int> count_to(int n) {
    for (int i = 1; i <= n; ++i) {
        co_yield co_await Later{i};
    }
}

Async<int> sum(AsyncStream<int> s) {
    int total = 0;
    while (auto item = co_await next(s)) {
        total += *item;
    }
    co_return total;
}

// Never completes; counts how many of its kind are alive.
Async<int> parked_chain(int depth, std::shared_ptr<int> alive) {
    if (depth == 0) {
        co_return co_await pending<int>();
    }
    co_return co_await parked_chain(depth - 1, std::move(alive));
}

// Polls a stream by hand until it yields or ends.
template <class S>
std::optional<typename S::Item> poll_until_ready(S& s) {
    Context cx(Waker::noop());
    for (;;) {
        auto p = s.poll_next(cx);
        if (p.is_ready()) {
            return std::move(p).value();
        }
    }
}

} // namespace

TEST_CASE("AsyncStream is a Stream of its item type", "[core][async_stream]") {
    STATIC_REQUIRE(Stream<AsyncStream<int>>);
    STATIC_REQUIRE(!Future<AsyncStream<int>>);
}

TEST_CASE("AsyncStream yields each co_yield in order, then ends", "[core][async_stream]") {
    auto s = count_to(3);
    REQUIRE(poll_until_ready(s) == 1);
    REQUIRE(poll_until_ready(s) == 2);
    REQUIRE(poll_until_ready(s) == 3);
    REQUIRE(poll_until_ready(s) == std::nullopt);
}

TEST_CASE("AsyncStream returns nullopt again when polled after its end", "[core][async_stream]") {
    auto s = count_to(0);
    REQUIRE(poll_until_ready(s) == std::nullopt);
    REQUIRE(poll_until_ready(s) == std::nullopt);
}

TEST_CASE("AsyncStream does not run its body before the first poll", "[core][async_stream]") {
    bool ran = false;
    auto make = [&]() -> AsyncStream<int> {
        ran = true;
        co_yield 1;
    };
    auto s = make();
    REQUIRE_FALSE(ran);
    REQUIRE(poll_until_ready(s) == 1);
    REQUIRE(ran);
}

TEST_CASE("AsyncStream pending on a future wakes the poller's waker", "[core][async_stream]") {
    auto s = count_to(1);
    test::MockTask task(next(s));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().value() == 1);
}

TEST_CASE("AsyncStream is consumed by next inside an Async", "[core][async_stream]") {
    REQUIRE(block_on(sum(count_to(100))) == 5050);
}

TEST_CASE("AsyncStream can co_await an Async", "[core][async_stream]") {
    auto twice = [](int v) -> Async<int> { co_return 2 * co_await Later{v}; };
    auto make = [&]() -> AsyncStream<int> {
        co_yield co_await twice(1);
        co_yield co_await twice(2);
    };
    auto s = make();
    REQUIRE(poll_until_ready(s) == 2);
    REQUIRE(poll_until_ready(s) == 4);
    REQUIRE(poll_until_ready(s) == std::nullopt);
}

TEST_CASE("AsyncStream rethrows its body's exception and then ends", "[core][async_stream]") {
    auto make = []() -> AsyncStream<int> {
        co_yield 1;
        throw std::runtime_error("stream failed");
    };
    auto s = make();
    REQUIRE(poll_until_ready(s) == 1);
    REQUIRE_THROWS_WITH(poll_until_ready(s), "stream failed");
    REQUIRE(poll_until_ready(s) == std::nullopt);
}

TEST_CASE("AsyncStream moves items out without copies and leaks none when dropped early",
          "[core][async_stream]") {
    Counted::reset();
    {
        auto make = []() -> AsyncStream<Counted> {
            for (int i = 0; i < 3; ++i) {
                co_yield Counted(i);
            }
        };
        auto s = make();
        auto first = poll_until_ready(s);
        REQUIRE(first->id == 0);
        REQUIRE(Counted::copies == 0);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE(
    "AsyncStream dropped while awaiting a 100,000-deep Async chain frees it in constant stack",
    "[core][async_stream]") {
    auto alive = std::make_shared<int>(0);
    test::run_with_stack(test::small_stack_bytes, [&] {
        auto make = [](std::shared_ptr<int> a) -> AsyncStream<int> {
            co_yield co_await parked_chain(100'000, std::move(a));
        };
        auto s = make(alive);
        Context cx(Waker::noop());
        REQUIRE(s.poll_next(cx).is_pending());
        REQUIRE(alive.use_count() == 2); // the leaf frame holds the other
    });
    REQUIRE(alive.use_count() == 1);
}
