// pollux::fs::File's read-ahead on the worker pool (docs/fs.md,
// "Read-ahead"): once a regular file was read sequentially, the next read
// runs on the pool while the caller copies the last one out. Every case
// runs with the ring off, where read-ahead applies, and checks that the
// caller still sees tokio's File: the position it read to, every byte in
// order, EOF and teardown as without read-ahead.
#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/fs.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"
#include "support/temp_dir.hpp"

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
#include <thread>
#include <unistd.h>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::open_fds;
using pollux::test::TempDir;
namespace asio = boost::asio;

namespace {

// The read size of every case: the File's max_buf_size, so each read asks
// for (and, inside the file, gets) exactly this much.
constexpr std::size_t chunk = 4096;

std::string pattern(std::size_t n) {
    std::string s;
    s.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        s.push_back(static_cast<char>('A' + (i * 7 + i / 251) % 61));
    }
    return s;
}

void put(const std::filesystem::path& p, const std::string& s, int flags = O_TRUNC) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
    ::close(fd);
}

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

// The worker pool only (read-ahead's backend), with one thread.
RuntimeOptions pool_options() {
    RuntimeOptions o;
    o.io_uring = false;
    o.max_blocking_threads = 1;
    return o;
}

fs::File open_chunked(Runtime& rt, fs::OpFuture<fs::File> open) {
    auto f = rt.block_on(std::move(open));
    REQUIRE(f);
    f->set_max_buf_size(chunk);
    return std::move(*f);
}

// One io::read of `n` bytes (at most).
std::string read_once(Runtime& rt, fs::File& f, std::size_t n = chunk) {
    std::string buf(n, '\0');
    auto r = rt.block_on(io::read(f, asio::buffer(buf)));
    REQUIRE(r);
    buf.resize(*r);
    return buf;
}

std::string read_to_end(Runtime& rt, fs::File& f) {
    std::string all;
    for (;;) {
        std::string s = read_once(rt, f);
        if (s.empty()) {
            return all;
        }
        all += s;
    }
}

off_t os_offset(const fs::File& f) {
    return ::lseek(f.native_handle(), 0, SEEK_CUR);
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

// Keeps the pool's one thread busy, once it gets it, until release()
// (once; the destructor releases too).
class PoolBlocker {
public:
    explicit PoolBlocker(Runtime& rt) : gate_(std::make_shared<Gate>()) {
        rt.block_on([&]() -> Async<void> {
            auto h = spawn_blocking([gate = gate_] {
                gate->started.set_value();
                gate->open.get_future().wait();
            });
            (void)h;
            co_return;
        }());
    }
    PoolBlocker(const PoolBlocker&) = delete;
    PoolBlocker& operator=(const PoolBlocker&) = delete;
    ~PoolBlocker() { release(); }
    // Waits until its job runs on the pool's thread.
    void wait_started() const { gate_->running.wait(); }
    void release() const { gate_->release(); }
    std::thread release_after(std::chrono::milliseconds d) const {
        return std::thread([gate = gate_, d] {
            std::this_thread::sleep_for(d);
            gate->release();
        });
    }

private:
    struct Gate {
        std::promise<void> started;
        std::shared_future<void> running = started.get_future().share();
        std::promise<void> open;
        std::once_flag once;
        void release() {
            std::call_once(once, [this] { open.set_value(); });
        }
    };
    std::shared_ptr<Gate> gate_;
};

// Reads the first two chunks of `f` (opened on `data`, at offset 0) so
// that the read-ahead of the third is queued on the pool behind a
// PoolBlocker, which it returns. The pool's one thread runs, in submission
// order: a first blocker, the second read, a second blocker; the read that
// hands out the second chunk then starts the read-ahead, which waits.
std::unique_ptr<PoolBlocker>
read_two_with_read_ahead_queued(Runtime& rt, fs::File& f, const std::string& data) {
    REQUIRE(read_once(rt, f) == data.substr(0, chunk));
    PoolBlocker first(rt);
    first.wait_started();
    std::string buf(chunk, '\0');
    auto rd = io::read(f, asio::buffer(buf));
    const bool pending = rt.block_on(
        poll_fn<bool>([&](Context& cx) -> Poll<bool> { return Ready{rd.poll(cx).is_pending()}; }));
    REQUIRE(pending); // queued behind `first`
    auto second = std::make_unique<PoolBlocker>(rt);
    first.release();
    second->wait_started(); // the second read ran before it
    REQUIRE(os_offset(f) == static_cast<off_t>(2 * chunk));
    auto n = rt.block_on(std::move(rd));
    REQUIRE(n);
    REQUIRE(*n == chunk);
    REQUIRE(buf == data.substr(chunk, chunk));
    return second;
}

} // namespace

TEST_CASE("Read-ahead: after two full reads of a regular file, the next read runs ahead of the "
          "caller (the descriptor's offset moves one read on)",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    CHECK(eventually([&] { return os_offset(f) == static_cast<off_t>(3 * chunk); }));
}

TEST_CASE("Read-ahead: the read-ahead asks for twice the caller's read (at most max_buf_size), and "
          "the position stays the caller's",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(20 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    f.set_max_buf_size(8 * chunk);
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    CHECK(eventually([&] { return os_offset(f) == static_cast<off_t>(4 * chunk); }));
    auto pos = rt.block_on(f.seek(fs::SeekFrom::current(0)));
    REQUIRE(pos);
    CHECK(*pos == 2 * chunk);
    CHECK(read_to_end(rt, f) == data.substr(2 * chunk));
}

TEST_CASE("Read-ahead: one read is not read ahead of (the offset stays where the caller read to "
          "once the File is idle)",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    REQUIRE(rt.block_on(io::flush(f))); // waits for anything in flight
    CHECK(os_offset(f) == static_cast<off_t>(chunk));
}

TEST_CASE("Read-ahead: a file read to its end in chunks gives every byte once, then 0 (a length "
          "that is not a multiple of the read size)",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(25 * chunk + 123);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_to_end(rt, f) == data);
    CHECK(read_once(rt, f).empty());
}

TEST_CASE("Read-ahead: a file read to its end in chunks gives every byte once, then 0 (a length "
          "that is a multiple of the read size)",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(25 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_to_end(rt, f) == data);
    CHECK(read_once(rt, f).empty());
}

TEST_CASE("Read-ahead: reads of changing sizes give every byte in order",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(40 * chunk + 7);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    f.set_max_buf_size(4 * chunk); // room for read-aheads longer than a read
    const std::size_t sizes[] = {chunk, chunk, chunk, 100, chunk, 5000, 1, chunk, chunk, 3000};
    std::string all;
    for (std::size_t i = 0;; ++i) {
        std::string s = read_once(rt, f, sizes[i % std::size(sizes)]);
        if (s.empty()) {
            break;
        }
        all += s;
    }
    CHECK(all == data);
}

TEST_CASE("Read-ahead: bytes read ahead are handed out by a poll_read outside any task, which "
          "starts no read-ahead",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    REQUIRE(rt.block_on(io::flush(f))); // the third chunk is read ahead
    Waker w = Waker::noop();
    Context cx(w);
    char buf[100];
    auto p = f.poll_read(cx, asio::buffer(buf)); // no task on this thread
    REQUIRE(p.is_ready());
    REQUIRE(p.value());
    CHECK(*p.value() == sizeof buf);
    CHECK(std::string(buf, sizeof buf) == data.substr(2 * chunk, sizeof buf));
    CHECK(os_offset(f) == static_cast<off_t>(3 * chunk)); // nothing more read ahead
    CHECK(read_to_end(rt, f) == data.substr(2 * chunk + sizeof buf));
}

TEST_CASE("Read-ahead: a file that grows after a read-ahead found its end: the next read returns "
          "the new bytes (the end is not remembered)",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(2 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    REQUIRE(rt.block_on(io::flush(f))); // the read-ahead found the end
    put(dir / "f", "grown", O_APPEND);
    CHECK(read_once(rt, f) == "grown");
    CHECK(read_once(rt, f).empty());
}

TEST_CASE("Read-ahead: seek(current(0)) with a read-ahead in flight returns the position the "
          "caller read to, and the next read the bytes after it",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f, 3 * chunk) == data.substr(chunk, chunk));
    CHECK(read_once(rt, f, 100) == data.substr(2 * chunk, 100));
    auto pos = rt.block_on(f.seek(fs::SeekFrom::current(0)));
    REQUIRE(pos);
    CHECK(*pos == 2 * chunk + 100);
    CHECK(read_to_end(rt, f) == data.substr(2 * chunk + 100));
}

TEST_CASE("Read-ahead: seek(start) after sequential reads discards the bytes read ahead",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    REQUIRE(rt.block_on(f.seek(fs::SeekFrom::start(10))));
    CHECK(read_to_end(rt, f) == data.substr(10));
}

TEST_CASE("Read-ahead: a write after sequential reads lands where the caller read to",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::OpenOptions().read(true).write(true).open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    REQUIRE(rt.block_on(io::write_all(f, asio::buffer("XYZ", 3))));
    REQUIRE(rt.block_on(io::flush(f)));
    std::string expect = data;
    expect.replace(2 * chunk, 3, "XYZ");
    CHECK(slurp(dir / "f") == expect);
}

TEST_CASE("Read-ahead: set_len after sequential reads leaves the position where the caller read "
          "to",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::OpenOptions().read(true).write(true).open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    REQUIRE(rt.block_on(f.set_len(3 * chunk)));
    auto pos = rt.block_on(f.seek(fs::SeekFrom::current(0)));
    REQUIRE(pos);
    CHECK(*pos == 2 * chunk);
    CHECK(read_to_end(rt, f) == data.substr(2 * chunk, chunk));
}

TEST_CASE("Read-ahead: metadata after sequential reads; the next reads continue where the caller "
          "read to",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    auto md = rt.block_on(f.metadata());
    REQUIRE(md);
    CHECK(md->len() == data.size());
    CHECK(read_to_end(rt, f) == data.substr(2 * chunk));
}

TEST_CASE("Read-ahead: into_fd fails with EBUSY while a read-ahead is in flight; after io::flush "
          "it gives the descriptor at the position the caller read to",
          "[fs][file][read_ahead]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    auto blocker = read_two_with_read_ahead_queued(rt, f, data);
    auto busy = f.into_fd();
    REQUIRE_FALSE(busy);
    CHECK(busy.error() == boost::system::errc::device_or_resource_busy);
    blocker->release();
    REQUIRE(rt.block_on(io::flush(f)));
    auto fd = f.into_fd();
    REQUIRE(fd);
    CHECK(::lseek(*fd, 0, SEEK_CUR) == static_cast<off_t>(2 * chunk));
    ::close(*fd);
}

TEST_CASE("Read-ahead: a pipe is not read ahead: after two full reads the rest is still in the "
          "pipe",
          "[fs][file][read_ahead]") {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    const std::string data = pattern(3 * chunk);
    REQUIRE(::write(p[1], data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    ::close(p[1]);
    Runtime rt(pool_options());
    auto f = fs::File::from_fd(p[0]);
    f.set_max_buf_size(chunk);
    CHECK(read_once(rt, f) == data.substr(0, chunk));
    CHECK(read_once(rt, f) == data.substr(chunk, chunk));
    REQUIRE(rt.block_on(io::flush(f))); // waits for anything in flight
    auto fd = f.into_fd();
    REQUIRE(fd);
    std::string rest(chunk, '\0');
    CHECK(::read(*fd, rest.data(), rest.size()) == static_cast<ssize_t>(chunk));
    CHECK(rest == data.substr(2 * chunk));
    ::close(*fd);
}

TEST_CASE("Read-ahead: a read dropped while it waits for the read-ahead loses no byte: the next "
          "reads return everything in order",
          "[fs][file][read_ahead][cancel]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    auto f = open_chunked(rt, fs::File::open(dir / "f"));
    auto blocker = read_two_with_read_ahead_queued(rt, f, data);
    {
        std::string buf(chunk, '\0');
        auto rd = io::read(f, asio::buffer(buf));
        const bool pending = rt.block_on(poll_fn<bool>(
            [&](Context& cx) -> Poll<bool> { return Ready{rd.poll(cx).is_pending()}; }));
        CHECK(pending); // waits for the read-ahead, queued behind the blocker
    }                   // dropped
    blocker->release();
    CHECK(read_to_end(rt, f) == data.substr(2 * chunk));
}

TEST_CASE("Read-ahead: a File dropped with its read-ahead in flight closes the descriptor once "
          "the job ends",
          "[fs][file][read_ahead][teardown]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    Runtime rt(pool_options());
    REQUIRE(rt.block_on(fs::metadata(dir.path()))); // the backend's own descriptors first
    const auto before = open_fds();
    std::optional<fs::File> f(open_chunked(rt, fs::File::open(dir / "f")));
    auto blocker = read_two_with_read_ahead_queued(rt, *f, data);
    f.reset();
    CHECK(open_fds() == before + 1); // the queued job holds it
    blocker->release();
    CHECK(eventually([&] { return open_fds() == before; }));
}

TEST_CASE("Read-ahead: a File dropped on another thread with its read-ahead in flight, then the "
          "Runtime destroyed, leaks nothing",
          "[fs][file][read_ahead][teardown]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    const auto before = open_fds();
    {
        Runtime rt(pool_options());
        auto f = open_chunked(rt, fs::File::open(dir / "f"));
        auto blocker = read_two_with_read_ahead_queued(rt, f, data);
        std::thread dropper([g = std::move(f)]() mutable { fs::File(std::move(g)); });
        blocker->release();
        dropper.join();
    }
    CHECK(open_fds() == before);
}

TEST_CASE("Read-ahead: a read-ahead queued when the Runtime is destroyed is dropped unrun; the "
          "File reads on in another Runtime from where the caller read to",
          "[fs][file][read_ahead][teardown]") {
    TempDir dir;
    const std::string data = pattern(10 * chunk);
    put(dir / "f", data);
    const auto before = open_fds();
    std::optional<fs::File> f;
    std::unique_ptr<PoolBlocker> blocker; // outlives the Runtime
    std::thread releaser;
    {
        Runtime rt(pool_options());
        f.emplace(open_chunked(rt, fs::File::open(dir / "f")));
        blocker = read_two_with_read_ahead_queued(rt, *f, data);
        // Released while the runtime's destructor waits for the pool.
        releaser = blocker->release_after(20ms);
    }
    releaser.join();
    {
        Runtime rt(pool_options());
        CHECK(read_to_end(rt, *f) == data.substr(2 * chunk));
    }
    f.reset();
    CHECK(open_fds() == before);
}

TEST_CASE("A caller's read queued when the Runtime is destroyed is dropped unrun: the File's next "
          "read, in another Runtime, fails with operation_canceled, and the one after reads from "
          "where the caller was",
          "[fs][file][teardown]") {
    TempDir dir;
    const std::string data = pattern(3 * chunk);
    put(dir / "f", data);
    std::optional<fs::File> f;
    std::unique_ptr<PoolBlocker> blocker; // outlives the Runtime
    std::thread releaser;
    {
        Runtime rt(pool_options());
        f.emplace(open_chunked(rt, fs::File::open(dir / "f")));
        blocker = std::make_unique<PoolBlocker>(rt);
        blocker->wait_started();
        std::string buf(chunk, '\0');
        auto rd = io::read(*f, asio::buffer(buf));
        const bool pending = rt.block_on(poll_fn<bool>(
            [&](Context& cx) -> Poll<bool> { return Ready{rd.poll(cx).is_pending()}; }));
        REQUIRE(pending); // queued behind the blocker
        // Released while the runtime's destructor waits for the pool.
        releaser = blocker->release_after(20ms);
    }
    releaser.join();
    Runtime rt(pool_options());
    std::string buf(chunk, '\0');
    auto r = rt.block_on(io::read(*f, asio::buffer(buf)));
    REQUIRE_FALSE(r);
    CHECK(r.error() == boost::system::errc::operation_canceled);
    CHECK(read_to_end(rt, *f) == data);
}
