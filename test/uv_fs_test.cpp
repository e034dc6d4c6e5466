// pollux::uv::fs beyond libuv's own tests (those are in
// uv_libuv_fs_test.cpp): where callbacks run, cancel, the synchronous form,
// errors, and loop teardown with requests in flight.
#include <pollux/detail/work_pool.hpp>
#include <pollux/uv/fs.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/work.hpp>

#include "support/loop_quiescent.hpp"
#include "support/open_fds.hpp"
#include "support/uv_fs_tmp.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace uv = pollux::uv;
using pollux::Result;
namespace fs = pollux::uv::fs;
using boost::system::error_code;
using boost::system::errc::errc_t;
using pollux::test::FsTmpDir;
using pollux::test::read_whole_file;
using pollux::test::require_loop_quiescent;
using pollux::test::write_whole_file;

namespace {

bool is(const error_code& ec, errc_t e) {
    return ec == boost::system::errc::make_error_condition(e);
}

// Holds the only thread of a loop's pool (set_threadpool_size(1)) until
// release(), so that requests made meanwhile stay queued.
class PoolBlocker {
public:
    explicit PoolBlocker(uv::Loop& loop) {
        REQUIRE_FALSE(loop.set_threadpool_size(1));
        uv::queue_work(
            loop,
            [this] {
                started_.store(true);
                std::unique_lock lock(mu_);
                cv_.wait(lock, [this] { return released_; });
            },
            [this](error_code ec) {
                REQUIRE_FALSE(ec);
                ++after_cb_called;
            });
        while (!started_.load()) {
            std::this_thread::yield();
        }
    }
    void release() {
        {
            std::lock_guard lock(mu_);
            released_ = true;
        }
        cv_.notify_all();
    }
    int after_cb_called = 0;

private:
    std::atomic<bool> started_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    bool released_ = false;
};

} // namespace

TEST_CASE("uv::fs callback runs on the loop thread, not inside the call, and the request keeps "
          "the loop alive",
          "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const auto loop_thread = std::this_thread::get_id();
    int stat_cb_called = 0;
    auto req = fs::stat(loop, tmp.path(), [&](error_code ec, fs::Stat s) {
        REQUIRE_FALSE(ec);
        REQUIRE(S_ISDIR(s.mode));
        REQUIRE(std::this_thread::get_id() == loop_thread);
        ++stat_cb_called;
    });
    REQUIRE(stat_cb_called == 0);
    REQUIRE(loop.alive());
    REQUIRE(loop.active_requests() == 1);
    REQUIRE_FALSE(req.done());
    REQUIRE(loop.run() == 0);
    REQUIRE(stat_cb_called == 1);
    REQUIRE(req.done());
    REQUIRE(is(req.cancel(), errc_t::device_or_resource_busy));
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs cancel of a queued request gives operation_aborted and the call never runs",
          "[uv][fs][cancel]") {
    FsTmpDir tmp;
    uv::Loop loop;
    PoolBlocker blocker(loop);
    const std::string d = tmp / "never_made";
    int mkdir_cb_called = 0;
    auto req = fs::mkdir(loop, d, 0755, [&](error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        ++mkdir_cb_called;
    });
    REQUIRE_FALSE(req.cancel());
    REQUIRE(mkdir_cb_called == 0); // posted, never from inside cancel()
    REQUIRE(is(req.cancel(), errc_t::device_or_resource_busy));
    blocker.release();
    REQUIRE(loop.run() == 0);
    REQUIRE(mkdir_cb_called == 1);
    REQUIRE(blocker.after_cb_called == 1);
    REQUIRE(is(fs::stat(loop, d).error(), errc_t::no_such_file_or_directory));
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs cancel of a request that already ran is device_or_resource_busy and the "
          "callback gets the result",
          "[uv][fs][cancel]") {
    FsTmpDir tmp;
    uv::Loop loop;
    REQUIRE_FALSE(loop.set_threadpool_size(1));
    const std::string d = tmp / "made";
    std::atomic<bool> after{false};
    int mkdir_cb_called = 0;
    auto req = fs::mkdir(loop, d, 0755, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++mkdir_cb_called;
    });
    // One thread, FIFO: once this work ran, the mkdir has finished.
    uv::queue_work(
        loop, [&] { after.store(true); }, [](error_code) {});
    while (!after.load()) {
        std::this_thread::yield();
    }
    REQUIRE(is(req.cancel(), errc_t::device_or_resource_busy));
    REQUIRE(loop.run() == 0);
    REQUIRE(mkdir_cb_called == 1);
    REQUIRE(S_ISDIR(fs::stat(loop, d).value().mode));
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs request refused by a full pool queue gets resource_unavailable_try_again from "
          "the loop",
          "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    PoolBlocker blocker(loop);
    auto& pool = pollux::detail::work_pool(loop.io_context());
    pool.set_max_queued(1); // the least the pool allows
    int queued_cb_called = 0;
    int stat_cb_called = 0;
    fs::stat(loop, tmp.path(), [&](error_code ec, fs::Stat) {
        REQUIRE_FALSE(ec);
        ++queued_cb_called;
    });
    fs::stat(loop, tmp.path(), [&](error_code ec, fs::Stat) {
        REQUIRE(is(ec, errc_t::resource_unavailable_try_again));
        ++stat_cb_called;
    });
    REQUIRE(stat_cb_called == 0); // not inside the call
    pool.set_max_queued(pollux::detail::default_max_queued_work);
    blocker.release();
    REQUIRE(loop.run() == 0);
    REQUIRE(stat_cb_called == 1);
    REQUIRE(queued_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs synchronous forms return at once on the calling thread, any thread", "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "f";
    std::optional<Result<std::size_t>> written;
    std::thread other([&] {
        auto fd = fs::open(loop, file, O_WRONLY | O_CREAT, 0644);
        REQUIRE(fd.has_value());
        written = fs::write(loop, *fd, boost::asio::buffer("hello", 5), -1);
        REQUIRE_FALSE(fs::close(loop, *fd));
    });
    other.join();
    REQUIRE(written->value() == 5);
    REQUIRE(read_whole_file(file) == "hello");
    REQUIRE(loop.active_requests() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs bad paths are clear errors: empty, missing component, a file as a directory",
          "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "file";
    write_whole_file(file, "x");
    REQUIRE(is(fs::open(loop, "", O_RDONLY, 0).error(), errc_t::no_such_file_or_directory));
    REQUIRE(is(fs::stat(loop, tmp / "missing/x").error(), errc_t::no_such_file_or_directory));
    REQUIRE(is(fs::stat(loop, file + "/x").error(), errc_t::not_a_directory));
    REQUIRE(is(fs::mkdir(loop, file, 0755), errc_t::file_exists));
    REQUIRE(is(fs::rmdir(loop, file), errc_t::not_a_directory));
    REQUIRE(is(fs::unlink(loop, tmp.path()), errc_t::is_a_directory));
    REQUIRE(is(fs::close(loop, -1), errc_t::bad_file_descriptor));
    int cb_called = 0;
    fs::unlink(loop, tmp / "missing", [&](error_code ec) {
        REQUIRE(is(ec, errc_t::no_such_file_or_directory));
        ++cb_called;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs open of a directory for writing is is_a_directory", "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    REQUIRE(is(fs::open(loop, tmp.path(), O_WRONLY, 0).error(), errc_t::is_a_directory));
    int open_cb_called = 0;
    fs::open(loop, tmp.path(), O_RDWR, 0, [&](error_code ec, fs::File fd) {
        REQUIRE(is(ec, errc_t::is_a_directory));
        REQUIRE(fd == 0);
        ++open_cb_called;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(open_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs open gives a close-on-exec descriptor", "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    fs::File fd = fs::open(loop, tmp / "f", O_WRONLY | O_CREAT, 0644).value();
    REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    REQUIRE_FALSE(fs::close(loop, fd));
    auto dir = fs::opendir(loop, tmp.path()).value();
    REQUIRE_FALSE(fs::closedir(loop, dir));
    REQUIRE(is(fs::closedir(loop, dir), errc_t::bad_file_descriptor));
    REQUIRE(is(fs::readdir(loop, dir, 1).error(), errc_t::bad_file_descriptor));
    REQUIRE(is(fs::readdir(loop, fs::Dir(), 1).error(), errc_t::invalid_argument));
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs read with an advancing offset from callbacks reads a file to its end (the "
          "tail_follow shape)",
          "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "log";
    std::string data;
    for (int i = 0; i < 1000; ++i) {
        data += "line " + std::to_string(i) + "\n";
    }
    write_whole_file(file, data);
    std::string got;
    std::int64_t offset = 0;
    std::array<char, 1000> buf{};
    int read_cb_called = 0;
    std::function<void(fs::File)> read_more = [&](fs::File fd) {
        fs::read(loop, fd, boost::asio::buffer(buf), offset, [&, fd](error_code ec, std::size_t n) {
            REQUIRE_FALSE(ec);
            ++read_cb_called;
            if (n == 0) {
                fs::close(loop, fd, [](error_code ec) { REQUIRE_FALSE(ec); });
                return;
            }
            got.append(buf.data(), n);
            offset += static_cast<std::int64_t>(n);
            read_more(fd);
        });
    };
    fs::open(loop, file, O_RDONLY, 0, [&](error_code ec, fs::File fd) {
        REQUIRE_FALSE(ec);
        read_more(fd);
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(got == data);
    REQUIRE(read_cb_called == static_cast<int>((data.size() + buf.size() - 1) / buf.size()) + 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs Dir dropped by the caller while a readdir is in flight stays valid for it",
          "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    write_whole_file(tmp / "a", "");
    int readdir_cb_called = 0;
    {
        fs::Dir dir = fs::opendir(loop, tmp.path()).value();
        fs::readdir(loop, dir, 8, [&](error_code ec, std::vector<fs::Dirent> entries) {
            REQUIRE_FALSE(ec);
            REQUIRE(entries.size() == 1);
            REQUIRE(entries[0].name == "a");
            ++readdir_cb_called;
        });
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(readdir_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::fs loop destroyed with requests queued: writes still run, reads are dropped, no "
          "callback runs",
          "[uv][fs][teardown]") {
    FsTmpDir tmp;
    const std::string file = tmp / "f";
    write_whole_file(file, "old");
    const std::string src = "written at teardown";
    std::array<char, 16> buf{};
    int write_cb_called = 0;
    int read_cb_called = 0;
    auto loop = std::make_unique<uv::Loop>();
    fs::File fd = fs::open(*loop, file, O_RDWR, 0).value();
    std::thread releaser;
    {
        PoolBlocker blocker(*loop);
        fs::write(*loop, fd, boost::asio::buffer(src), 0, [&](error_code, std::size_t) {
            ++write_cb_called;
        });
        fs::read(*loop, fd, boost::asio::buffer(buf), 0, [&](error_code, std::size_t) {
            ++read_cb_called;
        });
        // Release the pool's thread only once ~Loop has begun shutting the
        // pool down: then a submit is refused (pollux/detail/work_pool.hpp).
        auto& pool = pollux::detail::work_pool(loop->io_context());
        releaser = std::thread([&pool, &blocker] {
            for (;;) {
                if (!pool.submit(std::make_unique<pollux::detail::FnWorkJob<void (*)()>>(+[] {}),
                                 pollux::detail::WorkKind::abandonable)) {
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            blocker.release();
        });
        loop.reset();
        releaser.join();
        REQUIRE(blocker.after_cb_called == 0);
    }
    REQUIRE(write_cb_called == 0);
    REQUIRE(read_cb_called == 0);
    // The mandatory write ran; the abandonable read did not touch buf.
    REQUIRE(read_whole_file(file) == src);
    REQUIRE(buf == std::array<char, 16>{});
    REQUIRE(::close(fd) == 0);
}

TEST_CASE("uv::fs loop destroyed after an open ran but before its callback: the descriptor is "
          "closed",
          "[uv][fs][teardown]") {
    FsTmpDir tmp;
    const std::string file = tmp / "f";
    write_whole_file(file, "x");
    const std::size_t fds_before = pollux::test::open_fds();
    int open_cb_called = 0;
    {
        uv::Loop loop;
        REQUIRE_FALSE(loop.set_threadpool_size(1));
        // Warm up: whatever the loop and its pool open for themselves is
        // open from here on.
        fs::stat(loop, file, [](error_code, fs::Stat) {});
        REQUIRE(loop.run() == 0);
        const std::size_t fds_loop = pollux::test::open_fds();
        std::atomic<bool> after{false};
        fs::open(loop, file, O_RDONLY, 0, [&](error_code, fs::File) { ++open_cb_called; });
        fs::mkstemp(loop, tmp / "tmp_XXXXXX", [&](error_code, fs::TempFile) { ++open_cb_called; });
        fs::opendir(loop, tmp.path(), [&](error_code, fs::Dir) { ++open_cb_called; });
        // One thread, FIFO: once this ran, the three calls above have.
        uv::queue_work(
            loop, [&] { after.store(true); }, [](error_code) {});
        while (!after.load()) {
            std::this_thread::yield();
        }
        REQUIRE(pollux::test::open_fds() == fds_loop + 3);
    }
    REQUIRE(open_cb_called == 0);
    REQUIRE(pollux::test::open_fds() == fds_before);
}

TEST_CASE("uv::fs request in flight on a shared io_context when the loop goes: its callback "
          "never runs",
          "[uv][fs][teardown]") {
    FsTmpDir tmp;
    boost::asio::io_context io;
    int stat_cb_called = 0;
    {
        uv::Loop loop(io);
        fs::stat(loop, tmp.path(), [&](error_code, fs::Stat) { ++stat_cb_called; });
        while (pollux::detail::work_pool(io).metrics().completed == 0) {
            std::this_thread::yield();
        }
    }
    // The stat ran and its completion is queued on `io`; run there, it
    // finds the loop gone (it holds it weakly) and calls nothing.
    REQUIRE(io.run() == 1);
    REQUIRE(stat_cb_called == 0);
}

TEST_CASE("uv::fs stat, lstat and fstat: birthtim is statx's birth time, or ctim where the file "
          "system records none",
          "[uv][fs]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp.path() + "/f";
    write_whole_file(file, "x");
    // A file on $TMPDIR (a birth time on most file systems) and one on
    // procfs, which records none.
    for (const std::string& path : {file, std::string("/proc/version")}) {
        INFO(path);
        struct ::statx stx {};
        REQUIRE(::statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS | STATX_BTIME, &stx) == 0);
        const auto expect = [&](const fs::Stat& s) {
            if ((stx.stx_mask & STATX_BTIME) != 0) {
                REQUIRE(s.birthtim ==
                        uv::Timespec{static_cast<std::int64_t>(stx.stx_btime.tv_sec),
                                     static_cast<std::int64_t>(stx.stx_btime.tv_nsec)});
            } else {
                REQUIRE(s.ctim.sec != 0);
                REQUIRE(s.birthtim == s.ctim);
            }
        };
        expect(fs::stat(loop, path).value());
        expect(fs::lstat(loop, path).value());
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        expect(fs::fstat(loop, fd).value());
        ::close(fd);
    }
    require_loop_quiescent(loop);
}
