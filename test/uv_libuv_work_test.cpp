// libuv 1.44's work queue and DNS tests (test-threadpool.c,
// test-threadpool-cancel.c, test-getaddrinfo.c, test-getnameinfo.c), ported
// to pollux::uv, and the pool size (UV_THREADPOOL_SIZE, set_threadpool_size).
// Only loopback is reachable here: lookups use "localhost" and numeric hosts.
#include <pollux/uv/getaddrinfo.hpp>
#include <pollux/uv/getnameinfo.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>
#include <pollux/uv/work.hpp>

#include "support/loop_quiescent.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <limits.h>
#include <mutex>
#include <netdb.h>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;

namespace {

const boost::system::error_code busy =
    boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);

// libuv's saturate_threadpool/unblock_threadpool: a pool of 4 threads, each
// held by a work item until unblock().
class SaturatedPool {
public:
    static constexpr std::size_t size = 4;

    explicit SaturatedPool(uv::Loop& loop) {
        REQUIRE_FALSE(loop.set_threadpool_size(size));
        for (std::size_t i = 0; i < size; ++i) {
            (void)uv::queue_work(
                loop,
                [this] {
                    ++started_;
                    std::unique_lock lock(mu_);
                    cv_.wait(lock, [this] { return released_; });
                },
                [this](boost::system::error_code ec) {
                    REQUIRE_FALSE(ec);
                    ++done_cb_called;
                });
        }
        while (started_.load() < static_cast<int>(size)) {
            std::this_thread::sleep_for(1ms);
        }
    }
    ~SaturatedPool() { unblock(); }
    SaturatedPool(const SaturatedPool&) = delete;
    SaturatedPool& operator=(const SaturatedPool&) = delete;

    void unblock() {
        {
            std::lock_guard lock(mu_);
            released_ = true;
        }
        cv_.notify_all();
    }

    int done_cb_called = 0;

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool released_ = false;
    std::atomic<int> started_{0};
};

} // namespace

// --- test-threadpool.c

TEST_CASE("threadpool_queue_work_simple: work runs once on the pool, after_work once on the loop",
          "[uv][libuv][work]") {
    uv::Loop loop;
    std::atomic<int> work_cb_count{0};
    int after_work_cb_count = 0;
    (void)uv::queue_work(
        loop,
        [&] { ++work_cb_count; },
        [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            ++after_work_cb_count;
        });
    REQUIRE(loop.run() == 0);
    REQUIRE(work_cb_count == 1);
    REQUIRE(after_work_cb_count == 1);
    require_loop_quiescent(loop);
}

// --- test-threadpool-cancel.c

TEST_CASE("threadpool_cancel_work: queued work cancelled from a timer never runs and completes "
          "with operation_aborted",
          "[uv][libuv][work]") {
    uv::Loop loop;
    SaturatedPool pool(loop);
    std::array<uv::Request, 16> reqs;
    int done2_cb_called = 0;
    for (auto& req : reqs) {
        req = uv::queue_work(
            loop,
            [] { FAIL("work2_cb called"); },
            [&](boost::system::error_code ec) {
                REQUIRE(ec == boost::asio::error::operation_aborted);
                ++done2_cb_called;
            });
    }
    uv::Timer timer(loop);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            for (auto& req : reqs) {
                REQUIRE_FALSE(req.cancel());
            }
            timer.close();
            pool.unblock();
            ++timer_cb_called;
        },
        10ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(done2_cb_called == static_cast<int>(reqs.size()));
    REQUIRE(pool.done_cb_called == static_cast<int>(SaturatedPool::size));
    require_loop_quiescent(loop);
}

TEST_CASE("threadpool_cancel_single: a cancelled request's callback runs from the loop, never "
          "inside cancel",
          "[uv][libuv][work]") {
    uv::Loop loop;
    SaturatedPool pool(loop);
    int done_cb_called = 0;
    auto req = uv::queue_work(
        loop,
        [] { std::abort(); },
        [&](boost::system::error_code ec) {
            REQUIRE(ec == boost::asio::error::operation_aborted);
            ++done_cb_called;
        });
    REQUIRE_FALSE(req.cancel());
    REQUIRE(done_cb_called == 0);
    pool.unblock();
    REQUIRE(loop.run() == 0);
    REQUIRE(done_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("threadpool_cancel_getaddrinfo: queued lookups cancelled from a timer complete with "
          "operation_aborted and no results",
          "[uv][libuv][work][getaddrinfo]") {
    uv::Loop loop;
    SaturatedPool pool(loop);
    std::array<uv::Request, 4> reqs;
    int getaddrinfo_cb_called = 0;
    const auto cb = [&](boost::system::error_code ec, uv::AddrInfoResults res) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        REQUIRE(res.empty());
        ++getaddrinfo_cb_called;
    };
    reqs[0] = uv::getaddrinfo(loop, "fail", "", cb);
    reqs[1] = uv::getaddrinfo(loop, "", "fail", cb);
    reqs[2] = uv::getaddrinfo(loop, "fail", "fail", cb);
    reqs[3] = uv::getaddrinfo(loop, "fail", "", cb);
    uv::Timer timer(loop);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            for (auto& req : reqs) {
                REQUIRE_FALSE(req.cancel());
            }
            timer.close();
            pool.unblock();
            ++timer_cb_called;
        },
        10ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(getaddrinfo_cb_called == 4);
    require_loop_quiescent(loop);
}

TEST_CASE("threadpool_cancel_getnameinfo: queued reverse lookups cancelled from a timer complete "
          "with operation_aborted and empty names",
          "[uv][libuv][work][getnameinfo]") {
    uv::Loop loop;
    SaturatedPool pool(loop);
    const boost::asio::ip::tcp::endpoint addr4(boost::asio::ip::make_address("127.0.0.1"), 80);
    std::array<uv::Request, 4> reqs;
    int getnameinfo_cb_called = 0;
    for (auto& req : reqs) {
        req = uv::getnameinfo(
            loop, addr4, 0, [&](boost::system::error_code ec, std::string host, std::string svc) {
                REQUIRE(ec == boost::asio::error::operation_aborted);
                REQUIRE(host.empty());
                REQUIRE(svc.empty());
                ++getnameinfo_cb_called;
            });
    }
    uv::Timer timer(loop);
    int timer_cb_called = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            for (auto& req : reqs) {
                REQUIRE_FALSE(req.cancel());
            }
            timer.close();
            pool.unblock();
            ++timer_cb_called;
        },
        10ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(getnameinfo_cb_called == 4);
    require_loop_quiescent(loop);
}

TEST_CASE("uv queue_work cancel of running or finished work returns device_or_resource_busy and "
          "after_work gets success",
          "[uv][libuv][work]") {
    uv::Loop loop;
    REQUIRE_FALSE(loop.set_threadpool_size(1));
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    std::atomic<bool> started{false};
    std::atomic<int> work_cb_called{0};
    int after_work_cb_called = 0;
    const auto after = [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++after_work_cb_called;
    };
    auto running = uv::queue_work(
        loop,
        [&] {
            started = true;
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return release; });
            ++work_cb_called;
        },
        after);
    while (!started.load()) {
        std::this_thread::sleep_for(1ms);
    }
    CHECK(running.cancel() == busy); // running
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    // One thread: when `probe` starts, `running` has finished, and its
    // after_work has not run (the loop is not running).
    std::atomic<bool> probe_started{false};
    (void)uv::queue_work(
        loop, [&] { probe_started = true; }, after);
    while (!probe_started.load()) {
        std::this_thread::sleep_for(1ms);
    }
    CHECK(running.cancel() == busy); // finished, callback pending
    REQUIRE(loop.run() == 0);
    REQUIRE(work_cb_called == 1);
    REQUIRE(after_work_cb_called == 2);
    REQUIRE(running.cancel() == busy); // callback ran
    REQUIRE(running.done());
    require_loop_quiescent(loop);
}

// --- test-thread.c

TEST_CASE("threadpool_multiple_event_loops: loops on several threads each run chains of lookups "
          "and work on their own pools",
          "[uv][libuv][work]") {
    // libuv chains getaddrinfo and fs_stat requests; pollux has no fs
    // requests, so the second chain is queue_work. Catch2's assertions are
    // not thread-safe: the threads count failed checks.
    std::atomic<int> failures{0};
    const auto expect = [&](bool ok) {
        if (!ok) {
            ++failures;
        }
    };
    const auto do_work = [&](int& thread_called) {
        uv::Loop loop;
        std::array<int, 4> getaddrinfo_counters{};
        std::array<int, 4> work_counters{};
        std::function<void(int&)> getaddrinfo_do = [&](int& counter) {
            (void)uv::getaddrinfo(
                loop, "localhost", "", [&](boost::system::error_code ec, uv::AddrInfoResults) {
                    expect(!ec);
                    if (--counter != 0) {
                        getaddrinfo_do(counter);
                    }
                });
        };
        std::function<void(int&)> work_do = [&](int& counter) {
            (void)uv::queue_work(
                loop,
                [] {},
                [&](boost::system::error_code ec) {
                    expect(!ec);
                    if (--counter != 0) {
                        work_do(counter);
                    }
                });
        };
        for (int& c : getaddrinfo_counters) {
            c = 4;
            getaddrinfo_do(c);
        }
        for (int& c : work_counters) {
            c = 4;
            work_do(c);
        }
        expect(loop.run() == 0);
        for (int c : getaddrinfo_counters) {
            expect(c == 0);
        }
        for (int c : work_counters) {
            expect(c == 0);
        }
        expect(!loop.close());
        ++thread_called;
    };
    std::array<int, 8> thread_called{};
    std::vector<std::thread> threads;
    for (int& called : thread_called) {
        threads.emplace_back(do_work, std::ref(called));
    }
    for (auto& t : threads) {
        t.join();
    }
    for (int called : thread_called) {
        REQUIRE(called == 1);
    }
    REQUIRE(failures == 0);
}

// --- test-getaddrinfo.c

TEST_CASE("getaddrinfo_fail: a failed lookup calls back once with an error and no results",
          "[uv][libuv][getaddrinfo]") {
    // libuv resolves "example.invalid."; with no network here an unknown
    // service fails the same way without asking a DNS server.
    uv::Loop loop;
    int fail_cb_called = 0;
    (void)uv::getaddrinfo(loop,
                          "localhost",
                          "no-such-service-pollux",
                          [&](boost::system::error_code ec, uv::AddrInfoResults res) {
                              REQUIRE(fail_cb_called == 0);
                              REQUIRE(ec);
                              REQUIRE(res.empty());
                              ++fail_cb_called;
                          });
    REQUIRE(loop.run() == 0);
    REQUIRE(fail_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("getaddrinfo_basic: localhost resolves, on the loop's thread",
          "[uv][libuv][getaddrinfo]") {
    uv::Loop loop;
    const auto loop_thread = std::this_thread::get_id();
    int getaddrinfo_cbs = 0;
    (void)uv::getaddrinfo(
        loop, "localhost", "", [&](boost::system::error_code ec, uv::AddrInfoResults res) {
            REQUIRE(std::this_thread::get_id() == loop_thread);
            REQUIRE_FALSE(ec);
            REQUIRE_FALSE(res.empty());
            REQUIRE(res.begin()->endpoint().address().is_loopback());
            ++getaddrinfo_cbs;
        });
    REQUIRE(loop.run() == 0);
    REQUIRE(getaddrinfo_cbs == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("getaddrinfo_concurrent: ten lookups at once each call back once",
          "[uv][libuv][getaddrinfo]") {
    uv::Loop loop;
    constexpr int concurrent_count = 10;
    std::array<int, concurrent_count> callback_counts{};
    int getaddrinfo_cbs = 0;
    for (int i = 0; i < concurrent_count; ++i) {
        (void)uv::getaddrinfo(
            loop, "localhost", "", [&, i](boost::system::error_code, uv::AddrInfoResults) {
                ++callback_counts[static_cast<std::size_t>(i)];
                ++getaddrinfo_cbs;
            });
    }
    REQUIRE(loop.run() == 0);
    for (int n : callback_counts) {
        REQUIRE(n == 1);
    }
    REQUIRE(getaddrinfo_cbs == concurrent_count);
    require_loop_quiescent(loop);
}

// --- test-getnameinfo.c

TEST_CASE("getnameinfo_basic_ip4: 127.0.0.1 port 80 has a host and a service name",
          "[uv][libuv][getnameinfo]") {
    uv::Loop loop;
    int getnameinfo_cb_called = 0;
    (void)uv::getnameinfo(loop,
                          {boost::asio::ip::make_address("127.0.0.1"), 80},
                          0,
                          [&](boost::system::error_code ec, std::string host, std::string svc) {
                              REQUIRE_FALSE(ec);
                              REQUIRE_FALSE(host.empty());
                              REQUIRE_FALSE(svc.empty());
                              ++getnameinfo_cb_called;
                          });
    REQUIRE(loop.run() == 0);
    REQUIRE(getnameinfo_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("getnameinfo_basic_ip6: ::1 port 80 has a host and a service name",
          "[uv][libuv][getnameinfo]") {
    uv::Loop loop;
    int getnameinfo_cb_called = 0;
    (void)uv::getnameinfo(loop,
                          {boost::asio::ip::make_address("::1"), 80},
                          0,
                          [&](boost::system::error_code ec, std::string host, std::string svc) {
                              REQUIRE_FALSE(ec);
                              REQUIRE_FALSE(host.empty());
                              REQUIRE_FALSE(svc.empty());
                              ++getnameinfo_cb_called;
                          });
    REQUIRE(loop.run() == 0);
    REQUIRE(getnameinfo_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv getnameinfo with NI_NUMERICHOST | NI_NUMERICSERV returns the numbers",
          "[uv][libuv][getnameinfo]") {
    uv::Loop loop;
    int getnameinfo_cb_called = 0;
    (void)uv::getnameinfo(loop,
                          {boost::asio::ip::make_address("127.0.0.1"), 8080},
                          NI_NUMERICHOST | NI_NUMERICSERV,
                          [&](boost::system::error_code ec, std::string host, std::string svc) {
                              REQUIRE_FALSE(ec);
                              REQUIRE(host == "127.0.0.1");
                              REQUIRE(svc == "8080");
                              ++getnameinfo_cb_called;
                          });
    REQUIRE(loop.run() == 0);
    REQUIRE(getnameinfo_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv getnameinfo reports bad flags in the callback as invalid_argument",
          "[uv][libuv][getnameinfo]") {
    uv::Loop loop;
    int getnameinfo_cb_called = 0;
    (void)uv::getnameinfo(loop,
                          {boost::asio::ip::make_address("127.0.0.1"), 80},
                          -1,
                          [&](boost::system::error_code ec, std::string host, std::string svc) {
                              REQUIRE(ec == boost::system::errc::make_error_code(
                                                boost::system::errc::invalid_argument));
                              REQUIRE(host.empty());
                              REQUIRE(svc.empty());
                              ++getnameinfo_cb_called;
                          });
    REQUIRE(loop.run() == 0);
    REQUIRE(getnameinfo_cb_called == 1);
    require_loop_quiescent(loop);
}

// --- The pool size

TEST_CASE("uv Loop set_threadpool_size sizes the pool before its first use and is busy after",
          "[uv][libuv][work]") {
    uv::Loop loop;
    REQUIRE_FALSE(loop.set_threadpool_size(0));
    REQUIRE(loop.threadpool_size() == 1);
    REQUIRE_FALSE(loop.set_threadpool_size(5000));
    REQUIRE(loop.threadpool_size() == uv::max_threadpool_size);
    REQUIRE_FALSE(loop.set_threadpool_size(3));
    REQUIRE(loop.threadpool_size() == 3);
    // Three items that each wait for all three to start: they finish only
    // if the pool has (at least) three threads.
    std::atomic<int> started{0};
    std::mutex mu;
    std::set<std::thread::id> threads;
    int after_work_cb_called = 0;
    for (int i = 0; i < 3; ++i) {
        (void)uv::queue_work(
            loop,
            [&] {
                {
                    std::lock_guard lock(mu);
                    threads.insert(std::this_thread::get_id());
                }
                ++started;
                while (started.load() < 3) {
                    std::this_thread::sleep_for(1ms);
                }
            },
            [&](boost::system::error_code ec) {
                REQUIRE_FALSE(ec);
                ++after_work_cb_called;
            });
    }
    REQUIRE(loop.set_threadpool_size(8) == busy);
    REQUIRE(loop.threadpool_size() == 3);
    REQUIRE(loop.run() == 0);
    REQUIRE(after_work_cb_called == 3);
    REQUIRE(threads.size() == 3);
    require_loop_quiescent(loop);
}

// Run by the next test in a child process (hidden from a plain run): checks
// the pool size a new loop gets from UV_THREADPOOL_SIZE.
TEST_CASE("uv threadpool size from the environment (child)", "[.uv_threadpool_env]") {
    const char* expected = std::getenv("POLLUX_EXPECTED_THREADPOOL_SIZE");
    REQUIRE(expected != nullptr);
    uv::Loop loop;
    REQUIRE(loop.threadpool_size() == std::stoul(expected));
}

TEST_CASE("uv Loop threadpool_size reads UV_THREADPOOL_SIZE as libuv does: unset 4, 0 or junk "
          "1, above 1024 or negative 1024",
          "[uv][libuv][work]") {
    std::array<char, PATH_MAX> self{};
    const auto n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
    REQUIRE(n > 0);
    const std::string exe(self.data(), static_cast<std::size_t>(n));
    const auto run_child = [&](const std::string& env, const char* expected) {
        const std::string cmd = "env -u UV_THREADPOOL_SIZE " + env +
                                " POLLUX_EXPECTED_THREADPOOL_SIZE=" + expected + " '" + exe +
                                "' '[.uv_threadpool_env]' > /dev/null 2>&1";
        return std::system(cmd.c_str());
    };
    CHECK(run_child("", "4") == 0);
    CHECK(run_child("UV_THREADPOOL_SIZE=7", "7") == 0);
    CHECK(run_child("UV_THREADPOOL_SIZE=0", "1") == 0);
    CHECK(run_child("UV_THREADPOOL_SIZE=abc", "1") == 0);
    CHECK(run_child("UV_THREADPOOL_SIZE=2000", "1024") == 0);
    CHECK(run_child("UV_THREADPOOL_SIZE=-1", "1024") == 0);
    // A wrong expectation fails, so the child really checks.
    CHECK(run_child("UV_THREADPOOL_SIZE=7", "8") != 0);
}
