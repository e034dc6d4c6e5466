#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/detail/virtual_clock.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include "support/paused_clock.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::PausedClock;
namespace asio = boost::asio;
using time::Clock;
using time::Duration;
using time::Instant;

namespace {

// Upper bound on wall time for "completes at once" checks, this loose
// because tests run on slow, loaded machines.
constexpr auto generous = 5s;

// Runs every handler that is ready now (the io_context may have run out of
// work before).
void drain(asio::io_context& io) {
    io.restart();
    io.poll();
}

RuntimeOptions paused_options() {
    RuntimeOptions o;
    o.start_paused = true;
    return o;
}

Async<void> sleep_then_set(Duration d, bool* done) {
    co_await time::sleep(d);
    *done = true;
}

Async<void> sleep_then_record(Duration d, int id, std::vector<int>* order) {
    co_await time::sleep(d);
    order->push_back(id);
}

Async<void> count_ticks(time::Interval* iv, std::vector<Instant>* ticks) {
    for (;;) {
        ticks->push_back(co_await iv->tick());
    }
}

Async<Result<void>> pause_then_time_out() {
    time::pause();
    co_return co_await time::timeout(30s, pending<void>());
}

Async<void> sleep_three_in_order(std::vector<int>* order) {
    auto a = spawn(sleep_then_record(3s, 3, order));
    auto b = spawn(sleep_then_record(1s, 1, order));
    auto c = spawn(sleep_then_record(2s, 2, order));
    co_await std::move(a);
    co_await std::move(b);
    co_await std::move(c);
}

} // namespace

TEST_CASE("timeout of 30 s on a never-ready future completes at once under start_paused",
          "[time][pause]") {
    Runtime rt(paused_options());
    const auto wall_start = std::chrono::steady_clock::now();
    Instant virtual_start{};
    Instant virtual_end{};
    auto body = [&]() -> Async<Result<void>> {
        virtual_start = Clock::now();
        Result<void> r = co_await time::timeout(30s, pending<void>());
        virtual_end = Clock::now();
        co_return r;
    };
    Result<void> r = rt.block_on(body());
    REQUIRE(r.error() == time::errc::elapsed);
    REQUIRE(virtual_end - virtual_start >= 30s);
    REQUIRE(std::chrono::steady_clock::now() - wall_start < generous);
}

TEST_CASE("start_paused pauses the clock for block_on and resumes it afterwards", "[time][pause]") {
    Runtime rt(paused_options());
    auto body = []() -> Async<bool> { co_return time::is_paused(); };
    REQUIRE(rt.block_on(body()));
    REQUIRE_FALSE(time::is_paused());
}

TEST_CASE("pause inside a task switches a current-thread block_on to auto-advance",
          "[time][pause]") {
    Runtime rt;
    const auto wall_start = std::chrono::steady_clock::now();
    Result<void> r = rt.block_on(pause_then_time_out());
    REQUIRE(time::is_paused());
    time::resume();
    REQUIRE(r.error() == time::errc::elapsed);
    REQUIRE(std::chrono::steady_clock::now() - wall_start < generous);
}

TEST_CASE("auto-advance completes sleeps in deadline order at their exact virtual deadlines",
          "[time][pause]") {
    Runtime rt(paused_options());
    std::vector<int> order;
    Instant start{};
    Instant end{};
    auto body = [&]() -> Async<void> {
        start = Clock::now();
        co_await sleep_three_in_order(&order);
        end = Clock::now();
    };
    rt.block_on(body());
    REQUIRE(order == std::vector<int>{1, 2, 3});
    REQUIRE(end - start == 3s);
}

TEST_CASE("Clock::now is frozen while paused and moves by exactly what advance adds",
          "[time][pause]") {
    PausedClock paused;
    const Instant t0 = Clock::now();
    std::this_thread::sleep_for(5ms);
    REQUIRE(Clock::now() == t0);
    time::advance(1500ms);
    REQUIRE(Clock::now() == t0 + 1500ms);
    time::advance(0ms);
    REQUIRE(Clock::now() == t0 + 1500ms);
}

TEST_CASE("Clock never goes backwards across pause, advance and resume", "[time][pause]") {
    const Instant before = Clock::now();
    Instant paused_at{};
    {
        PausedClock paused;
        time::advance(1h);
        paused_at = Clock::now();
        REQUIRE(paused_at >= before + 1h);
    }
    REQUIRE(Clock::now() >= paused_at);
    // Unpaused, the clock runs at the rate of steady_clock again.
    const Instant a = Clock::now();
    std::this_thread::sleep_for(5ms);
    REQUIRE(Clock::now() - a >= 5ms);
}

TEST_CASE("advance wakes exactly the sleeps whose deadlines passed", "[time][pause]") {
    PausedClock paused;
    asio::io_context io;
    bool one = false;
    bool two = false;
    bool three = false;
    auto h1 = spawn(io, sleep_then_set(1s, &one));
    auto h2 = spawn(io, sleep_then_set(2s, &two));
    auto h3 = spawn(io, sleep_then_set(3s, &three));
    drain(io);
    REQUIRE_FALSE((one || two || three));
    time::advance(999ms);
    drain(io);
    REQUIRE_FALSE((one || two || three));
    time::advance(1ms); // exactly the first deadline
    drain(io);
    REQUIRE(one);
    REQUIRE_FALSE((two || three));
    time::advance(1500ms);
    drain(io);
    REQUIRE(two);
    REQUIRE_FALSE(three);
    time::advance(1h);
    drain(io);
    REQUIRE(three);
    REQUIRE(h3.is_finished());
}

TEST_CASE("interval under advance ticks exactly once per period advanced", "[time][pause]") {
    PausedClock paused;
    asio::io_context io;
    constexpr Duration period = 100ms;
    const Instant start = Clock::now();
    time::Interval iv = time::interval(period);
    std::vector<Instant> ticks;
    auto h = spawn(io, count_ticks(&iv, &ticks));
    drain(io);
    REQUIRE(ticks.size() == 1); // the immediate first tick
    SECTION("one period at a time") {
        for (int i = 0; i < 10; ++i) {
            time::advance(period - 1ms);
            drain(io);
            REQUIRE(ticks.size() == static_cast<std::size_t>(i) + 1);
            time::advance(1ms);
            drain(io);
        }
    }
    SECTION("ten periods at once (Burst catches up)") {
        time::advance(10 * period);
        drain(io);
    }
    REQUIRE(ticks.size() == 11);
    for (std::size_t i = 0; i < ticks.size(); ++i) {
        REQUIRE(ticks[i] == start + static_cast<int>(i) * period);
    }
    h.abort();
    drain(io);
}

TEST_CASE("resume lets a sleep registered while paused complete on real time", "[time][pause]") {
    asio::io_context io;
    bool done = false;
    std::optional<JoinHandle<void>> h;
    {
        PausedClock paused;
        h.emplace(spawn(io, sleep_then_set(20ms, &done)));
        drain(io);
        time::advance(10ms);
        drain(io);
        REQUIRE_FALSE(done);
    }
    const auto wall_start = std::chrono::steady_clock::now();
    io.restart();
    io.run(); // the real timer it armed on resume fires about 10 ms later
    REQUIRE(done);
    REQUIRE(std::chrono::steady_clock::now() - wall_start < generous);
}

TEST_CASE("after resume, real-time sleeps work again despite the time advanced", "[time][pause]") {
    {
        PausedClock paused;
        time::advance(24h); // a real timer must not wait for this offset
    }
    Runtime rt;
    const auto wall_start = std::chrono::steady_clock::now();
    const Instant start = Clock::now();
    rt.block_on(time::sleep(20ms));
    REQUIRE(Clock::now() - start >= 20ms);
    REQUIRE(std::chrono::steady_clock::now() - wall_start >= 20ms);
    REQUIRE(std::chrono::steady_clock::now() - wall_start < generous);
}

TEST_CASE("pause and advance fire virtual timers on a multi-threaded Runtime", "[time][pause]") {
    RuntimeOptions o;
    o.worker_threads = 2;
    Runtime rt(o);
    PausedClock paused;
    bool done = false;
    auto h = rt.spawn(sleep_then_set(10s, &done));
    // No auto-advance here: wait (in real time) until the sleep registered.
    const auto wall_start = std::chrono::steady_clock::now();
    while (!detail::next_paused_deadline() &&
           std::chrono::steady_clock::now() - wall_start < generous) {
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(detail::next_paused_deadline().has_value());
    REQUIRE_FALSE(h.is_finished());
    time::advance(10s);
    block_on(std::move(h));
    REQUIRE(done);
}

TEST_CASE("next_paused_deadline reports the earliest virtual timer and advance_paused_clock_to "
          "fires it",
          "[time][pause][sim]") {
    REQUIRE_FALSE(detail::next_paused_deadline().has_value()); // not paused
    PausedClock paused;
    asio::io_context io;
    const Instant start = Clock::now();
    bool one = false;
    bool two = false;
    auto h1 = spawn(io, sleep_then_set(2s, &two));
    auto h2 = spawn(io, sleep_then_set(1s, &one));
    drain(io);
    REQUIRE(detail::next_paused_deadline() == start + 1s);
    detail::advance_paused_clock_to(start + 1s);
    REQUIRE(Clock::now() == start + 1s);
    drain(io);
    REQUIRE(one);
    REQUIRE_FALSE(two);
    REQUIRE(detail::next_paused_deadline() == start + 2s);
    detail::advance_paused_clock_to(start); // never backwards
    REQUIRE(Clock::now() == start + 1s);
    detail::advance_paused_clock_to(start + 2s);
    drain(io);
    REQUIRE(two);
    REQUIRE_FALSE(detail::next_paused_deadline().has_value());
}

TEST_CASE("a sleep dropped while waiting on the paused clock leaves no virtual timer",
          "[time][pause][cancel]") {
    PausedClock paused;
    asio::io_context io;
    bool done = false;
    auto h = spawn(io, sleep_then_set(1s, &done));
    drain(io);
    REQUIRE(detail::next_paused_deadline().has_value());
    h.abort();
    drain(io);
    REQUIRE_FALSE(detail::next_paused_deadline().has_value());
    REQUIRE_FALSE(done);
}

TEST_CASE("misusing the paused clock throws the documented exceptions", "[time][pause]") {
    SECTION("resume when not paused") {
        REQUIRE_THROWS_AS(time::resume(), std::logic_error);
    }
    SECTION("advance when not paused") {
        REQUIRE_THROWS_AS(time::advance(1s), std::logic_error);
        REQUIRE_THROWS_AS(detail::advance_paused_clock_to(Clock::now()), std::logic_error);
    }
    SECTION("pause when already paused") {
        PausedClock paused;
        REQUIRE_THROWS_AS(time::pause(), std::logic_error);
        REQUIRE(time::is_paused());
    }
    SECTION("advance by a negative duration") {
        PausedClock paused;
        const Instant t = Clock::now();
        REQUIRE_THROWS_AS(time::advance(-1ns), std::invalid_argument);
        REQUIRE(Clock::now() == t);
    }
    REQUIRE_FALSE(time::is_paused());
}
