// libuv 1.44's file system request tests (test-fs.c, test-fs-copyfile.c,
// test-fs-readdir.c, and threadpool_cancel_fs of test-threadpool-cancel.c),
// ported to pollux::uv::fs. Each test works in a scratch directory of its
// own (libuv's work in the current directory). libuv's sync form is
// uv_fs_*(NULL, &req, ..., NULL); ours is the call without the callback.
// docs/callbacks.md, "test-fs.c", maps each libuv test to its case here.
#include <pollux/uv/fs.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/signal.hpp>
#include <pollux/uv/work.hpp>

#include "support/loop_quiescent.hpp"
#include "support/uv_fs_tmp.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <set>
#include <signal.h>
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

// libuv's test_buf and test_buf2, with their terminating NULs.
constexpr char test_buf[] = "test-buffer\n";
constexpr char test_buf2[] = "second-buffer\n";

bool is(const error_code& ec, errc_t e) {
    return ec == boost::system::errc::make_error_condition(e);
}

boost::asio::const_buffer cbuf(const char (&s)[13]) {
    return {s, sizeof(s)};
}

fs::File create(uv::Loop& loop, const std::string& path, int flags = O_WRONLY | O_CREAT) {
    auto fd = fs::open(loop, path, flags, S_IWUSR | S_IRUSR);
    REQUIRE(fd.has_value());
    return *fd;
}

// libuv's check_utime: the stat times as doubles equal what was set (the
// file systems here keep nanoseconds).
void check_utime(uv::Loop& loop, const std::string& path, double atime, double mtime, bool lstat) {
    auto s = lstat ? fs::lstat(loop, path) : fs::stat(loop, path);
    REQUIRE(s.has_value());
    REQUIRE(s->atim.nsec >= 0);
    REQUIRE(s->mtim.nsec >= 0);
    const double st_atim =
        static_cast<double>(s->atim.sec) + static_cast<double>(s->atim.nsec) / 1e9;
    const double st_mtim =
        static_cast<double>(s->mtim.sec) + static_cast<double>(s->mtim.nsec) / 1e9;
    if (!lstat) {
        REQUIRE(st_atim == atime);
    }
    REQUIRE(st_mtim == mtime);
}

} // namespace

TEST_CASE("fs_file_noent: opening a missing file is no_such_file_or_directory, sync and async",
          "[uv][fs][libuv]") {
    FsTmpDir dir;
    uv::Loop loop;
    auto r = fs::open(loop, dir / "does_not_exist", O_RDONLY, 0);
    REQUIRE(is(r.error(), errc_t::no_such_file_or_directory));
    int open_cb_count = 0;
    fs::open(loop, dir / "does_not_exist", O_RDONLY, 0, [&](error_code ec, fs::File fd) {
        REQUIRE(is(ec, errc_t::no_such_file_or_directory));
        REQUIRE(fd == 0);
        ++open_cb_count;
    });
    REQUIRE(open_cb_count == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(open_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_nametoolong: a too long name is filename_too_long, sync and async",
          "[uv][fs][libuv]") {
    FsTmpDir dir;
    uv::Loop loop;
    const std::string name = dir / std::string(NAME_MAX + 1, 'a');
    REQUIRE(is(fs::open(loop, name, O_RDONLY, 0).error(), errc_t::filename_too_long));
    int open_cb_count = 0;
    fs::open(loop, name, O_RDONLY, 0, [&](error_code ec, fs::File) {
        REQUIRE(is(ec, errc_t::filename_too_long));
        ++open_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(open_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_loop: a symlink to itself is too_many_symbolic_link_levels", "[uv][fs][libuv]") {
    FsTmpDir dir;
    uv::Loop loop;
    const std::string link = dir / "test_symlink";
    REQUIRE_FALSE(fs::symlink(loop, link, link));
    REQUIRE(is(fs::open(loop, link, O_RDONLY, 0).error(), errc_t::too_many_symbolic_link_levels));
    int open_cb_count = 0;
    fs::open(loop, link, O_RDONLY, 0, [&](error_code ec, fs::File) {
        REQUIRE(is(ec, errc_t::too_many_symbolic_link_levels));
        ++open_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(open_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_async: create, write, fsync, fdatasync, close, rename, read, ftruncate, unlink "
          "from callbacks",
          "[uv][fs][libuv]") {
    FsTmpDir dir;
    uv::Loop loop;
    const std::string file = dir / "test_file";
    const std::string file2 = dir / "test_file2";
    int create_cb_count = 0, write_cb_count = 0, fsync_cb_count = 0, fdatasync_cb_count = 0,
        close_cb_count = 0, rename_cb_count = 0, open_cb_count = 0, read_cb_count = 0,
        ftruncate_cb_count = 0, unlink_cb_count = 0;

    // Step 1: create -> write -> fsync -> fdatasync -> close.
    fs::open(loop, file, O_WRONLY | O_CREAT, S_IRUSR | S_IWUSR, [&](error_code ec, fs::File fd) {
        REQUIRE_FALSE(ec);
        ++create_cb_count;
        fs::write(loop, fd, cbuf(test_buf), -1, [&, fd](error_code ec, std::size_t n) {
            REQUIRE_FALSE(ec);
            REQUIRE(n == sizeof(test_buf));
            ++write_cb_count;
            fs::fsync(loop, fd, [&, fd](error_code ec) {
                REQUIRE_FALSE(ec);
                ++fsync_cb_count;
                fs::fdatasync(loop, fd, [&, fd](error_code ec) {
                    REQUIRE_FALSE(ec);
                    ++fdatasync_cb_count;
                    fs::close(loop, fd, [&](error_code ec) {
                        REQUIRE_FALSE(ec);
                        ++close_cb_count;
                    });
                });
            });
        });
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(create_cb_count == 1);
    REQUIRE(write_cb_count == 1);
    REQUIRE(fsync_cb_count == 1);
    REQUIRE(fdatasync_cb_count == 1);
    REQUIRE(close_cb_count == 1);

    // Step 2: rename.
    fs::rename(loop, file, file2, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++rename_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(rename_cb_count == 1);

    // Step 3: open -> read -> ftruncate(7) -> close.
    std::array<char, 32> buf{};
    fs::open(loop, file2, O_RDWR, 0, [&](error_code ec, fs::File fd) {
        REQUIRE_FALSE(ec);
        ++open_cb_count;
        fs::read(loop, fd, boost::asio::buffer(buf), -1, [&, fd](error_code ec, std::size_t n) {
            REQUIRE_FALSE(ec);
            REQUIRE(n == sizeof(test_buf));
            REQUIRE(std::strcmp(buf.data(), test_buf) == 0);
            ++read_cb_count;
            fs::ftruncate(loop, fd, 7, [&, fd](error_code ec) {
                REQUIRE_FALSE(ec);
                ++ftruncate_cb_count;
                fs::close(loop, fd, [&](error_code ec) {
                    REQUIRE_FALSE(ec);
                    ++close_cb_count;
                });
            });
        });
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(open_cb_count == 1);
    REQUIRE(read_cb_count == 1);
    REQUIRE(ftruncate_cb_count == 1);
    REQUIRE(close_cb_count == 2);

    // Step 4: open read-only -> read "test-bu" -> unlink -> close.
    buf.fill(0);
    fs::open(loop, file2, O_RDONLY, 0, [&](error_code ec, fs::File fd) {
        REQUIRE_FALSE(ec);
        ++open_cb_count;
        fs::read(loop, fd, boost::asio::buffer(buf), -1, [&, fd](error_code ec, std::size_t n) {
            REQUIRE_FALSE(ec);
            REQUIRE(n == 7);
            REQUIRE(std::string(buf.data()) == "test-bu");
            ++read_cb_count;
            fs::unlink(loop, file2, [&, fd](error_code ec) {
                REQUIRE_FALSE(ec);
                ++unlink_cb_count;
                fs::close(loop, fd, [&](error_code ec) {
                    REQUIRE_FALSE(ec);
                    ++close_cb_count;
                });
            });
        });
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(open_cb_count == 2);
    REQUIRE(read_cb_count == 2);
    REQUIRE(unlink_cb_count == 1);
    REQUIRE(close_cb_count == 3);
    REQUIRE(is(fs::stat(loop, file2).error(), errc_t::no_such_file_or_directory));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_sync: the same sequence with the synchronous forms", "[uv][fs][libuv]") {
    FsTmpDir dir;
    uv::Loop loop;
    const std::string file = dir / "test_file";
    const std::string file2 = dir / "test_file2";
    fs::File fd = create(loop, file);
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, fd));

    fd = fs::open(loop, file, O_RDWR, 0).value();
    std::array<char, 32> buf{};
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(buf), -1).value() == sizeof(test_buf));
    REQUIRE(std::strcmp(buf.data(), test_buf) == 0);
    REQUIRE_FALSE(fs::ftruncate(loop, fd, 7));
    REQUIRE_FALSE(fs::close(loop, fd));

    REQUIRE_FALSE(fs::rename(loop, file, file2));
    fd = fs::open(loop, file2, O_RDONLY, 0).value();
    buf.fill(0);
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(buf), -1).value() == 7);
    REQUIRE(std::string(buf.data()) == "test-bu");
    REQUIRE_FALSE(fs::close(loop, fd));
    REQUIRE_FALSE(fs::unlink(loop, file2));
    // The synchronous forms never touch the loop.
    REQUIRE(loop.active_requests() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_write_null_buffer: writing one empty buffer writes 0 bytes", "[uv][fs][libuv]") {
    FsTmpDir dir;
    uv::Loop loop;
    fs::File fd = create(loop, dir / "test_file");
    REQUIRE(fs::write(loop, fd, boost::asio::const_buffer(), -1).value() == 0);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_async_dir: mkdir, scandir, stat and lstat of a directory, unlink, rmdir",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string d = tmp / "test_dir";
    int mkdir_cb_count = 0, scandir_cb_count = 0, stat_cb_count = 0, unlink_cb_count = 0,
        rmdir_cb_count = 0;
    fs::mkdir(loop, d, 0755, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++mkdir_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(mkdir_cb_count == 1);

    REQUIRE_FALSE(fs::close(loop, create(loop, d + "/file1")));
    REQUIRE_FALSE(fs::close(loop, create(loop, d + "/file2")));

    fs::scandir(loop, d, [&](error_code ec, std::vector<fs::Dirent> entries) {
        REQUIRE_FALSE(ec);
        REQUIRE(entries.size() == 2);
        REQUIRE(entries[0].name == "file1");
        REQUIRE(entries[1].name == "file2");
        REQUIRE(entries[0].type == fs::DirentType::file);
        ++scandir_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(scandir_cb_count == 1);
    auto entries = fs::scandir(loop, d);
    REQUIRE(entries.has_value());
    REQUIRE(entries->size() == 2);

    auto stat_cb = [&](error_code ec, fs::Stat s) {
        REQUIRE_FALSE(ec);
        REQUIRE(S_ISDIR(s.mode));
        ++stat_cb_count;
    };
    fs::stat(loop, d, stat_cb);
    fs::stat(loop, d + "/", stat_cb);
    fs::lstat(loop, d, stat_cb);
    fs::lstat(loop, d + "/", stat_cb);
    REQUIRE(loop.run() == 0);
    REQUIRE(stat_cb_count == 4);

    auto unlink_cb = [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++unlink_cb_count;
    };
    fs::unlink(loop, d + "/file1", unlink_cb);
    REQUIRE(loop.run() == 0);
    REQUIRE(unlink_cb_count == 1);
    fs::unlink(loop, d + "/file2", unlink_cb);
    REQUIRE(loop.run() == 0);
    REQUIRE(unlink_cb_count == 2);
    fs::rmdir(loop, d, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++rmdir_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(rmdir_cb_count == 1);
    require_loop_quiescent(loop);
}

namespace {

// libuv's test_sendfile: send from offset 1 up to 131072 bytes of
// test_file into test_file2 (created empty).
void test_sendfile(bool with_data) {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string f1 = tmp / "test_file";
    const std::string f2 = tmp / "test_file2";
    {
        fs::File f = create(loop, f1);
        if (with_data) {
            // sendfile_setup: "begin\n", a 64 KiB hole, "end\n".
            REQUIRE(::write(f, "begin\n", 6) == 6);
            REQUIRE(::lseek(f, 65536, SEEK_CUR) == 65542);
            REQUIRE(::write(f, "end\n", 4) == 4);
        }
        REQUIRE_FALSE(fs::close(loop, f));
    }
    fs::File in = fs::open(loop, f1, O_RDWR, 0).value();
    fs::File out = create(loop, f2);
    int sendfile_cb_count = 0;
    const std::size_t expected = with_data ? 65545 : 0;
    fs::sendfile(loop, out, in, 1, 131072, [&](error_code ec, std::size_t n) {
        REQUIRE_FALSE(ec);
        REQUIRE(n == expected);
        ++sendfile_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(sendfile_cb_count == 1);
    REQUIRE_FALSE(fs::close(loop, in));
    REQUIRE_FALSE(fs::close(loop, out));
    auto s1 = fs::stat(loop, f1).value();
    auto s2 = fs::stat(loop, f2).value();
    REQUIRE(s2.size == expected);
    if (with_data) {
        REQUIRE(s1.size == s2.size + 1);
        REQUIRE(read_whole_file(f2).front() == 'e'); // "egin\n"
    } else {
        REQUIRE(s1.size == s2.size);
    }
    require_loop_quiescent(loop);
}

} // namespace

TEST_CASE("fs_async_sendfile: sendfile from an offset copies the rest of the file, hole included",
          "[uv][fs][libuv]") {
    test_sendfile(true);
}

TEST_CASE("fs_async_sendfile_nodata: sendfile of an empty file copies 0 bytes", "[uv][fs][libuv]") {
    test_sendfile(false);
}

TEST_CASE("fs_mkdtemp: makes a new directory from the template each time", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string tpl = tmp / "test_dir_XXXXXX";
    std::string path1;
    int mkdtemp_cb_count = 0;
    fs::mkdtemp(loop, tpl, [&](error_code ec, std::string path) {
        REQUIRE_FALSE(ec);
        REQUIRE(path.size() == tpl.size());
        REQUIRE(path.substr(0, path.size() - 6) == tpl.substr(0, tpl.size() - 6));
        REQUIRE(path != tpl);
        REQUIRE(S_ISDIR(fs::stat(loop, path).value().mode));
        path1 = path;
        ++mkdtemp_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(mkdtemp_cb_count == 1);
    auto path2 = fs::mkdtemp(loop, tpl);
    REQUIRE(path2.has_value());
    REQUIRE(*path2 != path1);
    REQUIRE(S_ISDIR(fs::stat(loop, *path2).value().mode));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_mkstemp: makes and opens a new file from the template; a bad template is "
          "invalid_argument",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string tpl = tmp / "test_file_XXXXXX";
    fs::TempFile t1;
    int mkstemp_cb_count = 0;
    fs::mkstemp(loop, tpl, [&](error_code ec, fs::TempFile t) {
        REQUIRE_FALSE(ec);
        REQUIRE(t.fd >= 0);
        REQUIRE(t.path.size() == tpl.size());
        REQUIRE(t.path != tpl);
        t1 = t;
        ++mkstemp_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(mkstemp_cb_count == 1);
    auto t2 = fs::mkstemp(loop, tpl);
    REQUIRE(t2.has_value());
    REQUIRE(t2->path != t1.path);
    REQUIRE(is(fs::mkstemp(loop, tmp / "test_file").error(), errc_t::invalid_argument));
    // Descriptors made by the library are close-on-exec.
    REQUIRE((::fcntl(t1.fd, F_GETFD) & FD_CLOEXEC) != 0);

    REQUIRE(fs::write(loop, t1.fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, t1.fd));
    REQUIRE_FALSE(fs::close(loop, t2->fd));
    fs::File fd = fs::open(loop, t1.path, O_RDONLY, 0).value();
    std::array<char, 32> buf{};
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(buf), -1).value() == sizeof(test_buf));
    REQUIRE(std::strcmp(buf.data(), test_buf) == 0);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_fstat: fstat agrees with fstat(2) field for field, sync and async",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    fs::File fd = create(loop, tmp / "test_file", O_RDWR | O_CREAT);
    auto s0 = fs::fstat(loop, fd);
    REQUIRE(s0.has_value());
    REQUIRE(s0->size == 0);
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    auto s = fs::fstat(loop, fd).value();
    struct stat t {};
    REQUIRE(::fstat(fd, &t) == 0);
    REQUIRE(s.size == sizeof(test_buf));
    REQUIRE(s.dev == t.st_dev);
    REQUIRE(s.mode == t.st_mode);
    REQUIRE(s.nlink == t.st_nlink);
    REQUIRE(s.uid == t.st_uid);
    REQUIRE(s.gid == t.st_gid);
    REQUIRE(s.rdev == t.st_rdev);
    REQUIRE(s.ino == t.st_ino);
    REQUIRE(s.size == static_cast<std::uint64_t>(t.st_size));
    REQUIRE(s.blksize == static_cast<std::uint64_t>(t.st_blksize));
    REQUIRE(s.blocks == static_cast<std::uint64_t>(t.st_blocks));
    REQUIRE(s.atim.sec == t.st_atim.tv_sec);
    REQUIRE(s.atim.nsec == t.st_atim.tv_nsec);
    REQUIRE(s.mtim.sec == t.st_mtim.tv_sec);
    REQUIRE(s.mtim.nsec == t.st_mtim.tv_nsec);
    REQUIRE(s.ctim.sec == t.st_ctim.tv_sec);
    REQUIRE(s.ctim.nsec == t.st_ctim.tv_nsec);
    REQUIRE(s.flags == 0);
    REQUIRE(s.gen == 0);
    int fstat_cb_count = 0;
    fs::fstat(loop, fd, [&](error_code ec, fs::Stat st) {
        REQUIRE_FALSE(ec);
        REQUIRE(st.size == sizeof(test_buf));
        ++fstat_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(fstat_cb_count == 1);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_access: fails for a missing file and succeeds for an existing one and a writable "
          "directory",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    REQUIRE(is(fs::access(loop, file, F_OK), errc_t::no_such_file_or_directory));
    int access_cb_count = 0;
    fs::access(loop, file, F_OK, [&](error_code ec) {
        REQUIRE(is(ec, errc_t::no_such_file_or_directory));
        ++access_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(access_cb_count == 1);

    fs::File fd = create(loop, file, O_RDWR | O_CREAT);
    REQUIRE_FALSE(fs::access(loop, file, F_OK));
    fs::access(loop, file, F_OK, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++access_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(access_cb_count == 2);
    REQUIRE_FALSE(fs::close(loop, fd));

    REQUIRE_FALSE(fs::mkdir(loop, tmp / "test_dir", 0777));
    REQUIRE_FALSE(fs::access(loop, tmp / "test_dir", W_OK));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_chmod: chmod and fchmod set the permission bits, sync and async", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = create(loop, file, O_RDWR | O_CREAT);
    auto perm = [&] { return fs::stat(loop, file).value().mode & 0777; };
    REQUIRE_FALSE(fs::chmod(loop, file, 0200));
    REQUIRE(perm() == 0200);
    REQUIRE_FALSE(fs::chmod(loop, file, 0400));
    REQUIRE(perm() == 0400);
    REQUIRE_FALSE(fs::fchmod(loop, fd, 0600));
    REQUIRE(perm() == 0600);

    int chmod_cb_count = 0, fchmod_cb_count = 0;
    fs::chmod(loop, file, 0200, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(perm() == 0200);
        ++chmod_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(chmod_cb_count == 1);
    fs::chmod(loop, file, 0400, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(perm() == 0400);
        ++chmod_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(chmod_cb_count == 2);
    fs::fchmod(loop, fd, 0600, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(perm() == 0600);
        ++fchmod_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(fchmod_cb_count == 1);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_unlink_readonly: a read-only file can be unlinked", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = create(loop, file, O_RDWR | O_CREAT);
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, fd));
    REQUIRE_FALSE(fs::chmod(loop, file, 0400));
    REQUIRE_FALSE(fs::unlink(loop, file));
    REQUIRE(is(fs::stat(loop, file).error(), errc_t::no_such_file_or_directory));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_chown: chown, fchown and lchown with -1 keep the ids; chown to root needs root",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = create(loop, file, O_RDWR | O_CREAT);
    const auto keep_uid = static_cast<uid_t>(-1);
    const auto keep_gid = static_cast<gid_t>(-1);
    REQUIRE_FALSE(fs::chown(loop, file, keep_uid, keep_gid));
    REQUIRE_FALSE(fs::fchown(loop, fd, keep_uid, keep_gid));
    int chown_cb_count = 0, fchown_cb_count = 0, lchown_cb_count = 0;
    fs::chown(loop, file, keep_uid, keep_gid, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++chown_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(chown_cb_count == 1);
    fs::chown(loop, file, 0, 0, [&](error_code ec) {
        // libuv's chown_root_cb: allowed for root, EPERM for others.
        if (::geteuid() == 0) {
            REQUIRE_FALSE(ec);
        } else {
            REQUIRE(is(ec, errc_t::operation_not_permitted));
        }
        ++chown_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(chown_cb_count == 2);
    fs::fchown(loop, fd, keep_uid, keep_gid, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++fchown_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(fchown_cb_count == 1);
    REQUIRE_FALSE(fs::link(loop, file, tmp / "test_file_link"));
    REQUIRE_FALSE(fs::lchown(loop, tmp / "test_file_link", keep_uid, keep_gid));
    fs::lchown(loop, tmp / "test_file_link", keep_uid, keep_gid, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++lchown_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(lchown_cb_count == 1);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_link: a hard link reads the same contents, sync and async", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = create(loop, file, O_RDWR | O_CREAT);
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, fd));
    REQUIRE_FALSE(fs::link(loop, file, tmp / "test_file_link"));
    REQUIRE(read_whole_file(tmp / "test_file_link") == std::string(test_buf, sizeof(test_buf)));
    int link_cb_count = 0;
    fs::link(loop, file, tmp / "test_file_link2", [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++link_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(link_cb_count == 1);
    fd = fs::open(loop, tmp / "test_file_link2", O_RDWR, 0).value();
    std::array<char, 32> buf{};
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(buf), 0).value() == sizeof(test_buf));
    REQUIRE(std::strcmp(buf.data(), test_buf) == 0);
    REQUIRE_FALSE(fs::close(loop, fd));
    REQUIRE(fs::stat(loop, file).value().nlink == 3);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_readlink: a missing link is no_such_file_or_directory, sync and async",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    int dummy_cb_count = 0;
    fs::readlink(loop, tmp / "no_such_file", [&](error_code ec, std::string target) {
        REQUIRE(is(ec, errc_t::no_such_file_or_directory));
        REQUIRE(target.empty());
        ++dummy_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(dummy_cb_count == 1);
    REQUIRE(
        is(fs::readlink(loop, tmp / "no_such_file").error(), errc_t::no_such_file_or_directory));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_realpath: a missing path is no_such_file_or_directory, sync and async",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    int dummy_cb_count = 0;
    fs::realpath(loop, tmp / "no_such_file", [&](error_code ec, std::string path) {
        REQUIRE(is(ec, errc_t::no_such_file_or_directory));
        REQUIRE(path.empty());
        ++dummy_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(dummy_cb_count == 1);
    REQUIRE(
        is(fs::realpath(loop, tmp / "no_such_file").error(), errc_t::no_such_file_or_directory));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_symlink: symlinks to a file and to a symlink read through; readlink and realpath "
          "resolve them",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = create(loop, file, O_RDWR | O_CREAT);
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, fd));
    const std::string contents(test_buf, sizeof(test_buf));

    REQUIRE_FALSE(fs::symlink(loop, "test_file", tmp / "test_file_symlink"));
    REQUIRE(read_whole_file(tmp / "test_file_symlink") == contents);
    REQUIRE_FALSE(fs::symlink(loop, "test_file_symlink", tmp / "test_file_symlink_symlink"));
    REQUIRE(fs::readlink(loop, tmp / "test_file_symlink_symlink").value() == "test_file_symlink");
    const std::string file_abs = fs::realpath(loop, file).value();
    REQUIRE(fs::realpath(loop, tmp / "test_file_symlink_symlink").value() == file_abs);

    int symlink_cb_count = 0, readlink_cb_count = 0, realpath_cb_count = 0;
    fs::symlink(loop, "test_file", tmp / "test_file_symlink2", [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++symlink_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(symlink_cb_count == 1);
    REQUIRE(read_whole_file(tmp / "test_file_symlink2") == contents);
    REQUIRE_FALSE(fs::symlink(loop, "test_file_symlink2", tmp / "test_file_symlink2_symlink"));
    fs::readlink(loop, tmp / "test_file_symlink2_symlink", [&](error_code ec, std::string t) {
        REQUIRE_FALSE(ec);
        REQUIRE(t == "test_file_symlink2");
        ++readlink_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(readlink_cb_count == 1);
    fs::realpath(loop, file, [&](error_code ec, std::string p) {
        REQUIRE_FALSE(ec);
        REQUIRE(p == file_abs);
        REQUIRE(p.front() == '/');
        ++realpath_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(realpath_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_symlink_dir: a symlink to a directory stats as one, lstats as a link, and scans "
          "its entries",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string d = tmp / "test_dir";
    const std::string link = tmp / "test_dir_symlink";
    REQUIRE_FALSE(fs::mkdir(loop, d, 0777));
    REQUIRE_FALSE(fs::symlink(loop, d, link));
    REQUIRE(S_ISDIR(fs::stat(loop, link).value().mode));
    const fs::Stat ls = fs::lstat(loop, link).value();
    REQUIRE(S_ISLNK(ls.mode));
    REQUIRE(ls.size == d.size());
    REQUIRE(fs::readlink(loop, link).value() == d);
    REQUIRE(fs::realpath(loop, link).value() == fs::realpath(loop, d).value());
    REQUIRE_FALSE(fs::close(loop, create(loop, d + "/file1")));
    REQUIRE_FALSE(fs::close(loop, create(loop, d + "/file2")));
    auto entries = fs::scandir(loop, link).value();
    REQUIRE(entries.size() == 2);
    REQUIRE(entries[0].name == "file1");
    REQUIRE(entries[1].name == "file2");
    REQUIRE_FALSE(fs::unlink(loop, link));
    REQUIRE(is(fs::scandir(loop, link).error(), errc_t::no_such_file_or_directory));
    REQUIRE(fs::scandir(loop, d).value().size() == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_utime: utime sets the times with their fraction, sync and async", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string path = tmp / "test_file";
    REQUIRE_FALSE(fs::close(loop, create(loop, path, O_RDWR | O_CREAT)));
    double t = 400497753.25; // 1982-09-10 11:22:33.25
    REQUIRE_FALSE(fs::utime(loop, path, t, t));
    check_utime(loop, path, t, t, false);
    t = 1291404900.25; // 2010-12-03 20:35:00.25
    int utime_cb_count = 0;
    fs::utime(loop, path, t, t, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        check_utime(loop, path, t, t, false);
        ++utime_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(utime_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_utime_round: a time before the epoch with a fraction is kept", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string path = tmp / "test_file";
    REQUIRE_FALSE(fs::close(loop, create(loop, path, O_RDWR | O_CREAT)));
    const double t = -14245440.25; // 1969-07-20T02:56:00.25Z
    REQUIRE_FALSE(fs::utime(loop, path, t, t));
    check_utime(loop, path, t, t, false);
    const auto s = fs::stat(loop, path).value();
    REQUIRE(s.mtim.sec == -14245441);
    REQUIRE(s.mtim.nsec == 750000000);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_futime: futime sets an open file's times, sync and async", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string path = tmp / "test_file";
    REQUIRE_FALSE(fs::close(loop, create(loop, path, O_RDWR | O_CREAT)));
    fs::File fd = fs::open(loop, path, O_RDWR, 0).value();
    double t = 400497753.25;
    REQUIRE_FALSE(fs::futime(loop, fd, t, t));
    check_utime(loop, path, t, t, false);
    t = 1291404900;
    int futime_cb_count = 0;
    fs::futime(loop, fd, t, t, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        check_utime(loop, path, t, t, false);
        ++futime_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(futime_cb_count == 1);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_lutime: lutime sets a symlink's own times, not its target's", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string path = tmp / "test_file";
    const std::string link = tmp / "test_file_symlink";
    REQUIRE_FALSE(fs::close(loop, create(loop, path, O_RDWR | O_CREAT)));
    REQUIRE_FALSE(fs::symlink(loop, path, link));
    const auto target_before = fs::stat(loop, path).value().mtim;
    double t = 400497753.25;
    REQUIRE_FALSE(fs::lutime(loop, link, t, t));
    check_utime(loop, link, t, t, true);
    REQUIRE(fs::stat(loop, path).value().mtim == target_before);
    t = 1291404900;
    int lutime_cb_count = 0;
    fs::lutime(loop, link, t, t, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        check_utime(loop, link, t, t, true);
        ++lutime_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(lutime_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_stat_missing_path: stat of a missing path is no_such_file_or_directory",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    REQUIRE(
        is(fs::stat(loop, tmp / "non_existent_file").error(), errc_t::no_such_file_or_directory));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_scandir_empty_dir: an empty directory has no entries, sync and async",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string d = tmp / "scandir_empty_dir";
    REQUIRE_FALSE(fs::mkdir(loop, d, 0777));
    REQUIRE(fs::scandir(loop, d).value().empty());
    int scandir_cb_count = 0;
    fs::scandir(loop, d, [&](error_code ec, std::vector<fs::Dirent> entries) {
        REQUIRE_FALSE(ec);
        REQUIRE(entries.empty());
        ++scandir_cb_count;
    });
    REQUIRE(scandir_cb_count == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(scandir_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_scandir_non_existent_dir: scandir of a missing directory is "
          "no_such_file_or_directory",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string d = tmp / "scandir_non_existent_dir";
    REQUIRE(is(fs::scandir(loop, d).error(), errc_t::no_such_file_or_directory));
    int scandir_cb_count = 0;
    fs::scandir(loop, d, [&](error_code ec, std::vector<fs::Dirent> entries) {
        REQUIRE(is(ec, errc_t::no_such_file_or_directory));
        REQUIRE(entries.empty());
        ++scandir_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(scandir_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_scandir_file: scandir of a file is not_a_directory", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "file";
    write_whole_file(file, "x");
    REQUIRE(is(fs::scandir(loop, file).error(), errc_t::not_a_directory));
    int scandir_cb_count = 0;
    fs::scandir(loop, file, [&](error_code ec, std::vector<fs::Dirent>) {
        REQUIRE(is(ec, errc_t::not_a_directory));
        ++scandir_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(scandir_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_open_dir: a directory opens read-only, sync and async", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    auto fd = fs::open(loop, tmp.path(), O_RDONLY, 0);
    REQUIRE(fd.has_value());
    REQUIRE_FALSE(fs::close(loop, *fd));
    int open_cb_count = 0;
    fs::open(loop, tmp.path(), O_RDONLY, 0, [&](error_code ec, fs::File f) {
        REQUIRE_FALSE(ec);
        REQUIRE(f >= 0);
        REQUIRE_FALSE(fs::close(loop, f));
        ++open_cb_count;
    });
    REQUIRE(open_cb_count == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(open_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_open_append: O_APPEND writes go after the existing contents",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = create(loop, file);
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, fd));
    fd = fs::open(loop, file, O_RDWR | O_APPEND, 0).value();
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, fd));
    const std::string one(test_buf, sizeof(test_buf));
    REQUIRE(read_whole_file(file) == one + one);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_rename_to_existing_file: rename replaces an existing file", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    const std::string file2 = tmp / "test_file2";
    fs::File fd = create(loop, file);
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, fd));
    REQUIRE_FALSE(fs::close(loop, create(loop, file2)));
    REQUIRE_FALSE(fs::rename(loop, file, file2));
    REQUIRE(read_whole_file(file2) == std::string(test_buf, sizeof(test_buf)));
    REQUIRE(is(fs::stat(loop, file).error(), errc_t::no_such_file_or_directory));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_read_bufs: no buffers is invalid_argument; positional reads fill several buffers "
          "in order",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    // libuv reads its own test runner binary; any 446-byte file will do.
    const std::string file = tmp / "fixture";
    std::string data(446, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>('a' + i % 26);
    }
    write_whole_file(file, data);
    fs::File fd = fs::open(loop, file, O_RDONLY, 0).value();
    REQUIRE(is(fs::read(loop, fd, std::span<const boost::asio::mutable_buffer>(), 0).error(),
               errc_t::invalid_argument));
    std::array<char, 1024> scratch{};
    const std::array<boost::asio::mutable_buffer, 4> bufs{
        boost::asio::buffer(scratch.data() + 0, 256),
        boost::asio::buffer(scratch.data() + 256, 256),
        boost::asio::buffer(scratch.data() + 512, 128),
        boost::asio::buffer(scratch.data() + 640, 128),
    };
    REQUIRE(fs::read(loop, fd, std::span(bufs).first(2), 0).value() == 446);
    REQUIRE(fs::read(loop, fd, std::span(bufs).subspan(2, 2), 256).value() == 446 - 256);
    REQUIRE(std::memcmp(scratch.data() + 256, scratch.data() + 512, 128) == 0);
    REQUIRE(std::memcmp(scratch.data() + 256 + 128, scratch.data() + 640, 190 - 128) == 0);
    REQUIRE(std::string(scratch.data(), 446) == data);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_read_file_eof: a read at the end of the file returns 0 bytes", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = create(loop, file);
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), -1).value() == sizeof(test_buf));
    REQUIRE_FALSE(fs::close(loop, fd));
    fd = fs::open(loop, file, O_RDONLY, 0).value();
    std::array<char, 32> buf{};
    const std::size_t n = fs::read(loop, fd, boost::asio::buffer(buf), -1).value();
    REQUIRE(n == sizeof(test_buf));
    REQUIRE(std::strcmp(buf.data(), test_buf) == 0);
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(buf), static_cast<std::int64_t>(n)).value() ==
            0);
    int read_cb_count = 0;
    fs::read(loop, fd, boost::asio::buffer(buf), -1, [&](error_code ec, std::size_t got) {
        REQUIRE_FALSE(ec);
        REQUIRE(got == 0);
        ++read_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(read_cb_count == 1);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_write_multiple_bufs: two buffers written at offset 0 read back with one readv and "
          "positional reads",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = create(loop, file);
    const std::array<boost::asio::const_buffer, 2> out{
        boost::asio::buffer(test_buf, sizeof(test_buf)),
        boost::asio::buffer(test_buf2, sizeof(test_buf2))};
    REQUIRE(fs::write(loop, fd, out, 0).value() == sizeof(test_buf) + sizeof(test_buf2));
    REQUIRE_FALSE(fs::close(loop, fd));

    fd = fs::open(loop, file, O_RDONLY, 0).value();
    REQUIRE(::lseek(fd, 0, SEEK_CUR) == 0);
    std::array<char, sizeof(test_buf)> buf{};
    std::array<char, sizeof(test_buf2)> buf2{};
    std::array<boost::asio::mutable_buffer, 2> in{boost::asio::buffer(buf),
                                                  boost::asio::buffer(buf2)};
    REQUIRE(fs::read(loop, fd, in, -1).value() == sizeof(test_buf) + sizeof(test_buf2));
    REQUIRE(std::strcmp(buf.data(), test_buf) == 0);
    REQUIRE(std::strcmp(buf2.data(), test_buf2) == 0);
    std::array<char, 32> one{};
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(one), -1).value() == 0);

    buf.fill(0);
    buf2.fill(0);
    REQUIRE(fs::read(loop, fd, in, 0).value() == sizeof(test_buf) + sizeof(test_buf2));
    REQUIRE(std::strcmp(buf.data(), test_buf) == 0);
    REQUIRE(std::strcmp(buf2.data(), test_buf2) == 0);
    REQUIRE(fs::read(loop,
                     fd,
                     boost::asio::buffer(one),
                     static_cast<std::int64_t>(sizeof(test_buf) + sizeof(test_buf2)))
                .value() == 0);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

namespace {

// libuv's fs_write_alotof_bufs(_with_offset): 54,321 buffers in one write
// (more than IOV_MAX, so several system calls); a readv of them reads at
// most IOV_MAX buffers' worth.
void write_alotof_bufs(bool with_offset) {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    constexpr std::size_t iovcount = 54321;
    const auto iovmax = static_cast<std::size_t>(::sysconf(_SC_IOV_MAX));
    fs::File fd = fs::open(loop, file, O_RDWR | O_CREAT, S_IWUSR | S_IRUSR).value();
    const std::string filler = "0123456789";
    std::int64_t offset = -1;
    if (with_offset) {
        REQUIRE(fs::write(loop, fd, boost::asio::buffer(filler), -1).value() == filler.size());
        offset = static_cast<std::int64_t>(filler.size());
    }
    std::vector<boost::asio::const_buffer> out(iovcount,
                                               boost::asio::buffer(test_buf, sizeof(test_buf)));
    REQUIRE(fs::write(loop, fd, out, offset).value() == sizeof(test_buf) * iovcount);

    std::vector<char> buffer(sizeof(test_buf) * iovcount);
    std::vector<boost::asio::mutable_buffer> in;
    in.reserve(iovcount);
    for (std::size_t i = 0; i < iovcount; ++i) {
        in.emplace_back(buffer.data() + i * sizeof(test_buf), sizeof(test_buf));
    }
    if (!with_offset) {
        REQUIRE(::lseek(fd, 0, SEEK_SET) == 0);
    }
    const std::size_t n = fs::read(loop, fd, in, with_offset ? offset : -1).value();
    REQUIRE(n == sizeof(test_buf) * std::min(iovcount, iovmax));
    for (std::size_t i = 0; i < n / sizeof(test_buf); ++i) {
        REQUIRE(std::strncmp(buffer.data() + i * sizeof(test_buf), test_buf, sizeof(test_buf)) ==
                0);
    }
    const auto end = static_cast<std::int64_t>(sizeof(test_buf) * iovcount) +
                     (with_offset ? static_cast<std::int64_t>(filler.size()) : 0);
    REQUIRE(static_cast<std::int64_t>(fs::stat(loop, file).value().size) == end);
    if (with_offset) {
        REQUIRE(fs::read(loop, fd, std::span(in).first(1), end).value() == 0);
    } else {
        REQUIRE(::lseek(fd, end, SEEK_SET) == end);
        REQUIRE(fs::read(loop, fd, std::span(in).first(1), -1).value() == 0);
    }
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

} // namespace

TEST_CASE("fs_write_alotof_bufs: a write of more buffers than IOV_MAX writes them all",
          "[uv][fs][libuv]") {
    write_alotof_bufs(false);
}

TEST_CASE("fs_write_alotof_bufs_with_offset: the same at an offset", "[uv][fs][libuv]") {
    write_alotof_bufs(true);
}

TEST_CASE("fs_read_dir: reading a directory descriptor is is_a_directory", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string d = tmp / "test_dir";
    int mkdir_cb_count = 0;
    fs::mkdir(loop, d, 0755, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        ++mkdir_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(mkdir_cb_count == 1);
    fs::File fd = fs::open(loop, d, O_RDONLY, 0).value();
    std::array<char, 32> buf{};
    REQUIRE(is(fs::read(loop, fd, boost::asio::buffer(buf), 0).error(), errc_t::is_a_directory));
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

namespace {

// libuv's test_fs_partial: another thread writes (doread) or reads 1000
// bytes at a time through a pipe and interrupts this thread with SIGUSR1
// after each chunk, while this thread reads (doread) or writes 54,321
// buffers with the synchronous calls. Reads return what the pipe had
// (partial), a write continues after partial writes until done; an EINTR
// is retried (libuv's test allows it from a read; pollux retries it).
void test_fs_partial(bool doread) {
    uv::Loop loop;
    constexpr std::size_t iovcount = 54321;
    const std::size_t size = sizeof(test_buf) * iovcount;
    std::vector<char> data(size);
    std::vector<char> buffer(size);
    if (!doread) {
        for (std::size_t i = 0; i < size; ++i) {
            buffer[i] = static_cast<char>(i * 31);
        }
    } else {
        for (std::size_t i = 0; i < size; ++i) {
            data[i] = static_cast<char>(i * 31);
        }
    }
    uv::Signal signal(loop);
    int sig_cb_count = 0;
    REQUIRE_FALSE(signal.start(
        [&](int) {
            ++sig_cb_count;
            signal.stop();
        },
        SIGUSR1));
    std::array<int, 2> pipe_fds{};
    REQUIRE(::pipe(pipe_fds.data()) == 0);
    const pthread_t main_thread = ::pthread_self();
    std::atomic<int> thread_errors{0};
    std::thread thread([&] {
        // Catch2's assertions are not thread-safe: count failures.
        const int fd = pipe_fds[doread ? 1 : 0];
        std::size_t done = 0;
        while (done < size) {
            const std::size_t nbytes = std::min<std::size_t>(size - done, 1000);
            const ssize_t result = doread ? ::write(fd, data.data() + done, nbytes)
                                          : ::read(fd, data.data() + done, nbytes);
            if (result <= 0 || (doread && static_cast<std::size_t>(result) != nbytes)) {
                thread_errors.fetch_add(1);
                return;
            }
            ::pthread_kill(main_thread, SIGUSR1);
            done += static_cast<std::size_t>(result);
        }
    });
    std::vector<boost::asio::mutable_buffer> iovs;
    iovs.reserve(iovcount);
    for (std::size_t i = 0; i < iovcount; ++i) {
        iovs.emplace_back(buffer.data() + i * sizeof(test_buf), sizeof(test_buf));
    }
    if (doread) {
        std::size_t nread = 0;
        std::size_t first = 0;
        while (nread < size) {
            auto result = fs::read(loop, pipe_fds[0], std::span(iovs).subspan(first), -1);
            REQUIRE(result.has_value());
            REQUIRE(*result > 0);
            // uv_test_fs_buf_offset: drop the buffers filled, trim a partial one.
            std::size_t left = *result;
            while (left > 0 && iovs[first].size() <= left) {
                left -= iovs[first].size();
                ++first;
            }
            if (left > 0) {
                iovs[first] += left;
            }
            nread += *result;
        }
    } else {
        std::vector<boost::asio::const_buffer> out(iovs.begin(), iovs.end());
        REQUIRE(fs::write(loop, pipe_fds[1], out, -1).value() == size);
    }
    thread.join();
    REQUIRE(thread_errors.load() == 0);
    REQUIRE(data == buffer);
    REQUIRE(loop.run() == 0);
    REQUIRE(sig_cb_count == 1);
    REQUIRE(::close(pipe_fds[1]) == 0);
    signal.close();
    REQUIRE(loop.run() == 0);
    // Everything written was read.
    std::array<char, 16> rest{};
    REQUIRE(fs::read(loop, pipe_fds[0], boost::asio::buffer(rest), -1).value() == 0);
    REQUIRE(::close(pipe_fds[0]) == 0);
    require_loop_quiescent(loop);
}

} // namespace

TEST_CASE("fs_partial_read: reads of a pipe fed in chunks under signals get every byte",
          "[uv][fs][libuv]") {
    test_fs_partial(true);
}

TEST_CASE("fs_partial_write: one write of many buffers to a pipe drained in chunks under "
          "signals writes every byte",
          "[uv][fs][libuv]") {
    test_fs_partial(false);
}

TEST_CASE("fs_read_write_null_arguments: reads and writes of no buffers are invalid_argument",
          "[uv][fs][libuv]") {
    uv::Loop loop;
    REQUIRE(is(fs::read(loop, 0, std::span<const boost::asio::mutable_buffer>(), -1).error(),
               errc_t::invalid_argument));
    REQUIRE(is(fs::write(loop, 0, std::span<const boost::asio::const_buffer>(), -1).error(),
               errc_t::invalid_argument));
    // libuv refuses these at initiation; here the callback gets the error,
    // from the loop.
    int cb_count = 0;
    fs::read(loop,
             0,
             std::span<const boost::asio::mutable_buffer>(),
             -1,
             [&](error_code ec, std::size_t n) {
                 REQUIRE(is(ec, errc_t::invalid_argument));
                 REQUIRE(n == 0);
                 ++cb_count;
             });
    fs::write(loop,
              0,
              std::span<const boost::asio::const_buffer>(),
              -1,
              [&](error_code ec, std::size_t n) {
                  REQUIRE(is(ec, errc_t::invalid_argument));
                  REQUIRE(n == 0);
                  ++cb_count;
              });
    REQUIRE(cb_count == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(cb_count == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_pos_after_op_with_offset: positional reads and writes leave the file "
          "position alone",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    fs::File fd = fs::open(loop, tmp / "test_file", O_RDWR | O_CREAT, S_IWUSR | S_IRUSR).value();
    REQUIRE(fs::write(loop, fd, cbuf(test_buf), 0).value() == sizeof(test_buf));
    REQUIRE(::lseek(fd, 0, SEEK_CUR) == 0);
    std::array<char, 32> buf{};
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(buf), 0).value() == sizeof(test_buf));
    REQUIRE(std::strcmp(buf.data(), test_buf) == 0);
    REQUIRE(::lseek(fd, 0, SEEK_CUR) == 0);
    REQUIRE_FALSE(fs::close(loop, fd));
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_pos_write: a positional write does not move the position of a later read",
          "[uv][fs][libuv]") {
    // libuv runs this one on Windows only; the behaviour is POSIX's too.
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = fs::open(loop, file, O_TRUNC | O_CREAT | O_RDWR, S_IWUSR | S_IRUSR).value();
    // fs_file_pos_common: write "abc", read 'b' at 1, read at the end: 0;
    // write "d" (at the end), read at the end: 0.
    REQUIRE(fs::write(loop, fd, boost::asio::buffer("abc", 3), -1).value() == 3);
    std::array<char, 1> c{};
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(c), 1).value() == 1);
    REQUIRE(c[0] == 'b');
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(c), -1).value() == 0);
    REQUIRE(fs::write(loop, fd, boost::asio::buffer("d", 1), -1).value() == 1);
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(c), -1).value() == 0);
    // A positional write of "e" at 1; the position stays at the end.
    REQUIRE(fs::write(loop, fd, boost::asio::buffer("e", 1), 1).value() == 1);
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(c), -1).value() == 0);
    REQUIRE_FALSE(fs::close(loop, fd));
    REQUIRE(read_whole_file(file) == "aecd");
    require_loop_quiescent(loop);
}

TEST_CASE("fs_file_pos_append: with O_APPEND a positional write goes to the end on Linux",
          "[uv][fs][libuv]") {
    // libuv runs this one on Windows only, where the write lands at the
    // offset; Linux's pwrite(2) on an O_APPEND descriptor appends (BUGS in
    // the man page), which this checks instead.
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "test_file";
    fs::File fd = fs::open(loop, file, O_APPEND | O_CREAT | O_RDWR, S_IWUSR | S_IRUSR).value();
    REQUIRE(fs::write(loop, fd, boost::asio::buffer("abc", 3), -1).value() == 3);
    std::array<char, 1> c{};
    REQUIRE(fs::read(loop, fd, boost::asio::buffer(c), 1).value() == 1);
    REQUIRE(c[0] == 'b');
    REQUIRE(fs::write(loop, fd, boost::asio::buffer("e", 1), 1).value() == 1);
    REQUIRE_FALSE(fs::close(loop, fd));
    REQUIRE(read_whole_file(file) == "abce");
    require_loop_quiescent(loop);
}

TEST_CASE("fs_statfs: statfs of the current directory, sync and async", "[uv][fs][libuv]") {
    uv::Loop loop;
    auto check = [](const fs::StatFs& s) {
        REQUIRE(s.bsize > 0);
        REQUIRE(s.blocks >= s.bfree);
        REQUIRE(s.bfree >= s.bavail);
        REQUIRE(s.files >= s.ffree);
    };
    auto s = fs::statfs(loop, ".");
    REQUIRE(s.has_value());
    check(*s);
    int statfs_cb_count = 0;
    fs::statfs(loop, ".", [&](error_code ec, fs::StatFs st) {
        REQUIRE_FALSE(ec);
        check(st);
        ++statfs_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(statfs_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_get_system_error: the error's value is the errno", "[uv][fs][libuv]") {
    uv::Loop loop;
    auto s = fs::statfs(loop, "non_existing_file");
    REQUIRE(s.has_error());
    REQUIRE(s.error().value() == ENOENT);
    REQUIRE(s.error().category() == boost::system::system_category());
}

// ---- test-fs-copyfile.c ----

TEST_CASE("fs_copyfile: flags, a missing source, copying onto itself, overwrite, excl, "
          "truncation, ficlone, async, a read-only destination",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string src = tmp / "test_file_src";
    const std::string dst = tmp / "test_file_dst";
    const std::string fixture = tmp / "fixture";
    std::string fixture_data(5000, '\0');
    for (std::size_t i = 0; i < fixture_data.size(); ++i) {
        fixture_data[i] = static_cast<char>(i * 7);
    }
    write_whole_file(fixture, fixture_data);
    REQUIRE_FALSE(fs::chmod(loop, fixture, 0640));
    // libuv's handle_result: same size and mode as the source.
    auto check_copy = [&](const std::string& from) {
        const auto a = fs::stat(loop, from).value();
        const auto b = fs::stat(loop, dst).value();
        REQUIRE(a.size == b.size);
        REQUIRE(a.mode == b.mode);
        REQUIRE(a.ino != b.ino);
        REQUIRE(read_whole_file(from) == read_whole_file(dst));
    };

    // Bad flags.
    REQUIRE(is(fs::copyfile(loop, src, dst, -1), errc_t::invalid_argument));
    // A missing source; the destination is not made.
    REQUIRE(is(fs::copyfile(loop, src, dst, 0), errc_t::no_such_file_or_directory));
    REQUIRE(fs::stat(loop, dst).has_error());
    // Onto itself: succeeds and truncates nothing.
    write_whole_file(src, std::string(12, 'x'));
    REQUIRE_FALSE(fs::copyfile(loop, src, src, 0));
    REQUIRE(fs::stat(loop, src).value().size == 12);
    REQUIRE_FALSE(fs::unlink(loop, src));
    // A new file.
    REQUIRE_FALSE(fs::copyfile(loop, fixture, dst, 0));
    check_copy(fixture);
    // An empty file.
    REQUIRE_FALSE(fs::unlink(loop, dst));
    write_whole_file(src, "");
    REQUIRE_FALSE(fs::copyfile(loop, src, dst, 0));
    check_copy(src);
    // Overwrites an existing file.
    REQUIRE_FALSE(fs::copyfile(loop, fixture, dst, 0));
    check_copy(fixture);
    // ... unless excl.
    REQUIRE(is(fs::copyfile(loop, fixture, dst, fs::copyfile_excl), errc_t::file_exists));
    // Truncates a larger destination.
    write_whole_file(src, "y");
    REQUIRE_FALSE(fs::copyfile(loop, src, dst, 0));
    check_copy(src);
    // A larger file.
    REQUIRE_FALSE(fs::unlink(loop, dst));
    write_whole_file(src, std::string(4096 * 2, 'z'));
    REQUIRE_FALSE(fs::copyfile(loop, src, dst, 0));
    check_copy(src);
    REQUIRE_FALSE(fs::unlink(loop, src));
    // Asynchronously.
    REQUIRE_FALSE(fs::unlink(loop, dst));
    int result_check_count = 0;
    fs::copyfile(loop, fixture, dst, 0, [&](error_code ec) {
        REQUIRE_FALSE(ec);
        check_copy(fixture);
        ++result_check_count;
    });
    REQUIRE(result_check_count == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(result_check_count == 1);
    // Bad flags asynchronously: the callback gets the error (libuv refuses
    // at initiation and never calls back).
    REQUIRE_FALSE(fs::unlink(loop, dst));
    fs::copyfile(loop, fixture, dst, -1, [&](error_code ec) {
        REQUIRE(is(ec, errc_t::invalid_argument));
        ++result_check_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(result_check_count == 2);
    REQUIRE(fs::stat(loop, dst).has_error());
    // ficlone: a clone where the file system can, else a copy.
    REQUIRE_FALSE(fs::copyfile(loop, fixture, dst, fs::copyfile_ficlone));
    check_copy(fixture);
    // ficlone_force: a clone or the clone's error, and then no destination.
    REQUIRE_FALSE(fs::unlink(loop, dst));
    const error_code forced = fs::copyfile(loop, fixture, dst, fs::copyfile_ficlone_force);
    if (forced) {
        INFO(forced.message());
        REQUIRE((is(forced, errc_t::operation_not_supported) ||
                 is(forced, errc_t::function_not_supported) ||
                 is(forced, errc_t::invalid_argument) || is(forced, errc_t::cross_device_link) ||
                 is(forced, errc_t::inappropriate_io_control_operation)));
        REQUIRE(fs::stat(loop, dst).has_error());
    } else {
        check_copy(fixture);
    }
    // A read-only destination: permission_denied, except for root, who may
    // write it.
    (void)fs::unlink(loop, dst);
    write_whole_file(dst, "");
    REQUIRE_FALSE(fs::chmod(loop, dst, 0444));
    const error_code ro = fs::copyfile(loop, fixture, dst, 0);
    if (::geteuid() == 0) {
        REQUIRE_FALSE(ro);
    } else {
        REQUIRE(is(ro, errc_t::permission_denied));
    }
    require_loop_quiescent(loop);
}

// ---- test-fs-readdir.c ----

TEST_CASE("fs_readdir_empty_dir: opendir, readdir of no entries, closedir, sync and chained "
          "from callbacks",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string d = tmp / "test_dir";
    REQUIRE_FALSE(fs::mkdir(loop, d, 0777));
    auto dir = fs::opendir(loop, d);
    REQUIRE(dir.has_value());
    REQUIRE(static_cast<bool>(*dir));
    REQUIRE(fs::readdir(loop, *dir, 1).value().empty());
    REQUIRE_FALSE(fs::closedir(loop, *dir));

    int empty_opendir_cb_count = 0, empty_readdir_cb_count = 0, empty_closedir_cb_count = 0;
    fs::opendir(loop, d, [&](error_code ec, fs::Dir opened) {
        REQUIRE_FALSE(ec);
        REQUIRE(static_cast<bool>(opened));
        ++empty_opendir_cb_count;
        fs::readdir(loop, opened, 1, [&, opened](error_code ec, std::vector<fs::Dirent> entries) {
            REQUIRE_FALSE(ec);
            REQUIRE(entries.empty());
            ++empty_readdir_cb_count;
            fs::closedir(loop, opened, [&](error_code ec) {
                REQUIRE_FALSE(ec);
                ++empty_closedir_cb_count;
            });
        });
    });
    REQUIRE(empty_opendir_cb_count == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(empty_opendir_cb_count == 1);
    REQUIRE(empty_readdir_cb_count == 1);
    REQUIRE(empty_closedir_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_readdir_non_existing_dir: opendir of a missing directory is "
          "no_such_file_or_directory",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string d = tmp / "test_dir";
    REQUIRE(is(fs::opendir(loop, d).error(), errc_t::no_such_file_or_directory));
    int non_existing_opendir_cb_count = 0;
    fs::opendir(loop, d, [&](error_code ec, fs::Dir dir) {
        REQUIRE(is(ec, errc_t::no_such_file_or_directory));
        REQUIRE_FALSE(static_cast<bool>(dir));
        ++non_existing_opendir_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(non_existing_opendir_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_readdir_file: opendir of a file is not_a_directory", "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string file = tmp / "file";
    write_whole_file(file, "x");
    REQUIRE(is(fs::opendir(loop, file).error(), errc_t::not_a_directory));
    int file_opendir_cb_count = 0;
    fs::opendir(loop, file, [&](error_code ec, fs::Dir dir) {
        REQUIRE(is(ec, errc_t::not_a_directory));
        REQUIRE_FALSE(static_cast<bool>(dir));
        ++file_opendir_cb_count;
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(file_opendir_cb_count == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("fs_readdir_non_empty_dir: readdir one entry at a time gives every entry once with "
          "its type, sync and async",
          "[uv][fs][libuv]") {
    FsTmpDir tmp;
    uv::Loop loop;
    const std::string d = tmp / "test_dir";
    REQUIRE_FALSE(fs::mkdir(loop, d, 0755));
    write_whole_file(d + "/file1", "");
    write_whole_file(d + "/file2", "");
    REQUIRE_FALSE(fs::mkdir(loop, d + "/test_subdir", 0755));
    auto check_entry = [](const fs::Dirent& e) {
        if (e.name == "test_subdir") {
            REQUIRE(e.type == fs::DirentType::dir);
        } else {
            REQUIRE((e.name == "file1" || e.name == "file2"));
            REQUIRE(e.type == fs::DirentType::file);
        }
    };

    // Synchronously.
    fs::Dir dir = fs::opendir(loop, d).value();
    std::set<std::string> seen;
    for (;;) {
        auto entries = fs::readdir(loop, dir, 1).value();
        if (entries.empty()) {
            break;
        }
        REQUIRE(entries.size() == 1);
        check_entry(entries[0]);
        REQUIRE(seen.insert(entries[0].name).second);
    }
    REQUIRE(seen.size() == 3);
    REQUIRE_FALSE(fs::closedir(loop, dir));

    // Asynchronously: each readdir callback starts the next.
    int non_empty_readdir_cb_count = 0, non_empty_closedir_cb_count = 0;
    seen.clear();
    std::function<void(fs::Dir)> next = [&](fs::Dir opened) {
        fs::readdir(loop, opened, 1, [&, opened](error_code ec, std::vector<fs::Dirent> entries) {
            REQUIRE_FALSE(ec);
            ++non_empty_readdir_cb_count;
            if (entries.empty()) {
                fs::closedir(loop, opened, [&](error_code ec) {
                    REQUIRE_FALSE(ec);
                    ++non_empty_closedir_cb_count;
                });
                return;
            }
            REQUIRE(entries.size() == 1);
            check_entry(entries[0]);
            REQUIRE(seen.insert(entries[0].name).second);
            next(opened);
        });
    };
    fs::opendir(loop, d, [&](error_code ec, fs::Dir opened) {
        REQUIRE_FALSE(ec);
        next(opened);
    });
    REQUIRE(loop.run() == 0);
    REQUIRE(non_empty_readdir_cb_count == 4);
    REQUIRE(non_empty_closedir_cb_count == 1);
    REQUIRE(seen.size() == 3);
    require_loop_quiescent(loop);
}

// ---- test-threadpool-cancel.c ----

TEST_CASE("threadpool_cancel_fs: fs requests queued behind a saturated pool cancel with "
          "operation_aborted",
          "[uv][fs][libuv][cancel]") {
    FsTmpDir tmp;
    uv::Loop loop;
    REQUIRE_FALSE(loop.set_threadpool_size(4));
    // saturate_threadpool: every thread held until released.
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    std::atomic<int> started{0};
    int blocker_cb_count = 0;
    for (int i = 0; i < 4; ++i) {
        uv::queue_work(
            loop,
            [&] {
                started.fetch_add(1);
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return release; });
            },
            [&](error_code ec) {
                REQUIRE_FALSE(ec);
                ++blocker_cb_count;
            });
    }
    while (started.load() < 4) {
        std::this_thread::yield();
    }
    // libuv cancels one of each kind of fs request it has; these are ours.
    const std::string p = tmp / "x";
    int fs_cb_count = 0;
    auto done = [&](error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        ++fs_cb_count;
    };
    std::array<char, 8> buf{};
    std::vector<uv::Request> reqs;
    reqs.push_back(fs::chmod(loop, p, 0, done));
    reqs.push_back(fs::chown(loop, p, 0, 0, done));
    reqs.push_back(fs::close(loop, -1, done));
    reqs.push_back(fs::fchmod(loop, -1, 0, done));
    reqs.push_back(fs::fchown(loop, -1, 0, 0, done));
    reqs.push_back(fs::fdatasync(loop, -1, done));
    reqs.push_back(fs::fstat(loop, -1, [&](error_code ec, fs::Stat) { done(ec); }));
    reqs.push_back(fs::fsync(loop, -1, done));
    reqs.push_back(fs::ftruncate(loop, -1, 0, done));
    reqs.push_back(fs::futime(loop, -1, 0, 0, done));
    reqs.push_back(fs::link(loop, p, p, done));
    reqs.push_back(fs::lstat(loop, p, [&](error_code ec, fs::Stat) { done(ec); }));
    reqs.push_back(fs::mkdir(loop, p, 0, done));
    reqs.push_back(fs::open(loop, p, 0, 0, [&](error_code ec, fs::File) { done(ec); }));
    reqs.push_back(fs::read(
        loop, -1, boost::asio::buffer(buf), 0, [&](error_code ec, std::size_t) { done(ec); }));
    reqs.push_back(fs::scandir(loop, p, [&](error_code ec, std::vector<fs::Dirent>) { done(ec); }));
    reqs.push_back(fs::readlink(loop, p, [&](error_code ec, std::string) { done(ec); }));
    reqs.push_back(fs::realpath(loop, p, [&](error_code ec, std::string) { done(ec); }));
    reqs.push_back(fs::rename(loop, p, p, done));
    reqs.push_back(fs::rmdir(loop, p, done));
    reqs.push_back(fs::mkdtemp(loop, p + "XXXXXX", [&](error_code ec, std::string) { done(ec); }));
    reqs.push_back(fs::sendfile(loop, -1, -1, 0, 0, [&](error_code ec, std::size_t) { done(ec); }));
    reqs.push_back(fs::stat(loop, p, [&](error_code ec, fs::Stat) { done(ec); }));
    reqs.push_back(fs::symlink(loop, p, p, done));
    reqs.push_back(fs::unlink(loop, p, done));
    reqs.push_back(fs::utime(loop, p, 0, 0, done));
    reqs.push_back(fs::write(
        loop, -1, boost::asio::buffer(test_buf), 0, [&](error_code ec, std::size_t) { done(ec); }));
    for (auto& r : reqs) {
        REQUIRE_FALSE(r.cancel());
    }
    REQUIRE(fs_cb_count == 0); // never from inside cancel()
    {
        std::lock_guard lock(m);
        release = true;
    }
    cv.notify_all();
    REQUIRE(loop.run() == 0);
    REQUIRE(fs_cb_count == static_cast<int>(reqs.size()));
    REQUIRE(blocker_cb_count == 4);
    require_loop_quiescent(loop);
}
