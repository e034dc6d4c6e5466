// fs::watch: the Stream of inotify events (the futures face of uv::FsEvent).
#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/fs/watch.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"
#include "support/temp_dir.hpp"

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::create_file;
using pollux::test::open_fds;
using pollux::test::TempDir;
using pollux::test::touch_file;

static_assert(Stream<fs::Watcher>);

namespace {

template <class F>
bool poll_once_in(Runtime& rt, F once) {
    return rt.block_on(poll_fn<bool>([&](Context& cx) -> Poll<bool> { return Ready{once(cx)}; }));
}

} // namespace

TEST_CASE("fs::watch: entries created and removed in a directory arrive in order as rename "
          "events naming them",
          "[fs][watch]") {
    TempDir dir;
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto w = fs::watch(dir.path().string());
        REQUIRE(w);
        create_file(dir / "a");
        REQUIRE(std::remove((dir / "a").c_str()) == 0);
        create_file(dir / "b");
        for (const char* expect : {"a", "a", "b"}) {
            auto ev = co_await next(*w);
            REQUIRE(ev);
            REQUIRE(*ev);
            REQUIRE((*ev)->kind == fs::EventKind::rename);
            REQUIRE((*ev)->name == expect);
        }
    }());
}

TEST_CASE("fs::watch: a modified file is a change event named after the file", "[fs][watch]") {
    TempDir dir;
    create_file(dir / "f");
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto w = fs::watch(dir / "f");
        REQUIRE(w);
        touch_file(dir / "f");
        auto ev = co_await next(*w);
        REQUIRE(ev);
        REQUIRE(*ev);
        REQUIRE((*ev)->kind == fs::EventKind::change);
        REQUIRE((*ev)->name == "f");
    }());
}

TEST_CASE("fs::watch: deleting the watched file yields rename, then the stream ends",
          "[fs][watch]") {
    TempDir dir;
    create_file(dir / "f");
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto w = fs::watch(dir / "f");
        REQUIRE(w);
        REQUIRE(std::remove((dir / "f").c_str()) == 0);
        bool saw_rename = false;
        for (;;) {
            auto ev = co_await next(*w);
            if (!ev) {
                break;
            }
            REQUIRE(*ev);
            // IN_ATTRIB (the link count) comes first, then IN_DELETE_SELF.
            if ((*ev)->kind == fs::EventKind::rename) {
                saw_rename = true;
            }
        }
        REQUIRE(saw_rename);
        // Ended streams stay ended.
        auto again = co_await next(*w);
        REQUIRE_FALSE(again);
    }());
}

TEST_CASE("fs::watch: a missing path, an empty path and a NUL byte are errors", "[fs][watch]") {
    TempDir dir;
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto w = fs::watch(dir / "missing");
        REQUIRE_FALSE(w);
        REQUIRE(w.error() == boost::system::errc::no_such_file_or_directory);
        auto e = fs::watch("");
        REQUIRE_FALSE(e);
        REQUIRE(e.error() == boost::system::errc::no_such_file_or_directory);
        auto n = fs::watch(std::string_view("a\0b", 3));
        REQUIRE_FALSE(n);
        REQUIRE(n.error() == boost::system::errc::invalid_argument);
        co_return;
    }());
}

TEST_CASE("fs::watch: a next() future dropped while pending loses no event",
          "[fs][watch][cancel]") {
    TempDir dir;
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto w = fs::watch(dir.path().string());
        REQUIRE(w);
        {
            auto pending = next(*w);
            auto first = co_await poll_fn<bool>(
                [&](Context& cx) -> Poll<bool> { return Ready{pending.poll(cx).is_pending()}; });
            REQUIRE(first);
        } // dropped with its wait armed
        create_file(dir / "x");
        auto ev = co_await next(*w);
        REQUIRE(ev);
        REQUIRE(*ev);
        REQUIRE((*ev)->name == "x");
    }());
}

TEST_CASE("fs::watch: events read in one batch stay buffered for later next() calls",
          "[fs][watch][cancel]") {
    TempDir dir;
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto w = fs::watch(dir.path().string());
        REQUIRE(w);
        for (int i = 0; i < 5; ++i) {
            create_file(dir / ("f" + std::to_string(i)));
        }
        // The first next() reads all five from the kernel at once; a task
        // that reads one and drops its next future loses none of the rest.
        for (int i = 0; i < 5; ++i) {
            auto ev = co_await next(*w);
            REQUIRE(ev);
            REQUIRE(*ev);
            REQUIRE((*ev)->name == "f" + std::to_string(i));
        }
    }());
}

TEST_CASE("fs::watch: outside a task it throws; with an executor it works anywhere",
          "[fs][watch]") {
    TempDir dir;
    REQUIRE_THROWS(fs::watch(dir.path().string()));
    Runtime rt;
    auto w = fs::watch(dir.path().string(), rt.io_context().get_executor());
    REQUIRE(w);
    create_file(dir / "y");
    auto ev = rt.block_on(
        [&]() -> Async<std::optional<Result<fs::Event>>> { co_return co_await next(*w); }());
    REQUIRE(ev);
    REQUIRE(*ev);
    REQUIRE((*ev)->name == "y");
}

TEST_CASE("fs::watch: a Watcher dropped before its Runtime closes its descriptor",
          "[fs][watch][io_lifetime]") {
    TempDir dir;
    const std::size_t before = open_fds();
    {
        Runtime rt;
        std::optional<fs::Watcher> w;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            w.emplace(fs::watch(dir.path().string()).value());
            return w->poll_next(cx).is_pending();
        }));
        w.reset();
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("fs::watch: a Watcher pending in a task is dropped by the Runtime's shutdown",
          "[fs][watch][io_lifetime]") {
    TempDir dir;
    const std::size_t before = open_fds();
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto w = fs::watch(dir.path().string());
            REQUIRE(w);
            (void)spawn([](fs::Watcher w) -> Async<> {
                (void)co_await next(w); // nothing happens in the directory
            }(std::move(*w)));
            co_await time::sleep(1ms); // the task is now parked on next()
        }());
    } // ~Runtime drops the task, and its Watcher, while shutting down
    REQUIRE(open_fds() == before);
}

TEST_CASE("fs::watch: a Watcher dropped after its Runtime closes its descriptor",
          "[fs][watch][io_lifetime]") {
    TempDir dir;
    const std::size_t before = open_fds();
    std::optional<fs::Watcher> w;
    {
        Runtime rt;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            w.emplace(fs::watch(dir.path().string()).value());
            return w->poll_next(cx).is_pending(); // a wait in flight
        }));
    }
    w.reset();
    REQUIRE(open_fds() == before);
}
