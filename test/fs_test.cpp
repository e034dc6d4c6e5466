// pollux::fs's free functions, against tokio::fs's documented semantics
// (each case names the rule it pins; tokio::fs delegates most of them to
// std::fs, whose docs are then the ones cited).
#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/detail/work_pool.hpp>
#include <pollux/fs.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>

#include "support/result_string.hpp"
#include "support/temp_dir.hpp"

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <fcntl.h>
#include <future>
#include <set>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using errc = boost::system::errc::errc_t;
using pollux::test::TempDir;

namespace {

std::string slurp(const std::filesystem::path& p) {
    std::string out;
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

void put(const std::filesystem::path& p, const std::string& s) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
    ::close(fd);
}

std::string as_string(const std::vector<std::byte>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

} // namespace

// ---- read / write / read_to_string --------------------------------------------

TEST_CASE("fs::write creates the file and fs::read returns its bytes", "[fs][read][write]") {
    TempDir dir;
    Runtime rt;
    REQUIRE(rt.block_on(fs::write(dir / "a.txt", std::string_view("hello, files"))));
    auto bytes = rt.block_on(fs::read(dir / "a.txt"));
    REQUIRE(bytes);
    CHECK(as_string(*bytes) == "hello, files");
}

TEST_CASE("fs::write truncates a longer existing file (tokio: replaces its contents)",
          "[fs][write]") {
    TempDir dir;
    put(dir / "a", std::string(10000, 'x'));
    Runtime rt;
    REQUIRE(rt.block_on(fs::write(dir / "a", std::string_view("short"))));
    CHECK(slurp(dir / "a") == "short");
}

TEST_CASE("fs::read of a file larger than its first buffer returns every byte", "[fs][read]") {
    TempDir dir;
    std::string big;
    for (int i = 0; i < 300000; ++i) {
        big.push_back(static_cast<char>('a' + i % 26));
    }
    put(dir / "big", big);
    Runtime rt;
    auto bytes = rt.block_on(fs::read(dir / "big"));
    REQUIRE(bytes);
    CHECK(as_string(*bytes) == big);
}

TEST_CASE("fs::read_to_string returns UTF-8 text", "[fs][read_to_string]") {
    TempDir dir;
    put(dir / "t", "gr\xC3\xBC\xC3\x9F dich \xF0\x9F\x98\x80");
    Runtime rt;
    auto s = rt.block_on(fs::read_to_string(dir / "t"));
    REQUIRE(s);
    CHECK(*s == "gr\xC3\xBC\xC3\x9F dich \xF0\x9F\x98\x80");
}

TEST_CASE("fs::read_to_string fails with EILSEQ on invalid UTF-8 (tokio: InvalidData)",
          "[fs][read_to_string]") {
    TempDir dir;
    Runtime rt;
    for (std::string bad : {"\xFF", "ab\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80"}) {
        put(dir / "t", bad);
        auto s = rt.block_on(fs::read_to_string(dir / "t"));
        REQUIRE_FALSE(s);
        CHECK(s.error() == errc::illegal_byte_sequence);
    }
}

TEST_CASE("fs::read of a missing file fails with ENOENT and the future and the error name the path",
          "[fs][read][errors]") {
    TempDir dir;
    Runtime rt;
    auto f = fs::read(dir / "missing");
    CHECK(f.path() == dir / "missing");
    auto r = rt.block_on(std::move(f));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_such_file_or_directory);
    CHECK(r.error().value() == ENOENT);
    CHECK(fs::error_path(r.error()) == (dir / "missing").native());
}

TEST_CASE("fs::read of a directory fails with EISDIR", "[fs][read][errors]") {
    TempDir dir;
    Runtime rt;
    auto r = rt.block_on(fs::read(dir.path()));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::is_a_directory);
}

TEST_CASE("fs functions refuse a path with a NUL byte with EINVAL (std: InvalidInput)",
          "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    std::string p = (dir / "a").native();
    p.push_back('\0');
    p += "b";
    auto r = rt.block_on(fs::write(std::filesystem::path(p), std::string_view("x")));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_argument);
    auto m = rt.block_on(fs::metadata(std::filesystem::path(p)));
    REQUIRE_FALSE(m);
    CHECK(m.error() == errc::invalid_argument);
    CHECK_FALSE(std::filesystem::exists(dir / "a"));
}

TEST_CASE("fs::read of an empty path fails with ENOENT", "[fs][errors]") {
    Runtime rt;
    auto r = rt.block_on(fs::read(std::filesystem::path()));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_such_file_or_directory);
}

TEST_CASE("fs::write to /dev/full fails with ENOSPC and the runtime keeps serving",
          "[fs][write][errors]") {
    Runtime rt;
    auto r = rt.block_on(fs::write("/dev/full", std::string_view("no room")));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_space_on_device);
    TempDir dir;
    CHECK(rt.block_on(fs::write(dir / "ok", std::string_view("room"))));
}

// ---- copy / rename / remove ----------------------------------------------------------

TEST_CASE("fs::copy returns the bytes copied and copies the permission bits (std::fs::copy)",
          "[fs][copy]") {
    TempDir dir;
    put(dir / "from", std::string(70000, 'c'));
    REQUIRE(::chmod((dir / "from").c_str(), 0640) == 0);
    put(dir / "to", std::string(100000, 'z'));
    Runtime rt;
    auto n = rt.block_on(fs::copy(dir / "from", dir / "to"));
    REQUIRE(n);
    CHECK(*n == 70000);
    CHECK(slurp(dir / "to") == std::string(70000, 'c'));
    struct stat st {};
    REQUIRE(::stat((dir / "to").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
}

TEST_CASE("fs::copy of a missing source fails with ENOENT and creates nothing",
          "[fs][copy][errors]") {
    TempDir dir;
    Runtime rt;
    auto n = rt.block_on(fs::copy(dir / "nope", dir / "to"));
    REQUIRE_FALSE(n);
    CHECK(n.error() == errc::no_such_file_or_directory);
    CHECK_FALSE(std::filesystem::exists(dir / "to"));
}

TEST_CASE("fs::rename replaces an existing destination (tokio: like rename(2))", "[fs][rename]") {
    TempDir dir;
    put(dir / "a", "new");
    put(dir / "b", "old");
    Runtime rt;
    REQUIRE(rt.block_on(fs::rename(dir / "a", dir / "b")));
    CHECK_FALSE(std::filesystem::exists(dir / "a"));
    CHECK(slurp(dir / "b") == "new");
}

TEST_CASE("fs::remove_file removes a file and fails with EISDIR on a directory",
          "[fs][remove_file]") {
    TempDir dir;
    put(dir / "f", "x");
    std::filesystem::create_directory(dir / "d");
    Runtime rt;
    REQUIRE(rt.block_on(fs::remove_file(dir / "f")));
    CHECK_FALSE(std::filesystem::exists(dir / "f"));
    auto r = rt.block_on(fs::remove_file(dir / "d"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::is_a_directory);
}

TEST_CASE("fs::remove_dir fails on a non-empty directory (tokio) and removes an empty one",
          "[fs][remove_dir]") {
    TempDir dir;
    std::filesystem::create_directory(dir / "d");
    put(dir / "d" / "f", "x");
    Runtime rt;
    auto r = rt.block_on(fs::remove_dir(dir / "d"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::directory_not_empty);
    std::filesystem::remove(dir / "d" / "f");
    REQUIRE(rt.block_on(fs::remove_dir(dir / "d")));
    CHECK_FALSE(std::filesystem::exists(dir / "d"));
}

TEST_CASE("fs::remove_dir_all removes a whole tree", "[fs][remove_dir_all]") {
    TempDir dir;
    std::filesystem::create_directories(dir / "t" / "a" / "b");
    put(dir / "t" / "a" / "f", "x");
    put(dir / "t" / "a" / "b" / "g", "y");
    Runtime rt;
    REQUIRE(rt.block_on(fs::remove_dir_all(dir / "t")));
    CHECK_FALSE(std::filesystem::exists(dir / "t"));
}

TEST_CASE("fs::remove_dir_all does not follow a symlink: it removes the link, not the target",
          "[fs][remove_dir_all]") {
    TempDir dir;
    std::filesystem::create_directory(dir / "target");
    put(dir / "target" / "keep", "x");
    std::filesystem::create_directory_symlink(dir / "target", dir / "link");
    Runtime rt;
    REQUIRE(rt.block_on(fs::remove_dir_all(dir / "link")));
    CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir / "link")));
    CHECK(std::filesystem::exists(dir / "target" / "keep"));
}

TEST_CASE("fs::remove_dir_all fails with ENOENT on a missing path and ENOTDIR on a file",
          "[fs][remove_dir_all][errors]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt;
    auto missing = rt.block_on(fs::remove_dir_all(dir / "missing"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == errc::no_such_file_or_directory);
    auto file = rt.block_on(fs::remove_dir_all(dir / "f"));
    REQUIRE_FALSE(file);
    CHECK(file.error() == errc::not_a_directory);
    CHECK(std::filesystem::exists(dir / "f"));
}

// ---- create_dir -------------------------------------------------------------------------

TEST_CASE("fs::create_dir fails with EEXIST when the path exists", "[fs][create_dir]") {
    TempDir dir;
    Runtime rt;
    REQUIRE(rt.block_on(fs::create_dir(dir / "d")));
    CHECK(std::filesystem::is_directory(dir / "d"));
    auto again = rt.block_on(fs::create_dir(dir / "d"));
    REQUIRE_FALSE(again);
    CHECK(again.error() == errc::file_exists);
}

TEST_CASE("fs::create_dir fails with ENOENT when the parent is missing",
          "[fs][create_dir][errors]") {
    TempDir dir;
    Runtime rt;
    auto r = rt.block_on(fs::create_dir(dir / "no" / "d"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_such_file_or_directory);
}

TEST_CASE("fs::create_dir_all creates the missing parents", "[fs][create_dir_all]") {
    TempDir dir;
    Runtime rt;
    REQUIRE(rt.block_on(fs::create_dir_all(dir / "a" / "b" / "c")));
    CHECK(std::filesystem::is_directory(dir / "a" / "b" / "c"));
}

TEST_CASE("fs::create_dir_all succeeds when the directory already exists (tokio)",
          "[fs][create_dir_all]") {
    TempDir dir;
    std::filesystem::create_directories(dir / "a" / "b");
    Runtime rt;
    CHECK(rt.block_on(fs::create_dir_all(dir / "a" / "b")));
    CHECK(rt.block_on(fs::create_dir_all(dir / "a" / "b" / "")));
}

TEST_CASE("fs::create_dir_all fails when a file is in the way", "[fs][create_dir_all][errors]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt;
    auto same = rt.block_on(fs::create_dir_all(dir / "f"));
    REQUIRE_FALSE(same);
    CHECK(same.error() == errc::file_exists);
    auto below = rt.block_on(fs::create_dir_all(dir / "f" / "sub"));
    REQUIRE_FALSE(below);
    CHECK(below.error() == errc::not_a_directory);
}

// ---- links ----------------------------------------------------------------------------------

TEST_CASE("fs::hard_link gives the file a second name", "[fs][hard_link]") {
    TempDir dir;
    put(dir / "a", "shared");
    Runtime rt;
    REQUIRE(rt.block_on(fs::hard_link(dir / "a", dir / "b")));
    auto m = rt.block_on(fs::metadata(dir / "b"));
    REQUIRE(m);
    CHECK(m->nlink() == 2);
    CHECK(slurp(dir / "b") == "shared");
}

TEST_CASE("fs::symlink makes a link that fs::read_link reads back, dangling or not",
          "[fs][symlink]") {
    TempDir dir;
    Runtime rt;
    REQUIRE(rt.block_on(fs::symlink("does/not/exist", dir / "l")));
    auto target = rt.block_on(fs::read_link(dir / "l"));
    REQUIRE(target);
    CHECK(*target == std::filesystem::path("does/not/exist"));
}

TEST_CASE("fs::read_link of a file that is not a symlink fails with EINVAL",
          "[fs][read_link][errors]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt;
    auto r = rt.block_on(fs::read_link(dir / "f"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_argument);
}

TEST_CASE("fs::canonicalize resolves symlinks and dot-dot", "[fs][canonicalize]") {
    TempDir dir;
    std::filesystem::create_directories(dir / "real" / "sub");
    std::filesystem::create_directory_symlink(dir / "real", dir / "link");
    Runtime rt;
    auto p = rt.block_on(fs::canonicalize(dir / "link" / "sub" / ".." / "sub"));
    REQUIRE(p);
    CHECK(*p == std::filesystem::canonical(dir / "real" / "sub"));
    auto missing = rt.block_on(fs::canonicalize(dir / "link" / "missing"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == errc::no_such_file_or_directory);
}

// ---- metadata / permissions / try_exists -------------------------------------------------

TEST_CASE("fs::metadata follows symlinks and fs::symlink_metadata does not", "[fs][metadata]") {
    TempDir dir;
    put(dir / "f", "12345");
    std::filesystem::create_symlink(dir / "f", dir / "l");
    Runtime rt;
    auto m = rt.block_on(fs::metadata(dir / "l"));
    REQUIRE(m);
    CHECK(m->is_file());
    CHECK_FALSE(m->is_symlink());
    CHECK(m->len() == 5);
    auto lm = rt.block_on(fs::symlink_metadata(dir / "l"));
    REQUIRE(lm);
    CHECK(lm->is_symlink());
    CHECK(lm->file_type().is_symlink());
    auto dm = rt.block_on(fs::metadata(dir.path()));
    REQUIRE(dm);
    CHECK(dm->is_dir());
    CHECK(dm->modified().time_since_epoch().count() > 0);
}

TEST_CASE("fs::metadata of a missing path fails with ENOENT", "[fs][metadata][errors]") {
    TempDir dir;
    Runtime rt;
    auto m = rt.block_on(fs::metadata(dir / "missing"));
    REQUIRE_FALSE(m);
    CHECK(m.error() == errc::no_such_file_or_directory);
}

TEST_CASE("fs::set_permissions sets the mode; Permissions::set_readonly clears the write bits",
          "[fs][set_permissions]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt;
    auto m = rt.block_on(fs::metadata(dir / "f"));
    REQUIRE(m);
    fs::Permissions perm = m->permissions();
    CHECK_FALSE(perm.readonly());
    perm.set_readonly(true);
    CHECK(perm.readonly());
    REQUIRE(rt.block_on(fs::set_permissions(dir / "f", perm)));
    auto after = rt.block_on(fs::metadata(dir / "f"));
    REQUIRE(after);
    CHECK(after->permissions().readonly());
    REQUIRE(rt.block_on(fs::set_permissions(dir / "f", fs::Permissions::from_mode(0751))));
    struct stat st {};
    REQUIRE(::stat((dir / "f").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0751);
}

TEST_CASE("fs::try_exists is true for a file and false for a missing one (tokio)",
          "[fs][try_exists]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt;
    auto yes = rt.block_on(fs::try_exists(dir / "f"));
    REQUIRE(yes);
    CHECK(*yes);
    auto no = rt.block_on(fs::try_exists(dir / "missing"));
    REQUIRE(no);
    CHECK_FALSE(*no);
}

TEST_CASE(
    "fs::try_exists is an EACCES error, not false, under a parent that cannot be searched (tokio)",
    "[fs][try_exists][errors]") {
    TempDir dir;
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
    std::filesystem::create_directory(dir / "locked");
    put(dir / "locked" / "f", "x");
    REQUIRE(::chmod((dir / "locked").c_str(), 0700) == 0);
    // Root searches any directory: the check runs as an unprivileged child.
    const int code = pollux::test::as_unprivileged([&]() -> int {
        Runtime rt;
        auto r = rt.block_on(fs::try_exists(dir / "locked" / "f"));
        if (r) {
            return 1;
        }
        if (r.error() != errc::permission_denied) {
            return 2;
        }
        // The runtime keeps serving after the error.
        auto ok = rt.block_on(fs::try_exists(dir.path()));
        return ok && *ok ? 0 : 3;
    });
    CHECK(code == 0);
}

// ---- read_dir -----------------------------------------------------------------------------

TEST_CASE("fs::read_dir yields every entry once, without . and .., over several batches",
          "[fs][read_dir]") {
    TempDir dir;
    std::set<std::string> want;
    for (int i = 0; i < 100; ++i) {
        put(dir / ("f" + std::to_string(i)), "x");
        want.insert("f" + std::to_string(i));
    }
    std::filesystem::create_directory(dir / "sub");
    want.insert("sub");
    std::filesystem::create_symlink("f0", dir / "link");
    want.insert("link");
    Runtime rt;
    auto got = rt.block_on([&]() -> Async<std::multiset<std::string>> {
        std::multiset<std::string> names;
        auto entries = co_await fs::read_dir(dir.path());
        REQUIRE(entries);
        while (auto entry = co_await next(*entries)) {
            REQUIRE(*entry);
            const fs::DirEntry& e = **entry;
            CHECK(e.path() == dir / e.file_name());
            auto type = e.file_type();
            REQUIRE(type);
            if (e.file_name() == "sub") {
                CHECK(type->is_dir());
            } else if (e.file_name() == "link") {
                CHECK(type->is_symlink());
            } else {
                CHECK(type->is_file());
            }
            CHECK(e.ino() != 0);
            names.insert(e.file_name().string());
        }
        // An ended stream stays ended.
        CHECK_FALSE(co_await next(*entries));
        co_return names;
    }());
    CHECK(std::set<std::string>(got.begin(), got.end()) == want);
    CHECK(got.size() == want.size());
}

TEST_CASE("fs::DirEntry::metadata does not follow symlinks (tokio)", "[fs][read_dir]") {
    TempDir dir;
    std::filesystem::create_symlink("nowhere", dir / "link");
    Runtime rt;
    rt.block_on([&]() -> Async<void> {
        auto entries = co_await fs::read_dir(dir.path());
        REQUIRE(entries);
        auto entry = co_await next(*entries);
        REQUIRE(entry);
        REQUIRE(*entry);
        auto m = co_await (*entry)->metadata();
        REQUIRE(m);
        CHECK(m->is_symlink());
        CHECK_FALSE(co_await next(*entries));
    }());
}

TEST_CASE("fs::read_dir fails with ENOENT on a missing path and ENOTDIR on a file",
          "[fs][read_dir][errors]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt;
    auto missing = rt.block_on(fs::read_dir(dir / "missing"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == errc::no_such_file_or_directory);
    auto file = rt.block_on(fs::read_dir(dir / "f"));
    REQUIRE_FALSE(file);
    CHECK(file.error() == errc::not_a_directory);
}

// ---- the pool ------------------------------------------------------------------------------

TEST_CASE("fs::read blocks a pool thread, not the loop: a sleep completes while it waits on a FIFO",
          "[fs][pool]") {
    TempDir dir;
    const auto fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    Runtime rt;
    std::atomic<bool> slept{false};
    std::thread writer;
    auto bytes = rt.block_on([&]() -> Async<Result<std::vector<std::byte>>> {
        auto read = spawn(fs::read(fifo)); // open(2) of a FIFO blocks until a writer comes
        co_await time::sleep(20ms);        // runs on the loop meanwhile
        slept = true;
        writer = std::thread([&] {
            const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                (void)!::write(fd, "fifo", 4);
                ::close(fd);
            }
        });
        co_return co_await read;
    }());
    writer.join();
    CHECK(slept);
    REQUIRE(bytes);
    CHECK(as_string(*bytes) == "fifo");
}

TEST_CASE("fs: a runtime dropped with operations queued behind the fs cap runs the writes and "
          "drops the rest",
          "[fs][pool][fs_cap]") {
    TempDir dir;
    const auto fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    put(dir / "r", "r");
    std::atomic<int> dropped_ran{0};
    std::atomic<bool> go{false};
    std::jthread opener; // joined on the way out, also when a REQUIRE throws
    {
        // One fs slot, held by a read whose open(2) waits for a FIFO writer.
        auto rt = std::make_unique<Runtime>(RuntimeOptions{.max_fs_threads = 1, .io_uring = false});
        auto& pool = pollux::detail::work_pool(rt->io_context());
        // Lets the FIFO's reader go once the runtime's shutdown has begun
        // (the pool refuses work); the shutdown waits for that running job.
        // Started first, and told by `dropping`'s destructor (before the
        // runtime's), so that a failed REQUIRE below still ends the job.
        opener = std::jthread([&pool, &fifo, &go] {
            while (!go) {
                std::this_thread::sleep_for(1ms);
            }
            while (pool.submit(std::make_unique<pollux::detail::FnWorkJob<void (*)()>>(+[] {}),
                               pollux::detail::WorkKind::abandonable)) {
                std::this_thread::sleep_for(1ms);
            }
            const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                ::close(fd);
            }
        });
        struct Dropping {
            std::atomic<bool>& go;
            ~Dropping() { go = true; }
        } dropping{go};
        rt->block_on([&]() -> Async<> {
            spawn(fs::read(fifo));
            for (const char* name : {"a", "b", "c"}) {
                spawn(fs::write(dir / name, name)); // mandatory
                spawn(fs::read(dir / "r"));         // abandonable
            }
            // Hang guard only: the spawned tasks submit on their first poll.
            auto all_in = [&] {
                const auto m = pool.metrics();
                return m.fs_running == 1 && m.queued == 6;
            };
            for (int i = 0; i < 60'000 && !all_in(); ++i) {
                co_await time::sleep(1ms);
            }
            REQUIRE(pool.metrics().queued == 6);
            // Queued behind the cap too, after the FIFO's read took the slot.
            REQUIRE(pollux::detail::submit_blocking(
                rt->io_context(),
                [&] { ++dropped_ran; },
                pollux::detail::WorkKind::abandonable,
                pollux::detail::WorkLane::fs));
            REQUIRE(pool.metrics().queued == 7);
            REQUIRE(pool.metrics().fs_running == 1);
        }());
    } // `dropping`, then the runtime: its shutdown runs the writes
    opener.join();
    CHECK(dropped_ran == 0);
    for (const char* name : {"a", "b", "c"}) {
        auto f = slurp(dir / name);
        CHECK(f == name);
    }
}

TEST_CASE("fs functions report a full pool queue as EAGAIN and work again once it drains",
          "[fs][pool][errors]") {
    TempDir dir;
    put(dir / "f", "x");
    RuntimeOptions opts;
    opts.max_blocking_threads = 1;
    opts.max_queued_blocking = 1;
    opts.io_uring = false; // the pool's behaviour, also where a ring is allowed
    Runtime rt(opts);
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    rt.block_on([&]() -> Async<void> {
        std::promise<void> started;
        auto running = started.get_future();
        auto blocker = spawn_blocking([gate, &started] {
            started.set_value();
            gate.wait();
        });
        running.wait(); // the one thread is busy
        auto queued = spawn(fs::metadata(dir / "f"));
        co_await time::sleep(1ms); // let the task queue its job (the queue is now full)
        auto refused = co_await fs::metadata(dir / "f");
        REQUIRE_FALSE(refused);
        CHECK(refused.error() == errc::resource_unavailable_try_again);
        release.set_value();
        co_await blocker;
        auto m = co_await queued;
        CHECK(m);
        CHECK(co_await fs::metadata(dir / "f"));
    }());
}

TEST_CASE("fs futures polled outside a pollux task throw std::logic_error", "[fs][errors]") {
    auto f = fs::read("/nonexistent");
    auto waker = Waker::noop();
    Context cx(waker);
    CHECK_THROWS_AS(f.poll(cx), std::logic_error);
}
