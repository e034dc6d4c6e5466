#include <pollux/uv/loop.hpp>
#include <pollux/uv/work.hpp>

#include "support/loop_quiescent.hpp"

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace pollux;
using pollux::test::require_loop_quiescent;

TEST_CASE("uv queue_work runs off the loop thread and calls after_work on it", "[uv][work]") {
    uv::Loop loop;
    const auto loop_thread = std::this_thread::get_id();
    std::thread::id work_thread;
    int work_cb_called = 0;
    int after_work_cb_called = 0;
    auto req = uv::queue_work(
        loop,
        [&] {
            work_thread = std::this_thread::get_id();
            ++work_cb_called;
        },
        [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            REQUIRE(std::this_thread::get_id() == loop_thread);
            ++after_work_cb_called;
        });
    REQUIRE(loop.alive()); // a request keeps the loop alive
    REQUIRE(loop.active_requests() == 1);
    REQUIRE(loop.run() == 0);
    REQUIRE(work_cb_called == 1);
    REQUIRE(after_work_cb_called == 1);
    REQUIRE(work_thread != loop_thread);
    REQUIRE(req.done());
    REQUIRE(req.cancel() == boost::system::errc::device_or_resource_busy);
    require_loop_quiescent(loop);
}

TEST_CASE("uv queue_work cancel before start reports operation_aborted and never runs the work",
          "[uv][work][cancel]") {
    uv::Loop loop;
    // Occupy every pool thread, so the next request cannot start.
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    std::atomic<int> blockers_started{0};
    int blocker_after_cb_called = 0;
    for (std::size_t i = 0; i < loop.threadpool_size(); ++i) {
        (void)uv::queue_work(
            loop,
            [&] {
                blockers_started.fetch_add(1);
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return release; });
            },
            [&](boost::system::error_code ec) {
                REQUIRE_FALSE(ec);
                ++blocker_after_cb_called;
            });
    }
    while (blockers_started.load() < static_cast<int>(loop.threadpool_size())) {
        std::this_thread::yield();
    }
    std::atomic<int> work_cb_called{0};
    int after_work_cb_called = 0;
    auto req = uv::queue_work(
        loop,
        [&] { work_cb_called.fetch_add(1); },
        [&](boost::system::error_code ec) {
            REQUIRE(ec == boost::asio::error::operation_aborted);
            ++after_work_cb_called;
            {
                std::lock_guard lock(m);
                release = true;
            }
            cv.notify_all();
        });
    REQUIRE_FALSE(req.cancel());
    REQUIRE(after_work_cb_called == 0); // never inside cancel()
    REQUIRE(req.cancel() == boost::system::errc::device_or_resource_busy);
    REQUIRE(loop.run() == 0);
    REQUIRE(after_work_cb_called == 1);
    REQUIRE(blocker_after_cb_called == static_cast<int>(loop.threadpool_size()));
    REQUIRE(work_cb_called.load() == 0);
    require_loop_quiescent(loop);
}
