// libuv 1.44's timer tests (test-timer.c, test-timer-again.c,
// test-timer-from-check.c), ported to pollux::uv. libuv 1.45's
// timer_no_double_call_* are in uv_libuv_loop_test.cpp with the loop fixes.
#include <pollux/uv/check.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/prepare.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <optional>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;

TEST_CASE("timer: one-shot timers fire once, a repeating timer until closed, a stopped timer "
          "never",
          "[uv][libuv][timer]") {
    uv::Loop loop;
    const auto start_time = loop.now();
    int once_cb_called = 0;
    int once_close_cb_called = 0;
    int repeat_cb_called = 0;
    int repeat_close_cb_called = 0;
    std::array<std::optional<uv::Timer>, 10> once_timers;
    for (std::size_t i = 0; i < once_timers.size(); ++i) {
        uv::Timer* once = &once_timers[i].emplace(loop);
        REQUIRE_FALSE(once->start(
            [&, once] {
                REQUIRE_FALSE(once->is_active());
                ++once_cb_called;
                once->close([&, once] {
                    REQUIRE_FALSE(once->is_active());
                    ++once_close_cb_called;
                });
                loop.update_time(); // libuv calls it here "for the code coverage"
            },
            std::chrono::milliseconds(i * 50)));
    }
    uv::Timer repeat(loop);
    REQUIRE_FALSE(repeat.start(
        [&] {
            REQUIRE(repeat.is_active());
            if (++repeat_cb_called == 5) {
                repeat.close([&] { ++repeat_close_cb_called; });
            }
        },
        100ms,
        100ms));
    uv::Timer never(loop);
    REQUIRE_FALSE(never.start([] { FAIL("never_cb should never be called"); }, 100ms, 100ms));
    never.stop();
    never.unref();
    REQUIRE(loop.run() == 0);
    REQUIRE(once_cb_called == 10);
    REQUIRE(once_close_cb_called == 10);
    REQUIRE(repeat_cb_called == 5);
    REQUIRE(repeat_close_cb_called == 1);
    REQUIRE(loop.now() - start_time >= 500ms);
    never.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_start_twice: starting a started timer replaces its callback and timeout",
          "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer once(loop);
    int twice_cb_called = 0;
    REQUIRE_FALSE(once.start([] { FAIL("never_cb should never be called"); }, 86400s));
    REQUIRE_FALSE(once.start(
        [&] {
            REQUIRE_FALSE(once.is_active());
            ++twice_cb_called;
            once.close();
        },
        10ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(twice_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_init: a new timer is inactive, one-shot and not due", "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer handle(loop);
    REQUIRE(handle.get_repeat() == 0ms);
    REQUIRE(handle.due_in() == 0ms);
    REQUIRE_FALSE(handle.is_active());
    handle.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_order: timers due at the same time run in start order", "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer handle_a(loop), handle_b(loop);
    int order_cb_called = 0;
    const auto expect = [&](int position) {
        return [&order_cb_called, position] { REQUIRE(order_cb_called++ == position); };
    };
    REQUIRE_FALSE(handle_a.start(expect(0), 0ms));
    REQUIRE_FALSE(handle_b.start(expect(1), 0ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(order_cb_called == 2);
    handle_a.stop();
    handle_b.stop();

    order_cb_called = 0;
    REQUIRE_FALSE(handle_b.start(expect(0), 0ms));
    REQUIRE_FALSE(handle_a.start(expect(1), 0ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(order_cb_called == 2);
    handle_a.close();
    handle_b.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_huge_timeout: huge timeouts are accepted and do not keep a closed loop running",
          "[uv][libuv][timer]") {
    // pollux clamps a timeout to about 100 years (time_point range), where
    // libuv keeps the 64-bit millisecond value: due_in() of the huge timers
    // is the clamp, not 2^48 - 1 ms.
    uv::Loop loop;
    uv::Timer tiny_timer(loop), huge_timer1(loop), huge_timer2(loop);
    const auto tiny_timer_cb = [&] {
        tiny_timer.close();
        huge_timer1.close();
        huge_timer2.close();
    };
    REQUIRE_FALSE(tiny_timer.start(tiny_timer_cb, 1ms));
    REQUIRE_FALSE(huge_timer1.start(tiny_timer_cb, 0xffffffffffffms));
    REQUIRE_FALSE(huge_timer2.start(tiny_timer_cb, uv::Timer::Duration::max()));
    REQUIRE(tiny_timer.due_in() == 1ms);
    REQUIRE(huge_timer1.due_in() >= std::chrono::hours(24 * 365 * 99));
    REQUIRE(huge_timer2.due_in() >= std::chrono::hours(24 * 365 * 99));
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_huge_repeat: a huge repeat interval does not disturb other timers",
          "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer tiny_timer(loop), huge_timer1(loop);
    int ncalls = 0;
    const auto huge_repeat_cb = [&](uv::Timer* self) {
        return [&, self] {
            REQUIRE(self == (ncalls == 0 ? &huge_timer1 : &tiny_timer));
            if (++ncalls == 10) {
                tiny_timer.close();
                huge_timer1.close();
            }
        };
    };
    REQUIRE_FALSE(tiny_timer.start(huge_repeat_cb(&tiny_timer), 2ms, 2ms));
    REQUIRE_FALSE(huge_timer1.start(huge_repeat_cb(&huge_timer1), 1ms, uv::Timer::Duration::max()));
    REQUIRE(loop.run() == 0);
    REQUIRE(ncalls == 10);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_run_once: run(Once) runs a due timer, and waits for one due soon",
          "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer timer_handle(loop);
    int timer_run_once_timer_cb_called = 0;
    const auto cb = [&] { ++timer_run_once_timer_cb_called; };
    REQUIRE_FALSE(timer_handle.start(cb, 0ms));
    REQUIRE(loop.run(uv::RunMode::Once) == 0);
    REQUIRE(timer_run_once_timer_cb_called == 1);
    REQUIRE_FALSE(timer_handle.start(cb, 1ms));
    REQUIRE(loop.run(uv::RunMode::Once) == 0);
    REQUIRE(timer_run_once_timer_cb_called == 2);
    timer_handle.close();
    REQUIRE(loop.run(uv::RunMode::Once) == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_is_closing: starting a closing timer fails with bad_descriptor",
          "[uv][libuv][timer]") {
    // libuv returns UV_EINVAL; pollux's handles report a closing handle as
    // bad_descriptor everywhere (docs/callbacks.md, guarantee 1).
    uv::Loop loop;
    uv::Timer handle(loop);
    handle.close();
    REQUIRE(handle.start([] { FAIL("never_cb should never be called"); }, 100ms, 100ms) ==
            boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(handle.is_active());
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_early_check: a timer never fires before its timeout", "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer timer_handle(loop);
    const auto expected_time = loop.now() + 10ms;
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer_handle.start(
        [&] {
            REQUIRE(uv::Loop::Clock::now() >= expected_time);
            ++timer_cb_called;
        },
        10ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(timer_cb_called == 1);
    timer_handle.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_again: again restarts a repeating timer and fails on a never-started one",
          "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer dummy(loop), repeat_1(loop), repeat_2(loop);
    int close_cb_called = 0;
    int repeat_1_cb_called = 0;
    int repeat_2_cb_called = 0;
    bool repeat_2_cb_allowed = false;
    REQUIRE(dummy.again() ==
            boost::system::errc::make_error_code(boost::system::errc::invalid_argument));
    dummy.unref();

    REQUIRE_FALSE(repeat_1.start(
        [&] {
            REQUIRE(repeat_1.get_repeat() == 50ms);
            ++repeat_1_cb_called;
            REQUIRE_FALSE(repeat_2.again());
            if (repeat_1_cb_called == 10) {
                repeat_1.close([&] { ++close_cb_called; });
                // repeat_2 is not again()ed any more: now it may fire.
                repeat_2_cb_allowed = true;
            }
        },
        50ms));
    REQUIRE(repeat_1.get_repeat() == 0ms);
    repeat_1.set_repeat(50ms);
    REQUIRE(repeat_1.get_repeat() == 50ms);

    // again()ed by repeat_1 every 50 ms, so it fires only after repeat_1 stops.
    REQUIRE_FALSE(repeat_2.start(
        [&] {
            REQUIRE(repeat_2_cb_allowed);
            ++repeat_2_cb_called;
            if (repeat_2.get_repeat() == 0ms) {
                REQUIRE_FALSE(repeat_2.is_active());
                repeat_2.close([&] { ++close_cb_called; });
                return;
            }
            REQUIRE(repeat_2.get_repeat() == 100ms);
            // This does not take effect at once: the timer is re-armed.
            repeat_2.set_repeat(0ms);
        },
        100ms,
        100ms));
    REQUIRE(repeat_2.get_repeat() == 100ms);
    REQUIRE(loop.run() == 0);
    REQUIRE(repeat_1_cb_called == 10);
    REQUIRE(repeat_2_cb_called == 2);
    REQUIRE(close_cb_called == 2);
    dummy.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_from_check: a timer restarted by a check callback waits its full timeout",
          "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Prepare prepare_handle(loop);
    uv::Check check_handle(loop);
    uv::Timer timer_handle(loop);
    int prepare_cb_called = 0;
    int check_cb_called = 0;
    int timer_cb_called = 0;
    const auto timer_cb = [&] {
        timer_handle.stop();
        REQUIRE(prepare_cb_called == 1);
        REQUIRE(check_cb_called == 1);
        REQUIRE(timer_cb_called == 0);
        ++timer_cb_called;
    };
    REQUIRE_FALSE(check_handle.start([&] {
        check_handle.stop();
        timer_handle.stop(); // runs before timer_cb
        REQUIRE_FALSE(timer_handle.start(timer_cb, 50ms));
        REQUIRE_FALSE(prepare_handle.start([&] {
            prepare_handle.stop();
            REQUIRE(prepare_cb_called == 0);
            REQUIRE(check_cb_called == 1);
            REQUIRE(timer_cb_called == 0);
            ++prepare_cb_called;
        }));
        REQUIRE(prepare_cb_called == 0);
        REQUIRE(check_cb_called == 0);
        REQUIRE(timer_cb_called == 0);
        ++check_cb_called;
    }));
    REQUIRE_FALSE(timer_handle.start(timer_cb, 50ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(prepare_cb_called == 1);
    REQUIRE(check_cb_called == 1);
    REQUIRE(timer_cb_called == 1);
    prepare_handle.close();
    check_handle.close();
    timer_handle.close();
    REQUIRE(loop.run(uv::RunMode::Once) == 0);
    require_loop_quiescent(loop);
}
