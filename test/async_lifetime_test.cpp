// Lifetimes of Async frames when a coroutine that awaits them is dropped
// (issue 14): a borrowed (lvalue) Async is detached and stays awaitable, an
// owned (rvalue) one goes with its awaiter innermost first, and what pollux
// does about g++ 12 destroying a braced aggregate temporary twice.
#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/select.hpp>
#include <pollux/core/yield_now.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"
#include "support/wakers.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::CountingWaker;
using pollux::test::MockTask;

namespace {

// Opened by the test. Its futures are Pending until then and keep only the
// waker of their latest poll, as a well-behaved leaf future does.
struct Latch {
    bool is_open = false;
    int live_waits = 0; // LatchWait futures alive now
    std::optional<Waker> waiter;
    void open() {
        is_open = true;
        if (waiter) {
            std::move(*waiter).wake();
            waiter.reset();
        }
    }
};

// Ready with 42 once its latch is open.
class LatchWait {
public:
    using Output = int;
    explicit LatchWait(Latch& latch) : latch_(&latch) { ++latch_->live_waits; }
    LatchWait(LatchWait&& other) noexcept : latch_(std::exchange(other.latch_, nullptr)) {}
    LatchWait& operator=(LatchWait&&) = delete;
    ~LatchWait() {
        if (latch_ != nullptr) {
            --latch_->live_waits;
        }
    }
    Poll<int> poll(Context& cx) {
        if (latch_->is_open) {
            return Ready{42};
        }
        latch_->waiter = cx.waker();
        return Pending{};
    }

private:
    Latch* latch_;
};

// The work a caller keeps and awaits by reference; counts its completions.
Async<int> compute(Latch& latch, int& finished) {
    int v = co_await LatchWait(latch);
    ++finished;
    co_return v;
}

// The same with an owned child between it and its leaf future, so that
// detaching it moves a chain of two frames.
Async<int> compute_nested(Latch& latch, int& finished) {
    int v = co_await compute(latch, finished);
    co_return v + 1;
}

// Awaits the caller's Async by lvalue reference (tokio's `(&mut fut).await`).
Async<int> waiter(Async<int>& work) {
    co_return co_await work;
}

// Owns a coroutine that awaits the caller's Async by reference.
Async<int> outer_waiter(Async<int>& work) {
    co_return co_await waiter(work);
}

// Appends its name to a log when destroyed.
struct Noisy {
    std::vector<std::string>* log;
    const char* name;
    Noisy(std::vector<std::string>* l, const char* n) : log(l), name(n) {}
    Noisy(const Noisy&) = delete;
    Noisy& operator=(const Noisy&) = delete;
    ~Noisy() { log->push_back(name); }
};

Async<int> owned_leaf(std::vector<std::string>& log, Latch& latch) {
    Noisy first(&log, "leaf_first");
    Noisy second(&log, "leaf_second");
    co_return co_await LatchWait(latch);
}

Async<int> owned_mid(std::vector<std::string>& log, Latch& latch) {
    Noisy mid(&log, "mid");
    co_return co_await owned_leaf(log, latch);
}

Async<int> owned_root(std::vector<std::string>& log, Latch& latch) {
    Noisy root(&log, "root");
    co_return co_await owned_mid(log, latch);
}

Async<int> borrowed_child(std::vector<std::string>& log, Latch& latch) {
    Noisy local(&log, "child_local");
    co_return co_await LatchWait(latch);
}

Async<int> parent_of_local_child(std::vector<std::string>& log, Latch& latch) {
    Noisy before(&log, "parent_declared_before");
    Async<int> child = borrowed_child(log, latch);
    Noisy after(&log, "parent_declared_after");
    co_return co_await child;
}

// Counts the objects alive, for the shared_ptr tests.
struct Tracked {
    static inline int live = 0;
    Tracked() { ++live; }
    Tracked(const Tracked&) = delete;
    Tracked& operator=(const Tracked&) = delete;
    ~Tracked() { --live; }
};

// An aggregate future holding a shared_ptr: the shape g++ 12 mishandles as a
// braced temporary in `co_await`. `seen` lets the test watch the pointee.
struct SharedAggregateFuture {
    using Output = long;
    std::shared_ptr<Tracked> obj;
    std::weak_ptr<Tracked>* seen;
    Poll<long> poll(Context&) {
        *seen = obj;
        return Ready{obj.use_count()};
    }
};

SharedAggregateFuture make_shared_aggregate_future(std::weak_ptr<Tracked>* seen) {
    return SharedAggregateFuture{std::make_shared<Tracked>(), seen};
}

// A non-aggregate future whose member counts its copies and moves.
class CountedFuture {
public:
    using Output = int;
    explicit CountedFuture(int id) : value_(id) {}
    Poll<int> poll(Context&) { return Ready{value_.id}; }

private:
    Counted value_;
};

// HACK(g++ 12, docs/debugging.md "Compiler notes (g++ 12)"): g++ destroys a
// braced aggregate temporary written in a `co_await` operand twice, the
// second time through a bitwise copy that pollux never sees; no
// await_transform can undo that. The case stays here, reported but not
// failing the suite, so that a compiler that gets it right is noticed.
#if defined(__GNUC__) && !defined(__clang__)
constexpr const char* aggregate_temporary_tags = "[core][async][lifetime][!mayfail]";
#else
constexpr const char* aggregate_temporary_tags = "[core][async][lifetime]";
#endif

} // namespace

TEST_CASE("an lvalue Async awaited by a dropped coroutine stays awaitable",
          "[core][async][lifetime]") {
    Latch latch;
    int finished = 0;
    Async<int> work = compute(latch, finished);
    {
        MockTask first(waiter(work));
        REQUIRE(first.poll().is_pending());
    }
    // Not destroyed, not finished, still suspended on its own future.
    REQUIRE_FALSE(work.is_done());
    REQUIRE(finished == 0);
    REQUIRE(latch.live_waits == 1);

    SECTION("awaited again by a new coroutine") {
        MockTask second(waiter(work));
        REQUIRE(second.poll().is_pending());
        latch.open();
        REQUIRE(second.is_woken());
        REQUIRE(second.poll().value() == 42);
    }
    SECTION("polled again directly") {
        MockTask<Async<int>> direct(std::move(work));
        REQUIRE(direct.poll().is_pending());
        latch.open();
        REQUIRE(direct.is_woken());
        REQUIRE(direct.poll().value() == 42);
    }
    REQUIRE(finished == 1);
    REQUIRE(latch.live_waits == 0);
}

TEST_CASE("an lvalue Async raced in select rounds finishes once", "[core][async][lifetime]") {
    Latch latch;
    int finished = 0;
    int rounds_lost = 0;
    auto race = [](Latch& latch, int& finished, int& rounds_lost) -> Async<int> {
        Async<int> work = compute(latch, finished);
        // Three rounds that `work` loses: yield_now is Pending on the first
        // poll, so both branches are polled before it wins on the second.
        for (int round = 0; round < 3; ++round) {
            auto r = co_await select(waiter(work), yield_now());
            if (r.index() == 1) {
                ++rounds_lost;
            }
        }
        latch.open();
        auto r = co_await select(waiter(work), pending<int>());
        co_return std::get<0>(r);
    };
    REQUIRE(block_on(race(latch, finished, rounds_lost)) == 42);
    REQUIRE(rounds_lost == 3);
    REQUIRE(finished == 1);
    REQUIRE(latch.live_waits == 0);
}

TEST_CASE("a re-awaited lvalue Async polls its leaf future with the new waker",
          "[core][async][lifetime]") {
    Latch latch;
    int finished = 0;
    Async<int> work = compute_nested(latch, finished);
    CountingWaker first_counter;
    CountingWaker second_counter;
    {
        auto first = waiter(work);
        Waker w = first_counter.waker();
        Context cx(w);
        REQUIRE(first.poll(cx).is_pending());
    }
    auto second = waiter(work);
    Waker w = second_counter.waker();
    Context cx(w);
    REQUIRE(second.poll(cx).is_pending());
    // The leaf's future kept the second waker in place of the first.
    REQUIRE(first_counter.live() == 0);
    latch.open();
    REQUIRE(first_counter.wakes() == 0);
    REQUIRE(second_counter.wakes() == 1);
    // The owned child below `work` finishes into `work`, on work's chain.
    REQUIRE(second.poll(cx).value() == 43);
    REQUIRE(finished == 1);
}

TEST_CASE("an lvalue Async awaited inside a dropped owned chain is detached with its children",
          "[core][async][lifetime]") {
    Latch latch;
    int finished = 0;
    Async<int> work = compute_nested(latch, finished);
    {
        // outer_waiter owns waiter, which borrows work, which owns compute.
        MockTask root(outer_waiter(work));
        REQUIRE(root.poll().is_pending());
    }
    REQUIRE_FALSE(work.is_done());
    REQUIRE(latch.live_waits == 1);
    MockTask<Async<int>> direct(std::move(work));
    REQUIRE(direct.poll().is_pending());
    latch.open();
    REQUIRE(direct.poll().value() == 43);
    REQUIRE(finished == 1);
}

TEST_CASE("a suspended owned chain destroys the child's locals before the parent's",
          "[core][async][lifetime]") {
    std::vector<std::string> log;
    Latch latch;
    {
        MockTask task(owned_root(log, latch));
        REQUIRE(task.poll().is_pending());
        REQUIRE(log.empty());
    }
    REQUIRE(log == std::vector<std::string>{"leaf_second", "leaf_first", "mid", "root"});
    REQUIRE(latch.live_waits == 0);
}

TEST_CASE("a lvalue child is destroyed by its owner's scope, after later-declared locals",
          "[core][async][lifetime]") {
    std::vector<std::string> log;
    Latch latch;
    {
        MockTask task(parent_of_local_child(log, latch));
        REQUIRE(task.poll().is_pending());
        REQUIRE(log.empty());
    }
    REQUIRE(log == std::vector<std::string>{
                       "parent_declared_after", "child_local", "parent_declared_before"});
    REQUIRE(latch.live_waits == 0);
}

TEST_CASE("co_await of an rvalue future moves it into the awaiter once, never copying it",
          "[core][async][lifetime]") {
    Counted::reset();
    {
        auto body = []() -> Async<int> { co_return co_await CountedFuture(5); };
        REQUIRE(block_on(body()) == 5);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::moves == 1);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("co_await of an aggregate future temporary releases its shared_ptr once",
          aggregate_temporary_tags) {
    std::weak_ptr<Tracked> seen;
    {
        auto body = [](std::weak_ptr<Tracked>* seen) -> Async<long> {
            long inside = co_await SharedAggregateFuture{std::make_shared<Tracked>(), seen};
            co_return inside;
        };
        REQUIRE(block_on(body(&seen)) == 1);
    }
    CHECK(Tracked::live == 0);
    CHECK(seen.use_count() == 0); // g++ 12: -1, one release too many
}

TEST_CASE("co_await of an aggregate future from a local or a function releases its shared_ptr once",
          "[core][async][lifetime]") {
    std::weak_ptr<Tracked> seen;
    SECTION("bound to a local, then moved into the co_await") {
        auto body = [](std::weak_ptr<Tracked>* seen) -> Async<long> {
            SharedAggregateFuture fut{std::make_shared<Tracked>(), seen};
            co_return co_await std::move(fut);
        };
        REQUIRE(block_on(body(&seen)) == 1);
    }
    SECTION("returned by a function") {
        auto body = [](std::weak_ptr<Tracked>* seen) -> Async<long> {
            co_return co_await make_shared_aggregate_future(seen);
        };
        REQUIRE(block_on(body(&seen)) == 1);
    }
    REQUIRE(Tracked::live == 0);
    REQUIRE(seen.use_count() == 0);
    REQUIRE(seen.expired());
}
