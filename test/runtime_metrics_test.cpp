#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/debug/dump.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <numeric>
#include <optional>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;

namespace {

Async<void> yield_n(int n) {
    for (int i = 0; i < n; ++i) {
        co_await yield_now();
    }
}

Async<void> spin_for(std::chrono::milliseconds d) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < d) {
    }
    co_return;
}

std::uint64_t histogram_total(const RuntimeMetrics& m) {
    return std::accumulate(
        m.poll_time_histogram.begin(), m.poll_time_histogram.end(), std::uint64_t{0});
}

} // namespace

TEST_CASE("metrics count spawned tasks, live tasks and polls") {
    Runtime rt;
    std::vector<JoinHandle<void>> handles;
    for (int i = 0; i < 3; ++i) {
        handles.push_back(rt.spawn(yield_n(5)));
    }
    auto before = rt.metrics();
    CHECK(before.spawned == 3);
    CHECK(before.live_tasks == 3);
    CHECK(before.polls == 0);
    for (auto& h : handles) {
        rt.block_on(std::move(h));
    }
    auto after = rt.metrics();
    CHECK(after.live_tasks == 0);
    // Three block_on tasks joined them: 3 + 3 spawned. Each yielding task
    // was polled 6 times; each block_on task polled at least once.
    CHECK(after.spawned == 6);
    CHECK(after.polls >= 3 * 6 + 3);
}

TEST_CASE("without detailed metrics poll times are not counted") {
    boost::asio::io_context io;
    spawn(io.get_executor(), yield_n(5));
    io.run();
    auto m = debug::metrics(io);
    CHECK_FALSE(m.detailed);
    CHECK(m.polls == 6);
    CHECK(histogram_total(m) == 0);
}

TEST_CASE("wakes count the wakes that scheduled a poll, without detailed metrics") {
    boost::asio::io_context io;
    for (int i = 0; i < 3; ++i) {
        spawn(io.get_executor(), yield_n(5));
    }
    io.run();
    auto m = debug::metrics(io);
    CHECK_FALSE(m.detailed);
    CHECK(m.wakes == 15); // one per yield; the first polls were not woken
}

TEST_CASE("wakes of a live task are counted before it finishes") {
    boost::asio::io_context io;
    spawn(io.get_executor(), yield_n(1000));
    io.run_one(); // the first poll: not a wake
    CHECK(debug::metrics(io).wakes == 0);
    io.run_one(); // the poll after the first yield's wake
    io.run_one();
    auto m = debug::metrics(io);
    CHECK(m.live_tasks == 1);
    CHECK(m.wakes == 2);
}

TEST_CASE("several wakes before one poll count as one wake") {
    boost::asio::io_context io;
    std::optional<Waker> waker;
    bool done = false;
    spawn(io.get_executor(), poll_fn<void>([&](Context& cx) -> Poll<void> {
              if (done) {
                  return Ready<void>{};
              }
              waker = cx.waker();
              return Pending{};
          }));
    io.run();
    done = true;
    waker->wake_by_ref();
    waker->wake_by_ref();
    waker->wake_by_ref();
    io.restart();
    io.run();
    auto m = debug::metrics(io);
    CHECK(m.polls == 2);
    CHECK(m.wakes == 1);
}

TEST_CASE("detailed metrics count the wakes that scheduled a poll and time every poll") {
    boost::asio::io_context io;
    debug::enable_detailed_metrics(io);
    for (int i = 0; i < 3; ++i) {
        spawn(io.get_executor(), yield_n(5));
    }
    io.run();
    auto m = debug::metrics(io);
    CHECK(m.detailed);
    CHECK(m.spawned == 3);
    CHECK(m.polls == 18);
    CHECK(m.wakes == 15); // one per yield; the first polls were not woken
    CHECK(histogram_total(m) == 18);
}

TEST_CASE("a 20 ms poll lands in the histogram bucket of its duration") {
    boost::asio::io_context io;
    debug::enable_detailed_metrics(io);
    spawn(io.get_executor(), spin_for(20ms));
    io.run();
    auto m = debug::metrics(io);
    REQUIRE(histogram_total(m) == 1);
    // 20 ms = 20000 us is in [2^14, 2^15) us, bucket 15; a slow machine may
    // stretch the poll into a later bucket, never an earlier one.
    std::uint64_t at_least_16ms = 0;
    for (std::size_t i = 15; i < RuntimeMetrics::poll_time_buckets; ++i) {
        at_least_16ms += m.poll_time_histogram[i];
    }
    CHECK(at_least_16ms == 1);
}

TEST_CASE("histogram bucket bounds double from 1 us and the last is open") {
    CHECK(RuntimeMetrics::bucket_upper_bound(0) == 1us);
    CHECK(RuntimeMetrics::bucket_upper_bound(1) == 2us);
    CHECK(RuntimeMetrics::bucket_upper_bound(15) == 32768us);
    CHECK(RuntimeMetrics::bucket_upper_bound(RuntimeMetrics::poll_time_buckets - 1) ==
          std::chrono::nanoseconds::max());
}

TEST_CASE("a task joined on another thread is no longer counted live") {
    RuntimeOptions opts;
    opts.worker_threads = 2;
    Runtime rt(opts);
    for (int i = 0; i < 200; ++i) {
        rt.block_on(rt.spawn(yield_n(1)));
        REQUIRE(rt.metrics().live_tasks == 0);
    }
}

TEST_CASE("polls on several worker threads are all counted") {
    RuntimeOptions opts;
    opts.worker_threads = 2;
    opts.detailed_metrics = true;
    Runtime rt(opts);
    std::vector<JoinHandle<void>> handles;
    for (int i = 0; i < 8; ++i) {
        handles.push_back(rt.spawn(yield_n(1000)));
    }
    for (auto& h : handles) {
        rt.block_on(std::move(h));
    }
    auto m = rt.metrics();
    CHECK(m.live_tasks == 0);
    // 8 x 1001 polls of the yielding tasks, plus the block_on joiners'.
    CHECK(m.polls >= 8 * 1001);
    CHECK(m.wakes >= 8 * 1000);
    CHECK(histogram_total(m) == m.polls);
}
