#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"
#include "support/small_stack.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::MockTask;

namespace {

// Pending until `open` is set, waking whoever polled it when `open()` runs.
struct Gate {
    bool is_open = false;
    std::optional<Waker> waiter;
    int polls = 0;
    void open() {
        is_open = true;
        if (waiter) {
            std::move(*waiter).wake();
            waiter.reset();
        }
    }
};

struct GateFuture {
    using Output = int;
    Gate* gate;
    Poll<int> poll(Context& cx) {
        ++gate->polls;
        if (gate->is_open) {
            return Ready{7};
        }
        gate->waiter = cx.waker();
        return Pending{};
    }
};

struct Value {
    using Output = int;
    int v;
    Poll<int> poll(Context&) { return Ready{v}; }
};

// Sets a flag when destroyed, so a test can see a future being dropped.
struct DropFlag {
    using Output = int;
    std::shared_ptr<bool> dropped;
    DropFlag(std::shared_ptr<bool> d) : dropped(std::move(d)) {}
    DropFlag(DropFlag&& o) noexcept : dropped(std::move(o.dropped)) {}
    ~DropFlag() {
        if (dropped) {
            *dropped = true;
        }
    }
    Poll<int> poll(Context&) { return Pending{}; }
};

// Pending for its first `pending` polls (waking itself), then Ready with 5;
// sets a flag when destroyed.
struct DropWhenReady {
    using Output = int;
    std::shared_ptr<bool> dropped;
    int pending = 0;
    DropWhenReady(std::shared_ptr<bool> d, int p) : dropped(std::move(d)), pending(p) {}
    DropWhenReady(DropWhenReady&& o) noexcept : dropped(std::move(o.dropped)), pending(o.pending) {}
    ~DropWhenReady() {
        if (dropped) {
            *dropped = true;
        }
    }
    Poll<int> poll(Context& cx) {
        if (pending-- > 0) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        return Ready{5};
    }
};

// Pending for its first `pending` polls (waking itself), then throws;
// counts the destructions of the object that was awaited (not of the
// moved-from ones).
struct CountDrops {
    using Output = int;
    std::shared_ptr<int> drops;
    int pending = 0;
    CountDrops(std::shared_ptr<int> d, int p) : drops(std::move(d)), pending(p) {}
    CountDrops(CountDrops&& o) noexcept : drops(std::move(o.drops)), pending(o.pending) {}
    ~CountDrops() {
        if (drops) {
            ++*drops;
        }
    }
    Poll<int> poll(Context& cx) {
        if (pending-- > 0) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        throw std::runtime_error("poll failed");
    }
};

// Ready at once with a Counted.
struct CountedReady {
    using Output = Counted;
    Poll<Counted> poll(Context&) { return Ready{Counted(3)}; }
};

struct ThrowsOnSecondPoll {
    using Output = int;
    int polls = 0;
    Poll<int> poll(Context& cx) {
        if (polls++ == 0) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        throw std::runtime_error("second poll");
    }
};

Async<int> add(int a, int b) {
    co_return a + b;
}

Async<int> await_gate(Gate& g) {
    co_return co_await GateFuture{&g};
}

Async<int> nested_gate(Gate& g, int depth) {
    if (depth == 0) {
        co_return co_await GateFuture{&g};
    }
    co_return co_await nested_gate(g, depth - 1);
}

// Appends its level to `log` when destroyed.
struct Recorder {
    std::vector<int>* log;
    int level;
    Recorder(std::vector<int>* l, int lv) : log(l), level(lv) {}
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;
    ~Recorder() { log->push_back(level); }
};

// A chain `depth` deep whose frames each hold a Recorder; odd levels await
// their child by value, even ones through a local Async (an lvalue).
Async<int> recorded_gate(Gate& g, std::vector<int>& log, int depth) {
    Recorder r(&log, depth);
    if (depth == 0) {
        co_return co_await GateFuture{&g};
    }
    if (depth % 2 == 1) {
        co_return co_await recorded_gate(g, log, depth - 1);
    }
    auto child = recorded_gate(g, log, depth - 1);
    co_return co_await child;
}

Async<int> chain(int depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await chain(depth - 1);
}

Async<void> throws_inner() {
    co_await Value{1};
    throw std::runtime_error("inner");
}

Async<int> throws_outer() {
    co_await throws_inner();
    co_return 0;
}

} // namespace

TEST_CASE("Async is a Future with its output type", "[core][async]") {
    STATIC_REQUIRE(Future<Async<int>>);
    STATIC_REQUIRE(Future<Async<>>);
    STATIC_REQUIRE(std::is_same_v<output_t<Async<int>>, int>);
    STATIC_REQUIRE(!std::is_copy_constructible_v<Async<int>>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<Async<int>>);
}

TEST_CASE("Async body does not run before the first poll", "[core][async]") {
    bool ran = false;
    auto body = [&]() -> Async<> {
        ran = true;
        co_return;
    };
    auto fut = body();
    REQUIRE_FALSE(ran);
    block_on(std::move(fut));
    REQUIRE(ran);
}

TEST_CASE("Async co_return value reaches block_on", "[core][async]") {
    REQUIRE(block_on(add(2, 3)) == 5);
}

TEST_CASE("Async co_await of a ready future completes on the first poll", "[core][async]") {
    auto body = []() -> Async<int> { co_return co_await Value{4} + co_await Value{5}; };
    MockTask task(body());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 9);
}

TEST_CASE("Async co_await of a pending future suspends and is woken through the outer waker",
          "[core][async]") {
    Gate gate;
    MockTask task(await_gate(gate));
    REQUIRE(task.poll().is_pending());
    REQUIRE_FALSE(task.is_woken());
    gate.open();
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 7);
}

TEST_CASE("Async co_await of an lvalue future leaves it with the caller", "[core][async]") {
    Gate gate;
    GateFuture fut{&gate};
    auto body = [](GateFuture& f) -> Async<int> { co_return co_await f; };
    MockTask task(body(fut));
    REQUIRE(task.poll().is_pending());
    gate.open();
    REQUIRE(task.poll().value() == 7);
    REQUIRE(gate.polls == 2);
}

TEST_CASE("Async nested awaits re-poll only the innermost future after a wake", "[core][async]") {
    Gate gate;
    MockTask task(nested_gate(gate, 1000));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.poll().is_pending()); // a spurious poll reaches the leaf directly
    REQUIRE(gate.polls == 2);
    gate.open();
    REQUIRE(task.poll().value() == 7);
    REQUIRE(gate.polls == 3);
}

TEST_CASE("Async exceptions thrown in nested coroutines reach block_on's caller", "[core][async]") {
    REQUIRE_THROWS_WITH(block_on(throws_outer()), "inner");
}

TEST_CASE("Async exception from a re-polled future is catchable at the co_await", "[core][async]") {
    auto body = []() -> Async<int> {
        try {
            co_await ThrowsOnSecondPoll{};
        } catch (const std::runtime_error& e) {
            co_return 42;
        }
        co_return 0;
    };
    REQUIRE(block_on(body()) == 42);
}

TEST_CASE("Async destroyed while suspended destroys the future it awaits", "[core][async]") {
    auto dropped = std::make_shared<bool>(false);
    auto leaf = [](std::shared_ptr<bool> d) -> Async<int> { co_return co_await DropFlag{d}; };
    auto outer = [&](std::shared_ptr<bool> d) -> Async<int> { co_return co_await leaf(d); };
    {
        MockTask task(outer(dropped));
        REQUIRE(task.poll().is_pending());
        REQUIRE_FALSE(*dropped);
    }
    REQUIRE(*dropped);
}

TEST_CASE("Async co_await of an rvalue future drops it on Ready, before the coroutine resumes",
          "[core][async]") {
    for (int pending : {0, 1}) {
        auto dropped = std::make_shared<bool>(false);
        // Read in the co_await's own full-expression, before its temporaries
        // (the awaiter among them) are destroyed.
        auto body = [](std::shared_ptr<bool> d, int p) -> Async<bool> {
            co_return co_await DropWhenReady(d, p) == 5 && *d;
        };
        REQUIRE(block_on(body(dropped, pending)));
    }
}

TEST_CASE("Async co_await of an rvalue future whose poll throws drops it once and rethrows at the "
          "co_await",
          "[core][async]") {
    for (int pending : {0, 1}) {
        auto drops = std::make_shared<int>(0);
        auto body = [](std::shared_ptr<int> n, int p) -> Async<int> {
            try {
                co_await CountDrops(n, p);
            } catch (const std::runtime_error&) {
                co_return 1;
            }
            co_return 0;
        };
        REQUIRE(block_on(body(drops, pending)) == 1);
        REQUIRE(*drops == 1);
    }
}

TEST_CASE("Async co_await of an lvalue future keeps it after Ready", "[core][async]") {
    auto dropped = std::make_shared<bool>(false);
    auto body = [](std::shared_ptr<bool> d) -> Async<bool> {
        DropWhenReady fut(d, 1);
        int v = co_await fut;
        co_return v == 5 && !*d;
    };
    REQUIRE(block_on(body(dropped)));
    REQUIRE(*dropped);
}

TEST_CASE("Async co_await of a plain future moves its output, never copies it, and destroys it "
          "once",
          "[core][async]") {
    Counted::reset();
    {
        auto body = []() -> Async<Counted> { co_return co_await CountedReady{}; };
        Counted c = block_on(body());
        REQUIRE(c.id == 3);
        REQUIRE(Counted::copies == 0);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("Async chain 100,000 deep of synchronous completions does not overflow the stack",
          "[core][async]") {
    int result = 0;
    test::run_with_stack(test::small_stack_bytes, [&] { result = block_on(chain(100'000)); });
    REQUIRE(result == 100'000);
}

TEST_CASE("Async chain 100,000 deep dropped while suspended does not overflow the stack",
          "[core][async]") {
    Gate gate;
    test::run_with_stack(test::small_stack_bytes, [&] {
        MockTask task(nested_gate(gate, 100'000));
        REQUIRE(task.poll().is_pending());
    });
    REQUIRE(gate.polls == 1);
}

TEST_CASE("Async chain dropped while suspended destroys the innermost frame first",
          "[core][async]") {
    Gate gate;
    std::vector<int> log;
    {
        MockTask task(recorded_gate(gate, log, 5));
        REQUIRE(task.poll().is_pending());
        REQUIRE(log.empty());
    }
    REQUIRE(log == std::vector<int>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("Async chain dropped after completing part of it destroys each frame once",
          "[core][async]") {
    std::vector<int> log;
    auto outer = [](std::vector<int>& log, Gate& g) -> Async<int> {
        Recorder r(&log, 100);
        Gate open_gate;
        open_gate.is_open = true;
        int first = co_await recorded_gate(open_gate, log, 3); // completes at once
        co_return first + co_await recorded_gate(g, log, 2);
    };
    Gate gate;
    {
        MockTask task(outer(log, gate));
        REQUIRE(task.poll().is_pending());
        REQUIRE(log == std::vector<int>{0, 1, 2, 3});
    }
    REQUIRE(log == std::vector<int>{0, 1, 2, 3, 0, 1, 2, 100});
}

TEST_CASE("Async suspended 10,000 deep completes after the leaf is woken", "[core][async]") {
    Gate gate;
    MockTask task(nested_gate(gate, 10'000));
    REQUIRE(task.poll().is_pending());
    gate.open();
    REQUIRE(task.poll().value() == 7);
}

TEST_CASE("Async may be moved between polls", "[core][async]") {
    Gate gate;
    auto a = await_gate(gate);
    {
        MockTask first(std::move(a));
        REQUIRE(first.poll().is_pending());
        a = std::move(first.future());
    }
    gate.open();
    REQUIRE(block_on(std::move(a)) == 7);
}

TEST_CASE("Async output is moved, never copied, and destroyed once", "[core][async]") {
    Counted::reset();
    {
        auto make = []() -> Async<Counted> { co_return Counted(1); };
        auto forward = [&]() -> Async<Counted> { co_return co_await make(); };
        Counted c = block_on(forward());
        REQUIRE(c.id == 1);
        REQUIRE(Counted::copies == 0);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("Async already polled on its own can still be awaited", "[core][async]") {
    Gate gate;
    auto inner = await_gate(gate);
    {
        MockTask first(std::move(inner));
        REQUIRE(first.poll().is_pending());
        inner = std::move(first.future());
    }
    auto outer = [](Async<int>& in) -> Async<int> { co_return 1 + co_await in; };
    MockTask task(outer(inner));
    REQUIRE(task.poll().is_pending());
    gate.open();
    REQUIRE(task.poll().value() == 8);
}

TEST_CASE("Async<void> completes and propagates nothing", "[core][async]") {
    int steps = 0;
    auto body = [&]() -> Async<> {
        ++steps;
        co_await Value{0};
        ++steps;
    };
    block_on(body());
    REQUIRE(steps == 2);
}
