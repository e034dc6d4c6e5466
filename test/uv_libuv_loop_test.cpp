// libuv 1.44's loop, loop-watcher, ref-count and close tests (test-loop-*.c,
// test-run-once.c, test-run-nowait.c, test-idle.c, test-loop-handles.c,
// test-ref.c, test-close-order.c, test-active.c, test-handle-*.c), ported to
// pollux::uv, plus the loop rules pollux once broke. docs/callbacks.md
// ("libuv's own tests") lists each libuv test and where it went.
#include <pollux/uv/async_handle.hpp>
#include <pollux/uv/check.hpp>
#include <pollux/uv/getaddrinfo.hpp>
#include <pollux/uv/idle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/prepare.hpp>
#include <pollux/uv/timer.hpp>
#include <pollux/uv/work.hpp>

#include "support/loop_quiescent.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;

namespace {

// Sends `wake` after `delay` unless cancelled first: a hang guard that turns
// a loop that would block forever into a failed check.
class Watchdog {
public:
    Watchdog(uv::AsyncHandle& wake, std::chrono::milliseconds delay)
        : thread_([this, &wake, delay] {
              std::unique_lock lock(mu_);
              if (!cv_.wait_for(lock, delay, [this] { return cancelled_; })) {
                  wake.send();
              }
          }) {}
    ~Watchdog() { cancel(); }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    void cancel() {
        {
            std::lock_guard lock(mu_);
            cancelled_ = true;
        }
        cv_.notify_one();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool cancelled_ = false;
    std::thread thread_;
};

} // namespace

// libuv updates the loop time after the poll returns (uv__io_poll), so a
// timer started by an I/O callback counts from the wake-up, not from the
// start of an iteration that then blocked.
TEST_CASE("uv Loop time is refreshed after a blocking poll, so a timer started by an I/O callback "
          "waits its full timeout",
          "[uv][libuv][loop]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::duration waited{};
    int async_cb_called = 0;
    int timer_cb_called = 0;
    uv::AsyncHandle async(loop, [&] {
        ++async_cb_called;
        started = std::chrono::steady_clock::now();
        REQUIRE_FALSE(timer.start(
            [&] {
                ++timer_cb_called;
                waited = std::chrono::steady_clock::now() - started;
                timer.close();
            },
            200ms));
        async.close();
    });
    // The loop blocks in its poll phase (nothing else is active) until the
    // other thread sends, 300 ms later.
    std::thread sender([&] {
        std::this_thread::sleep_for(300ms);
        async.send();
    });
    REQUIRE(loop.run() == 0);
    sender.join();
    REQUIRE(async_cb_called == 1);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(waited >= 200ms);
    require_loop_quiescent(loop);
}

TEST_CASE("idle_check: run(Once) does not block when the idle callback stops the last idle handle",
          "[uv][libuv][idle]") {
    uv::Loop loop;
    uv::Idle idle(loop);
    uv::Check check(loop);
    int idle_cb_called = 0;
    int check_cb_called = 0;
    int close_cb_called = 0;
    int watchdog_cb_called = 0;
    REQUIRE_FALSE(idle.start([&] {
        ++idle_cb_called;
        idle.stop();
    }));
    REQUIRE_FALSE(check.start([&] { ++check_cb_called; }));
    // libuv decides whether Once may block before the idle phase: an idle
    // handle was started, so this iteration polls without blocking.
    uv::AsyncHandle guard(loop, [&] { ++watchdog_cb_called; });
    guard.unref();
    Watchdog watchdog(guard, 5s);
    REQUIRE(loop.run(uv::RunMode::Once) == 1);
    watchdog.cancel();
    REQUIRE(watchdog_cb_called == 0);
    REQUIRE(idle_cb_called == 1);
    REQUIRE(check_cb_called == 1);
    REQUIRE(close_cb_called == 0);
    idle.close([&] { ++close_cb_called; });
    check.close([&] { ++close_cb_called; });
    guard.close();
    REQUIRE(loop.run(uv::RunMode::Once) == 0);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Loop runs idle, prepare and check handles most recently started first, as libuv",
          "[uv][libuv][idle]") {
    uv::Loop loop;
    uv::Idle idle1(loop), idle2(loop), idle3(loop);
    uv::Prepare prepare1(loop), prepare2(loop);
    uv::Check check1(loop), check2(loop);
    std::string order;
    REQUIRE_FALSE(idle1.start([&] { order += "i1 "; }));
    REQUIRE_FALSE(idle2.start([&] { order += "i2 "; }));
    REQUIRE_FALSE(idle3.start([&] { order += "i3 "; }));
    REQUIRE_FALSE(prepare1.start([&] { order += "p1 "; }));
    REQUIRE_FALSE(prepare2.start([&] { order += "p2 "; }));
    REQUIRE_FALSE(check1.start([&] { order += "c1 "; }));
    REQUIRE_FALSE(check2.start([&] { order += "c2 "; }));
    REQUIRE(loop.run(uv::RunMode::NoWait) == 1);
    REQUIRE(order == "i3 i2 i1 p2 p1 c2 c1 ");
    // The order stays the same from one iteration to the next.
    order.clear();
    REQUIRE(loop.run(uv::RunMode::NoWait) == 1);
    REQUIRE(order == "i3 i2 i1 p2 p1 c2 c1 ");
    for (uv::Handle* h : std::initializer_list<uv::Handle*>{
             &idle1, &idle2, &idle3, &prepare1, &prepare2, &check1, &check2}) {
        h->close();
    }
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_no_double_call_once: an overdue repeating timer runs once under run(Once)",
          "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start([&] { ++timer_cb_called; }, 10ms, 10ms));
    std::this_thread::sleep_for(20ms);
    REQUIRE(loop.run(uv::RunMode::Once) == 1);
    REQUIRE(timer_cb_called == 1);
    timer.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_no_double_call_nowait: an overdue repeating timer runs once under run(NoWait)",
          "[uv][libuv][timer]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start([&] { ++timer_cb_called; }, 10ms, 10ms));
    std::this_thread::sleep_for(20ms);
    REQUIRE(loop.run(uv::RunMode::NoWait) == 1);
    REQUIRE(timer_cb_called == 1);
    timer.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv getaddrinfo cancel after the lookup finished returns device_or_resource_busy and the "
          "callback gets the result",
          "[uv][libuv][getaddrinfo]") {
    uv::Loop loop;
    // One pool thread: `after` starts only once the lookup has finished, and
    // neither callback runs before loop.run().
    REQUIRE_FALSE(loop.set_threadpool_size(1));
    int getaddrinfo_cb_called = 0;
    auto req = uv::getaddrinfo(
        loop, "127.0.0.1", "80", [&](boost::system::error_code ec, uv::AddrInfoResults r) {
            REQUIRE_FALSE(ec);
            REQUIRE_FALSE(r.empty());
            ++getaddrinfo_cb_called;
        });
    std::atomic<bool> after_started{false};
    int after_cb_called = 0;
    (void)uv::queue_work(
        loop, [&] { after_started = true; }, [&](boost::system::error_code) { ++after_cb_called; });
    while (!after_started.load()) {
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(req.cancel() ==
            boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy));
    REQUIRE_FALSE(req.done());
    REQUIRE(loop.run() == 0);
    REQUIRE(getaddrinfo_cb_called == 1);
    REQUIRE(after_cb_called == 1);
    REQUIRE(req.done());
    require_loop_quiescent(loop);
}

TEST_CASE("uv getaddrinfo cancel while the lookup is queued succeeds and the callback gets "
          "operation_aborted",
          "[uv][libuv][getaddrinfo]") {
    uv::Loop loop;
    REQUIRE_FALSE(loop.set_threadpool_size(1));
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    std::atomic<bool> blocker_started{false};
    (void)uv::queue_work(
        loop,
        [&] {
            blocker_started = true;
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return release; });
        },
        [](boost::system::error_code) {});
    while (!blocker_started.load()) {
        std::this_thread::sleep_for(1ms);
    }
    int getaddrinfo_cb_called = 0;
    auto req = uv::getaddrinfo(
        loop, "127.0.0.1", "80", [&](boost::system::error_code ec, uv::AddrInfoResults r) {
            REQUIRE(ec == boost::asio::error::operation_aborted);
            REQUIRE(r.empty());
            ++getaddrinfo_cb_called;
        });
    CHECK_FALSE(req.cancel());
    CHECK(getaddrinfo_cb_called == 0); // never from inside cancel()
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    REQUIRE(loop.run() == 0);
    REQUIRE(getaddrinfo_cb_called == 1);
    require_loop_quiescent(loop);
}

// --- test-loop-alive.c, test-loop-close.c, test-loop-stop.c, test-loop-time.c,
// --- test-run-once.c, test-run-nowait.c, test-default-loop-close.c

TEST_CASE("loop_alive: a loop with an active handle or a request in flight is alive",
          "[uv][libuv][loop]") {
    uv::Loop loop;
    REQUIRE_FALSE(loop.alive());
    uv::Timer timer(loop);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start([&] { ++timer_cb_called; }, 100ms));
    REQUIRE(loop.alive());
    REQUIRE(loop.run() == 0);
    REQUIRE(timer_cb_called == 1);
    REQUIRE_FALSE(loop.alive());

    int work_cb_called = 0;
    int after_work_cb_called = 0;
    (void)uv::queue_work(
        loop,
        [&] { ++work_cb_called; },
        [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            ++after_work_cb_called;
        });
    REQUIRE(loop.alive());
    REQUIRE(loop.run() == 0);
    REQUIRE_FALSE(loop.alive());
    REQUIRE(work_cb_called == 1);
    REQUIRE(after_work_cb_called == 1);
    timer.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("loop_close: close is busy while a handle is open and succeeds once all are closed",
          "[uv][libuv][loop]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            ++timer_cb_called;
            loop.stop();
        },
        100ms,
        100ms));
    REQUIRE(loop.close() ==
            boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy));
    REQUIRE(loop.run() != 0);
    REQUIRE(timer_cb_called == 1);
    timer.close();
    REQUIRE(loop.run() == 0);
    REQUIRE_FALSE(loop.close());
    require_loop_quiescent(loop);
}

TEST_CASE("loop_instant_close: a loop destroyed with a work request in flight frees it; "
          "after_work never runs",
          "[uv][libuv][loop]") {
    // libuv's test leaves the request behind for valgrind; here ASan/LSan
    // (CI's sanitizer build) see that nothing leaks.
    int after_work_cb_called = 0;
    {
        uv::Loop loop;
        uv::queue_work(
            loop, [] {}, [&](boost::system::error_code) { ++after_work_cb_called; });
        REQUIRE(loop.active_requests() == 1);
    }
    REQUIRE(after_work_cb_called == 0);
}

TEST_CASE("loop_stop: stop makes run return after the iteration; later runs go on",
          "[uv][libuv][loop]") {
    uv::Loop loop;
    uv::Prepare prepare(loop);
    uv::Timer timer(loop);
    constexpr int num_ticks = 10;
    int prepare_called = 0;
    int timer_called = 0;
    REQUIRE_FALSE(prepare.start([&] {
        if (++prepare_called == num_ticks) {
            prepare.stop();
        }
    }));
    REQUIRE_FALSE(timer.start(
        [&] {
            ++timer_called;
            if (timer_called == 1) {
                loop.stop();
            } else if (timer_called == num_ticks) {
                timer.stop();
            }
        },
        100ms,
        100ms));
    REQUIRE(loop.run() != 0);
    REQUIRE(timer_called == 1);
    REQUIRE(loop.run(uv::RunMode::NoWait) != 0);
    REQUIRE(prepare_called > 1);
    REQUIRE(loop.run() == 0);
    REQUIRE(timer_called == num_ticks);
    REQUIRE(prepare_called == num_ticks);
    prepare.close();
    timer.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("loop_update_time: run(NoWait) on an empty loop updates now()", "[uv][libuv][loop]") {
    uv::Loop loop;
    const auto start = loop.now();
    // libuv spins for 1000 ms; 50 ms shows the same.
    while (loop.now() - start < 50ms) {
        REQUIRE(loop.run(uv::RunMode::NoWait) == 0);
    }
    require_loop_quiescent(loop);
}

TEST_CASE("loop_backend_timeout: 0 without active handles, the time to the next timer with one, "
          "infinite with only I/O",
          "[uv][libuv][loop]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    REQUIRE_FALSE(loop.alive());
    REQUIRE(loop.backend_timeout() == 0ms);
    REQUIRE_FALSE(timer.start([&] { timer.close(); }, 1000ms));
    REQUIRE(loop.backend_timeout() == 1000ms);
    // pollux: an active handle without a timer (libuv's -1).
    uv::AsyncHandle async(loop, [] {});
    timer.stop();
    REQUIRE(loop.backend_timeout() == std::nullopt);
    async.close();
    REQUIRE(loop.backend_timeout() == 0ms); // a close callback is ready
    REQUIRE(loop.run() == 0);
    REQUIRE_FALSE(timer.start([&] { timer.close(); }, 100ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(loop.backend_timeout() == 0ms);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Loop backend_timeout is 0 while an idle handle is started or after stop",
          "[uv][libuv][loop]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    uv::Idle idle(loop);
    REQUIRE_FALSE(timer.start([] {}, 1000ms));
    REQUIRE_FALSE(idle.start([] {}));
    REQUIRE(loop.backend_timeout() == 0ms);
    idle.stop();
    REQUIRE(loop.backend_timeout() == 1000ms);
    loop.stop();
    REQUIRE(loop.backend_timeout() == 0ms);
    REQUIRE(loop.run() != 0); // stop() makes the next run return at once
    REQUIRE(loop.backend_timeout() > 0ms);
    timer.close();
    idle.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("run_once: run(Once) runs one iteration, and returns 0 once the last idle handle "
          "stopped",
          "[uv][libuv][loop]") {
    uv::Loop loop;
    uv::Idle idle(loop);
    constexpr int num_ticks = 64;
    int idle_counter = 0;
    REQUIRE_FALSE(idle.start([&] {
        if (++idle_counter == num_ticks) {
            idle.stop();
        }
    }));
    int runs = 0;
    while (loop.run(uv::RunMode::Once) != 0) {
        ++runs;
    }
    REQUIRE(idle_counter == num_ticks);
    REQUIRE(runs == num_ticks - 1);
    idle.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("run_nowait: run(NoWait) returns at once, alive, with a timer not yet due",
          "[uv][libuv][loop]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int timer_called = 0;
    REQUIRE_FALSE(timer.start([&] { ++timer_called; }, 100ms, 100ms));
    REQUIRE(loop.run(uv::RunMode::NoWait) != 0);
    REQUIRE(timer_called == 0);
    timer.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("default_loop_close: a closed loop's successor runs timers as the first did",
          "[uv][libuv][loop]") {
    // pollux has no default loop: two loops one after the other.
    int timer_cb_called = 0;
    for (int i = 1; i <= 2; ++i) {
        uv::Loop loop;
        {
            uv::Timer timer(loop);
            REQUIRE_FALSE(timer.start(
                [&] {
                    ++timer_cb_called;
                    timer.close();
                },
                1ms));
            REQUIRE(loop.run() == 0);
        }
        REQUIRE(timer_cb_called == i);
        REQUIRE_FALSE(loop.close());
    }
}

// --- test-idle.c (idle_check is above), test-loop-handles.c

TEST_CASE("idle_starvation: an idle handle does not starve a timer", "[uv][libuv][idle]") {
    uv::Loop loop;
    uv::Idle idle(loop);
    uv::Check check(loop);
    uv::Timer timer(loop);
    int idle_cb_called = 0;
    int check_cb_called = 0;
    int timer_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(idle.start([&] { ++idle_cb_called; }));
    REQUIRE_FALSE(check.start([&] { ++check_cb_called; }));
    REQUIRE_FALSE(timer.start(
        [&] {
            ++timer_cb_called;
            idle.close([&] { ++close_cb_called; });
            check.close([&] { ++close_cb_called; });
            timer.close([&] { ++close_cb_called; });
        },
        50ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(idle_cb_called > 0);
    REQUIRE(check_cb_called > 0);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(close_cb_called == 3);
    require_loop_quiescent(loop);
}

TEST_CASE("loop_handles: prepare and check run once per iteration; watchers started from "
          "callbacks run from the next iteration on",
          "[uv][libuv][idle]") {
    // libuv's loop_handles in outline: a repeating timer bounds each wait;
    // prepare and check count iterations; check starts an idle handle that
    // stops itself (so the next iteration does not block), and prepare1
    // starts prepare2, which stops itself, each iteration.
    uv::Loop loop;
    uv::Prepare prepare1(loop), prepare2(loop);
    uv::Check check(loop);
    uv::Idle idle(loop);
    uv::Timer timer(loop);
    constexpr int iterations = 5;
    int loop_iteration = 0;
    int prepare1_cb_called = 0;
    int prepare2_cb_called = 0;
    int check_cb_called = 0;
    int idle_cb_called = 0;
    int close_cb_called = 0;
    const auto on_close = [&] { ++close_cb_called; };

    REQUIRE_FALSE(prepare1.start([&] {
        REQUIRE(check_cb_called == loop_iteration);
        ++prepare1_cb_called;
        REQUIRE_FALSE(prepare2.start([&] {
            // Started in the previous iteration's prepare phase.
            REQUIRE(prepare2_cb_called + 1 == loop_iteration);
            ++prepare2_cb_called;
            prepare2.stop();
        }));
    }));
    REQUIRE_FALSE(check.start([&] {
        ++check_cb_called;
        ++loop_iteration;
        if (loop_iteration < iterations) {
            REQUIRE_FALSE(idle.start([&] {
                ++idle_cb_called;
                idle.stop();
            }));
            return;
        }
        for (uv::Handle* h :
             std::initializer_list<uv::Handle*>{&prepare1, &prepare2, &check, &idle, &timer}) {
            h->close(on_close);
        }
    }));
    REQUIRE_FALSE(timer.start([] {}, 10ms, 10ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(loop_iteration == iterations);
    REQUIRE(prepare1_cb_called == iterations);
    REQUIRE(check_cb_called == iterations);
    REQUIRE(prepare2_cb_called == iterations - 1);
    REQUIRE(idle_cb_called == iterations - 1);
    REQUIRE(close_cb_called == 5);
    require_loop_quiescent(loop);
}

// --- test-ref.c (the handles of this area; TCP/UDP in their own table)

namespace {

// libuv's do_close: closing an unreferenced handle still runs its close
// callback in the next run.
void do_close(uv::Loop& loop, uv::Handle& h) {
    int close_cb_called = 0;
    h.close([&] { ++close_cb_called; });
    REQUIRE(close_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
}

} // namespace

TEST_CASE("ref: an empty loop's run returns at once", "[uv][libuv][ref]") {
    uv::Loop loop;
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("idle_ref: an unreferenced idle handle does not keep the loop running",
          "[uv][libuv][ref]") {
    uv::Loop loop;
    uv::Idle h(loop);
    REQUIRE_FALSE(h.start([] { FAIL("idle callback should not run"); }));
    h.unref();
    REQUIRE(loop.run() == 0);
    do_close(loop, h);
    require_loop_quiescent(loop);
}

TEST_CASE("async_ref: an unreferenced async handle does not keep the loop running",
          "[uv][libuv][ref]") {
    uv::Loop loop;
    uv::AsyncHandle h(loop, [] { FAIL("async callback should not run"); });
    h.unref();
    REQUIRE(loop.run() == 0);
    do_close(loop, h);
    require_loop_quiescent(loop);
}

TEST_CASE("prepare_ref: an unreferenced prepare handle does not keep the loop running",
          "[uv][libuv][ref]") {
    uv::Loop loop;
    uv::Prepare h(loop);
    REQUIRE_FALSE(h.start([] { FAIL("prepare callback should not run"); }));
    h.unref();
    REQUIRE(loop.run() == 0);
    do_close(loop, h);
    require_loop_quiescent(loop);
}

TEST_CASE("check_ref: an unreferenced check handle does not keep the loop running",
          "[uv][libuv][ref]") {
    uv::Loop loop;
    uv::Check h(loop);
    REQUIRE_FALSE(h.start([] { FAIL("check callback should not run"); }));
    h.unref();
    REQUIRE(loop.run() == 0);
    do_close(loop, h);
    require_loop_quiescent(loop);
}

TEST_CASE("unref_in_prepare_cb: unref from its own callback lets run return", "[uv][libuv][ref]") {
    uv::Loop loop;
    uv::Prepare h(loop);
    int prepare_cb_called = 0;
    REQUIRE_FALSE(h.start([&] {
        ++prepare_cb_called;
        h.unref();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(prepare_cb_called == 1);
    do_close(loop, h);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_ref: an unreferenced stopped timer does not keep the loop running",
          "[uv][libuv][ref]") {
    uv::Loop loop;
    uv::Timer h(loop);
    h.unref();
    REQUIRE(loop.run() == 0);
    do_close(loop, h);
    require_loop_quiescent(loop);
}

TEST_CASE("timer_ref2: an unreferenced started timer does not keep the loop running",
          "[uv][libuv][ref]") {
    uv::Loop loop;
    uv::Timer h(loop);
    REQUIRE_FALSE(h.start([] { FAIL("timer callback should not run"); }, 42ms, 42ms));
    h.unref();
    REQUIRE(loop.run() == 0);
    do_close(loop, h);
    require_loop_quiescent(loop);
}

TEST_CASE("has_ref: has_ref follows ref and unref", "[uv][libuv][ref]") {
    uv::Loop loop;
    uv::Idle h(loop);
    h.ref();
    REQUIRE(h.has_ref());
    h.unref();
    REQUIRE_FALSE(h.has_ref());
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

// --- test-close-order.c, test-active.c

TEST_CASE("close_order: check runs before any close callback of the iteration",
          "[uv][libuv][close]") {
    uv::Loop loop;
    uv::Check check(loop);
    uv::Timer timer1(loop), timer2(loop);
    int check_cb_called = 0;
    int timer_cb_called = 0;
    int close_cb_called = 0;
    const auto close_cb = [&] { ++close_cb_called; };
    REQUIRE_FALSE(check.start([&] {
        REQUIRE(check_cb_called == 0);
        REQUIRE(timer_cb_called == 1);
        REQUIRE(close_cb_called == 0);
        check.close(close_cb);
        timer2.close(close_cb);
        ++check_cb_called;
    }));
    const auto timer_cb = [&](uv::Timer& t) {
        return [&] {
            t.close(close_cb);
            ++timer_cb_called;
        };
    };
    REQUIRE_FALSE(timer1.start(timer_cb(timer1), 0ms));
    REQUIRE_FALSE(timer2.start(timer_cb(timer2), 100000ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(check_cb_called == 1);
    REQUIRE(close_cb_called == 3);
    REQUIRE(timer_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("active: is_active and is_closing through start, stop and close", "[uv][libuv][close]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int close_cb_called = 0;
    REQUIRE_FALSE(timer.is_active());
    REQUIRE_FALSE(timer.is_closing());
    REQUIRE_FALSE(timer.start([] { FAIL("timer callback should not run"); }, 1000ms));
    REQUIRE(timer.is_active());
    REQUIRE_FALSE(timer.is_closing());
    timer.stop();
    REQUIRE_FALSE(timer.is_active());
    REQUIRE_FALSE(timer.is_closing());
    REQUIRE_FALSE(timer.start([] { FAIL("timer callback should not run"); }, 1000ms));
    REQUIRE(timer.is_active());
    REQUIRE_FALSE(timer.is_closing());
    timer.close([&] { ++close_cb_called; });
    REQUIRE_FALSE(timer.is_active());
    REQUIRE(timer.is_closing());
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

// --- test-queue-foreach-delete.c (its idle, prepare and check parts)

namespace {

// Three handles of one kind started in order 0, 1, 2: libuv runs 2 first,
// whose callback closes 2 and 1, so 1 never runs, and 0 runs last.
template <class Watcher>
void queue_foreach_delete_case(uv::Loop& loop) {
    Watcher w0(loop), w1(loop), w2(loop);
    std::array<int, 3> cb_calls{};
    REQUIRE_FALSE(w0.start([&] { ++cb_calls[0]; }));
    REQUIRE_FALSE(w1.start([&] { FAIL("Shouldn't be called"); }));
    REQUIRE_FALSE(w2.start([&] {
        w2.close();
        w1.close();
        ++cb_calls[2];
    }));
    REQUIRE(loop.run(uv::RunMode::NoWait) == 1);
    REQUIRE(cb_calls[0] == 1);
    REQUIRE(cb_calls[1] == 0);
    REQUIRE(cb_calls[2] == 1);
    w0.close();
    REQUIRE(loop.run() == 0);
}

} // namespace

TEST_CASE("queue_foreach_delete: a callback that closes handles later in the same phase keeps "
          "them from running",
          "[uv][libuv][idle]") {
    uv::Loop loop;
    SECTION("idle") {
        queue_foreach_delete_case<uv::Idle>(loop);
    }
    SECTION("prepare") {
        queue_foreach_delete_case<uv::Prepare>(loop);
    }
    SECTION("check") {
        queue_foreach_delete_case<uv::Check>(loop);
    }
    require_loop_quiescent(loop);
}
