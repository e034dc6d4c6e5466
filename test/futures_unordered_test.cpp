#include <pollux/core/block_on.hpp>
#include <pollux/core/futures_unordered.hpp>
#include <pollux/core/stream.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"
#include "support/wakers.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::CountingWaker;
using pollux::test::MockTask;

namespace {

// A harness of gates: child i stays pending, keeping its latest waker here,
// until gate i is open; every child poll is counted.
struct Gates {
    explicit Gates(std::size_t n) : open(n, 0), wakers(n) {}
    std::vector<char> open;
    std::vector<std::optional<Waker>> wakers;
    std::size_t polls = 0;

    void wake(std::size_t i) {
        if (wakers[i]) {
            Waker w = std::move(*wakers[i]);
            wakers[i].reset();
            std::move(w).wake();
        }
    }
    void open_and_wake(std::size_t i) {
        open[i] = 1;
        wake(i);
    }
};

struct Gate {
    using Output = int;
    Gates* gates;
    int id;
    Poll<int> poll(Context& cx) {
        ++gates->polls;
        if (gates->open[static_cast<std::size_t>(id)]) {
            return Ready{id};
        }
        gates->wakers[static_cast<std::size_t>(id)].emplace(cx.waker());
        return Pending{};
    }
};

// Polls a stream by hand as a task would: one poll_next per call.
template <class S>
struct StreamTask {
    S& stream;
    CountingWaker counter{};
    Waker waker = counter.waker();
    auto poll() {
        Context cx(waker);
        return stream.poll_next(cx);
    }
};

template <class S>
std::optional<item_t<S>> expect_ready(Poll<std::optional<item_t<S>>> p) {
    REQUIRE(p.is_ready());
    return std::move(p).value();
}

} // namespace

TEST_CASE("FuturesUnordered is a Stream of the children's outputs", "[core][futures_unordered]") {
    STATIC_REQUIRE(Stream<FuturesUnordered<Gate>>);
    STATIC_REQUIRE(std::is_same_v<item_t<FuturesUnordered<Gate>>, int>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<FuturesUnordered<Gate>>);
    STATIC_REQUIRE(!std::is_copy_constructible_v<FuturesUnordered<Gate>>);
}

TEST_CASE("FuturesUnordered yields outputs in completion order", "[core][futures_unordered]") {
    Gates gates(3);
    FuturesUnordered<Gate> set;
    for (int i = 0; i < 3; ++i) {
        set.push(Gate{&gates, i});
    }
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(task.poll().is_pending());
    gates.open_and_wake(2);
    REQUIRE(task.counter.wakes() == 1);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == 2);
    REQUIRE(task.poll().is_pending());
    gates.open_and_wake(0);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == 0);
    gates.open_and_wake(1);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == 1);
    REQUIRE(set.empty());
}

TEST_CASE("FuturesUnordered ends with nullopt when empty and accepts pushes afterwards",
          "[core][futures_unordered]") {
    Gates gates(2);
    FuturesUnordered<Gate> set;
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == std::nullopt);

    gates.open[0] = 1;
    set.push(Gate{&gates, 0});
    REQUIRE(set.size() == 1);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == 0);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == std::nullopt);

    set.push(Gate{&gates, 1});
    REQUIRE(task.poll().is_pending());
    gates.open_and_wake(1);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == 1);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == std::nullopt);
}

TEST_CASE("FuturesUnordered polls only the children that were woken", "[core][futures_unordered]") {
    Gates gates(100);
    FuturesUnordered<Gate> set;
    for (int i = 0; i < 100; ++i) {
        set.push(Gate{&gates, i});
    }
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == 100);

    gates.wake(42); // woken but not finished: polled once, pending again
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == 101);
    REQUIRE(task.poll().is_pending()); // no wake since: no child polled
    REQUIRE(gates.polls == 101);
}

TEST_CASE("FuturesUnordered polls a child once for several wakes before the next poll",
          "[core][futures_unordered]") {
    Gates gates(1);
    FuturesUnordered<Gate> set;
    set.push(Gate{&gates, 0});
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(task.poll().is_pending());
    Waker w = *gates.wakers[0];
    w.wake_by_ref();
    w.wake_by_ref();
    w.wake_by_ref();
    REQUIRE(task.counter.wakes() == 1); // only the first wake links it and wakes the parent
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == 2);
}

TEST_CASE("FuturesUnordered polls N children 2N times when each is woken once at once",
          "[core][futures_unordered]") {
    constexpr std::size_t n = 10'000;
    Gates gates(n);
    FuturesUnordered<Gate> set;
    for (std::size_t i = 0; i < n; ++i) {
        set.push(Gate{&gates, static_cast<int>(i)});
    }
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == n);
    for (std::size_t i = 0; i < n; ++i) {
        gates.open_and_wake(i);
    }
    std::size_t items = 0;
    while (auto item = expect_ready<FuturesUnordered<Gate>>(task.poll())) {
        REQUIRE(*item == static_cast<int>(items)); // wake order
        ++items;
    }
    REQUIRE(items == n);
    REQUIRE(gates.polls == 2 * n);
}

TEST_CASE("FuturesUnordered polls N children 2N times when woken one at a time between polls",
          "[core][futures_unordered]") {
    constexpr std::size_t n = 10'000;
    Gates gates(n);
    FuturesUnordered<Gate> set;
    for (std::size_t i = 0; i < n; ++i) {
        set.push(Gate{&gates, static_cast<int>(i)});
    }
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(task.poll().is_pending());
    for (std::size_t i = n; i-- > 0;) {
        gates.open_and_wake(i);
        REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == static_cast<int>(i));
        if (i != 0) {
            REQUIRE(task.poll().is_pending());
        }
    }
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == std::nullopt);
    REQUIRE(gates.polls == 2 * n);
}

namespace {

// Pending until a thread, started on the first poll, wakes it after a delay.
struct WokenFromThread {
    using Output = int;
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
    std::optional<std::thread> thread;
    WokenFromThread() = default;
    WokenFromThread(WokenFromThread&&) = default;
    ~WokenFromThread() {
        if (thread) {
            thread->join();
        }
    }
    Poll<int> poll(Context& cx) {
        if (done->load()) {
            return Ready{7};
        }
        if (!thread) {
            thread.emplace([w = cx.waker(), done = done]() mutable {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                done->store(true);
                std::move(w).wake();
            });
        }
        return Pending{};
    }
};

} // namespace

TEST_CASE("FuturesUnordered wake from another thread reaches the task polling it",
          "[core][futures_unordered]") {
    FuturesUnordered<WokenFromThread> set;
    set.push(WokenFromThread{});
    REQUIRE(block_on(next(set)) == 7);
    REQUIRE(block_on(next(set)) == std::nullopt);
}

TEST_CASE("FuturesUnordered collects outputs of children woken from many threads",
          "[core][futures_unordered]") {
    // Children are woken by four threads at once while block_on polls the set.
    struct Flagged {
        using Output = std::size_t;
        std::size_t id;
        std::shared_ptr<std::vector<std::atomic<bool>>> flags;
        std::shared_ptr<std::vector<std::optional<Waker>>> wakers;
        std::shared_ptr<std::atomic<std::size_t>> registered;
        bool seen = false;
        Poll<std::size_t> poll(Context& cx) {
            if ((*flags)[id].load()) {
                return Ready{id};
            }
            if (!seen) {
                seen = true;
                (*wakers)[id].emplace(cx.waker());
                registered->fetch_add(1);
            }
            return Pending{};
        }
    };
    constexpr std::size_t n = 2000;
    auto flags = std::make_shared<std::vector<std::atomic<bool>>>(n);
    auto wakers = std::make_shared<std::vector<std::optional<Waker>>>(n);
    auto registered = std::make_shared<std::atomic<std::size_t>>(0);
    FuturesUnordered<Flagged> set;
    for (std::size_t i = 0; i < n; ++i) {
        set.push(Flagged{i, flags, wakers, registered});
    }
    // First poll registers every waker before the threads start.
    {
        MockTask<Next<FuturesUnordered<Flagged>>> first(next(set));
        REQUIRE(first.poll().is_pending());
    }
    REQUIRE(registered->load() == n);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t i = t; i < n; i += 4) {
                (*flags)[i].store(true);
                (*wakers)[i]->wake_by_ref();
            }
        });
    }
    std::vector<char> seen(n, 0);
    for (std::size_t k = 0; k < n; ++k) {
        auto item = block_on(next(set));
        REQUIRE(item.has_value());
        REQUIRE(seen[*item] == 0);
        seen[*item] = 1;
    }
    for (auto& t : threads) {
        t.join();
    }
    REQUIRE(block_on(next(set)) == std::nullopt);
}

namespace {

// Keeps its waker in a slot outside, and a Counted to show it is destroyed.
struct Leaky {
    using Output = int;
    Waker* slot;
    Counted state{1};
    Poll<int> poll(Context& cx) {
        *slot = cx.waker();
        return Pending{};
    }
};

} // namespace

TEST_CASE("FuturesUnordered child woken after the set was destroyed does nothing and leaks "
          "nothing",
          "[core][futures_unordered]") {
    Counted::reset();
    CountingWaker parent;
    Waker child_waker = Waker::noop();
    {
        FuturesUnordered<Leaky> set;
        set.push(Leaky{&child_waker});
        Waker w = parent.waker();
        Context cx(w);
        REQUIRE(set.poll_next(cx).is_pending());
        REQUIRE_FALSE(child_waker.will_wake(Waker::noop()));
    }
    REQUIRE(Counted::alive() == 0); // the child was destroyed with the set
    REQUIRE(parent.live() == 0);    // the set's queue let go of the parent waker
    child_waker.wake_by_ref();      // here, and from another thread
    std::thread other([w = child_waker] { w.wake_by_ref(); });
    other.join();
    std::move(child_waker).wake(); // drops the last reference: frees node and queue (LSan)
    REQUIRE(parent.wakes() == 0);
    REQUIRE(parent.live() == 0);
}

TEST_CASE("FuturesUnordered reserved children woken after the set was destroyed keep their "
          "shared block until the last waker goes",
          "[core][futures_unordered][reserve]") {
    Counted::reset();
    CountingWaker parent;
    Waker first = Waker::noop();
    Waker second = Waker::noop();
    {
        FuturesUnordered<Leaky> set;
        set.reserve(3); // one slot stays unused
        set.push(Leaky{&first});
        set.push(Leaky{&second});
        Waker w = parent.waker();
        Context cx(w);
        REQUIRE(set.poll_next(cx).is_pending());
        REQUIRE_FALSE(first.will_wake(Waker::noop()));
        REQUIRE_FALSE(second.will_wake(Waker::noop()));
    }
    REQUIRE(Counted::alive() == 0);
    std::move(first).wake(); // frees one node; the block stays for the other
    std::thread other([w = std::move(second)]() mutable { std::move(w).wake(); });
    other.join(); // the last node frees the block on that thread (LSan, TSan)
    REQUIRE(parent.wakes() == 0);
    REQUIRE(parent.live() == 0);
}

TEST_CASE("FuturesUnordered reserve then push past it polls every child once",
          "[core][futures_unordered][reserve]") {
    Gates gates(5);
    FuturesUnordered<Gate> set;
    set.reserve(2);
    for (int i = 0; i < 5; ++i) { // two in the block, three of their own
        set.push(Gate{&gates, i});
    }
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == 5);
    for (std::size_t i = 0; i < 5; ++i) {
        gates.open_and_wake(i);
    }
    std::vector<int> out;
    while (auto v = expect_ready<FuturesUnordered<Gate>>(task.poll())) {
        out.push_back(*v);
    }
    REQUIRE(out == std::vector<int>{0, 1, 2, 3, 4});
    REQUIRE(gates.polls == 10);
}

TEST_CASE("FuturesUnordered child woken during its own poll is polled again",
          "[core][futures_unordered]") {
    struct WakesSelfOnce {
        using Output = int;
        int* polls;
        Poll<int> poll(Context& cx) {
            if ((*polls)++ == 0) {
                cx.waker().wake_by_ref();
                return Pending{};
            }
            return Ready{5};
        }
    };
    int polls = 0;
    FuturesUnordered<WakesSelfOnce> set;
    set.push(WakesSelfOnce{&polls});
    MockTask task(next(set));
    auto first = task.poll();
    if (first.is_pending()) {
        REQUIRE(task.is_woken()); // the self-wake reached the parent
        first = task.poll();
    }
    REQUIRE(first.is_ready());
    REQUIRE(first.value() == 5);
    REQUIRE(polls == 2);
}

TEST_CASE("FuturesUnordered yields to its task when children keep waking themselves",
          "[core][futures_unordered]") {
    struct Spinner {
        using Output = int;
        int* polls;
        Poll<int> poll(Context& cx) {
            ++*polls;
            cx.waker().wake_by_ref();
            return Pending{};
        }
    };
    int polls = 0;
    FuturesUnordered<Spinner> set;
    for (int i = 0; i < 3; ++i) {
        set.push(Spinner{&polls});
    }
    StreamTask<FuturesUnordered<Spinner>> task{set};
    for (int round = 1; round <= 4; ++round) {
        const std::size_t wakes_before = task.counter.wakes();
        REQUIRE(task.poll().is_pending());
        REQUIRE(polls == 3 * round); // at most size() polls per poll_next
        REQUIRE(task.counter.wakes() > wakes_before);
    }
}

TEST_CASE("FuturesUnordered destroys every child when dropped", "[core][futures_unordered]") {
    Counted::reset();
    Waker slot = Waker::noop();
    {
        FuturesUnordered<Leaky> set;
        for (int i = 0; i < 5; ++i) {
            set.push(Leaky{&slot});
        }
        StreamTask<FuturesUnordered<Leaky>> task{set};
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 5);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("FuturesUnordered clear destroys every child and leaves a usable set",
          "[core][futures_unordered]") {
    Counted::reset();
    Waker slot = Waker::noop();
    FuturesUnordered<Leaky> set;
    set.push(Leaky{&slot});
    set.push(Leaky{&slot});
    StreamTask<FuturesUnordered<Leaky>> task{set};
    REQUIRE(task.poll().is_pending());
    set.clear();
    REQUIRE(set.empty());
    REQUIRE(Counted::alive() == 0);
    slot.wake_by_ref(); // a waker of a cleared child does nothing
    REQUIRE(expect_ready<FuturesUnordered<Leaky>>(task.poll()) == std::nullopt);
    set.push(Leaky{&slot});
    REQUIRE(task.poll().is_pending());
    REQUIRE(set.size() == 1);
}

TEST_CASE("FuturesUnordered moves outputs out without copies and leaks none",
          "[core][futures_unordered]") {
    struct Make {
        using Output = Counted;
        int id;
        bool pended = false;
        Poll<Counted> poll(Context& cx) {
            if (!pended) {
                pended = true;
                cx.waker().wake_by_ref();
                return Pending{};
            }
            return Ready{Counted(id)};
        }
    };
    Counted::reset();
    {
        FuturesUnordered<Make> set;
        for (int i = 0; i < 10; ++i) {
            set.push(Make{i});
        }
        std::vector<int> ids;
        while (auto item = block_on(next(set))) {
            ids.push_back(item->id);
        }
        REQUIRE(ids.size() == 10);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::value_constructions == 10);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("FuturesUnordered propagates a child's exception and keeps the other children",
          "[core][futures_unordered]") {
    struct MaybeThrow {
        using Output = int;
        Gates* gates;
        int id;
        Counted state{0};
        Poll<int> poll(Context& cx) {
            if (id == 1 && gates->open[1]) {
                throw std::runtime_error("child failed");
            }
            return Gate{gates, id}.poll(cx);
        }
    };
    Counted::reset();
    Gates gates(3);
    {
        FuturesUnordered<MaybeThrow> set;
        for (int i = 0; i < 3; ++i) {
            set.push(MaybeThrow{&gates, i});
        }
        StreamTask<FuturesUnordered<MaybeThrow>> task{set};
        REQUIRE(task.poll().is_pending());
        gates.open_and_wake(1);
        REQUIRE_THROWS_AS(task.poll(), std::runtime_error);
        REQUIRE(set.size() == 2);
        REQUIRE(Counted::alive() == 2); // the throwing child was destroyed
        gates.open_and_wake(2);
        REQUIRE(expect_ready<FuturesUnordered<MaybeThrow>>(task.poll()) == 2);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("FuturesUnordered push wakes the task that last polled it", "[core][futures_unordered]") {
    Gates gates(2);
    FuturesUnordered<Gate> set;
    set.push(Gate{&gates, 0});
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(task.poll().is_pending());
    gates.open[1] = 1;
    set.push(Gate{&gates, 1});
    REQUIRE(task.counter.wakes() == 1);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == 1);
}

TEST_CASE("FuturesUnordered may be moved between polls", "[core][futures_unordered]") {
    Gates gates(2);
    FuturesUnordered<Gate> set;
    set.push(Gate{&gates, 0});
    set.push(Gate{&gates, 1});
    StreamTask<FuturesUnordered<Gate>> task{set};
    REQUIRE(task.poll().is_pending());
    FuturesUnordered<Gate> moved(std::move(set));
    REQUIRE(set.empty()); // NOLINT(bugprone-use-after-move): moved-from is empty
    gates.open_and_wake(1);
    StreamTask<FuturesUnordered<Gate>> task2{moved};
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task2.poll()) == 1);
    FuturesUnordered<Gate> assigned;
    assigned = std::move(moved);
    gates.open_and_wake(0);
    StreamTask<FuturesUnordered<Gate>> task3{assigned};
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task3.poll()) == 0);
    REQUIRE(expect_ready<FuturesUnordered<Gate>>(task.poll()) == std::nullopt); // moved-from
}

TEST_CASE("FuturesUnordered of void futures yields Unit", "[core][futures_unordered]") {
    struct Done {
        using Output = void;
        Poll<void> poll(Context&) { return Ready<void>{}; }
    };
    STATIC_REQUIRE(std::is_same_v<item_t<FuturesUnordered<Done>>, Unit>);
    FuturesUnordered<Done> set;
    set.push(Done{});
    set.push(Done{});
    REQUIRE(block_on(next(set)) == Unit{});
    REQUIRE(block_on(next(set)) == Unit{});
    REQUIRE(block_on(next(set)) == std::nullopt);
}
