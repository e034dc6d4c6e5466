#include <pollux/core/stream/stream_ext.hpp>
// Its own header first (above), to prove that it is self-contained.

#include <pollux/core/block_on.hpp>
#include <pollux/core/map.hpp>
#include <pollux/core/ready.hpp>

#include "support/counted.hpp"
#include "support/manual_stream.hpp"
#include "support/mock_task.hpp"
#include "support/wakers.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::MockTask;

namespace {

using Channel = pollux::test::ManualStream;

// Yields `items`, returning Pending (and waking itself at once) before each
// item and before the end, as futures-test's interleave_pending does.
struct PendingBetween {
    using Item = int;
    std::vector<int> items;
    std::size_t next = 0;
    bool pended = false;

    Poll<std::optional<int>> poll_next(Context& cx) {
        if (!pended) {
            pended = true;
            cx.waker().wake_by_ref();
            return Pending{};
        }
        pended = false;
        if (next == items.size()) {
            return Ready{std::nullopt};
        }
        return Ready{items[next++]};
    }
};

// A future over a stream it owns, ready with each poll_next result, so that
// MockTask can poll a stream by hand.
template <Stream S>
struct StreamTask {
    using Output = std::optional<item_t<S>>;
    S stream;
    Poll<Output> poll(Context& cx) { return stream.poll_next(cx); }
};

template <Stream S>
MockTask<StreamTask<S>> stream_task(S s) {
    return MockTask<StreamTask<S>>(StreamTask<S>{std::move(s)});
}

// Polls a stream that never pends to its end.
template <Stream S>
std::vector<item_t<S>> drain(S& s) {
    Context cx(test::panicking_waker());
    std::vector<item_t<S>> out;
    for (;;) {
        auto p = s.poll_next(cx);
        REQUIRE(p.is_ready());
        if (!p.value()) {
            return out;
        }
        out.push_back(std::move(*p.value()));
    }
}

std::vector<Counted> counted_items(int n) {
    std::vector<Counted> v;
    v.reserve(static_cast<std::size_t>(n));
    for (int i = 1; i <= n; ++i) {
        v.emplace_back(i);
    }
    return v;
}

std::vector<int> ids(const std::vector<Counted>& v) {
    std::vector<int> out;
    for (const auto& c : v) {
        out.push_back(c.id);
    }
    return out;
}

auto is_even = [](int v) { return v % 2 == 0; };

} // namespace

// ---------------------------------------------------------------- concepts

TEST_CASE("stream adaptors are movable streams, not futures", "[core][stream][concept]") {
    using I = decltype(iter(std::vector<int>{}));
    using M = decltype(map(std::declval<I>(), [](int v) { return std::to_string(v); }));
    using F = decltype(filter(std::declval<I>(), is_even));
    using T = decltype(take(std::declval<I>(), 1));
    STATIC_REQUIRE(Stream<I>);
    STATIC_REQUIRE(Stream<M>);
    STATIC_REQUIRE(Stream<F>);
    STATIC_REQUIRE(Stream<T>);
    STATIC_REQUIRE(!Future<I>);
    STATIC_REQUIRE(!Future<M>);
    STATIC_REQUIRE(!Future<F>);
    STATIC_REQUIRE(!Future<T>);
    STATIC_REQUIRE(std::movable<I>);
    STATIC_REQUIRE(std::movable<M>);
    STATIC_REQUIRE(std::movable<F>);
    STATIC_REQUIRE(std::movable<T>);
    STATIC_REQUIRE(std::same_as<item_t<I>, int>);
    STATIC_REQUIRE(std::same_as<item_t<M>, std::string>);
    STATIC_REQUIRE(std::same_as<item_t<F>, int>);
    STATIC_REQUIRE(std::same_as<item_t<T>, int>);
}

TEST_CASE("collect and for_each are movable futures", "[core][stream][concept]") {
    using I = decltype(iter(std::vector<int>{}));
    using C = decltype(collect(std::declval<I>()));
    using D = decltype(collect<std::deque<int>>(std::declval<I>()));
    using E = decltype(for_each(std::declval<I>(), [](int) {}));
    STATIC_REQUIRE(Future<C>);
    STATIC_REQUIRE(Future<D>);
    STATIC_REQUIRE(Future<E>);
    STATIC_REQUIRE(std::movable<C>);
    STATIC_REQUIRE(std::movable<E>);
    STATIC_REQUIRE(std::same_as<output_t<C>, std::vector<int>>);
    STATIC_REQUIRE(std::same_as<output_t<D>, std::deque<int>>);
    STATIC_REQUIRE(std::same_as<output_t<E>, void>);
}

TEST_CASE("map of a future and map of a stream live side by side", "[core][stream][map]") {
    auto fut = map(ready(20), [](int v) { return v + 22; });
    auto st = map(iter({1}), [](int v) { return v + 1; });
    STATIC_REQUIRE(Future<decltype(fut)>);
    STATIC_REQUIRE(!Stream<decltype(fut)>);
    STATIC_REQUIRE(Stream<decltype(st)>);
    STATIC_REQUIRE(!Future<decltype(st)>);
    REQUIRE(block_on(std::move(fut)) == 42);
    REQUIRE(drain(st) == std::vector<int>{2});
}

// ---------------------------------------------------------------- iter

TEST_CASE("iter yields the elements of a range in order, then nullopt", "[core][stream][iter]") {
    auto s = iter(std::vector<int>{1, 2, 3});
    REQUIRE(drain(s) == std::vector<int>{1, 2, 3});
}

TEST_CASE("iter is ready on every poll and never wakes", "[core][stream][iter]") {
    auto task = stream_task(iter({7, 8}));
    REQUIRE(task.poll().value() == std::optional<int>(7));
    REQUIRE(task.poll().value() == std::optional<int>(8));
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(task.wake_count() == 0);
}

TEST_CASE("iter returns nullopt again after the end", "[core][stream][iter]") {
    auto s = iter(std::vector<int>{1});
    REQUIRE(drain(s) == std::vector<int>{1});
    Context cx(test::panicking_waker());
    REQUIRE(s.poll_next(cx).value() == std::nullopt);
    REQUIRE(s.poll_next(cx).value() == std::nullopt);
}

TEST_CASE("iter of an lvalue copies the range and leaves it untouched", "[core][stream][iter]") {
    Counted::reset();
    {
        const auto v = counted_items(3);
        REQUIRE(Counted::copies == 0);
        auto s = iter(v);
        REQUIRE(Counted::copies == 3);
        auto out = drain(s);
        REQUIRE(ids(out) == std::vector<int>{1, 2, 3});
        REQUIRE(ids(v) == std::vector<int>{1, 2, 3});
        REQUIRE(Counted::copies == 3);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("iter of an rvalue moves the range in and its elements out, copying nothing",
          "[core][stream][iter]") {
    Counted::reset();
    {
        auto s = iter(counted_items(3));
        auto out = drain(s);
        REQUIRE(ids(out) == std::vector<int>{1, 2, 3});
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("iter of a braced list owns its elements", "[core][stream][iter]") {
    auto s = iter({std::string("a"), std::string("b")});
    STATIC_REQUIRE(std::same_as<item_t<decltype(s)>, std::string>);
    REQUIRE(drain(s) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("iter may be moved between polls", "[core][stream][iter]") {
    Context cx(test::panicking_waker());
    SECTION("over a std::array, whose iterators point into the object") {
        auto a = iter(std::array<int, 4>{1, 2, 3, 4});
        REQUIRE(a.poll_next(cx).value() == std::optional<int>(1));
        auto b = std::move(a);
        REQUIRE(b.poll_next(cx).value() == std::optional<int>(2));
        auto c = b; // copies keep the position too
        REQUIRE(drain(b) == std::vector<int>{3, 4});
        REQUIRE(drain(c) == std::vector<int>{3, 4});
    }
    SECTION("over a std::list, which is not random access") {
        auto a = iter(std::list<int>{1, 2, 3});
        REQUIRE(a.poll_next(cx).value() == std::optional<int>(1));
        decltype(a) b = iter(std::list<int>{});
        b = std::move(a);
        REQUIRE(drain(b) == std::vector<int>{2, 3});
    }
}

// ---------------------------------------------------------------- map

TEST_CASE("map yields f of each item in order, changing the item type", "[core][stream][map]") {
    auto s = map(iter({1, 2, 3}), [](int v) { return std::to_string(v * 10); });
    REQUIRE(drain(s) == std::vector<std::string>{"10", "20", "30"});
}

TEST_CASE("map is pending with the inner stream and its wake reaches the task",
          "[core][stream][map]") {
    Channel ch;
    auto task = stream_task(map(ch, [](int v) { return v + 1; }));
    REQUIRE(task.poll().is_pending());
    REQUIRE_FALSE(task.is_woken());
    ch.push(1);
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().value() == std::optional<int>(2));
    REQUIRE(task.poll().is_pending());
    ch.close();
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().value() == std::nullopt);
}

TEST_CASE("map returns nullopt again after the end without polling the inner stream",
          "[core][stream][map]") {
    Channel ch;
    ch.close();
    auto task = stream_task(map(ch, [](int v) { return v; }));
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(ch.polls() == 1);
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(ch.polls() == 1);
}

TEST_CASE("map calls f as a mutable lvalue, once per item", "[core][stream][map]") {
    auto s = map(iter({5, 5, 5}), [n = 0](int v) mutable { return v + n++; });
    REQUIRE(drain(s) == std::vector<int>{5, 6, 7});
}

TEST_CASE("map rethrows what f throws and the stream goes on with the next item",
          "[core][stream][map]") {
    auto s = map(iter({1, 2, 3}), [](int v) {
        if (v == 2) {
            throw std::runtime_error("two");
        }
        return v;
    });
    Context cx(test::panicking_waker());
    REQUIRE(s.poll_next(cx).value() == std::optional<int>(1));
    REQUIRE_THROWS_AS(s.poll_next(cx), std::runtime_error);
    REQUIRE(s.poll_next(cx).value() == std::optional<int>(3));
}

// ---------------------------------------------------------------- filter

TEST_CASE("filter keeps the items for which the predicate holds, in order",
          "[core][stream][filter]") {
    auto s = filter(iter({1, 2, 3, 4, 5, 6}), is_even);
    REQUIRE(drain(s) == std::vector<int>{2, 4, 6});
}

TEST_CASE("filter skips many consecutive rejected items in one poll, without Pending",
          "[core][stream][filter]") {
    std::vector<int> v(100'000, 1);
    v.push_back(2);
    v.push_back(3);
    auto task = stream_task(filter(iter(std::move(v)), is_even));
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == std::optional<int>(2));
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(task.wake_count() == 0);
}

TEST_CASE("filter is pending only when the inner stream is, and its wake reaches the task",
          "[core][stream][filter]") {
    Channel ch;
    ch.push(1);
    ch.push(3);
    ch.push(5);
    auto task = stream_task(filter(ch, is_even));
    REQUIRE(task.poll().is_pending());
    REQUIRE(ch.polls() == 4); // three rejected items, then Pending
    REQUIRE_FALSE(task.is_woken());
    ch.push(7);
    ch.push(8);
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().value() == std::optional<int>(8));
    ch.close();
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(task.poll().value() == std::nullopt); // fused
}

TEST_CASE("filter passes the predicate a const reference and copies nothing",
          "[core][stream][filter]") {
    Counted::reset();
    {
        auto s = filter(iter(counted_items(4)), [](const Counted& c) { return c.id > 2; });
        REQUIRE(ids(drain(s)) == std::vector<int>{3, 4});
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("filter rethrows what the predicate throws", "[core][stream][filter]") {
    auto s = filter(iter({1, 2}), [](int v) -> bool {
        if (v == 1) {
            throw std::runtime_error("one");
        }
        return true;
    });
    Context cx(test::panicking_waker());
    REQUIRE_THROWS_AS(s.poll_next(cx), std::runtime_error);
    REQUIRE(s.poll_next(cx).value() == std::optional<int>(2));
}

// ---------------------------------------------------------------- take

TEST_CASE("take yields the first n items and then ends", "[core][stream][take]") {
    auto s = take(iter({1, 2, 3, 4}), 2);
    REQUIRE(drain(s) == std::vector<int>{1, 2});
    REQUIRE(s.remaining() == 0);
}

TEST_CASE("take stops polling the inner stream after n items", "[core][stream][take]") {
    Channel ch;
    for (int i = 1; i <= 5; ++i) {
        ch.push(i);
    }
    auto task = stream_task(take(ch, 2));
    REQUIRE(task.poll().value() == std::optional<int>(1));
    REQUIRE(task.poll().value() == std::optional<int>(2));
    REQUIRE(ch.polls() == 2);
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(ch.polls() == 2);
    REQUIRE(ch.state->items.size() == 3);
}

TEST_CASE("take of zero never polls the inner stream", "[core][stream][take]") {
    Channel ch;
    auto task = stream_task(take(ch, 0));
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(ch.polls() == 0);
}

TEST_CASE("take ends when the inner stream ends first and does not poll it again",
          "[core][stream][take]") {
    Channel ch;
    ch.push(1);
    ch.close();
    auto task = stream_task(take(ch, 5));
    REQUIRE(task.poll().value() == std::optional<int>(1));
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(task.future().stream.remaining() == 0);
    REQUIRE(task.poll().value() == std::nullopt);
    REQUIRE(ch.polls() == 2);
}

TEST_CASE("take is pending with the inner stream and its wake reaches the task",
          "[core][stream][take]") {
    Channel ch;
    auto task = stream_task(take(ch, 1));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.future().stream.remaining() == 1);
    ch.push(9);
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().value() == std::optional<int>(9));
    REQUIRE(task.poll().value() == std::nullopt);
}

TEST_CASE("take of an infinite range ends", "[core][stream][take]") {
    auto s = take(iter(std::views::iota(0)), 3);
    REQUIRE(drain(s) == std::vector<int>{0, 1, 2});
}

// ---------------------------------------------------------------- collect

TEST_CASE("collect gathers every item into a std::vector in order", "[core][stream][collect]") {
    REQUIRE(block_on(collect(PendingBetween{{3, 1, 2}})) == std::vector<int>{3, 1, 2});
}

TEST_CASE("collect of an empty stream is an empty container", "[core][stream][collect]") {
    REQUIRE(block_on(collect(iter(std::vector<int>{}))).empty());
}

TEST_CASE("collect into a std::set inserts each item", "[core][stream][collect]") {
    auto out = block_on(collect<std::set<int>>(PendingBetween{{3, 1, 3, 2}}));
    REQUIRE(out == std::set<int>{1, 2, 3});
}

TEST_CASE("collect into a std::deque or std::string pushes each item back in order",
          "[core][stream][collect]") {
    REQUIRE(block_on(collect<std::deque<int>>(iter({1, 2, 3}))) == std::deque<int>{1, 2, 3});
    REQUIRE(block_on(collect<std::string>(iter(std::string("abc")))) == "abc");
}

TEST_CASE("collect is pending until the stream ends, woken by the stream",
          "[core][stream][collect]") {
    Channel ch;
    MockTask task(collect(ch));
    REQUIRE(task.poll().is_pending());
    ch.push(1);
    ch.push(2);
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().is_pending());
    REQUIRE_FALSE(task.is_woken());
    ch.close();
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == std::vector<int>{1, 2});
}

TEST_CASE("collect moves items into the container and copies nothing", "[core][stream][collect]") {
    Counted::reset();
    {
        auto out = block_on(collect(iter(counted_items(3))));
        REQUIRE(ids(out) == std::vector<int>{1, 2, 3});
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("collect dropped while pending frees the items it holds", "[core][stream][collect]") {
    Counted::reset();
    {
        struct CountedThenPending {
            using Item = Counted;
            int left = 2;
            Poll<std::optional<Counted>> poll_next(Context&) {
                if (left-- > 0) {
                    return Ready{Counted(left)};
                }
                return Pending{}; // never woken: the test drops it
            }
        };
        MockTask task(collect(CountedThenPending{}));
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 2);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

// ---------------------------------------------------------------- for_each

TEST_CASE("for_each calls f once per item, in order", "[core][stream][for_each]") {
    std::vector<int> seen;
    block_on(for_each(PendingBetween{{1, 2, 3}}, [&](int v) { seen.push_back(v); }));
    REQUIRE(seen == std::vector<int>{1, 2, 3});
}

TEST_CASE("for_each is pending with the stream's wake and ready when the stream ends",
          "[core][stream][for_each]") {
    Channel ch;
    int count = 0;
    MockTask task(for_each(ch, [&](int) { ++count; }));
    REQUIRE(task.poll().is_pending());
    REQUIRE(count == 0);
    ch.push(1);
    ch.push(1);
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().is_pending());
    REQUIRE(count == 2);
    ch.close();
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().is_ready());
    REQUIRE(count == 2);
}

TEST_CASE("for_each ignores what f returns", "[core][stream][for_each]") {
    int sum = 0;
    block_on(for_each(iter({1, 2, 3}), [&](int v) { return sum += v; }));
    REQUIRE(sum == 6);
}

TEST_CASE("for_each rethrows what f throws", "[core][stream][for_each]") {
    int calls = 0;
    auto f = for_each(iter({1, 2, 3}), [&](int v) {
        ++calls;
        if (v == 2) {
            throw std::runtime_error("two");
        }
    });
    REQUIRE_THROWS_AS(block_on(f), std::runtime_error);
    REQUIRE(calls == 2);
}

// ---------------------------------------------------------------- composition

TEST_CASE("iter, map, filter, take and collect compose under block_on", "[core][stream][compose]") {
    std::vector<int> v;
    for (int i = 1; i <= 20; ++i) {
        v.push_back(i);
    }
    auto f =
        collect(take(filter(map(iter(std::move(v)), [](int x) { return x * x; }), is_even), 3));
    REQUIRE(block_on(std::move(f)) == std::vector<int>{4, 16, 36});
}

TEST_CASE("a composed chain over a stream pending between items completes under block_on",
          "[core][stream][compose]") {
    auto f = collect(take(
        filter(map(PendingBetween{{1, 2, 3, 4, 5, 6, 7, 8}}, [](int x) { return x + 1; }), is_even),
        3));
    REQUIRE(block_on(std::move(f)) == std::vector<int>{2, 4, 6});
}

TEST_CASE("a composed chain is lazy: building it polls nothing and calls no function",
          "[core][stream][compose]") {
    Channel ch;
    ch.push(1);
    int calls = 0;
    auto f = for_each(take(map(ch, [&](int v) { return ++calls + v; }), 1), [&](int) { ++calls; });
    REQUIRE(ch.polls() == 0);
    REQUIRE(calls == 0);
    block_on(std::move(f));
    REQUIRE(calls == 2);
}

TEST_CASE("a composed chain moves items end to end, copies nothing and leaks nothing",
          "[core][stream][compose]") {
    Counted::reset();
    {
        auto f = collect(take(filter(map(iter(counted_items(4)),
                                         [](Counted c) {
                                             c.id *= 10;
                                             return c;
                                         }),
                                     [](const Counted& c) { return c.id != 20; }),
                              2));
        auto out = block_on(std::move(f));
        REQUIRE(ids(out) == std::vector<int>{10, 30});
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("a composed chain may be moved between polls", "[core][stream][compose]") {
    Channel ch;
    auto s = take(filter(map(ch, [](int v) { return v * 2; }), [](int v) { return v > 2; }), 2);
    auto task = stream_task(std::move(s));
    ch.push(1);
    ch.push(2);
    REQUIRE(task.poll().value() == std::optional<int>(4));
    auto moved = stream_task(std::move(task.future().stream));
    REQUIRE(moved.poll().is_pending());
    ch.push(3);
    REQUIRE(moved.is_woken());
    REQUIRE(moved.poll().value() == std::optional<int>(6));
    REQUIRE(moved.poll().value() == std::nullopt);
}
