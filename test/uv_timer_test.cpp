#include <pollux/uv/check.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;

TEST_CASE("uv Timer fires in due order, and in start order when due together", "[uv][timer]") {
    uv::Loop loop;
    uv::Timer t30(loop), t10a(loop), t20(loop), t10b(loop), t0(loop);
    std::string order;
    int timer_cb_called = 0;
    auto mark = [&](char c) {
        return [&, c] {
            order += c;
            ++timer_cb_called;
        };
    };
    REQUIRE_FALSE(t30.start(mark('d'), 30ms));
    REQUIRE_FALSE(t10a.start(mark('b'), 10ms));
    REQUIRE_FALSE(t20.start(mark('c'), 20ms));
    REQUIRE_FALSE(t10b.start(mark('B'), 10ms));
    REQUIRE_FALSE(t0.start(mark('a'), 0ms));
    REQUIRE(timer_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(order == "abBcd");
    REQUIRE(timer_cb_called == 5);
    for (auto* t : {&t30, &t10a, &t20, &t10b, &t0}) {
        REQUIRE_FALSE(t->is_active());
        t->close();
    }
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Timer repeats until stopped, and again restarts with the repeat interval",
          "[uv][timer][repeat]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int repeat_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            ++repeat_cb_called;
            REQUIRE(timer.is_active()); // a repeating timer is re-armed before its callback
            if (repeat_cb_called == 5) {
                timer.close([&] { ++close_cb_called; });
            }
        },
        5ms,
        5ms));
    REQUIRE(timer.get_repeat() == 5ms);
    REQUIRE(loop.run() == 0);
    REQUIRE(repeat_cb_called == 5);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Timer again before start is an error, and again on a one-shot does nothing",
          "[uv][timer][again]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    REQUIRE(timer.again() == boost::system::errc::invalid_argument);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start([&] { ++timer_cb_called; }, 1h));
    REQUIRE_FALSE(timer.again()); // repeat is 0: nothing happens
    REQUIRE(timer.is_active());
    REQUIRE(timer.due_in() > 59min);
    timer.stop();
    REQUIRE_FALSE(timer.is_active());
    REQUIRE(timer.due_in() == 0ms);
    REQUIRE_FALSE(timer.again());
    REQUIRE_FALSE(timer.is_active());

    // set_repeat + again: a stopped timer restarts, repeating.
    timer.set_repeat(2ms);
    REQUIRE_FALSE(timer.again());
    REQUIRE(timer.is_active());
    int again_cb_called = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            ++again_cb_called;
            if (again_cb_called == 3) {
                timer.set_repeat(0ms);
                REQUIRE_FALSE(timer.again()); // a no-op inside the callback too
            }
        },
        1ms,
        2ms));
    REQUIRE(loop.run() == 0);
    // After set_repeat(0) the timer is still armed once more with the old
    // interval (libuv re-arms before the callback), then stops.
    REQUIRE(again_cb_called == 4);
    REQUIRE(timer_cb_called == 0);
    timer.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Timer again inside its own callback re-arms it", "[uv][timer][again]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            ++timer_cb_called;
            if (timer_cb_called < 3) {
                timer.set_repeat(1ms);
                REQUIRE_FALSE(timer.again());
                timer.set_repeat(0ms); // the armed run is one-shot again
            }
        },
        1ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(timer_cb_called == 3);
    timer.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Timer stopped by an earlier callback in the same phase does not run",
          "[uv][timer][stop]") {
    uv::Loop loop;
    uv::Timer first(loop), second(loop);
    int first_cb_called = 0;
    int second_cb_called = 0;
    REQUIRE_FALSE(first.start(
        [&] {
            ++first_cb_called;
            second.stop();
        },
        1ms));
    REQUIRE_FALSE(second.start([&] { ++second_cb_called; }, 1ms));
    std::this_thread::sleep_for(5ms); // both are due when the loop looks
    REQUIRE(loop.run() == 0);
    REQUIRE(first_cb_called == 1);
    REQUIRE(second_cb_called == 0);
    first.close();
    second.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Timer with timeout 0 started in a timer callback runs in the next iteration",
          "[uv][timer]") {
    uv::Loop loop;
    uv::Timer outer(loop), inner(loop);
    uv::Check check(loop);
    int iterations = 0;
    int inner_cb_called = 0;
    int inner_seen_at = -1;
    REQUIRE_FALSE(check.start([&] { ++iterations; }));
    check.unref();
    REQUIRE_FALSE(outer.start(
        [&] {
            REQUIRE_FALSE(inner.start(
                [&] {
                    ++inner_cb_called;
                    inner_seen_at = iterations;
                },
                0ms));
            REQUIRE(inner_cb_called == 0);
        },
        0ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(inner_cb_called == 1);
    REQUIRE(inner_seen_at == 1); // one full iteration (with its check) in between
    outer.close();
    inner.close();
    check.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}
