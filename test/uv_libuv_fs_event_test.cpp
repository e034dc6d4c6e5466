// libuv 1.44's test-fs-event.c, ported to pollux::uv (Linux: inotify).
// Timers pace the file operations as libuv's do; no test depends on how
// soon an event arrives, only on how many arrive (generous hang guards).
#include <pollux/uv/fs_event.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::create_file;
using pollux::test::require_loop_quiescent;
using pollux::test::TempDir;
using pollux::test::touch_file;

namespace {

void fail_cb(uv::FsEvent&, std::string_view name, int, boost::system::error_code) {
    FAIL("fs event callback called for " << std::string(name));
}

// A hang guard: fails the test if the loop is still running after `limit`.
struct HangGuard {
    explicit HangGuard(uv::Loop& loop, std::chrono::milliseconds limit = 30s) : t(loop) {
        REQUIRE_FALSE(t.start([] { FAIL("hang guard expired"); }, limit));
        t.unref();
    }
    uv::Timer t;
};

} // namespace

TEST_CASE("fs_event_watch_dir: each create and unlink of an entry is one event naming it",
          "[uv][libuv][fs_event]") {
    constexpr int file_count = 16;
    TempDir dir;
    uv::Loop loop;
    HangGuard guard(loop);
    int created = 0;
    int removed = 0;
    int cb_called = 0;
    int close_cb_called = 0;
    auto name = [&](int i) { return dir / ("file" + std::to_string(i)); };
    uv::Timer timer(loop);
    std::function<void()> create_files = [&] {
        REQUIRE(created < file_count);
        create_file(name(created));
        if (++created < file_count) {
            REQUIRE_FALSE(timer.start(create_files, 1ms));
        }
    };
    std::function<void()> unlink_files = [&] {
        REQUIRE(removed < file_count);
        REQUIRE(std::remove(name(removed).c_str()) == 0);
        if (++removed < file_count) {
            REQUIRE_FALSE(timer.start(unlink_files, 1ms));
        }
    };
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(
        dir.path().string(),
        0,
        [&](uv::FsEvent& h, std::string_view fname, int events, boost::system::error_code ec) {
            ++cb_called;
            REQUIRE(&h == &ev);
            REQUIRE_FALSE(ec);
            REQUIRE((events == uv::FsEvent::change || events == uv::FsEvent::rename));
            REQUIRE(fname.substr(0, 4) == "file");
            if (created + removed == file_count) {
                // Every create seen: delete them all.
                REQUIRE_FALSE(timer.start(unlink_files, 1ms));
            } else if (cb_called == 2 * file_count) {
                timer.close([&] { ++close_cb_called; });
                h.close([&] { ++close_cb_called; });
            }
        }));
    REQUIRE_FALSE(timer.start(create_files, 100ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(cb_called == created + removed);
    REQUIRE(close_cb_called == 2);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_watch_file: a change to the watched file is one change event naming it; "
          "a sibling's change is none",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    create_file(dir / "file1");
    create_file(dir / "file2");
    uv::Loop loop;
    HangGuard guard(loop);
    int cb_called = 0;
    int timer_cb_called = 0;
    int close_cb_called = 0;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(
        dir / "file2",
        0,
        [&](uv::FsEvent& h, std::string_view fname, int events, boost::system::error_code ec) {
            ++cb_called;
            REQUIRE_FALSE(ec);
            REQUIRE(events == uv::FsEvent::change);
            REQUIRE(fname == "file2");
            h.stop();
            h.close([&] { ++close_cb_called; });
        }));
    uv::Timer timer(loop);
    REQUIRE_FALSE(timer.start(
        [&] {
            if (++timer_cb_called == 1) {
                touch_file(dir / "file1");
            } else {
                touch_file(dir / "file2");
                timer.close([&] { ++close_cb_called; });
            }
        },
        100ms,
        100ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(cb_called == 1);
    REQUIRE(timer_cb_called == 2);
    REQUIRE(close_cb_called == 2);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_watch_file_exact_path: a file whose name extends the watched one's does "
          "not trigger it",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    create_file(dir / "file.js");
    create_file(dir / "file.jsx");
    uv::Loop loop;
    int timer_cb_called = 0;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(dir / "file.jsx", 0, fail_cb));
    uv::Timer timer(loop);
    REQUIRE_FALSE(timer.start(
        [&] {
            if (timer_cb_called++ == 0) {
                touch_file(dir / "file.js");
            } else {
                timer.close();
                ev.stop();
                ev.close();
            }
        },
        100ms,
        100ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(timer_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_watch_file_twice: two handles may watch the same file",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    create_file(dir / "empty_file");
    uv::Loop loop;
    std::array<std::optional<uv::FsEvent>, 2> watchers;
    for (auto& w : watchers) {
        REQUIRE_FALSE(w.emplace(loop).start(dir / "empty_file", 0, fail_cb));
    }
    uv::Timer timer(loop);
    REQUIRE_FALSE(timer.start(
        [&] {
            watchers[0]->close();
            watchers[1]->close();
            timer.close();
        },
        10ms));
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_watch_file_twice: both handles on one file get its event, in start order",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    create_file(dir / "f");
    uv::Loop loop;
    HangGuard guard(loop);
    std::string order;
    uv::FsEvent a(loop);
    uv::FsEvent b(loop);
    auto cb = [&](char tag) {
        return
            [&, tag](
                uv::FsEvent& h, std::string_view fname, int events, boost::system::error_code ec) {
                REQUIRE_FALSE(ec);
                REQUIRE(fname == "f");
                REQUIRE(events == uv::FsEvent::change);
                order += tag;
                h.close();
            };
    };
    REQUIRE_FALSE(a.start(dir / "f", 0, cb('a')));
    REQUIRE_FALSE(b.start(dir / "f", 0, cb('b')));
    touch_file(dir / "f");
    REQUIRE(loop.run() == 0);
    REQUIRE(order == "ab");
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_watch_file_current_dir: a relative path names the file by itself",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    const auto old_cwd = std::filesystem::current_path();
    std::filesystem::current_path(dir.path());
    create_file("watch_file");
    uv::Loop loop;
    HangGuard guard(loop);
    int cb_called = 0;
    int touch_called = 0;
    int close_cb_called = 0;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(
        "watch_file",
        0,
        [&](uv::FsEvent& h, std::string_view fname, int events, boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            REQUIRE(events == uv::FsEvent::change);
            REQUIRE(fname == "watch_file");
            if (++cb_called == 1) {
                h.close([&] { ++close_cb_called; });
            }
        }));
    uv::Timer timer(loop);
    REQUIRE_FALSE(timer.start(
        [&] {
            timer.close();
            touch_file("watch_file");
            ++touch_called;
        },
        100ms));
    REQUIRE(touch_called == 0);
    REQUIRE(cb_called == 0);
    loop.run();
    std::filesystem::current_path(old_cwd);
    REQUIRE(touch_called == 1);
    REQUIRE(cb_called == 1);
    REQUIRE(close_cb_called == 1);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_no_callback_after_close: an event after close() is not reported",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    create_file(dir / "file1");
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(dir / "file1", 0, fail_cb));
    ev.close([&] { ++close_cb_called; });
    touch_file(dir / "file1");
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_no_callback_on_close: closing a started handle calls no event callback",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    create_file(dir / "file1");
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(dir / "file1", 0, fail_cb));
    ev.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_immediate_close: a handle started and closed in a timer callback closes",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    uv::Loop loop;
    int close_cb_called = 0;
    std::optional<uv::FsEvent> ev;
    uv::Timer timer(loop);
    REQUIRE_FALSE(timer.start(
        [&] {
            REQUIRE_FALSE(ev.emplace(loop).start(dir.path().string(), 0, fail_cb));
            ev->close([&] { ++close_cb_called; });
            timer.close([&] { ++close_cb_called; });
        },
        1ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_close_with_pending_event: an event queued before close() is not reported",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    create_file(dir / "file");
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(dir.path().string(), 0, fail_cb));
    touch_file(dir / "file");
    ev.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_close_with_pending_delete_event: a queued deletion of the watched file is "
          "not reported after close()",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    create_file(dir / "file");
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(dir / "file", 0, fail_cb));
    REQUIRE(std::remove((dir / "file").c_str()) == 0);
    // Let the deletion reach the inotify queue without running the loop, as
    // libuv's uv_sleep (inotify queues it at once; this only makes sure).
    std::this_thread::sleep_for(50ms);
    loop.update_time();
    ev.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_close_in_callback: a handle closed in its third callback gets no fourth",
          "[uv][libuv][fs_event]") {
    constexpr int file_count = 16;
    TempDir dir;
    uv::Loop loop;
    HangGuard guard(loop);
    int cb_called = 0;
    int close_cb_called = 0;
    int created = 0;
    uv::Timer timer(loop);
    std::function<void()> create_files = [&] {
        create_file(dir / ("file" + std::to_string(created)));
        if (++created < file_count) {
            REQUIRE_FALSE(timer.start(create_files, 1ms));
        }
    };
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(
        ev.start(dir.path().string(),
                 0,
                 [&](uv::FsEvent& h, std::string_view, int, boost::system::error_code ec) {
                     REQUIRE_FALSE(ec);
                     REQUIRE(cb_called < 3);
                     if (++cb_called == 3) {
                         h.close([&] { ++close_cb_called; });
                     }
                 }));
    REQUIRE_FALSE(timer.start(create_files, 100ms));
    loop.run();
    timer.close([&] { ++close_cb_called; });
    loop.run(uv::RunMode::Once);
    REQUIRE(close_cb_called == 2);
    REQUIRE(cb_called == 3);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_start_and_close: two handles on one directory started and closed at once",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsEvent ev1(loop);
    uv::FsEvent ev2(loop);
    REQUIRE_FALSE(ev1.start(dir.path().string(), 0, fail_cb));
    REQUIRE_FALSE(ev2.start(dir.path().string(), 0, fail_cb));
    ev2.close([&] { ++close_cb_called; });
    ev1.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_getpath: path() is empty until started and then the path as given",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    std::filesystem::create_directory(dir.path() / "subfolder");
    const std::string base = dir.path().string();
    const std::array<std::string, 5> paths = {
        base,
        base + "/",
        base + "///",
        base + "/subfolder/..",
        base + "//subfolder//..//",
    };
    uv::Loop loop;
    for (const auto& p : paths) {
        int close_cb_called = 0;
        uv::FsEvent ev(loop);
        REQUIRE(ev.path().empty());
        REQUIRE_FALSE(ev.start(p, 0, fail_cb));
        REQUIRE(ev.path() == p);
        ev.stop();
        REQUIRE(ev.path().empty());
        ev.close([&] { ++close_cb_called; });
        REQUIRE(loop.run() == 0);
        REQUIRE(close_cb_called == 1);
    }
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_watch_invalid_path: a bad path fails start and leaves the handle inactive",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    uv::Loop loop;
    uv::FsEvent ev(loop);
    auto ec = ev.start(dir / "<:;", 0, fail_cb);
    REQUIRE(ec == boost::system::errc::no_such_file_or_directory);
    REQUIRE_FALSE(ev.is_active());
    ec = ev.start("", 0, fail_cb);
    REQUIRE(ec == boost::system::errc::no_such_file_or_directory);
    REQUIRE_FALSE(ev.is_active());
    ev.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("fs_event_stop_in_cb: a handle stopped in its callback gets no more events",
          "[uv][libuv][fs_event]") {
    TempDir dir;
    const std::string path = dir / "fs_event_stop_in_cb.txt";
    create_file(path);
    uv::Loop loop;
    int stop_calls = 0;
    int touch_called = 0;
    uv::FsEvent fs(loop);
    REQUIRE_FALSE(
        fs.start(path, 0, [&](uv::FsEvent& h, std::string_view, int, boost::system::error_code) {
            h.stop();
            ++stop_calls;
        }));
    uv::Timer timer(loop);
    REQUIRE_FALSE(timer.start(
        [&] {
            timer.close();
            // Two modifications: the second must not be reported.
            touch_file(path);
            touch_file(path);
            ++touch_called;
        },
        100ms));
    REQUIRE(stop_calls == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(stop_calls == 1);
    REQUIRE(touch_called == 1);
    fs.close();
    REQUIRE(loop.run() == 0);
    REQUIRE(stop_calls == 1);
    require_loop_quiescent(loop);
}

// pollux's own: the rules of uv::Handle and docs/callbacks.md for FsEvent.

TEST_CASE("uv::FsEvent: start on a started handle is invalid_argument; recursive is "
          "not_supported; closing is bad_descriptor",
          "[uv][fs_event]") {
    TempDir dir;
    uv::Loop loop;
    uv::FsEvent ev(loop);
    REQUIRE(ev.start(dir.path().string(), uv::FsEvent::recursive, fail_cb) ==
            boost::system::errc::not_supported);
    REQUIRE_FALSE(ev.is_active());
    REQUIRE_FALSE(ev.start(dir.path().string(), 0, fail_cb));
    REQUIRE(ev.is_active());
    REQUIRE(ev.start(dir.path().string(), 0, fail_cb) == boost::system::errc::invalid_argument);
    ev.close();
    REQUIRE(ev.start(dir.path().string(), 0, fail_cb) == boost::asio::error::bad_descriptor);
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsEvent: an active handle keeps the loop alive; unref lets run return",
          "[uv][fs_event]") {
    TempDir dir;
    uv::Loop loop;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(dir.path().string(), 0, fail_cb));
    REQUIRE(loop.alive());
    ev.unref();
    REQUIRE_FALSE(loop.alive());
    REQUIRE(loop.run() == 0);
    ev.ref();
    ev.stop();
    REQUIRE_FALSE(loop.alive());
    ev.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsEvent: deleting the watched file reports rename events naming it",
          "[uv][fs_event]") {
    TempDir dir;
    create_file(dir / "gone");
    uv::Loop loop;
    HangGuard guard(loop);
    int renames = 0;
    uv::FsEvent ev(loop);
    REQUIRE_FALSE(ev.start(
        dir / "gone",
        0,
        [&](uv::FsEvent& h, std::string_view fname, int events, boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            REQUIRE(fname == "gone");
            if (events == uv::FsEvent::rename && ++renames == 1) {
                h.close();
            }
        }));
    REQUIRE(std::remove((dir / "gone").c_str()) == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(renames == 1);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsEvent: a handle destroyed by another's callback in the same batch is skipped",
          "[uv][fs_event]") {
    TempDir dir;
    create_file(dir / "f");
    uv::Loop loop;
    HangGuard guard(loop);
    int a_called = 0;
    std::optional<uv::FsEvent> b(std::in_place, loop);
    uv::FsEvent a(loop);
    REQUIRE_FALSE(a.start(
        dir / "f", 0, [&](uv::FsEvent& h, std::string_view, int, boost::system::error_code) {
            ++a_called;
            b.reset();
            h.close();
        }));
    REQUIRE_FALSE(b->start(dir / "f", 0, fail_cb));
    touch_file(dir / "f");
    touch_file(dir / "f");
    REQUIRE(loop.run() == 0);
    REQUIRE(a_called == 1);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsEvent: destroying a started handle, and its loop, leaves nothing behind",
          "[uv][fs_event]") {
    TempDir dir;
    create_file(dir / "f");
    {
        uv::Loop loop;
        {
            uv::FsEvent ev(loop);
            REQUIRE_FALSE(ev.start(dir / "f", 0, fail_cb));
            touch_file(dir / "f");
        } // destroyed open, with an event queued
        REQUIRE(loop.run() == 0);
        // A new handle opens a new descriptor and works.
        int called = 0;
        uv::FsEvent ev2(loop);
        REQUIRE_FALSE(ev2.start(
            dir / "f", 0, [&](uv::FsEvent& h, std::string_view, int, boost::system::error_code) {
                ++called;
                h.close();
            }));
        touch_file(dir / "f");
        REQUIRE(loop.run() == 0);
        REQUIRE(called == 1);
        require_loop_quiescent(loop);
    }
}

TEST_CASE("fs_event_ref: an unreferenced started handle does not keep run() going",
          "[uv][libuv][fs_event]") {
    uv::Loop loop;
    int close_cb_called = 0;
    uv::FsEvent h(loop);
    REQUIRE_FALSE(h.start(".", 0, fail_cb));
    h.unref();
    REQUIRE(loop.run() == 0);
    h.close([&] { ++close_cb_called; });
    REQUIRE(close_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::FsEvent: a handle may destroy itself in its callback; the loop goes on",
          "[uv][fs_event]") {
    TempDir dir;
    create_file(dir / "f");
    uv::Loop loop;
    HangGuard guard(loop);
    int called = 0;
    std::optional<uv::FsEvent> ev(std::in_place, loop);
    REQUIRE_FALSE(ev->start(
        dir / "f", 0, [&](uv::FsEvent&, std::string_view, int, boost::system::error_code) {
            ++called;
            ev.reset();
        }));
    touch_file(dir / "f");
    touch_file(dir / "f");
    REQUIRE(loop.run() == 0);
    REQUIRE(called == 1);
    guard.t.close();
    loop.run();
    require_loop_quiescent(loop);
}
