#include <pollux/debug/dump.hpp>
#include <pollux/detail/uring.hpp>
#include <pollux/runtime.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

// The io_uring seam (include/pollux/detail/uring.hpp). Cases tagged [ring]
// need a ring: where the kernel or the sandbox forbids io_uring, or
// POLLUX_IO_URING=0 is set (the `fs_uring_pool` run of this file), they say
// so and stop at once; the fallback cases always run.

using pollux::detail::UringService;
using pollux::detail::UringTicket;

namespace {

// A ring for `io`, or nullptr with a message that the case is skipped.
UringService* ring_or_skip(boost::asio::io_context& io) {
    UringService* ring = pollux::detail::uring_of(io);
    if (ring == nullptr) {
        WARN("io_uring is not available here (kernel, seccomp, POLLUX_IO_URING=0 or a build "
             "without liburing): ring-only case skipped");
    }
    return ring;
}

// A temporary file holding `content`, removed with the object.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& content) {
        char name[] = "/tmp/pollux_uring_XXXXXX";
        const int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        path = name;
        REQUIRE(::write(fd, content.data(), content.size()) ==
                static_cast<ssize_t>(content.size()));
        ::close(fd);
    }
    ~TempFile() { ::unlink(path.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    [[nodiscard]] int open(int flags) const {
        const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
        REQUIRE(fd >= 0);
        return fd;
    }
    [[nodiscard]] std::string contents() const {
        const int fd = open(O_RDONLY);
        std::string out(4096, '\0');
        const ssize_t n = ::pread(fd, out.data(), out.size(), 0);
        ::close(fd);
        REQUIRE(n >= 0);
        out.resize(static_cast<std::size_t>(n));
        return out;
    }
};

// What a completion saw: how often it ran, its result, on which thread.
struct Seen {
    int calls = 0;
    int res = 0;
    std::thread::id thread;
};

auto record(Seen& seen) {
    return [&seen](int res) {
        ++seen.calls;
        seen.res = res;
        seen.thread = std::this_thread::get_id();
    };
}

struct Pipe {
    int r = -1;
    int w = -1;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0); // blocking: the ring's read then waits
        r = fds[0];
        w = fds[1];
    }
    ~Pipe() {
        ::close(r);
        ::close(w);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
};

std::size_t open_descriptors() {
    std::size_t n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    REQUIRE(d != nullptr);
    while (::readdir(d) != nullptr) {
        ++n;
    }
    ::closedir(d);
    return n;
}

} // namespace

TEST_CASE("uring read at an offset completes on the loop thread, never inside submit",
          "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    TempFile file("hello world");
    const int fd = file.open(O_RDONLY);
    auto buf = std::make_shared<std::string>(5, '\0');
    Seen seen;
    const UringTicket t =
        ring->submit_read(fd, boost::asio::buffer(*buf), 6, [&seen, buf](int res) {
            ++seen.calls;
            seen.res = res;
            seen.thread = std::this_thread::get_id();
        });
    REQUIRE(t);
    CHECK(seen.calls == 0);
    io.run();
    CHECK(seen.calls == 1);
    CHECK(seen.res == 5);
    CHECK(seen.thread == std::this_thread::get_id());
    CHECK(*buf == "world");
    ::close(fd);
}

TEST_CASE("uring read near end of file is short, and at end of file reads 0", "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    TempFile file("0123456789");
    const int fd = file.open(O_RDONLY);
    char a[16];
    char b[16];
    Seen near;
    Seen at_end;
    REQUIRE(ring->submit_read(fd, boost::asio::buffer(a), 4, record(near)));
    REQUIRE(ring->submit_read(fd, boost::asio::buffer(b), 10, record(at_end)));
    io.run();
    CHECK(near.calls == 1);
    CHECK(near.res == 6);
    CHECK(std::string(a, 6) == "456789");
    CHECK(at_end.calls == 1);
    CHECK(at_end.res == 0);
    ::close(fd);
}

TEST_CASE("uring write at an offset, fsync and fdatasync reach the file", "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    TempFile file("aaaaaaaaaa");
    const int fd = file.open(O_WRONLY);
    const std::string data = "XYZ";
    Seen wrote;
    REQUIRE(ring->submit_write(fd, boost::asio::buffer(data), 3, record(wrote)));
    io.run();
    CHECK(wrote.calls == 1);
    CHECK(wrote.res == 3);
    Seen synced;
    Seen datasynced;
    REQUIRE(ring->submit_fsync(fd, false, record(synced)));
    REQUIRE(ring->submit_fsync(fd, true, record(datasynced)));
    io.restart();
    io.run();
    CHECK(synced.calls == 1);
    CHECK(synced.res == 0);
    CHECK(datasynced.calls == 1);
    CHECK(datasynced.res == 0);
    CHECK(file.contents() == "aaaXYZaaaa");
    ::close(fd);
}

TEST_CASE("uring write at offset -1 appends at the file position", "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    TempFile file("ab");
    const int fd = file.open(O_WRONLY | O_APPEND);
    const std::string data = "cd";
    Seen wrote;
    REQUIRE(ring->submit_write(fd, boost::asio::buffer(data), -1, record(wrote)));
    io.run();
    CHECK(wrote.calls == 1);
    CHECK(wrote.res == 2);
    CHECK(file.contents() == "abcd");
    ::close(fd);
}

TEST_CASE("uring openat opens with close-on-exec, and close closes", "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    TempFile file("x");
    auto path = std::make_shared<std::string>(file.path);
    Seen opened;
    REQUIRE(ring->submit_openat(AT_FDCWD, path->c_str(), O_RDONLY, 0, [&opened, path](int res) {
        opened.res = res, ++opened.calls;
    }));
    io.run();
    REQUIRE(opened.calls == 1);
    REQUIRE(opened.res >= 0);
    const int fd = opened.res;
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    Seen closed;
    REQUIRE(ring->submit_close(fd, record(closed)));
    io.restart();
    io.run();
    CHECK(closed.calls == 1);
    CHECK(closed.res == 0);
    CHECK(::fcntl(fd, F_GETFD) == -1);
    CHECK(errno == EBADF);
}

TEST_CASE("uring statx reports the file's size and type", "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    TempFile file("twelve bytes");
    struct statx stx {};
    Seen seen;
    REQUIRE(ring->submit_statx(
        AT_FDCWD, file.path.c_str(), 0, STATX_SIZE | STATX_TYPE, &stx, record(seen)));
    io.run();
    CHECK(seen.calls == 1);
    CHECK(seen.res == 0);
    CHECK(stx.stx_size == 12);
    CHECK(S_ISREG(stx.stx_mode));
}

TEST_CASE("uring errors arrive as -errno", "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    TempFile file("data");
    const int ro = file.open(O_RDONLY);
    char buf[4];
    struct statx stx {};
    Seen open_missing;
    Seen stat_missing;
    Seen read_bad_fd;
    Seen write_read_only;
    Seen open_dir_for_write;
    REQUIRE(ring->submit_openat(
        AT_FDCWD, "/nonexistent/pollux/file", O_RDONLY, 0, record(open_missing)));
    REQUIRE(ring->submit_statx(
        AT_FDCWD, "/nonexistent/pollux/file", 0, STATX_SIZE, &stx, record(stat_missing)));
    REQUIRE(ring->submit_read(-1, boost::asio::buffer(buf), 0, record(read_bad_fd)));
    REQUIRE(ring->submit_write(ro, boost::asio::buffer(buf), 0, record(write_read_only)));
    REQUIRE(ring->submit_openat(AT_FDCWD, "/tmp", O_WRONLY, 0, record(open_dir_for_write)));
    io.run();
    CHECK(open_missing.calls == 1);
    CHECK(open_missing.res == -ENOENT);
    CHECK(stat_missing.calls == 1);
    CHECK(stat_missing.res == -ENOENT);
    CHECK(read_bad_fd.calls == 1);
    CHECK(read_bad_fd.res == -EBADF);
    CHECK(write_read_only.calls == 1);
    CHECK(write_read_only.res == -EBADF);
    CHECK(open_dir_for_write.calls == 1);
    CHECK(open_dir_for_write.res == -EISDIR);
    ::close(ro);
}

TEST_CASE("uring cancel of an in-flight read completes it once with -ECANCELED, and its buffer "
          "lives until then",
          "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    Pipe pipe; // empty: the read waits in the kernel
    std::weak_ptr<std::string> alive;
    Seen seen;
    UringTicket t;
    {
        // The caller's "future": it drops its reference at once; the
        // completion's keeps the buffer.
        auto buf = std::make_shared<std::string>(8, '\0');
        alive = buf;
        t = ring->submit_read(pipe.r, boost::asio::buffer(*buf), -1, [&seen, buf](int res) {
            ++seen.calls;
            seen.res = res;
        });
        REQUIRE(t);
    }
    SECTION("cancelled after the read was submitted") {
        (void)io.poll(); // runs the flush: the read is in the kernel now
        CHECK(seen.calls == 0);
        CHECK_FALSE(alive.expired());
        ring->cancel(t);
    }
    SECTION("cancelled in the same batch") {
        ring->cancel(t);
    }
    io.run();
    CHECK(seen.calls == 1);
    CHECK(seen.res == -ECANCELED);
    CHECK(alive.expired());
    // The ticket of an ended operation cancels nothing.
    ring->cancel(t);
    io.restart();
    CHECK(io.run() == 0);
}

TEST_CASE("uring cancel of a finished operation's ticket leaves a newer operation alone",
          "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    Pipe pipe;
    char a[1];
    Seen first;
    const UringTicket old = ring->submit_read(-1, boost::asio::buffer(a), 0, record(first));
    REQUIRE(old);
    io.run();
    REQUIRE(first.calls == 1);
    // The slot is reused with a new generation: the old ticket misses it.
    char b[1];
    Seen second;
    const UringTicket t = ring->submit_read(pipe.r, boost::asio::buffer(b), -1, record(second));
    REQUIRE(t);
    CHECK(t.id != old.id);
    ring->cancel(old);
    (void)io.poll();
    CHECK(second.calls == 0);
    REQUIRE(::write(pipe.w, "z", 1) == 1);
    io.restart();
    io.run();
    CHECK(second.calls == 1);
    CHECK(second.res == 1);
    CHECK(b[0] == 'z');
}

TEST_CASE("uring with more operations than ring entries completes each exactly once",
          "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    std::string content(4096, '\0');
    for (std::size_t i = 0; i < content.size(); ++i) {
        content[i] = static_cast<char>('a' + i % 26);
    }
    TempFile file(content);
    const int fd = file.open(O_RDONLY);
    constexpr int n = 1000;
    std::vector<char> bytes(n, '\0');
    std::vector<int> calls(n, 0);
    for (int i = 0; i < n; ++i) {
        REQUIRE(ring->submit_read(
            fd, boost::asio::buffer(&bytes[i], 1), i % 4096, [&calls, i](int res) {
                calls[i] += res == 1 ? 1 : 100;
            }));
    }
    io.run();
    for (int i = 0; i < n; ++i) {
        INFO("operation " << i);
        CHECK(calls[i] == 1);
        CHECK(bytes[i] == content[i % 4096]);
    }
    const pollux::RuntimeMetrics m = pollux::debug::metrics(io);
    CHECK(m.fs_backend == "io_uring");
    CHECK(m.fs_ring_submitted == n);
    CHECK(m.fs_ring_completed == n);
    ::close(fd);
}

TEST_CASE("uring completions run on the threads that run the io_context, submitted from another",
          "[fs][uring][ring]") {
    boost::asio::io_context io(4);
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    TempFile file(std::string(4096, 'q'));
    const int fd = file.open(O_RDONLY);
    auto guard = boost::asio::make_work_guard(io);
    std::vector<std::thread> threads;
    std::vector<std::thread::id> ids;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&io] { io.run(); });
        ids.push_back(threads.back().get_id());
    }
    constexpr int n = 400;
    std::mutex m;
    std::condition_variable cv;
    int done = 0;
    int wrong = 0;
    std::vector<std::array<char, 8>> bufs(n);
    for (int i = 0; i < n; ++i) {
        REQUIRE(ring->submit_read(fd, boost::asio::buffer(bufs[i]), i, [&, i](int res) {
            const auto self = std::this_thread::get_id();
            std::lock_guard lock(m);
            if (res != 8 || bufs[i][0] != 'q' ||
                std::find(ids.begin(), ids.end(), self) == ids.end()) {
                ++wrong;
            }
            ++done;
            cv.notify_all();
        }));
    }
    {
        std::unique_lock lock(m);
        // A hang guard only.
        CHECK(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == n; }));
    }
    guard.reset();
    for (auto& t : threads) {
        t.join();
    }
    CHECK(done == n);
    CHECK(wrong == 0);
    ::close(fd);
}

TEST_CASE("uring teardown with operations in flight drops their completions unrun and frees "
          "their buffers after the kernel is done",
          "[fs][uring][ring]") {
    Pipe pipe;
    TempFile file("");
    const int wfd = file.open(O_WRONLY);
    const std::size_t fds_before = open_descriptors();
    std::weak_ptr<std::string> read_buf;
    int called = 0;
    {
        boost::asio::io_context io;
        UringService* ring = ring_or_skip(io);
        if (ring == nullptr) {
            ::close(wfd);
            return;
        }
        auto buf = std::make_shared<std::string>(16, '\0');
        read_buf = buf;
        // In the kernel (flushed below), waiting on an empty pipe.
        REQUIRE(ring->submit_read(
            pipe.r, boost::asio::buffer(*buf), -1, [&called, buf](int) { ++called; }));
        (void)io.poll();
        // Still queued in the SQ when the context goes.
        auto data = std::make_shared<std::string>("kept");
        REQUIRE(ring->submit_write(
            wfd, boost::asio::buffer(*data), 0, [&called, data](int) { ++called; }));
        auto path = std::make_shared<std::string>(file.path);
        REQUIRE(ring->submit_openat(
            AT_FDCWD, path->c_str(), O_RDONLY, 0, [&called, path](int) { ++called; }));
        CHECK_FALSE(read_buf.expired());
    }
    CHECK(called == 0);
    CHECK(read_buf.expired());
    // The write is "mandatory": it went before the ring did.
    CHECK(file.contents() == "kept");
    // An open that finished meanwhile was closed; the ring and its eventfd
    // are gone too.
    CHECK(open_descriptors() == fds_before);
    ::close(wfd);
}

TEST_CASE("uring submit from a completion dropped at teardown is refused", "[fs][uring][ring]") {
    Pipe pipe;
    int refused = 0;
    int called = 0;
    // Destroyed unrun by the teardown, outside the ring's lock: it submits
    // again, which the shut-down ring refuses (dropping that completion).
    struct Resubmit {
        UringService* ring;
        int fd;
        int* refused;
        int* called;
        bool armed = true;
        Resubmit(UringService* r, int f, int* ref, int* c)
            : ring(r), fd(f), refused(ref), called(c) {}
        Resubmit(Resubmit&& o) noexcept
            : ring(o.ring), fd(o.fd), refused(o.refused), called(o.called),
              armed(std::exchange(o.armed, false)) {}
        ~Resubmit() {
            if (armed) {
                static char buf[1];
                const UringTicket t = ring->submit_read(
                    fd, boost::asio::buffer(buf), -1, [c = called](int) { ++*c; });
                *refused += t ? 0 : 1;
            }
        }
        void operator()(int) { ++*called; }
    };
    {
        boost::asio::io_context io;
        UringService* ring = ring_or_skip(io);
        if (ring == nullptr) {
            return;
        }
        static char buf[1];
        REQUIRE(ring->submit_read(
            pipe.r, boost::asio::buffer(buf), -1, Resubmit(ring, pipe.r, &refused, &called)));
        (void)io.poll();
    }
    CHECK(called == 0);
    CHECK(refused == 1);
}

TEST_CASE("uring idle ring keeps no work: run() returns when nothing is in flight",
          "[fs][uring][ring]") {
    boost::asio::io_context io;
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    CHECK(io.run() == 0);
    char buf[1];
    Seen seen;
    REQUIRE(ring->submit_read(-1, boost::asio::buffer(buf), 0, record(seen)));
    io.restart();
    io.run(); // returns once the one operation completed
    CHECK(seen.calls == 1);
    io.restart();
    CHECK(io.run() == 0);
}

TEST_CASE("uring metrics: undecided before the first file operation, io_uring after",
          "[fs][uring][ring]") {
    boost::asio::io_context io;
    CHECK(pollux::debug::metrics(io).fs_backend == "undecided");
    UringService* ring = ring_or_skip(io);
    if (ring == nullptr) {
        return;
    }
    char buf[1];
    Seen seen;
    REQUIRE(ring->submit_read(-1, boost::asio::buffer(buf), 0, record(seen)));
    const pollux::RuntimeMetrics before = pollux::debug::metrics(io);
    CHECK(before.fs_backend == "io_uring");
    CHECK(before.fs_ring_submitted == 1);
    CHECK(before.fs_ring_completed == 0);
    io.run();
    CHECK(pollux::debug::metrics(io).fs_ring_completed == 1);
}

TEST_CASE("uring POLLUX_IO_URING=0 makes a context use the pool, and metrics say so",
          "[fs][uring]") {
    const char* old = std::getenv("POLLUX_IO_URING");
    const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
    REQUIRE(::setenv("POLLUX_IO_URING", "0", 1) == 0);
    {
        boost::asio::io_context io;
        CHECK(pollux::detail::uring_of(io) == nullptr);
        const pollux::RuntimeMetrics m = pollux::debug::metrics(io);
        CHECK(m.fs_backend == "pool");
        CHECK(m.fs_ring_submitted == 0);
        // The choice is for good: asking again does not set a ring up.
        CHECK(pollux::detail::uring_of(io) == nullptr);
    }
    if (saved) {
        ::setenv("POLLUX_IO_URING", saved->c_str(), 1);
    } else {
        ::unsetenv("POLLUX_IO_URING");
    }
}

TEST_CASE("uring io_uring_setup refused by seccomp (EPERM, ENOSYS) makes a context use the pool",
          "[fs][uring]") {
    const int err = GENERATE(EPERM, ENOSYS);
    INFO("io_uring_setup fails with errno " << err);
    // In a child: a seccomp filter cannot be taken back. The child makes a
    // context there and reports through its exit status.
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
            BPF_STMT(BPF_RET | BPF_K,
                     SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
            ::_exit(3);
        }
        int status = 0;
        {
            boost::asio::io_context io;
            if (pollux::detail::uring_of(io) != nullptr) {
                status = 1;
            } else if (pollux::debug::metrics(io).fs_backend != "pool") {
                status = 2;
            }
        }
        ::_exit(status);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("uring RuntimeOptions::io_uring = false makes the runtime use the pool", "[fs][uring]") {
    pollux::RuntimeOptions options;
    options.io_uring = false;
    pollux::Runtime rt(options);
    CHECK(rt.metrics().fs_backend == "undecided");
    CHECK(pollux::detail::uring_of(rt.io_context()) == nullptr);
    CHECK(rt.metrics().fs_backend == "pool");
}

TEST_CASE("uring default Runtime reports the backend its kernel allows", "[fs][uring]") {
    pollux::Runtime rt;
    const bool ring = pollux::detail::uring_of(rt.io_context()) != nullptr;
    CHECK(rt.metrics().fs_backend == (ring ? "io_uring" : "pool"));
    if (!ring) {
        WARN("this process uses the pool for files (io_uring unavailable or turned off)");
    }
}

TEST_CASE("uring Runtime with worker threads destroyed with a read in flight drops its completion "
          "unrun",
          "[fs][uring][ring]") {
    Pipe pipe;
    std::weak_ptr<std::string> alive;
    std::atomic<int> called{0};
    {
        pollux::RuntimeOptions options;
        options.worker_threads = 2;
        pollux::Runtime rt(options);
        UringService* ring = ring_or_skip(rt.io_context());
        if (ring == nullptr) {
            return;
        }
        auto buf = std::make_shared<std::string>(4, '\0');
        alive = buf;
        REQUIRE(ring->submit_read(
            pipe.r, boost::asio::buffer(*buf), -1, [&called, buf](int) { ++called; }));
        CHECK(rt.metrics().fs_ring_submitted == 1);
    }
    CHECK(called == 0);
    CHECK(alive.expired());
}
