#include <pollux/core/async.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/debug/stall_watchdog.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// The reports a handler received, shared with the watchdog thread.
struct Reports {
    std::mutex mutex;
    std::vector<debug::StallReport> list;

    debug::StallHandler handler() {
        return [this](const debug::StallReport& r) {
            std::lock_guard lock(mutex);
            list.push_back(r);
        };
    }
    std::vector<debug::StallReport> snapshot() {
        std::lock_guard lock(mutex);
        return list;
    }
};

struct SpinTimes {
    Clock::time_point start;
    Clock::time_point end;
};

unsigned spin_resume_line = 0;

// Yields once (so the spinning poll resumes from a known await site), then
// busy-waits `d` inside one poll.
Async<void> spin_once(Clock::duration d, SpinTimes* times) {
    spin_resume_line = __LINE__ + 1;
    co_await yield_now();
    times->start = Clock::now();
    while (Clock::now() - times->start < d) {
    }
    times->end = Clock::now();
}

// Sleeps `period` `n` times and records how late each sleep completed.
struct Tick {
    Clock::time_point at;
    Clock::duration late;
};
Async<void> ticker(Clock::duration period, int n, std::vector<Tick>* ticks) {
    for (int i = 0; i < n; ++i) {
        const auto due = Clock::now() + period;
        co_await time::sleep(std::chrono::duration_cast<time::Duration>(period));
        const auto now = Clock::now();
        ticks->push_back({now, now - due});
    }
}

Clock::duration median_late(std::vector<Tick> ticks) {
    REQUIRE_FALSE(ticks.empty());
    std::sort(
        ticks.begin(), ticks.end(), [](const Tick& a, const Tick& b) { return a.late < b.late; });
    return ticks[ticks.size() / 2].late;
}

bool is_this_file(const std::source_location& s) {
    return std::string(s.file_name()).ends_with("stall_watchdog_test.cpp");
}

} // namespace

TEST_CASE("a poll that spins for 200 ms is reported once, with its spawn and await sites") {
    Reports reports;
    RuntimeOptions opts;
    opts.worker_threads = 2;
    opts.stall_threshold = 50ms;
    opts.on_stall = reports.handler();
    Runtime rt(opts);
    SpinTimes times;
    const unsigned spawn_line = __LINE__ + 1;
    auto h = rt.spawn(spin_once(200ms, &times), "spinner");
    const std::uint64_t id = h.id();
    rt.block_on(std::move(h));

    auto list = reports.snapshot();
    REQUIRE(list.size() == 1);
    const auto& r = list[0];
    CHECK(r.task_id == id);
    CHECK(r.name == "spinner");
    CHECK(is_this_file(r.spawn_site));
    CHECK(r.spawn_site.line() == spawn_line);
    CHECK(is_this_file(r.resumed_from));
    CHECK(r.resumed_from.line() == spin_resume_line);
    CHECK(r.running_for >= 50ms);
    CHECK(r.running_for < 5s);
    const std::string line = debug::to_string(r);
    INFO(line);
    CHECK(line.find("\"spinner\" has been in one poll for") != std::string::npos);
    CHECK(line.find("stall_watchdog_test.cpp:" + std::to_string(spawn_line)) != std::string::npos);
}

TEST_CASE("the watchdog reports a stall of a current-thread runtime while its loop is blocked") {
    Reports reports;
    RuntimeOptions opts;
    opts.stall_threshold = 50ms;
    opts.on_stall = reports.handler();
    Runtime rt(opts);
    SpinTimes times;
    rt.block_on(spin_once(200ms, &times));
    auto list = reports.snapshot();
    REQUIRE(list.size() == 1);
    CHECK(list[0].name == "block_on");
    CHECK(list[0].resumed_from.line() == spin_resume_line);
    CHECK(list[0].running_for >= 50ms);
}

TEST_CASE("polls shorter than the threshold are not reported") {
    Reports reports;
    RuntimeOptions opts;
    opts.stall_threshold = 2s;
    opts.on_stall = reports.handler();
    Runtime rt(opts);
    std::vector<Tick> ticks;
    rt.block_on(ticker(1ms, 50, &ticks));
    CHECK(ticks.size() == 50);
    CHECK(reports.snapshot().empty());
}

TEST_CASE("on a multi-thread runtime other tasks' timers keep firing while one poll spins") {
    Reports reports;
    RuntimeOptions opts;
    opts.worker_threads = 2;
    opts.stall_threshold = 100ms;
    opts.on_stall = reports.handler();
    Runtime rt(opts);
    std::vector<Tick> ticks;
    SpinTimes times;
    auto tick = rt.spawn(ticker(10ms, 60, &ticks));
    auto spin = rt.spawn(spin_once(200ms, &times));
    rt.block_on(std::move(spin));
    rt.block_on(std::move(tick));

    std::vector<Tick> during;
    for (const Tick& t : ticks) {
        if (t.at > times.start && t.at < times.end) {
            during.push_back(t);
        }
    }
    INFO("ticks during the spin: " << during.size());
    // About 20 are due; a loaded machine may run fewer, never none.
    CHECK(during.size() >= 3);
    CHECK(median_late(during) < 100ms);
    CHECK(reports.snapshot().size() == 1);
}

TEST_CASE("on a current-thread runtime a spin delays timers, which are on time again after it") {
    Reports reports;
    RuntimeOptions opts;
    opts.stall_threshold = 100ms;
    opts.on_stall = reports.handler();
    Runtime rt(opts);
    std::vector<Tick> ticks;
    SpinTimes times;
    rt.block_on([](std::vector<Tick>& t, SpinTimes& s) -> Async<void> {
        auto tick = spawn(ticker(10ms, 40, &t));
        co_await time::sleep(50ms);
        co_await spin_once(200ms, &s);
        co_await std::move(tick);
    }(ticks, times));

    // The tick due during the spin could only complete after it: the one
    // loop thread was busy. That is what a stall means here.
    Clock::duration worst{0};
    std::vector<Tick> after;
    for (const Tick& t : ticks) {
        worst = std::max(worst, t.late);
        if (t.at > times.end + 30ms) {
            after.push_back(t);
        }
    }
    CHECK(worst >= 100ms);
    INFO("ticks after the spin: " << after.size());
    REQUIRE(after.size() >= 5);
    CHECK(median_late(after) < 100ms);
    CHECK(reports.snapshot().size() == 1);
}

TEST_CASE("a runtime has no watchdog and no detailed metrics unless asked") {
    Runtime rt;
    CHECK_FALSE(rt.metrics().detailed);
}

TEST_CASE("a stall watchdog on a plain io_context reports a spinning task") {
    Reports reports;
    boost::asio::io_context io;
    SpinTimes times;
    {
        debug::StallWatchdog watchdog(io, 50ms, reports.handler());
        auto h = spawn(io.get_executor(), spin_once(150ms, &times));
        io.run();
    }
    REQUIRE(reports.snapshot().size() == 1);
    CHECK(reports.snapshot()[0].resumed_from.line() == spin_resume_line);
}

TEST_CASE("a stall watchdog rejects a threshold that is not positive") {
    boost::asio::io_context io;
    CHECK_THROWS_AS(debug::StallWatchdog(io, 0ms), std::invalid_argument);
    CHECK_THROWS_AS(debug::StallWatchdog(io, -1ms), std::invalid_argument);
}

TEST_CASE("a throwing stall handler does not stop the watchdog") {
    auto calls = std::make_shared<std::atomic<int>>(0);
    RuntimeOptions opts;
    opts.stall_threshold = 30ms;
    opts.on_stall = [calls](const debug::StallReport&) {
        ++*calls;
        throw std::runtime_error("handler failed");
    };
    Runtime rt(opts);
    SpinTimes times;
    rt.block_on(spin_once(100ms, &times));
    rt.block_on(spin_once(100ms, &times));
    CHECK(calls->load() == 2);
}
