// pollux::fs::File and OpenOptions, against tokio's fs::File: one operation
// in flight at a time, writes accepted into the buffer and completed on the
// pool, cancel-safe reads, and teardown with operations in flight.
#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/fs.hpp>
#include <pollux/fs/file.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"
#include "support/temp_dir.hpp"

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <fcntl.h>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using errc = boost::system::errc::errc_t;
using pollux::test::open_fds;
using pollux::test::TempDir;
namespace asio = boost::asio;

static_assert(io::AsyncRead<fs::File>);
static_assert(io::AsyncWrite<fs::File>);
static_assert(Stream<fs::ReadDir>);

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

std::string pattern(std::size_t n) {
    std::string s;
    s.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        s.push_back(static_cast<char>('A' + (i * 7 + i / 251) % 61));
    }
    return s;
}

// Reads `f` to its end.
Async<std::string> read_to_end(fs::File& f) {
    std::string all;
    char buf[10000];
    for (;;) {
        auto n = co_await io::read(f, asio::buffer(buf));
        REQUIRE(n);
        if (*n == 0) {
            co_return all;
        }
        all.append(buf, *n);
    }
}

fs::File open_ok(Runtime& rt, fs::OpFuture<fs::File> open) {
    auto f = rt.block_on(std::move(open));
    REQUIRE(f);
    return std::move(*f);
}

// Polls `*fut` once inside a task of `rt`; true when it was Pending.
template <class F>
bool pending_once(Runtime& rt, F& fut) {
    return rt.block_on(
        poll_fn<bool>([&](Context& cx) -> Poll<bool> { return Ready{fut.poll(cx).is_pending()}; }));
}

// Keeps the single thread of a pool busy until release() (from any thread,
// once; the destructor releases too).
class PoolBlocker {
public:
    explicit PoolBlocker(Runtime& rt) : gate_(std::make_shared<Gate>()) {
        std::promise<void> started;
        auto running = started.get_future();
        rt.block_on([&]() -> Async<void> {
            auto h = spawn_blocking([gate = gate_->open.get_future().share(), &started] {
                started.set_value();
                gate.wait();
            });
            (void)h;
            co_return;
        }());
        running.wait();
    }
    PoolBlocker(const PoolBlocker&) = delete;
    PoolBlocker& operator=(const PoolBlocker&) = delete;
    ~PoolBlocker() { release(); }
    void release() const { gate_->release(); }
    // A thread that releases it after `d` (join it).
    std::thread release_after(std::chrono::milliseconds d) const {
        return std::thread([gate = gate_, d] {
            std::this_thread::sleep_for(d);
            gate->release();
        });
    }

private:
    struct Gate {
        std::promise<void> open;
        std::once_flag once;
        void release() {
            std::call_once(once, [this] { open.set_value(); });
        }
    };
    std::shared_ptr<Gate> gate_;
};

RuntimeOptions one_thread_pool() {
    RuntimeOptions o;
    o.max_blocking_threads = 1;
    return o;
}

// Waits (hang guard: 10 s) until `cond()`, running `rt` meanwhile: an
// operation on the ring (lib/fs/backend.cpp) is submitted and completed only
// while its io_context runs, one on the pool on the pool's threads.
template <class Cond>
bool eventually_running(Runtime& rt, Cond cond) {
    for (int i = 0; i < 10000; ++i) {
        if (cond()) {
            return true;
        }
        rt.block_on(time::sleep(1ms));
    }
    return cond();
}

// The first file operation of `rt` makes the backend's own descriptors (the
// reactor's, and the ring's where the kernel allows one); a test that counts
// descriptors while `rt` lives starts counting after it.
void first_file_op(Runtime& rt, const std::filesystem::path& dir) {
    REQUIRE(rt.block_on(fs::metadata(dir)));
}

// Whether `rt` runs its file operations on an io_uring ring (after
// first_file_op).
bool on_ring(Runtime& rt) {
    return rt.metrics().fs_backend == "io_uring";
}

// Waits (hang guard: 10 s) until `cond()`.
template <class Cond>
bool eventually(Cond cond) {
    for (int i = 0; i < 10000; ++i) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(1ms);
    }
    return cond();
}

} // namespace

// ---- basics ----------------------------------------------------------------------------------

TEST_CASE("File::create, write_all and flush, then File::open reads the same bytes back",
          "[fs][file]") {
    TempDir dir;
    const std::string data = pattern(5 * 1024 * 1024 + 123); // more than two buffers
    Runtime rt;
    {
        auto f = open_ok(rt, fs::File::create(dir / "f"));
        REQUIRE(rt.block_on(io::write_all(f, asio::buffer(data))));
        REQUIRE(rt.block_on(io::flush(f)));
    }
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    CHECK(rt.block_on(read_to_end(f)) == data);
}

TEST_CASE("File::poll_write accepts at most max_buf_size bytes (tokio: 2 MiB) at a time",
          "[fs][file]") {
    TempDir dir;
    Runtime rt;
    auto f = open_ok(rt, fs::File::create(dir / "f"));
    CHECK(f.max_buf_size() == 2 * 1024 * 1024);
    f.set_max_buf_size(1000);
    const std::string data = pattern(5000);
    auto n = rt.block_on(io::write(f, asio::buffer(data)));
    REQUIRE(n);
    CHECK(*n == 1000);
    REQUIRE(rt.block_on(io::flush(f)));
    CHECK(slurp(dir / "f") == data.substr(0, 1000));
}

TEST_CASE("File::from_fd takes a descriptor and native_handle gives it; into_fd gives it back",
          "[fs][file]") {
    TempDir dir;
    put(dir / "f", "abcdef");
    Runtime rt;
    const int raw = ::open((dir / "f").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(raw >= 0);
    auto f = fs::File::from_fd(raw);
    CHECK(f.native_handle() == raw);
    char buf[3];
    auto n = rt.block_on(io::read(f, asio::buffer(buf)));
    REQUIRE(n);
    CHECK(*n == 3);
    auto fd = f.into_fd();
    REQUIRE(fd);
    CHECK(*fd == raw);
    CHECK(f.native_handle() == -1);
    // The bytes read ahead into the buffer were given back: the position is
    // where the caller read to.
    CHECK(::lseek(*fd, 0, SEEK_CUR) == 3);
    ::close(*fd);
}

TEST_CASE("File::into_fd fails with EBUSY while a write is in flight", "[fs][file]") {
    TempDir dir;
    Runtime rt(one_thread_pool());
    auto f = open_ok(rt, fs::File::create(dir / "f"));
    PoolBlocker blocker(rt);
    REQUIRE(rt.block_on(io::write(f, asio::buffer("abc", 3))));
    auto busy = f.into_fd();
    REQUIRE_FALSE(busy);
    CHECK(busy.error() == errc::device_or_resource_busy);
    blocker.release();
    REQUIRE(rt.block_on(io::flush(f)));
    auto fd = f.into_fd();
    REQUIRE(fd);
    ::close(*fd);
    CHECK(slurp(dir / "f") == "abc");
}

TEST_CASE("File::try_clone shares the file position", "[fs][file]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    REQUIRE(rt.block_on(f.seek(fs::SeekFrom::start(4))));
    auto g = f.try_clone();
    REQUIRE(g);
    CHECK(g->native_handle() != f.native_handle());
    CHECK(rt.block_on(read_to_end(*g)) == "456789");
}

// ---- OpenOptions ------------------------------------------------------------------------------

TEST_CASE("OpenOptions refuses invalid combinations with EINVAL (std's rules)",
          "[fs][open_options]") {
    TempDir dir;
    Runtime rt;
    auto check_einval = [&](fs::OpenOptions o) {
        auto r = rt.block_on(o.open(dir / "x"));
        REQUIRE_FALSE(r);
        CHECK(r.error() == errc::invalid_argument);
    };
    check_einval(fs::OpenOptions());                             // no access
    check_einval(fs::OpenOptions().read(true).create(true));     // create needs write
    check_einval(fs::OpenOptions().read(true).truncate(true));   // truncate needs write
    check_einval(fs::OpenOptions().append(true).truncate(true)); // append + truncate
    CHECK_FALSE(std::filesystem::exists(dir / "x"));
}

TEST_CASE("OpenOptions::create_new fails with EEXIST on an existing file", "[fs][open_options]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt;
    auto r = rt.block_on(fs::OpenOptions().write(true).create_new(true).open(dir / "f"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::file_exists);
    auto fresh =
        rt.block_on(fs::OpenOptions().write(true).create_new(true).mode(0600).open(dir / "g"));
    REQUIRE(fresh);
    struct stat st {};
    REQUIRE(::stat((dir / "g").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("OpenOptions::append writes at the end", "[fs][open_options]") {
    TempDir dir;
    put(dir / "f", "head-");
    Runtime rt;
    auto f = open_ok(rt, fs::OpenOptions().append(true).open(dir / "f"));
    REQUIRE(rt.block_on(io::write_all(f, asio::buffer("tail", 4))));
    REQUIRE(rt.block_on(io::flush(f)));
    CHECK(slurp(dir / "f") == "head-tail");
}

TEST_CASE("OpenOptions::open of a missing file without create fails with ENOENT",
          "[fs][open_options][errors]") {
    TempDir dir;
    Runtime rt;
    auto r = rt.block_on(fs::File::open(dir / "missing"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_such_file_or_directory);
}

TEST_CASE("A directory opened for writing fails with EISDIR; opened read-only, its read fails with "
          "EISDIR",
          "[fs][file][errors]") {
    TempDir dir;
    Runtime rt;
    auto w = rt.block_on(fs::OpenOptions().write(true).open(dir.path()));
    REQUIRE_FALSE(w);
    CHECK(w.error() == errc::is_a_directory);
    auto f = open_ok(rt, fs::File::open(dir.path()));
    char buf[16];
    auto n = rt.block_on(io::read(f, asio::buffer(buf)));
    REQUIRE_FALSE(n);
    CHECK(n.error() == errc::is_a_directory);
    // The runtime keeps serving.
    CHECK(rt.block_on(fs::metadata(dir.path())));
}

TEST_CASE("File::poll_read of a write-only file fails with EBADF", "[fs][file][errors]") {
    TempDir dir;
    Runtime rt;
    auto f = open_ok(rt, fs::File::create(dir / "f"));
    char buf[4];
    auto n = rt.block_on(io::read(f, asio::buffer(buf)));
    REQUIRE_FALSE(n);
    CHECK(n.error() == errc::bad_file_descriptor);
}

TEST_CASE("A write to /dev/full is accepted, and flush reports ENOSPC (tokio: the next operation "
          "reports it)",
          "[fs][file][errors]") {
    Runtime rt;
    auto f = open_ok(rt, fs::OpenOptions().write(true).open("/dev/full"));
    auto n = rt.block_on(io::write(f, asio::buffer("data", 4)));
    REQUIRE(n);
    CHECK(*n == 4);
    auto flushed = rt.block_on(io::flush(f));
    REQUIRE_FALSE(flushed);
    CHECK(flushed.error() == errc::no_space_on_device);
    // Reported once.
    CHECK(rt.block_on(io::flush(f)));
}

TEST_CASE("File::sync_all reports a failed write's error", "[fs][file][errors]") {
    Runtime rt;
    auto f = open_ok(rt, fs::OpenOptions().write(true).open("/dev/full"));
    REQUIRE(rt.block_on(io::write(f, asio::buffer("data", 4))));
    auto r = rt.block_on(f.sync_all());
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_space_on_device);
}

TEST_CASE("File::open fails with EMFILE at the descriptor limit, and works again after",
          "[fs][file][errors]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt;
    REQUIRE(rt.block_on(fs::metadata(dir / "f"))); // the pool's thread is up
    struct rlimit old {};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    int highest = 0;
    for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        highest = std::max(highest, std::stoi(e.path().filename().string()));
    }
    struct rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(highest + 8);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::vector<fs::File> files;
    std::optional<boost::system::error_code> failure;
    // Holes below the highest descriptor fill first.
    for (int i = 0; i < highest + 64 && !failure; ++i) {
        auto f = rt.block_on(fs::File::open(dir / "f"));
        if (f) {
            files.push_back(std::move(*f));
        } else {
            failure = f.error();
        }
    }
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &old) == 0);
    REQUIRE(failure);
    CHECK(*failure == errc::too_many_files_open);
    files.clear();
    CHECK(rt.block_on(fs::File::open(dir / "f")));
}

TEST_CASE("A file removed while it is read: the open File reads every byte, the path is gone",
          "[fs][file][errors]") {
    TempDir dir;
    const std::string data = pattern(300000);
    put(dir / "f", data);
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    char first[1000];
    REQUIRE(rt.block_on(io::read_exact(f, asio::buffer(first))));
    REQUIRE(rt.block_on(fs::remove_file(dir / "f")));
    auto gone = rt.block_on(fs::metadata(dir / "f"));
    REQUIRE_FALSE(gone);
    CHECK(gone.error() == errc::no_such_file_or_directory);
    auto rest = rt.block_on(read_to_end(f));
    CHECK(std::string(first, sizeof first) + rest == data);
    auto m = rt.block_on(f.metadata());
    REQUIRE(m);
    CHECK(m->nlink() == 0);
    auto again = rt.block_on(fs::read(dir / "f"));
    REQUIRE_FALSE(again);
    CHECK(again.error() == errc::no_such_file_or_directory);
}

// ---- seek, set_len, sync, metadata -------------------------------------------------------------

TEST_CASE("File::seek from the start, the end and the current position returns the new position",
          "[fs][file][seek]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    auto p = rt.block_on(f.seek(fs::SeekFrom::end(-3)));
    REQUIRE(p);
    CHECK(*p == 7);
    p = rt.block_on(f.seek(fs::SeekFrom::start(2)));
    REQUIRE(p);
    CHECK(*p == 2);
    p = rt.block_on(f.seek(fs::SeekFrom::current(3)));
    REQUIRE(p);
    CHECK(*p == 5);
    CHECK(rt.block_on(read_to_end(f)) == "56789");
    auto bad = rt.block_on(f.seek(fs::SeekFrom::current(-100)));
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == errc::invalid_argument);
}

TEST_CASE("File::seek from the current position counts from what the caller read, not what was "
          "read ahead",
          "[fs][file][seek]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    char two[2];
    // The pool read fills the buffer with all 10 bytes; the caller took 2.
    REQUIRE(rt.block_on(io::read_exact(f, asio::buffer(two))));
    auto p = rt.block_on(f.seek(fs::SeekFrom::current(1)));
    REQUIRE(p);
    CHECK(*p == 3);
    CHECK(rt.block_on(read_to_end(f)) == "3456789");
}

TEST_CASE("A write after a partial read lands where the caller read to", "[fs][file]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt;
    auto f = open_ok(rt, fs::OpenOptions().read(true).write(true).open(dir / "f"));
    char four[4];
    REQUIRE(rt.block_on(io::read_exact(f, asio::buffer(four))));
    REQUIRE(rt.block_on(io::write_all(f, asio::buffer("xy", 2))));
    REQUIRE(rt.block_on(io::flush(f)));
    CHECK(slurp(dir / "f") == "0123xy6789");
}

TEST_CASE("File::set_len truncates and extends; the position is unchanged", "[fs][file]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt;
    auto f = open_ok(rt, fs::OpenOptions().read(true).write(true).open(dir / "f"));
    REQUIRE(rt.block_on(f.set_len(4)));
    CHECK(slurp(dir / "f") == "0123");
    REQUIRE(rt.block_on(f.set_len(6)));
    CHECK(slurp(dir / "f") == std::string("0123\0\0", 6));
    auto p = rt.block_on(f.seek(fs::SeekFrom::current(0)));
    REQUIRE(p);
    CHECK(*p == 0);
}

TEST_CASE("File::metadata waits for the write in flight, so its length counts it", "[fs][file]") {
    TempDir dir;
    Runtime rt;
    auto f = open_ok(rt, fs::File::create(dir / "f"));
    REQUIRE(rt.block_on(io::write_all(f, asio::buffer(pattern(12345)))));
    auto m = rt.block_on(f.metadata());
    REQUIRE(m);
    CHECK(m->len() == 12345);
    CHECK(m->is_file());
}

TEST_CASE("File::sync_all and sync_data succeed after writes", "[fs][file]") {
    TempDir dir;
    Runtime rt;
    auto f = open_ok(rt, fs::File::create(dir / "f"));
    REQUIRE(rt.block_on(io::write_all(f, asio::buffer("synced", 6))));
    CHECK(rt.block_on(f.sync_all()));
    REQUIRE(rt.block_on(io::write_all(f, asio::buffer("!", 1))));
    CHECK(rt.block_on(f.sync_data()));
    CHECK(slurp(dir / "f") == "synced!");
}

// ---- read_at / write_at -------------------------------------------------------------------------

TEST_CASE("File::read_at and write_at are positional: the file position does not move",
          "[fs][file][positional]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt;
    auto f = open_ok(rt, fs::OpenOptions().read(true).write(true).open(dir / "f"));
    char buf[3];
    auto n = rt.block_on(f.read_at(asio::buffer(buf), 5));
    REQUIRE(n);
    CHECK(*n == 3);
    CHECK(std::string(buf, 3) == "567");
    auto w = rt.block_on(f.write_at(asio::buffer("AB", 2), 8));
    REQUIRE(w);
    CHECK(*w == 2);
    auto end = rt.block_on(f.read_at(asio::buffer(buf), 10));
    REQUIRE(end);
    CHECK(*end == 0);
    CHECK(rt.block_on(read_to_end(f)) == "01234567AB");
}

TEST_CASE("Many File::read_at run at once and each gets its own bytes", "[fs][file][positional]") {
    TempDir dir;
    const std::string data = pattern(64 * 4096);
    put(dir / "f", data);
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    rt.block_on([&]() -> Async<void> {
        std::vector<std::vector<char>> bufs(64, std::vector<char>(4096));
        std::vector<JoinHandle<Result<std::size_t>>> reads;
        for (std::size_t i = 0; i < 64; ++i) {
            const std::size_t block = (i * 37) % 64;
            reads.push_back(spawn(f.read_at(asio::buffer(bufs[i]), block * 4096)));
        }
        for (std::size_t i = 0; i < 64; ++i) {
            auto n = co_await reads[i];
            REQUIRE(n);
            CHECK(*n == 4096);
            const std::size_t block = (i * 37) % 64;
            CHECK(std::string(bufs[i].data(), 4096) == data.substr(block * 4096, 4096));
        }
    }());
}

// ---- read_at_owned
// -------------------------------------------------------------------------------

static std::vector<std::byte> bytes_of(std::size_t n) {
    return std::vector<std::byte>(n, std::byte{'.'});
}

static std::string text_of(const std::vector<std::byte>& b, std::size_t n) {
    return std::string(reinterpret_cast<const char*>(b.data()), n);
}

TEST_CASE("File::read_at_owned reads into the caller's buffer itself and hands it back",
          "[fs][file][positional][owned]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    auto buf = bytes_of(3);
    const std::byte* storage = buf.data();
    auto r = rt.block_on(f.read_at_owned(std::move(buf), 5));
    REQUIRE(r.result);
    CHECK(*r.result == 3);
    CHECK(r.buf.data() == storage); // the same allocation: no copy
    CHECK(text_of(r.buf, 3) == "567");
    CHECK(rt.block_on(read_to_end(f)) == "0123456789"); // the position did not move
}

TEST_CASE("File::read_at_owned at the end of the file completes with 0 and the buffer",
          "[fs][file][positional][owned]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    auto r = rt.block_on(f.read_at_owned(bytes_of(4), 10));
    REQUIRE(r.result);
    CHECK(*r.result == 0);
    CHECK(r.buf.size() == 4);
}

TEST_CASE("File::read_at_owned with an empty buffer is ready with 0 without reading",
          "[fs][file][positional][owned]") {
    TempDir dir;
    put(dir / "f", "abc");
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    auto fut = f.read_at_owned({}, 0);
    auto r = rt.block_on(std::move(fut));
    REQUIRE(r.result);
    CHECK(*r.result == 0);
    CHECK(r.buf.empty());
}

TEST_CASE("File::read_at_owned past INT64_MAX fails with EINVAL and hands the buffer back",
          "[fs][file][positional][owned][errors]") {
    TempDir dir;
    put(dir / "f", "abc");
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    auto r = rt.block_on(f.read_at_owned(bytes_of(8), std::uint64_t{1} << 63));
    REQUIRE_FALSE(r.result);
    CHECK(r.result.error() == errc::invalid_argument);
    CHECK(r.buf.size() == 8);
}

TEST_CASE("Many File::read_at_owned run at once and each buffer comes back with its own bytes",
          "[fs][file][positional][owned]") {
    TempDir dir;
    const std::string data = pattern(64 * 4096);
    put(dir / "f", data);
    Runtime rt;
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    rt.block_on([&]() -> Async<void> {
        std::vector<JoinHandle<fs::OwnedRead>> reads;
        for (std::size_t i = 0; i < 64; ++i) {
            reads.push_back(spawn(f.read_at_owned(bytes_of(4096), ((i * 37) % 64) * 4096)));
        }
        for (std::size_t i = 0; i < 64; ++i) {
            auto r = co_await reads[i];
            REQUIRE(r.result);
            CHECK(*r.result == 4096);
            CHECK(text_of(r.buf, 4096) == data.substr(((i * 37) % 64) * 4096, 4096));
        }
    }());
}

TEST_CASE("File::read_at_owned refused by a full pool queue fails with EAGAIN and hands the "
          "buffer back",
          "[fs][file][positional][owned][pool][errors]") {
    TempDir dir;
    put(dir / "f", "abc");
    RuntimeOptions opts = one_thread_pool();
    opts.max_queued_blocking = 1;
    opts.io_uring = false;
    Runtime rt(opts);
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    PoolBlocker blocker(rt);
    auto queued = fs::metadata(dir / "f");
    CHECK(pending_once(rt, queued)); // the queue is now full
    auto r = rt.block_on(f.read_at_owned(bytes_of(3), 0));
    REQUIRE_FALSE(r.result);
    CHECK(r.result.error() == errc::resource_unavailable_try_again);
    CHECK(r.buf.size() == 3);
    blocker.release();
    CHECK(rt.block_on(std::move(queued)));
}

TEST_CASE("A read_at_owned dropped while queued on the pool: the read still runs into the "
          "buffer it keeps, then frees it, and the descriptor closes after it",
          "[fs][file][positional][owned][cancel][teardown]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    RuntimeOptions opts = one_thread_pool();
    opts.io_uring = false;
    Runtime rt(opts);
    first_file_op(rt, dir.path());
    const auto before = open_fds();
    {
        auto f = open_ok(rt, fs::File::open(dir / "f"));
        PoolBlocker blocker(rt);
        auto r = f.read_at_owned(bytes_of(4), 2);
        CHECK(pending_once(rt, r));
    } // the future and the File are dropped with the read queued; the blocker releases
    // The read job runs (pread into the dropped future's buffer: ASan would
    // report a use after free) and drops the last reference to the file.
    CHECK(eventually_running(rt, [&] { return open_fds() == before; }));
}

TEST_CASE("A pending read_at_owned dropped on another thread releases its waker there and the "
          "read completes into the buffer it keeps",
          "[fs][file][positional][owned][cancel][teardown]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    RuntimeOptions opts = one_thread_pool();
    opts.io_uring = false;
    Runtime rt(opts);
    first_file_op(rt, dir.path());
    const auto before = open_fds();
    {
        auto f = open_ok(rt, fs::File::open(dir / "f"));
        PoolBlocker blocker(rt);
        auto r = std::make_unique<fs::OwnedReadFuture>(f.read_at_owned(bytes_of(4), 2));
        CHECK(pending_once(rt, *r));
        std::thread([r = std::move(r)]() mutable { r.reset(); }).join();
    } // the File is dropped with the read queued; the blocker releases
    CHECK(eventually_running(rt, [&] { return open_fds() == before; }));
}

TEST_CASE("A read_at_owned queued on the pool when its runtime is destroyed is dropped unrun "
          "with its buffer",
          "[fs][file][positional][owned][teardown]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    RuntimeOptions opts = one_thread_pool();
    opts.io_uring = false;
    const auto before = open_fds();
    {
        std::optional<Runtime> rt(std::in_place, opts);
        auto f = open_ok(*rt, fs::File::open(dir / "f"));
        auto blocker = std::make_unique<PoolBlocker>(*rt);
        {
            auto r = f.read_at_owned(bytes_of(4), 2);
            CHECK(pending_once(*rt, r));
        }
        std::thread releaser = blocker->release_after(20ms);
        rt.reset(); // waits for the blocker's job, drops the read's unrun
        releaser.join();
    }
    CHECK(open_fds() == before);
}

// ---- cancel safety
// --------------------------------------------------------------------------------

TEST_CASE("A write_all dropped while its write runs on the pool: the accepted bytes are written, "
          "the next flush waits",
          "[fs][file][cancel]") {
    TempDir dir;
    const std::string data = pattern(10000);
    Runtime rt(one_thread_pool());
    auto f = open_ok(rt, fs::File::create(dir / "f"));
    f.set_max_buf_size(4096);
    PoolBlocker blocker(rt);
    {
        auto wa = io::write_all(f, asio::buffer(data));
        // The first 4096 bytes are accepted and queued; the rest waits for them.
        CHECK(pending_once(rt, wa));
    } // dropped mid-flight
    blocker.release();
    REQUIRE(rt.block_on(io::flush(f)));
    CHECK(slurp(dir / "f") == data.substr(0, 4096));
}

TEST_CASE("A read dropped while it runs on the pool loses no byte: the next reads return "
          "everything in order",
          "[fs][file][cancel]") {
    TempDir dir;
    const std::string data = pattern(200000);
    put(dir / "f", data);
    Runtime rt(one_thread_pool());
    auto f = open_ok(rt, fs::File::open(dir / "f"));
    PoolBlocker blocker(rt);
    {
        char buf[65536];
        auto rd = io::read(f, asio::buffer(buf));
        CHECK(pending_once(rt, rd)); // queued behind the blocker
    }                                // dropped: its bytes will land in the File's buffer
    blocker.release();
    CHECK(rt.block_on(read_to_end(f)) == data);
}

TEST_CASE("A sync_all dropped mid-flight completes on the pool; the next operation waits for it",
          "[fs][file][cancel]") {
    TempDir dir;
    Runtime rt(one_thread_pool());
    auto f = open_ok(rt, fs::OpenOptions().read(true).write(true).create(true).open(dir / "f"));
    REQUIRE(rt.block_on(io::write_all(f, asio::buffer("abc", 3))));
    PoolBlocker blocker(rt);
    {
        auto sync = f.sync_all();
        CHECK(pending_once(rt, sync));
    }
    blocker.release();
    auto p = rt.block_on(f.seek(fs::SeekFrom::start(0)));
    REQUIRE(p);
    CHECK(rt.block_on(read_to_end(f)) == "abc");
}

// ---- teardown
// --------------------------------------------------------------------------------------

TEST_CASE("A File write queued when the Runtime is destroyed still runs; the File dropped later "
          "closes its descriptor",
          "[fs][file][teardown]") {
    TempDir dir;
    const auto before = open_fds();
    std::optional<fs::File> file;
    std::thread releaser;
    {
        Runtime rt(one_thread_pool());
        file.emplace(open_ok(rt, fs::File::create(dir / "f")));
        PoolBlocker blocker(rt);
        auto n = rt.block_on(io::write(*file, asio::buffer("survives", 8)));
        REQUIRE(n);
        // Released while the runtime's destructor waits for the pool.
        releaser = blocker.release_after(20ms);
    } // ~Runtime: the blocker's job ends, then the queued (mandatory) write runs
    releaser.join();
    CHECK(slurp(dir / "f") == "survives");
    file.reset();
    CHECK(open_fds() == before);
}

TEST_CASE("A File read queued when the Runtime is destroyed is dropped unrun; the File dropped "
          "later closes its descriptor",
          "[fs][file][teardown]") {
    TempDir dir;
    put(dir / "f", "unread");
    const auto before = open_fds();
    std::optional<fs::File> file;
    std::thread releaser;
    {
        Runtime rt(one_thread_pool());
        file.emplace(open_ok(rt, fs::File::open(dir / "f")));
        PoolBlocker blocker(rt);
        char buf[16];
        auto rd = io::read(*file, asio::buffer(buf));
        CHECK(pending_once(rt, rd));
        releaser = blocker.release_after(20ms);
    }
    releaser.join();
    file.reset();
    CHECK(open_fds() == before);
}

TEST_CASE("A File dropped on another thread while its write runs: the write lands, then the "
          "descriptor closes",
          "[fs][file][teardown]") {
    TempDir dir;
    Runtime rt(one_thread_pool());
    first_file_op(rt, dir.path());
    const auto before = open_fds();
    auto f = open_ok(rt, fs::File::create(dir / "f"));
    PoolBlocker blocker(rt);
    REQUIRE(rt.block_on(io::write(f, asio::buffer("dropped elsewhere", 17))));
    std::thread([g = std::move(f)]() mutable { fs::File(std::move(g)); }).join();
    blocker.release();
    CHECK(eventually_running(rt, [&] { return open_fds() == before; }));
    CHECK(slurp(dir / "f") == "dropped elsewhere");
}

TEST_CASE("A File dropped on another thread while its read is in flight, then the Runtime "
          "destroyed, leaks nothing",
          "[fs][file][teardown]") {
    TempDir dir;
    put(dir / "f", pattern(100000));
    const auto before = open_fds();
    {
        Runtime rt(one_thread_pool());
        auto f = open_ok(rt, fs::File::open(dir / "f"));
        PoolBlocker blocker(rt);
        char buf[4096];
        auto rd = io::read(f, asio::buffer(buf));
        CHECK(pending_once(rt, rd));
        std::thread dropper([g = std::move(f)]() mutable { fs::File(std::move(g)); });
        blocker.release();
        dropper.join();
    }
    CHECK(open_fds() == before);
}

TEST_CASE("An open whose future is dropped mid-flight closes the File it opened on the pool",
          "[fs][file][teardown]") {
    TempDir dir;
    put(dir / "f", "x");
    Runtime rt(one_thread_pool());
    first_file_op(rt, dir.path());
    const auto before = open_fds();
    PoolBlocker blocker(rt);
    {
        auto open = fs::File::open(dir / "f");
        CHECK(pending_once(rt, open));
    }
    blocker.release();
    CHECK(eventually_running(rt, [&] { return open_fds() == before; }));
    CHECK(rt.block_on(fs::File::open(dir / "f")));
}

TEST_CASE("A ReadDir dropped while a batch is read closes the directory when the batch ends",
          "[fs][read_dir][teardown]") {
    TempDir dir;
    for (int i = 0; i < 10; ++i) {
        put(dir / std::to_string(i), "x");
    }
    const auto before = open_fds();
    Runtime rt(one_thread_pool());
    {
        auto entries = rt.block_on(fs::read_dir(dir.path()));
        REQUIRE(entries);
        PoolBlocker blocker(rt);
        auto n = next(*entries);
        CHECK(pending_once(rt, n));
        std::thread dropper([e = std::move(*entries)]() mutable { fs::ReadDir(std::move(e)); });
        dropper.join();
    }
    CHECK(eventually([&] { return open_fds() == before; }));
}

TEST_CASE("fs::write queued when the Runtime is destroyed still runs (mandatory); its future and a "
          "queued fs::metadata's are dropped after the runtime",
          "[fs][teardown]") {
    TempDir dir;
    std::thread releaser;
    std::optional<fs::OpFuture<void>> w;
    std::optional<fs::OpFuture<fs::Metadata>> m;
    {
        Runtime rt(one_thread_pool());
        PoolBlocker blocker(rt);
        w.emplace(fs::write(dir / "late", std::string_view("written at shutdown")));
        CHECK(pending_once(rt, *w));
        m.emplace(fs::metadata(dir.path()));
        CHECK(pending_once(rt, *m));
        releaser = blocker.release_after(20ms);
    }
    releaser.join();
    CHECK(slurp(dir / "late") == "written at shutdown");
    w.reset();
    m.reset();
}

TEST_CASE("A read_at and a write_at dropped mid-flight: the write lands, the descriptor closes "
          "after both",
          "[fs][file][positional][teardown]") {
    TempDir dir;
    put(dir / "f", "0123456789");
    Runtime rt(one_thread_pool());
    first_file_op(rt, dir.path());
    const auto before = open_fds();
    {
        auto f = open_ok(rt, fs::OpenOptions().read(true).write(true).open(dir / "f"));
        PoolBlocker blocker(rt);
        char buf[4];
        auto r = f.read_at(asio::buffer(buf), 2);
        CHECK(pending_once(rt, r));
        auto w = f.write_at(asio::buffer("XY", 2), 4);
        CHECK(pending_once(rt, w));
        auto busy = f.into_fd();
        REQUIRE_FALSE(busy);
        CHECK(busy.error() == errc::device_or_resource_busy);
    } // the futures are dropped with their jobs queued, the blocker releases, the File is dropped
    CHECK(eventually_running(rt, [&] { return open_fds() == before; }));
    CHECK(slurp(dir / "f") == "0123XY6789");
}

TEST_CASE("File reads, writes and syncs report a full pool queue as EAGAIN and accept nothing",
          "[fs][file][pool][errors]") {
    TempDir dir;
    put(dir / "f", "abc");
    RuntimeOptions opts = one_thread_pool();
    opts.max_queued_blocking = 1;
    opts.io_uring = false; // the pool's behaviour, also where a ring is allowed
    Runtime rt(opts);
    auto f = open_ok(rt, fs::OpenOptions().read(true).write(true).open(dir / "f"));
    PoolBlocker blocker(rt);
    auto queued = fs::metadata(dir / "f");
    CHECK(pending_once(rt, queued)); // the queue is now full
    char buf[3];
    auto r = rt.block_on(io::read(f, asio::buffer(buf)));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::resource_unavailable_try_again);
    auto w = rt.block_on(io::write(f, asio::buffer("zz", 2)));
    REQUIRE_FALSE(w);
    CHECK(w.error() == errc::resource_unavailable_try_again);
    auto s = rt.block_on(f.sync_all());
    REQUIRE_FALSE(s);
    CHECK(s.error() == errc::resource_unavailable_try_again);
    blocker.release();
    CHECK(rt.block_on(std::move(queued)));
    CHECK(rt.block_on(read_to_end(f)) == "abc");
    REQUIRE(rt.block_on(io::flush(f)));
    CHECK(slurp(dir / "f") == "abc");
}

// ---- the ring (lib/fs/backend.cpp) ------------------------------------------------------------

TEST_CASE("File's reads, writes, syncs and metadata take the ring where there is one, and the "
          "runtime's metrics count them",
          "[fs][file][uring]") {
    TempDir dir;
    put(dir / "f", "abc");
    Runtime rt(one_thread_pool());
    CHECK(rt.metrics().fs_backend == "undecided");
    first_file_op(rt, dir.path());
    if (!on_ring(rt)) {
        CHECK(rt.metrics().fs_backend == "pool");
        CHECK(rt.metrics().fs_ring_submitted == 0);
        WARN("io_uring is not available here (kernel, seccomp or POLLUX_IO_URING=0): the pool "
             "runs every file operation");
        return;
    }
    // The pool's one thread is held: only the ring can finish these.
    auto f = open_ok(rt, fs::OpenOptions().read(true).write(true).open(dir / "f"));
    PoolBlocker blocker(rt);
    const auto submitted = rt.metrics().fs_ring_submitted;
    REQUIRE(rt.block_on(io::write_all(f, asio::buffer("xyz", 3))));
    REQUIRE(rt.block_on(f.sync_all()));
    auto m = rt.block_on(f.metadata());
    REQUIRE(m);
    CHECK(m->len() == 3); // "xyz" over "abc", from position 0
    char buf[3];
    auto r = rt.block_on(f.read_at(asio::buffer(buf), 0));
    REQUIRE(r);
    CHECK(*r == 3);
    CHECK(std::string(buf, 3) == "xyz");
    // A write, an fsync, an fstat, a read: one submission each.
    CHECK(rt.metrics().fs_ring_submitted == submitted + 4);
    CHECK(rt.metrics().fs_ring_completed == rt.metrics().fs_ring_submitted);
    blocker.release();
}

TEST_CASE("A read_at future dropped while its read is on the ring cancels it; the File stays "
          "usable and nothing leaks",
          "[fs][file][uring][teardown]") {
    TempDir dir;
    put(dir / "f", pattern(100000));
    Runtime rt;
    first_file_op(rt, dir.path());
    if (!on_ring(rt)) {
        WARN("io_uring is not available here: ring-only case skipped");
        return;
    }
    const auto before = open_fds();
    {
        auto f = open_ok(rt, fs::File::open(dir / "f"));
        const auto submitted = rt.metrics().fs_ring_submitted;
        for (int i = 0; i < 100; ++i) {
            char buf[4096];
            auto r = f.read_at(asio::buffer(buf), static_cast<std::uint64_t>(i) * 512);
            CHECK(pending_once(rt, r)); // submitted; dropped here, before its completion ran
        }
        CHECK(rt.metrics().fs_ring_submitted == submitted + 100);
        // Every completion still comes (its own result, or -ECANCELED).
        CHECK(eventually_running(
            rt, [&] { return rt.metrics().fs_ring_completed == rt.metrics().fs_ring_submitted; }));
        char buf[5];
        auto r = rt.block_on(f.read_at(asio::buffer(buf), 0));
        REQUIRE(r);
        CHECK(std::string(buf, *r) == pattern(100000).substr(0, 5));
    }
    CHECK(open_fds() == before);
}
