#include <pollux/core/stream.hpp>
// Its own header first (above), to prove that it is self-contained.

#include <pollux/core/block_on.hpp>

#include "support/manual_stream.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <concepts>
#include <deque>
#include <memory>
#include <optional>
#include <utility>

using namespace pollux;

namespace {

// Yields 1, 2, ..., n, each on the first poll, then nullopt.
struct Counter {
    using Item = int;
    int n;
    int next = 1;
    Poll<std::optional<int>> poll_next(Context&) {
        if (next > n) {
            return Ready{std::nullopt};
        }
        return Ready{next++};
    }
};

using Channel = pollux::test::ManualStream;

// Has an Item but the wrong poll_next signature.
struct WrongPollNext {
    using Item = int;
    Poll<int> poll_next(Context&) { return Ready{0}; }
};

// Has poll_next but no Item.
struct NoItem {
    Poll<std::optional<int>> poll_next(Context&) { return Ready{std::nullopt}; }
};

struct AFuture {
    using Output = int;
    Poll<int> poll(Context&) { return Ready{0}; }
};

} // namespace

TEST_CASE("Stream is satisfied by a type with Item and a matching poll_next",
          "[core][stream][concept]") {
    STATIC_REQUIRE(Stream<Counter>);
    STATIC_REQUIRE(Stream<Counter&>);
    STATIC_REQUIRE(Stream<Channel>);
    STATIC_REQUIRE(std::same_as<item_t<Counter>, int>);
    STATIC_REQUIRE(std::same_as<item_t<Counter&>, int>);
}

TEST_CASE("Stream is not satisfied by non-streams", "[core][stream][concept]") {
    STATIC_REQUIRE(!Stream<int>);
    STATIC_REQUIRE(!Stream<WrongPollNext>);
    STATIC_REQUIRE(!Stream<NoItem>);
    STATIC_REQUIRE(!Stream<AFuture>);
    STATIC_REQUIRE(!Future<Counter>);
}

TEST_CASE("next is a future of an optional item", "[core][stream][next]") {
    STATIC_REQUIRE(Future<Next<Counter>>);
    STATIC_REQUIRE(std::same_as<output_t<Next<Counter>>, std::optional<int>>);
    STATIC_REQUIRE(std::same_as<decltype(next(std::declval<Counter&>())), Next<Counter>>);
}

TEST_CASE("next borrows the stream and yields its items in order, then nullopt",
          "[core][stream][next]") {
    Counter s{3};
    REQUIRE(block_on(next(s)) == std::optional<int>(1));
    REQUIRE(s.next == 2); // the caller's stream advanced: next borrowed it
    REQUIRE(block_on(next(s)) == std::optional<int>(2));
    REQUIRE(block_on(next(s)) == std::optional<int>(3));
    REQUIRE(block_on(next(s)) == std::nullopt);
}

TEST_CASE("next is pending until the stream wakes it, then ready with the item",
          "[core][stream][next]") {
    Channel ch;
    test::MockTask task(next(ch));
    REQUIRE(task.poll().is_pending());
    REQUIRE_FALSE(task.is_woken());

    ch.push(7);
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == std::optional<int>(7));
}

TEST_CASE("next ends with nullopt when the stream closes while pending", "[core][stream][next]") {
    Channel ch;
    test::MockTask task(next(ch));
    REQUIRE(task.poll().is_pending());
    ch.close();
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == std::nullopt);
}

TEST_CASE("next dropped before it is ready takes no item from the stream", "[core][stream][next]") {
    Channel ch;
    {
        test::MockTask task(next(ch));
        REQUIRE(task.poll().is_pending());
    } // dropped while pending
    ch.push(1);
    ch.push(2);
    REQUIRE(ch.state->items.size() == 2);
    REQUIRE(block_on(next(ch)) == std::optional<int>(1));
    REQUIRE(block_on(next(ch)) == std::optional<int>(2));
}

TEST_CASE("next moves a move-only item out of the stream", "[core][stream][next]") {
    struct Boxes {
        using Item = std::unique_ptr<int>;
        int left = 1;
        Poll<std::optional<Item>> poll_next(Context&) {
            if (left-- > 0) {
                return Ready{std::make_unique<int>(5)};
            }
            return Ready{std::nullopt};
        }
    };
    Boxes s;
    auto item = block_on(next(s));
    REQUIRE(item.has_value());
    REQUIRE(**item == 5);
    REQUIRE(block_on(next(s)) == std::nullopt);
}
