#include <pollux/time.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/paused_clock.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::PausedClock;
using pollux::test::require_loop_quiescent;

namespace {

constexpr auto generous = 5s;

} // namespace

TEST_CASE("uv Timer fires only once advance reaches its timeout", "[uv][timer][pause]") {
    PausedClock paused;
    uv::Loop loop;
    uv::Timer timer(loop);
    int fired = 0;
    REQUIRE_FALSE(timer.start([&] { ++fired; }, 100ms));
    REQUIRE(loop.run(uv::RunMode::NoWait) != 0);
    REQUIRE(fired == 0);
    time::advance(99ms);
    REQUIRE(loop.run(uv::RunMode::NoWait) != 0);
    REQUIRE(fired == 0);
    time::advance(1ms);
    REQUIRE(loop.run(uv::RunMode::NoWait) == 0);
    REQUIRE(fired == 1);
    timer.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Loop run auto-advances a paused clock to its next timer", "[uv][timer][pause]") {
    PausedClock paused;
    uv::Loop loop;
    uv::Timer timer(loop);
    const auto wall_start = std::chrono::steady_clock::now();
    const time::Instant start = time::Clock::now();
    bool fired = false;
    REQUIRE_FALSE(timer.start([&] { fired = true; }, 1h));
    REQUIRE(loop.run() == 0);
    REQUIRE(fired);
    REQUIRE(time::Clock::now() - start == 1h);
    REQUIRE(std::chrono::steady_clock::now() - wall_start < generous);
    timer.close();
    REQUIRE(loop.run() == 0);
}

TEST_CASE("uv repeating Timer under a paused clock repeats at exact virtual intervals",
          "[uv][timer][pause][repeat]") {
    PausedClock paused;
    uv::Loop loop;
    uv::Timer timer(loop);
    const time::Instant start = time::Clock::now();
    std::vector<time::Duration> at;
    REQUIRE_FALSE(timer.start(
        [&] {
            at.push_back(time::Clock::now() - start);
            if (at.size() == 5) {
                timer.close();
            }
        },
        10s,
        20s));
    SECTION("auto-advance in run()") {
        REQUIRE(loop.run() == 0);
    }
    SECTION("advance one repeat at a time") {
        time::advance(10s);
        loop.run(uv::RunMode::NoWait);
        for (int i = 1; i < 5; ++i) {
            REQUIRE(at.size() == static_cast<std::size_t>(i));
            time::advance(20s);
            loop.run(uv::RunMode::NoWait);
        }
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(at == std::vector<time::Duration>{10s, 30s, 50s, 70s, 90s});
    require_loop_quiescent(loop);
}
