// libuv 1.44's test-fs-poll.c, ported to pollux::uv. The stat runs on the
// loop's worker pool; the tests count callbacks, never how soon they come.
#include <pollux/uv/fs_poll.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::create_file;
using pollux::test::require_loop_quiescent;
using pollux::test::TempDir;

namespace {

void poll_cb_fail(uv::FsPoll&, boost::system::error_code ec, const uv::Stat&, const uv::Stat&) {
    FAIL("fs_poll callback called: " << ec.message());
}

void poll_cb_noop(uv::FsPoll&, boost::system::error_code, const uv::Stat&, const uv::Stat&) {
}

// libuv's touch_file: rewrites the file one byte longer each time, so the
// poller sees a change even without sub-second mtimes.
void touch_fixture(const std::string& path) {
    static int count = 0;
    std::ofstream f(path, std::ios::trunc);
    REQUIRE(f.good());
    f << std::string(static_cast<std::size_t>(++count), '*');
}

const uv::Stat zero_statbuf{};

struct HangGuard {
    explicit HangGuard(uv::Loop& loop, std::chrono::milliseconds limit = 60s) : t(loop) {
        REQUIRE_FALSE(t.start([] { FAIL("hang guard expired"); }, limit));
        t.unref();
    }
    uv::Timer t;
};

} // namespace

TEST_CASE("fs_poll: ENOENT once, then creation, two changes and the removal, each reported "
          "once with the previous and the current status",
          "[uv][libuv][fs_poll]") {
    TempDir dir;
    const std::string fixture = dir / "testfile";
    uv::Loop loop;
    HangGuard guard(loop);
    int poll_cb_called = 0;
    int timer_cb_called = 0;
    int close_cb_called = 0;
    uv::Timer timer(loop);
    auto timer_cb = [&] {
        touch_fixture(fixture);
        ++timer_cb_called;
    };
    uv::FsPoll poll(loop);
    REQUIRE_FALSE(poll.start(fixture,
                             100ms,
                             [&](uv::FsPoll& h,
                                 boost::system::error_code ec,
                                 const uv::Stat& prev,
                                 const uv::Stat& curr) {
                                 REQUIRE(&h == &poll);
                                 REQUIRE(h.is_active());
                                 switch (poll_cb_called++) {
                                 case 0:
                                     REQUIRE(ec == boost::system::errc::no_such_file_or_directory);
                                     REQUIRE(prev == zero_statbuf);
                                     REQUIRE(curr == zero_statbuf);
                                     touch_fixture(fixture);
                                     break;
                                 case 1:
                                     REQUIRE_FALSE(ec);
                                     REQUIRE(prev == zero_statbuf);
                                     REQUIRE(curr != zero_statbuf);
                                     REQUIRE_FALSE(timer.start(timer_cb, 20ms));
                                     break;
                                 case 2:
                                     REQUIRE_FALSE(ec);
                                     REQUIRE(prev != zero_statbuf);
                                     REQUIRE(curr != zero_statbuf);
                                     REQUIRE_FALSE(timer.start(timer_cb, 200ms));
                                     break;
                                 case 3:
                                     REQUIRE_FALSE(ec);
                                     REQUIRE(prev != zero_statbuf);
                                     REQUIRE(curr != zero_statbuf);
                                     REQUIRE(std::remove(fixture.c_str()) == 0);
                                     break;
                                 case 4:
                                     REQUIRE(ec == boost::system::errc::no_such_file_or_directory);
                                     REQUIRE(prev != zero_statbuf);
                                     REQUIRE(curr == zero_statbuf);
                                     h.close([&] { ++close_cb_called; });
                                     break;
                                 default:
                                     FAIL("too many callbacks");
                                 }
                             }));
    // libuv's fs_poll returns here and the runner runs the loop; the timer
    // is closed by hand once the handle is (libuv leaves it to the runner).
    while (close_cb_called == 0) {
        loop.run(uv::RunMode::Once);
    }
    timer.close();
    loop.run();
    REQUIRE(poll_cb_called == 5);
    REQUIRE(timer_cb_called == 2);
    REQUIRE(close_cb_called == 1);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("fs_poll_getpath: getpath() is empty until started and then the path as given",
          "[uv][libuv][fs_poll]") {
    TempDir dir;
    const std::string fixture = dir / "testfile";
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsPoll poll(loop);
    REQUIRE(poll.getpath().empty());
    REQUIRE_FALSE(poll.start(fixture, 100ms, poll_cb_fail));
    REQUIRE(poll.getpath() == fixture);
    poll.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_poll_close_request: closing at once calls back only the close callback",
          "[uv][libuv][fs_poll]") {
    TempDir dir;
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsPoll poll(loop);
    REQUIRE_FALSE(poll.start(dir / "testfile", 100ms, poll_cb_fail));
    poll.close([&] { ++close_cb_called; });
    while (close_cb_called == 0) {
        loop.run(uv::RunMode::Once);
    }
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_poll_close_request_multi_start_stop: ten start/stop pairs, then close",
          "[uv][libuv][fs_poll]") {
    TempDir dir;
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsPoll poll(loop);
    for (int i = 0; i < 10; ++i) {
        REQUIRE_FALSE(poll.start(dir / "testfile", 100ms, poll_cb_fail));
        poll.stop();
    }
    poll.close([&] { ++close_cb_called; });
    while (close_cb_called == 0) {
        loop.run(uv::RunMode::Once);
    }
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_poll_close_request_multi_stop_start: ten stop/start pairs, then close",
          "[uv][libuv][fs_poll]") {
    TempDir dir;
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsPoll poll(loop);
    for (int i = 0; i < 10; ++i) {
        poll.stop();
        REQUIRE_FALSE(poll.start(dir / "testfile", 100ms, poll_cb_fail));
    }
    poll.close([&] { ++close_cb_called; });
    while (close_cb_called == 0) {
        loop.run(uv::RunMode::Once);
    }
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_poll_close_request_stop_when_active: stop after a turn, then close, does not "
          "crash",
          "[uv][libuv][fs_poll]") {
    TempDir dir;
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsPoll poll(loop);
    REQUIRE_FALSE(poll.start(dir / "testfile", 100ms, poll_cb_noop));
    loop.run(uv::RunMode::Once);
    poll.stop();
    loop.run(uv::RunMode::Once);
    poll.close([&] { ++close_cb_called; });
    while (close_cb_called == 0) {
        loop.run(uv::RunMode::Once);
    }
    REQUIRE(close_cb_called == 1);
    loop.run();
    require_loop_quiescent(loop);
}

// pollux's own.

TEST_CASE("uv::FsPoll: an existing, unchanged file is never reported", "[uv][fs_poll]") {
    TempDir dir;
    create_file(dir / "f");
    uv::Loop loop;
    uv::FsPoll poll(loop);
    REQUIRE_FALSE(poll.start(dir / "f", 1ms, poll_cb_fail));
    uv::Timer timer(loop);
    int ticks = 0;
    // Many polls at 1 ms while the file does not change.
    REQUIRE_FALSE(timer.start(
        [&] {
            if (++ticks == 20) {
                poll.close();
                timer.close();
            }
        },
        5ms,
        5ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(ticks == 20);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsPoll: uv::walk visits the handle and not its internal timer, and a walk that "
          "closes every handle ends the loop",
          "[uv][fs_poll][walk]") {
    TempDir dir;
    create_file(dir / "f");
    uv::Loop loop;
    uv::FsPoll poll(loop);
    REQUIRE_FALSE(poll.start(dir / "f", 1ms, poll_cb_fail));
    std::vector<uv::HandleType> seen;
    uv::walk(loop, [&](uv::Handle& h) { seen.push_back(h.type()); });
    REQUIRE(seen == std::vector<uv::HandleType>{uv::HandleType::fs_poll});
    // libuv's tests close every handle at teardown this way.
    uv::walk(loop, [](uv::Handle& h) {
        if (!h.is_closing()) {
            h.close();
        }
    });
    REQUIRE(loop.run() == 0);
    REQUIRE_FALSE(poll.is_active());
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsPoll: the stat fields describe the file", "[uv][fs_poll]") {
    TempDir dir;
    const std::string path = dir / "f";
    uv::Loop loop;
    HangGuard guard(loop);
    uv::Stat seen;
    int called = 0;
    uv::FsPoll poll(loop);
    REQUIRE_FALSE(poll.start(
        path,
        5ms,
        [&](uv::FsPoll& h, boost::system::error_code ec, const uv::Stat&, const uv::Stat& curr) {
            if (++called == 1) {
                REQUIRE(ec == boost::system::errc::no_such_file_or_directory);
                std::ofstream(path) << "hello";
                return;
            }
            REQUIRE_FALSE(ec);
            seen = curr;
            h.close();
        }));
    REQUIRE(loop.run() == 0);
    REQUIRE(called == 2);
    REQUIRE(seen.size == 5);
    REQUIRE((seen.mode & 0170000) == 0100000); // S_IFREG
    REQUIRE(seen.nlink == 1);
    REQUIRE(seen.ino != 0);
    REQUIRE(seen.mtim.sec > 0);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsPoll: start on a started handle succeeds and keeps the first path; a closing "
          "handle refuses",
          "[uv][fs_poll]") {
    TempDir dir;
    uv::Loop loop;
    uv::FsPoll poll(loop);
    REQUIRE_FALSE(poll.start(dir / "a", 100ms, poll_cb_noop));
    REQUIRE_FALSE(poll.start(dir / "b", 100ms, poll_cb_noop));
    REQUIRE(poll.getpath() == dir / "a");
    REQUIRE(poll.is_active());
    poll.close();
    REQUIRE(poll.start(dir / "a", 100ms, poll_cb_noop) == boost::asio::error::bad_descriptor);
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsPoll: destroyed with a stat in flight, the loop finishes cleanly",
          "[uv][fs_poll]") {
    TempDir dir;
    uv::Loop loop;
    {
        uv::FsPoll poll(loop);
        REQUIRE_FALSE(poll.start(dir / "x", 1ms, poll_cb_fail));
    }
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_poll_ref: an unreferenced handle lets run() return once its first stat is done",
          "[uv][libuv][fs_poll]") {
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsPoll h(loop);
    // "." exists: the first stat only records its status (no callback).
    REQUIRE_FALSE(h.start(".", 999ms, poll_cb_fail));
    h.unref();
    REQUIRE(loop.run() == 0);
    REQUIRE(loop.active_requests() == 0);
    h.close([&] { ++close_cb_called; });
    REQUIRE(close_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsPoll: a handle may destroy itself in its callback; the loop goes on",
          "[uv][fs_poll]") {
    TempDir dir;
    uv::Loop loop;
    int called = 0;
    std::optional<uv::FsPoll> poll(std::in_place, loop);
    // The missing file is reported at the first stat.
    REQUIRE_FALSE(poll->start(
        dir / "missing",
        1ms,
        [&](uv::FsPoll&, boost::system::error_code ec, const uv::Stat&, const uv::Stat&) {
            REQUIRE(ec == boost::system::errc::no_such_file_or_directory);
            ++called;
            poll.reset();
        }));
    REQUIRE(loop.run() == 0);
    REQUIRE(called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsPoll: stopped and restarted in its callback, it reports from a fresh start",
          "[uv][fs_poll]") {
    TempDir dir;
    const std::string path = dir / "f";
    uv::Loop loop;
    int called = 0;
    uv::FsPoll poll(loop);
    std::function<void(uv::FsPoll&, boost::system::error_code, const uv::Stat&, const uv::Stat&)>
        cb = [&](uv::FsPoll& h,
                 boost::system::error_code ec,
                 const uv::Stat& prev,
                 const uv::Stat& curr) {
            REQUIRE(ec == boost::system::errc::no_such_file_or_directory);
            REQUIRE(prev == zero_statbuf);
            REQUIRE(curr == zero_statbuf);
            if (++called == 2) {
                h.close();
                return;
            }
            // A fresh start reports the same missing file again (once).
            h.stop();
            REQUIRE_FALSE(h.start(path, 1ms, cb));
        };
    REQUIRE_FALSE(poll.start(path, 1ms, cb));
    REQUIRE(loop.run() == 0);
    REQUIRE(called == 2);
    require_loop_quiescent(loop);
}
