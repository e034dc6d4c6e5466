#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include "support/futures.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using time::Clock;
using time::Duration;
using time::Instant;

namespace {

// Polls the borrowed future `*f` exactly once: its value if that poll was
// Ready, nullopt if it was Pending. For "ready on the first poll" checks and
// for dropping a future after it started.
template <Future F>
struct PollOnce {
    using Output = std::optional<value_t<output_t<F>>>;
    F* f;
    Poll<Output> poll(Context& cx) {
        auto p = f->poll(cx);
        if (p.is_pending()) {
            return Ready{Output()};
        }
        if constexpr (std::is_void_v<output_t<F>>) {
            return Ready{Output(Unit{})};
        } else {
            return Ready{Output(std::move(p).value())};
        }
    }
};

template <Future F>
PollOnce<F> poll_once(F& f) {
    return PollOnce<F>{&f};
}

// Upper bounds on elapsed time only ever this loose: tests run on slow,
// loaded machines.
constexpr auto generous = 5s;

} // namespace

TEST_CASE("sleep, timeout and interval have the documented types", "[time]") {
    STATIC_REQUIRE(Future<time::Sleep>);
    STATIC_REQUIRE(std::is_void_v<output_t<time::Sleep>>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<time::Sleep>);
    STATIC_REQUIRE(std::is_same_v<output_t<time::Timeout<ReadyFuture<int>>>, Result<int>>);
    STATIC_REQUIRE(std::is_same_v<output_t<time::Timeout<ReadyFuture<void>>>, Result<void>>);
    STATIC_REQUIRE(std::is_same_v<output_t<time::Tick>, Instant>);
    STATIC_REQUIRE(Stream<time::Interval>);
    STATIC_REQUIRE(std::is_same_v<item_t<time::Interval>, Instant>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<time::Interval>);
}

TEST_CASE("sleep waits at least its duration inside a Runtime", "[time][sleep]") {
    Runtime rt;
    const Instant start = Clock::now();
    rt.block_on(time::sleep(50ms));
    const Duration elapsed = Clock::now() - start;
    REQUIRE(elapsed >= 50ms);
    REQUIRE(elapsed < generous);
}

TEST_CASE("sleep_until completes at or after its deadline", "[time][sleep]") {
    Runtime rt;
    const Instant deadline = Clock::now() + 30ms;
    auto body = [](Instant d) -> Async<Instant> {
        co_await time::sleep_until(d);
        co_return Clock::now();
    };
    REQUIRE(rt.block_on(body(deadline)) >= deadline);
}

TEST_CASE("sleep polled outside a task throws std::logic_error", "[time][sleep]") {
    SECTION("with a deadline ahead") {
        REQUIRE_THROWS_AS(block_on(time::sleep(10ms)), std::logic_error);
    }
    SECTION("with a deadline that has passed") {
        REQUIRE_THROWS_AS(block_on(time::sleep(0ms)), std::logic_error);
    }
}

TEST_CASE("sleep of zero or a past deadline completes on its first poll", "[time][sleep]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        int ready = 0;
        auto zero = time::sleep(0ms);
        ready += (co_await poll_once(zero)).has_value();
        auto past = time::sleep_until(Clock::now() - 1s);
        ready += (co_await poll_once(past)).has_value();
        auto negative = time::sleep(-5ms);
        ready += (co_await poll_once(negative)).has_value();
        co_return ready;
    };
    REQUIRE(rt.block_on(body()) == 3);
}

TEST_CASE("sleep with a deadline ahead is pending on its first poll", "[time][sleep]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto s = time::sleep(1h);
        co_return !(co_await poll_once(s)).has_value();
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("sleep dropped while pending cancels its timer so the io_context runs out of work",
          "[time][sleep][cancel]") {
    asio::io_context io;
    auto body = []() -> Async<bool> {
        auto s = time::sleep(1h);
        const bool pending = !(co_await poll_once(s)).has_value();
        co_return pending; // `s` is destroyed here, its wait in flight
    };
    auto handle = spawn(io, body());
    io.run(); // returns only once nothing is left: not after an hour
    REQUIRE(handle.is_finished());
    REQUIRE(block_on(std::move(handle)));
}

TEST_CASE("sleep moved out of its task and dropped on another thread cancels its timer",
          "[time][sleep][cancel]") {
    asio::io_context io;
    std::optional<time::Sleep> out;
    auto body = [](std::optional<time::Sleep>& slot) -> Async<> {
        auto s = time::sleep(1h);
        (void)co_await poll_once(s);
        slot.emplace(std::move(s)); // the timer stays put; the future moves
    };
    auto handle = spawn(io, body(out));
    while (!handle.is_finished()) {
        io.run_one();
    }
    REQUIRE(out.has_value());
    std::thread([&] { out.reset(); }).join(); // hops onto the io_context
    io.restart();
    io.run(); // runs the destruction, then the aborted wait; then no work is left
    REQUIRE(io.stopped());
}

TEST_CASE("sleep may be moved between polls", "[time][sleep]") {
    Runtime rt;
    auto body = []() -> Async<Duration> {
        const Instant start = Clock::now();
        auto a = time::sleep(20ms);
        (void)co_await poll_once(a);
        time::Sleep b(std::move(a));
        co_await b;
        co_return Clock::now() - start;
    };
    REQUIRE(rt.block_on(body()) >= 20ms);
}

// tokio's time tests `reset_future_sleep_before_fire`,
// `reset_past_sleep_before_fire`, `reset_future_sleep_after_fire` and
// `reset_sleep_to_past` (tokio/tests/time_sleep.rs), on the real clock.
TEST_CASE("sleep reset to a later deadline completes at the new deadline, not the old one",
          "[time][sleep][reset]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto s = time::sleep(10ms);
        (void)co_await poll_once(s); // arms the timer 10 ms ahead
        const Instant later = Clock::now() + 100ms;
        s.reset(later);
        co_await s;
        co_return Clock::now() >= later&& s.deadline() == later;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("sleep reset to an earlier deadline re-arms its timer", "[time][sleep][reset]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto s = time::sleep(1h);
        (void)co_await poll_once(s); // arms the timer an hour ahead
        const Instant soon = Clock::now() + 20ms;
        s.reset(soon);
        co_await s; // not an hour from now
        co_return Clock::now() >= soon;
    };
    REQUIRE(rt.block_on(time::timeout(generous, body())).value());
}

TEST_CASE("sleep reset after it completed waits again for the new deadline",
          "[time][sleep][reset]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto s = time::sleep(1ms);
        co_await s;
        const Instant again = Clock::now() + 30ms;
        s.reset(again);
        const bool pending = !(co_await poll_once(s)).has_value();
        co_await s;
        co_return pending&& Clock::now() >= again;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("sleep reset to a past deadline completes on its next poll", "[time][sleep][reset]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto s = time::sleep(1h);
        (void)co_await poll_once(s);
        s.reset(Clock::now() - 1s);
        co_return (co_await poll_once(s)).has_value();
    };
    REQUIRE(rt.block_on(time::timeout(generous, body())).value());
}

TEST_CASE("sleep in many tasks at once completes each after its own duration", "[time][sleep]") {
    Runtime rt;
    auto one = [](Duration d) -> Async<bool> {
        const Instant start = Clock::now();
        co_await time::sleep(d);
        co_return Clock::now() - start >= d;
    };
    auto body = [](auto one) -> Async<int> {
        std::vector<JoinHandle<bool>> hs;
        for (int i = 0; i < 20; ++i) {
            hs.push_back(spawn(one(std::chrono::milliseconds(i % 5 * 5))));
        }
        int ok = 0;
        for (auto& h : hs) {
            ok += co_await h;
        }
        co_return ok;
    };
    REQUIRE(rt.block_on(body(one)) == 20);
}

TEST_CASE("timeout around a never-ready future returns errc::elapsed", "[time][timeout]") {
    Runtime rt;
    auto dropped = std::make_shared<std::atomic<bool>>(false);
    SECTION("test::PendingForever") {
        const Instant start = Clock::now();
        Result<int> r = rt.block_on(time::timeout(50ms, test::PendingForever(dropped)));
        const Duration elapsed = Clock::now() - start;
        REQUIRE(r.has_error());
        REQUIRE(r.error() == time::errc::elapsed);
        REQUIRE(elapsed >= 50ms);
        REQUIRE(elapsed < generous);
        REQUIRE(dropped->load()); // destroyed with the Timeout
    }
    SECTION("pollux::pending") {
        Result<void> r = rt.block_on(time::timeout(10ms, pending<void>()));
        REQUIRE(r.error() == time::errc::elapsed);
    }
}

TEST_CASE("timeout around a ready future returns its value", "[time][timeout]") {
    SECTION("inside a Runtime") {
        Runtime rt;
        Result<int> r = rt.block_on(time::timeout(1h, ready(42)));
        REQUIRE(r.value() == 42);
    }
    SECTION("without an event loop: a ready inner future needs no timer") {
        Result<int> r = block_on(time::timeout(1h, ready(7)));
        REQUIRE(r.value() == 7);
    }
}

TEST_CASE("timeout around a void future returns an ok Result<void>", "[time][timeout]") {
    Runtime rt;
    Result<void> r = rt.block_on(time::timeout(1h, ready()));
    REQUIRE(r.has_value());
}

TEST_CASE("timeout polls the inner future first so a ready one wins after the deadline",
          "[time][timeout]") {
    Runtime rt;
    Result<int> r = rt.block_on(time::timeout_at(Clock::now() - 1s, ready(5)));
    REQUIRE(r.value() == 5);
}

TEST_CASE("timeout returns the output of a future that finishes before the deadline",
          "[time][timeout]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        co_await time::sleep(10ms);
        co_return 3;
    };
    Result<int> r = rt.block_on(time::timeout(10s, body()));
    REQUIRE(r.value() == 3);
}

TEST_CASE("timeout dropped while pending destroys the inner future and cancels its timer",
          "[time][timeout][cancel]") {
    asio::io_context io;
    auto dropped = std::make_shared<std::atomic<bool>>(false);
    auto body = [](std::shared_ptr<std::atomic<bool>> d) -> Async<bool> {
        auto t = time::timeout(1h, test::PendingForever(d));
        co_return !(co_await poll_once(t)).has_value();
    };
    auto handle = spawn(io, body(dropped));
    io.run(); // no hour-long timer is left behind
    REQUIRE(block_on(std::move(handle)));
    REQUIRE(dropped->load());
}

TEST_CASE("interval first tick completes on its first poll with the start instant",
          "[time][interval]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        const Instant before = Clock::now();
        auto iv = time::interval(1h);
        auto t = iv.tick();
        std::optional<Instant> first = co_await poll_once(t);
        co_return first.has_value() && *first >= before&&* first <= Clock::now();
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("interval ticks in order one period apart", "[time][interval]") {
    Runtime rt;
    // static: the coroutine lambda captures nothing (a capture would dangle
    // once the lambda object is gone), and a local would need capturing:
    // passing it to interval() odr-uses it (clang rejects it uncaptured).
    static constexpr Duration period = 20ms;
    auto body = []() -> Async<std::vector<Instant>> {
        auto iv = time::interval(period);
        std::vector<Instant> ticks;
        for (int i = 0; i < 4; ++i) {
            ticks.push_back(co_await iv.tick());
        }
        ticks.push_back(Clock::now());
        co_return ticks;
    };
    const std::vector<Instant> t = rt.block_on(body());
    for (std::size_t i = 1; i < 4; ++i) {
        REQUIRE(t[i] - t[i - 1] == period); // Burst keeps the grid exactly
    }
    REQUIRE(t[4] >= t[3]); // the last tick was not early
}

TEST_CASE("interval_at first ticks at its start instant", "[time][interval]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        const Instant start = Clock::now() + 30ms;
        auto iv = time::interval_at(start, 1h);
        const Instant first = co_await iv.tick();
        co_return first == start&& Clock::now() >= start;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("interval defaults to MissedTickBehavior::Burst", "[time][interval]") {
    auto iv = time::interval(1s);
    REQUIRE(iv.missed_tick_behavior() == time::MissedTickBehavior::Burst);
    REQUIRE(iv.period() == 1s);
    iv.set_missed_tick_behavior(time::MissedTickBehavior::Skip);
    REQUIRE(iv.missed_tick_behavior() == time::MissedTickBehavior::Skip);
}

namespace {

constexpr Duration stall_period = 30ms;

struct StallRun {
    Instant first;      // tick 1, taken on time
    Instant stall_end;  // when the task stopped blocking (> first + 3 periods)
    Instant late;       // tick 2, taken after the stall
    Instant after_late; // the clock right after tick 2
    Instant next;       // tick 3
    Instant next2;      // tick 4
    int immediate = 0;  // of ticks 2..4, how many were Ready on their first poll
};

// Takes tick 1, blocks the thread for 3.5 periods (a stall: the task is busy
// and the loop cannot run), then takes ticks 2, 3 and 4.
Async<StallRun> stall_then_tick(time::MissedTickBehavior behavior) {
    auto iv = time::interval(stall_period);
    iv.set_missed_tick_behavior(behavior);
    StallRun r;
    r.first = co_await iv.tick();
    std::this_thread::sleep_for(stall_period * 7 / 2);
    r.stall_end = Clock::now();
    Instant* slots[] = {&r.late, &r.next, &r.next2};
    for (int i = 0; i < 3; ++i) {
        auto t = iv.tick();
        if (auto now = co_await poll_once(t)) {
            ++r.immediate;
            *slots[i] = *now;
        } else {
            *slots[i] = co_await t;
        }
        if (i == 0) {
            r.after_late = Clock::now();
        }
    }
    co_return r;
}

} // namespace

TEST_CASE("interval with Burst yields the missed ticks at once after a stall",
          "[time][interval][missed_tick]") {
    Runtime rt;
    const StallRun r = rt.block_on(stall_then_tick(time::MissedTickBehavior::Burst));
    REQUIRE(r.stall_end >= r.first + stall_period * 3);
    // Ticks 2, 3, 4 were scheduled at 1, 2, 3 periods, all before the stall
    // ended: each was ready on its first poll, and the grid is kept.
    REQUIRE(r.immediate == 3);
    REQUIRE(r.late == r.first + stall_period);
    REQUIRE(r.next == r.first + stall_period * 2);
    REQUIRE(r.next2 == r.first + stall_period * 3);
}

TEST_CASE("interval with Delay restarts the schedule from the late tick",
          "[time][interval][missed_tick]") {
    Runtime rt;
    const StallRun r = rt.block_on(stall_then_tick(time::MissedTickBehavior::Delay));
    REQUIRE(r.late == r.first + stall_period); // the missed tick, at once
    // The next one is a full period after the late tick was taken.
    REQUIRE(r.next >= r.stall_end + stall_period);
    REQUIRE(r.next <= r.after_late + stall_period);
    REQUIRE(r.next2 - r.next >= stall_period);
}

TEST_CASE("interval with Skip drops the missed ticks and keeps the grid",
          "[time][interval][missed_tick]") {
    Runtime rt;
    const StallRun r = rt.block_on(stall_then_tick(time::MissedTickBehavior::Skip));
    REQUIRE(r.late == r.first + stall_period); // the missed tick, at once
    // The next one is the first grid instant after the late tick was taken.
    REQUIRE((r.next - r.first) % stall_period == Duration::zero());
    REQUIRE(r.next > r.stall_end);
    REQUIRE(r.next <= r.after_late + stall_period);
    REQUIRE((r.next2 - r.first) % stall_period == Duration::zero());
    REQUIRE(r.next2 > r.next);
}

TEST_CASE("interval tick dropped while pending loses no tick", "[time][interval][cancel]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto iv = time::interval(30ms);
        const Instant first = co_await iv.tick();
        {
            auto t = iv.tick();
            if ((co_await poll_once(t)).has_value()) {
                co_return false; // cannot be ready a period early
            }
        } // dropped while pending
        const Instant second = co_await iv.tick();
        co_return second == first + 30ms;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("interval reset_at to an earlier instant re-arms its timer", "[time][interval]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto iv = time::interval(1h);
        (void)co_await iv.tick();
        {
            auto t = iv.tick(); // arms the timer an hour ahead
            (void)co_await poll_once(t);
        }
        const Instant soon = Clock::now() + 20ms;
        iv.reset_at(soon);
        const Instant tick = co_await iv.tick(); // not an hour from now
        co_return tick == soon&& Clock::now() >= soon;
    };
    REQUIRE(rt.block_on(time::timeout(generous, body())).value());
}

TEST_CASE("interval reset puts the next tick a period from now", "[time][interval]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto iv = time::interval(20ms);
        (void)co_await iv.tick();
        const Instant before = Clock::now();
        iv.reset();
        const Instant tick = co_await iv.tick();
        co_return tick >= before + 20ms;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("interval is a Stream of tick instants", "[time][interval][stream]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto iv = time::interval(10ms);
        std::optional<Instant> a = co_await next(iv);
        std::optional<Instant> b = co_await next(iv);
        co_return a&& b&&* b - *a == 10ms;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("interval with a non-positive period throws std::invalid_argument", "[time][interval]") {
    REQUIRE_THROWS_AS(time::interval(0ms), std::invalid_argument);
    REQUIRE_THROWS_AS(time::interval_at(Clock::now(), -1s), std::invalid_argument);
}

TEST_CASE("interval polled outside a task throws std::logic_error", "[time][interval]") {
    auto iv = time::interval(1s);
    REQUIRE_THROWS_AS(block_on(iv.tick()), std::logic_error);
}

TEST_CASE("sleep in a task aborted through its JoinHandle cancels its timer",
          "[time][sleep][cancel]") {
    asio::io_context io;
    auto handle = spawn(io, time::sleep(1h));
    io.run_one();   // the first poll arms the timer
    handle.abort(); // from a thread that is not running the loop: posted
    io.run();       // the drop cancels the wait; then nothing is left
    REQUIRE(handle.is_finished());
    REQUIRE_THROWS_AS(block_on(std::move(handle)), TaskCancelled);
}

TEST_CASE("sleep still pending when its Runtime is destroyed is freed", "[time][sleep][cancel]") {
    SECTION("current-thread") {
        Runtime rt;
        auto pending_sleep = rt.spawn(time::sleep(1h));
        rt.block_on(time::sleep(1ms)); // the other task has polled and armed its timer
    }
    SECTION("two worker threads") {
        RuntimeOptions opts;
        opts.worker_threads = 2;
        Runtime rt(opts);
        auto pending_sleep = rt.spawn(time::sleep(1h));
        auto pending_interval = rt.spawn([]() -> Async<> {
            auto iv = time::interval(1h);
            for (;;) {
                (void)co_await iv.tick();
            }
        }());
        rt.block_on(time::sleep(5ms));
    }
    // Nothing to assert here: ASan/LSan builds catch a leak or a use after free.
}

TEST_CASE("sleep on a multi-threaded Runtime waits at least its duration", "[time][sleep]") {
    RuntimeOptions opts;
    opts.worker_threads = 2;
    Runtime rt(opts);
    auto one = [](Duration d) -> Async<bool> {
        const Instant start = Clock::now();
        co_await time::sleep(d);
        co_return Clock::now() - start >= d;
    };
    std::vector<JoinHandle<bool>> hs;
    for (int i = 0; i < 50; ++i) {
        hs.push_back(rt.spawn(one(std::chrono::milliseconds(i % 10))));
    }
    int ok = 0;
    for (auto& h : hs) {
        ok += rt.block_on(std::move(h));
    }
    REQUIRE(ok == 50);
}

TEST_CASE("timeout on a multi-threaded Runtime gives up on a never-ready future",
          "[time][timeout]") {
    RuntimeOptions opts;
    opts.worker_threads = 2;
    Runtime rt(opts);
    Result<int> r = rt.block_on(time::timeout(20ms, pending<int>()));
    REQUIRE(r.error() == time::errc::elapsed);
}
