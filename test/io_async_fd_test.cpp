#include <pollux/io/async_fd.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <optional>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using io::AsyncFd;
using test::open_fds;

namespace {

// A pipe; both ends close-on-exec, non-blocking unless asked otherwise.
struct Pipe {
    int r = -1;
    int w = -1;
    explicit Pipe(bool nonblock = true) {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)) == 0);
        r = fds[0];
        w = fds[1];
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe() {
        close_r();
        close_w();
    }
    void close_r() {
        if (r >= 0) {
            ::close(std::exchange(r, -1));
        }
    }
    void close_w() {
        if (w >= 0) {
            ::close(std::exchange(w, -1));
        }
    }
    // Gives an end to an AsyncFd (which then closes it).
    int take_r() { return std::exchange(r, -1); }
    int take_w() { return std::exchange(w, -1); }
};

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) >= 0;
}

template <class F>
bool poll_once_in(Runtime& rt, F once) {
    return rt.block_on(poll_fn<bool>([&](Context& cx) -> Poll<bool> { return Ready{once(cx)}; }));
}

std::string temp_file_path() {
    return (std::filesystem::temp_directory_path() /
            ("pollux_async_fd_test_" + std::to_string(::getpid()) + ".txt"))
        .string();
}

} // namespace

// ---- AsyncFd ---------------------------------------------------------------------

TEST_CASE("AsyncFd over a pipe round-trips bytes with write_all and read", "[io][async_fd]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pipe p;
        auto rd = AsyncFd::create(p.take_r());
        auto wr = AsyncFd::create(p.take_w());
        REQUIRE(rd);
        REQUIRE(wr);
        static_assert(io::AsyncRead<AsyncFd> && io::AsyncWrite<AsyncFd>);
        std::string msg = "hello, pipe";
        auto w = co_await io::write_all(*wr, asio::buffer(msg));
        REQUIRE(w);
        std::string got(msg.size(), '\0');
        auto n = co_await io::read_exact(*rd, asio::buffer(got));
        REQUIRE(n);
        REQUIRE(got == msg);
    }());
}

TEST_CASE("AsyncFd read is pending on an empty pipe and completes after the peer writes",
          "[io][async_fd]") {
    Runtime rt;
    Pipe p;
    std::optional<AsyncFd> rd;
    char buf[16];
    REQUIRE(poll_once_in(rt, [&](Context& cx) {
        rd.emplace(AsyncFd::create(p.take_r()).value());
        return rd->poll_read(cx, asio::buffer(buf)).is_pending();
    }));
    REQUIRE(::write(p.w, "xyz", 3) == 3);
    auto n = rt.block_on([&]() -> Async<Result<std::size_t>> {
        co_return co_await io::read(*rd, asio::buffer(buf));
    }());
    REQUIRE(n);
    REQUIRE(std::string(buf, *n) == "xyz");
}

TEST_CASE("AsyncFd read returns 0 at end of stream", "[io][async_fd]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pipe p;
        auto rd = AsyncFd::create(p.take_r());
        REQUIRE(rd);
        p.close_w();
        char buf[4];
        auto n = co_await io::read(*rd, asio::buffer(buf));
        REQUIRE(n);
        REQUIRE(*n == 0);
    }());
}

TEST_CASE("AsyncFd::create refuses a regular file and leaves it open", "[io][async_fd]") {
    const std::string path = temp_file_path();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    Runtime rt;
    auto r = AsyncFd::create(fd, rt.io_context().get_executor());
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == asio::error::operation_not_supported);
    REQUIRE(is_open(fd));
    ::close(fd);
    std::filesystem::remove(path);
}

TEST_CASE("AsyncFd::create reports EBADF for a closed descriptor", "[io][async_fd]") {
    int fd;
    {
        Pipe p;
        fd = p.r;
    } // both ends closed
    Runtime rt;
    auto r = AsyncFd::create(fd, rt.io_context().get_executor());
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == asio::error::bad_descriptor);
}

TEST_CASE("AsyncFd::create refuses a blocking descriptor and leaves it open", "[io][async_fd]") {
    Pipe p(false);
    Runtime rt;
    auto r = AsyncFd::create(p.r, rt.io_context().get_executor());
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == asio::error::invalid_argument);
    REQUIRE(is_open(p.r));
}

TEST_CASE("AsyncFd readable() is ready at first and waits again after clear_read_ready",
          "[io][async_fd]") {
    Runtime rt;
    Pipe p;
    std::optional<AsyncFd> rd;
    REQUIRE(poll_once_in(rt, [&](Context& cx) {
        rd.emplace(AsyncFd::create(p.take_r()).value());
        Poll<Result<void>> first = rd->poll_read_ready(cx);
        REQUIRE(first.is_ready()); // optimistic: the syscall decides
        REQUIRE(first.value());
        char c;
        REQUIRE(::read(rd->fd(), &c, 1) == -1);
        REQUIRE(errno == EAGAIN);
        rd->clear_read_ready();
        return rd->poll_read_ready(cx).is_pending();
    }));
    REQUIRE(::write(p.w, "!", 1) == 1);
    auto ready = rt.block_on([&]() -> Async<Result<void>> { co_return co_await rd->readable(); }());
    REQUIRE(ready);
    char c = 0;
    REQUIRE(::read(rd->fd(), &c, 1) == 1);
    REQUIRE(c == '!');
}

TEST_CASE("AsyncFd writable() on a full pipe completes once the reader drains it",
          "[io][async_fd]") {
    Runtime rt;
    Pipe p;
    std::optional<AsyncFd> wr;
    std::vector<char> chunk(65536, 'a');
    REQUIRE(poll_once_in(rt, [&](Context& cx) {
        wr.emplace(AsyncFd::create(p.take_w()).value());
        for (;;) { // fill the pipe
            Poll<Result<std::size_t>> n = wr->poll_write(cx, asio::buffer(chunk));
            if (n.is_pending()) {
                break;
            }
            REQUIRE(n.value());
        }
        return wr->poll_write_ready(cx).is_pending();
    }));
    for (;;) { // drain it
        ssize_t n = ::read(p.r, chunk.data(), chunk.size());
        if (n < 0) {
            REQUIRE(errno == EAGAIN);
            break;
        }
    }
    auto ready = rt.block_on([&]() -> Async<Result<void>> { co_return co_await wr->writable(); }());
    REQUIRE(ready);
}

TEST_CASE("AsyncFd release gives the descriptor back open", "[io][async_fd]") {
    Runtime rt;
    Pipe p;
    int fd = -1;
    REQUIRE(poll_once_in(rt, [&](Context& cx) {
        AsyncFd rd = AsyncFd::create(p.r).value();
        char c;
        REQUIRE(rd.poll_read(cx, asio::buffer(&c, 1)).is_pending()); // a wait in flight
        fd = rd.release();
        REQUIRE(rd.fd() == -1);
        return true;
    }));
    REQUIRE(fd == p.r);
    REQUIRE(is_open(fd)); // Pipe's destructor closes it
}

TEST_CASE("a read future dropped while pending loses no bytes", "[io][async_fd][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pipe p;
        auto rd = AsyncFd::create(p.take_r());
        REQUIRE(rd);
        char buf[8];
        {
            auto pending = io::read(*rd, asio::buffer(buf));
            auto first = co_await poll_fn<bool>(
                [&](Context& cx) -> Poll<bool> { return Ready{pending.poll(cx).is_pending()}; });
            REQUIRE(first);
        } // dropped with its wait armed
        REQUIRE(::write(p.w, "abc", 3) == 3);
        auto n = co_await io::read(*rd, asio::buffer(buf));
        REQUIRE(n);
        REQUIRE(std::string(buf, *n) == "abc");
    }());
}

// ---- Lifetimes (no descriptor leaks) ----------------------------------------------

TEST_CASE("an AsyncFd dropped before its Runtime closes its descriptor",
          "[io][async_fd][io_lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        Pipe p;
        std::optional<AsyncFd> rd;
        char c;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            rd.emplace(AsyncFd::create(p.take_r()).value());
            return rd->poll_read(cx, asio::buffer(&c, 1)).is_pending();
        }));
        rd.reset();
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("an AsyncFd left pending in a task is dropped by the Runtime's shutdown",
          "[io][async_fd][io_lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        int w = -1;
        rt.block_on([&]() -> Async<> {
            Pipe p;
            w = p.take_w();
            auto rd = AsyncFd::create(p.take_r());
            REQUIRE(rd);
            (void)spawn([](AsyncFd rd) -> Async<> {
                char c;
                (void)co_await io::read(rd, asio::buffer(&c, 1)); // never written
            }(std::move(*rd)));
            co_await time::sleep(1ms); // the task is now parked on its read
        }());
        ::close(w);
    } // ~Runtime drops the task, and its AsyncFd, while shutting down
    REQUIRE(open_fds() == before);
}

TEST_CASE("an AsyncFd dropped after its Runtime closes its descriptor",
          "[io][async_fd][io_lifetime]") {
    const std::size_t before = open_fds();
    std::optional<AsyncFd> rd;
    std::optional<AsyncFd> idle;
    {
        Pipe p;
        Runtime rt;
        char c;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            rd.emplace(AsyncFd::create(p.take_r()).value());
            idle.emplace(AsyncFd::create(p.take_w()).value());
            return rd->poll_read(cx, asio::buffer(&c, 1)).is_pending(); // a wait in flight
        }));
    }
    rd.reset();
    idle.reset();
    REQUIRE(open_fds() == before);
}

// ---- StdStream -------------------------------------------------------------------

TEST_CASE("std_stream over a blocking pipe reads through its own description, flags untouched",
          "[io][stdio]") {
    Pipe p(false);
    const int flags = ::fcntl(p.r, F_GETFL);
    const std::size_t before = open_fds();
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto in = io::std_stream(p.r);
            REQUIRE(in);
            REQUIRE(in->mode() == io::StdStream::Mode::reopened);
            REQUIRE(in->is_pollable());
            REQUIRE(::fcntl(p.r, F_GETFL) == flags); // the shared description
            REQUIRE(::write(p.w, "line\n", 5) == 5);
            char buf[16];
            auto n = co_await io::read(*in, asio::buffer(buf));
            REQUIRE(n);
            REQUIRE(std::string(buf, *n) == "line\n");
        }());
    }
    REQUIRE(::fcntl(p.r, F_GETFL) == flags);
    REQUIRE(is_open(p.r)); // its own descriptor was used
    REQUIRE(open_fds() == before);
}

// The write end shared with another writer (a blocking one, as std::cout):
// the other writer's writes never see EAGAIN from a flag the stream set.
TEST_CASE("std_stream over a pipe's write end leaves the shared writer blocking", "[io][stdio]") {
    Pipe p(false);
    const int flags = ::fcntl(p.w, F_GETFL);
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto a = io::std_stream(p.w);
        REQUIRE(a);
        REQUIRE(a->mode() == io::StdStream::Mode::reopened);
        REQUIRE(::fcntl(p.w, F_GETFL) == flags);
        std::string msg = "async ";
        auto w = co_await io::write_all(*a, asio::buffer(msg));
        REQUIRE(w);
        REQUIRE(::write(p.w, "blocking", 8) == 8);
        char buf[32];
        std::string got;
        while (got.size() < 14) {
            ssize_t n = ::read(p.r, buf, sizeof buf);
            REQUIRE(n > 0);
            got.append(buf, static_cast<std::size_t>(n));
        }
        REQUIRE(got == "async blocking");
        co_return;
    }());
    REQUIRE(::fcntl(p.w, F_GETFL) == flags);
}

TEST_CASE("std_stream over a blocking socket uses MSG_DONTWAIT, flags untouched", "[io][stdio]") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    const int flags = ::fcntl(sv[0], F_GETFL);
    REQUIRE((flags & O_NONBLOCK) == 0);
    const std::size_t before = open_fds();
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto s = io::std_stream(sv[0]);
            REQUIRE(s);
            REQUIRE(s->mode() == io::StdStream::Mode::socket);
            REQUIRE(::fcntl(sv[0], F_GETFL) == flags);
            char buf[16];
            // The read is polled first and waits; the peer writes after.
            auto read = [&]() -> Async<Result<std::size_t>> {
                co_return co_await io::read(*s, asio::buffer(buf));
            };
            auto peer = [&]() -> Async<> {
                co_await yield_now();
                REQUIRE(::write(sv[1], "ping", 4) == 4);
            };
            auto [n, unit] = co_await join(read(), peer());
            (void)unit;
            REQUIRE(n);
            REQUIRE(std::string(buf, *n) == "ping");
            REQUIRE(::fcntl(sv[0], F_GETFL) == flags);
            std::string msg = "pong";
            auto w = co_await io::write_all(*s, asio::buffer(msg));
            REQUIRE(w);
            REQUIRE(::read(sv[1], buf, sizeof buf) == 4);
            REQUIRE(std::string(buf, 4) == "pong");
        }());
    }
    REQUIRE(::fcntl(sv[0], F_GETFL) == flags);
    REQUIRE(open_fds() == before);
    ::close(sv[0]);
    ::close(sv[1]);
}

// The socket's buffer fills, so the write waits for writability (on the
// write watch) until a thread drains the peer.
TEST_CASE("std_stream over a blocking socket waits for writability, flags untouched",
          "[io][stdio]") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    const int flags = ::fcntl(sv[0], F_GETFL);
    const std::string data(4 * 1024 * 1024, 'w'); // more than a socket buffer
    std::size_t drained = 0;
    std::thread drain([&] {
        std::this_thread::sleep_for(50ms); // let the writer fill the buffer first
        char buf[65536];
        while (drained < data.size()) {
            const ssize_t n = ::read(sv[1], buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            drained += static_cast<std::size_t>(n);
        }
    });
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto s = io::std_stream(sv[0]);
            REQUIRE(s);
            auto w = co_await io::write_all(*s, asio::buffer(data));
            REQUIRE(w);
            REQUIRE(::fcntl(sv[0], F_GETFL) == flags);
        }());
    }
    drain.join();
    CHECK(drained == data.size());
    CHECK(::fcntl(sv[0], F_GETFL) == flags);
    ::close(sv[0]);
    ::close(sv[1]);
}

// Teardown: streams that outlive their Runtime touch nothing of it when
// dropped and still close every descriptor they made.
TEST_CASE("std_stream dropped after its Runtime shut down closes what it made", "[io][stdio]") {
    Pipe p(false);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    const std::size_t before = open_fds();
    std::optional<io::StdStream> pipe_in;
    std::optional<io::StdStream> sock;
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto a = io::std_stream(p.r);
            auto b = io::std_stream(sv[0]);
            REQUIRE(a);
            REQUIRE(b);
            pipe_in.emplace(std::move(*a));
            sock.emplace(std::move(*b));
            // A read wait armed on each, left in flight.
            char buf[8];
            auto pending = [&](io::StdStream& s) {
                return poll_fn<bool>([&](Context& cx) -> Poll<bool> {
                    return Ready{s.poll_read(cx, asio::buffer(buf)).is_pending()};
                });
            };
            REQUIRE(co_await pending(*pipe_in));
            REQUIRE(co_await pending(*sock));
        }());
        REQUIRE(open_fds() > before);
    }
    pipe_in.reset();
    sock.reset();
    CHECK(open_fds() == before);
    ::close(sv[0]);
    ::close(sv[1]);
}

// A pty master cannot be reopened (that would make a new pty pair): writes
// block, as libuv's tty falls back to, and reads are refused rather than
// block the loop; the flags stay the master's.
TEST_CASE("std_stream over a pty master writes blocking and refuses reads", "[io][stdio]") {
    int master = -1;
    int slave = -1;
    REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
    const int flags = ::fcntl(master, F_GETFL);
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto s = io::std_stream(master);
        REQUIRE(s);
        REQUIRE(s->mode() == io::StdStream::Mode::blocking_writes);
        REQUIRE_FALSE(s->is_pollable());
        std::string msg = "x\n";
        auto w = co_await io::write_all(*s, asio::buffer(msg));
        REQUIRE(w);
        char buf[8];
        auto n = co_await io::read(*s, asio::buffer(buf));
        REQUIRE_FALSE(n);
        REQUIRE(n.error() == asio::error::operation_not_supported);
        co_return;
    }());
    REQUIRE(::fcntl(master, F_GETFL) == flags);
    ::close(master);
    ::close(slave);
}

TEST_CASE("std_stream over a regular file reads and writes without readiness", "[io][stdio]") {
    const std::string path = temp_file_path();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto s = io::std_stream(fd);
        REQUIRE(s);
        REQUIRE_FALSE(s->is_pollable());
        std::string msg = "to a file";
        auto w = co_await io::write_all(*s, asio::buffer(msg));
        REQUIRE(w);
        REQUIRE(::lseek(fd, 0, SEEK_SET) == 0); // the duplicate shares the offset
        std::string got(msg.size(), '\0');
        auto n = co_await io::read_exact(*s, asio::buffer(got));
        REQUIRE(n);
        REQUIRE(got == msg);
    }());
    REQUIRE(is_open(fd));
    ::close(fd);
    std::filesystem::remove(path);
}

// The repro: a task reading stdin redirected from a large file kept a timer
// in the same select from ever firing, because no read waited or spent the
// cooperative budget.
TEST_CASE("std_stream reads of a regular file spend the budget, so other futures run",
          "[io][stdio][coop]") {
    const std::string path = temp_file_path();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const std::string chunk(64 * 1024, 'z');
    for (int i = 0; i < 16; ++i) { // 1 MiB: 2,048 reads of 512 bytes
        REQUIRE(::write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
    }
    REQUIRE(::lseek(fd, 0, SEEK_SET) == 0);
    Runtime rt;
    bool done = false;
    std::size_t other_ran = 0;
    std::size_t ran_while_reading = 0;
    std::size_t total = 0;
    rt.block_on([&]() -> Async<> {
        auto reader = [&]() -> Async<> {
            auto s = io::std_stream(fd);
            REQUIRE(s);
            REQUIRE_FALSE(s->is_pollable());
            std::array<char, 512> buf;
            const std::size_t before = other_ran;
            for (;;) {
                auto n = co_await io::read(*s, asio::buffer(buf));
                REQUIRE(n);
                if (*n == 0) {
                    break;
                }
                total += *n;
            }
            ran_while_reading = other_ran - before;
            done = true;
        };
        auto other = [&]() -> Async<> {
            while (!done) {
                ++other_ran;
                co_await yield_now();
            }
        };
        co_await join(reader(), other());
    }());
    CHECK(total == 16 * chunk.size());
    CHECK(ran_while_reading > 0);
    ::close(fd);
    std::filesystem::remove(path);
}

TEST_CASE("std_stream reports EBADF for a closed descriptor", "[io][stdio]") {
    int fd;
    {
        Pipe p;
        fd = p.w;
    }
    Runtime rt;
    auto s = io::std_stream(fd, rt.io_context().get_executor());
    REQUIRE_FALSE(s);
    REQUIRE(s.error() == asio::error::bad_descriptor);
}

// The child echoes what it reads on stdin() to stdout(), prefixed; it exits
// with 0 on success (no Catch2 in the child: its output is the parent's).
TEST_CASE("stdin() and stdout() move bytes through descriptors 0 and 1", "[io][stdio]") {
    Pipe to_child(false);
    Pipe from_child(false);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::dup2(to_child.r, 0) < 0 || ::dup2(from_child.w, 1) < 0) {
            ::_exit(10);
        }
        to_child.close_w();
        from_child.close_r();
        int code = 0;
        {
            Runtime rt;
            code = rt.block_on([]() -> Async<int> {
                auto in = io::stdin();
                auto out = io::stdout();
                if (!in || !out || !in->is_pollable() || !out->is_pollable()) {
                    co_return 11;
                }
                std::string got;
                char buf[64];
                for (;;) {
                    auto n = co_await io::read(*in, asio::buffer(buf));
                    if (!n) {
                        co_return 12;
                    }
                    if (*n == 0) {
                        break;
                    }
                    got.append(buf, *n);
                }
                std::string reply = "echo:" + got;
                auto w = co_await io::write_all(*out, asio::buffer(reply));
                co_return w ? 0 : 13;
            }());
        }
        ::_exit(code);
    }
    to_child.close_r();
    from_child.close_w();
    REQUIRE(::write(to_child.w, "ping", 4) == 4);
    to_child.close_w();
    std::string got;
    char buf[64];
    for (;;) {
        ssize_t n = ::read(from_child.r, buf, sizeof buf);
        REQUIRE(n >= 0);
        if (n == 0) {
            break;
        }
        got.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(got == "echo:ping");
}

// ---- stdin() on a terminal shared with std::cout (issue 23) -----------------------

namespace {

// A pty whose slave becomes a forked child's 0, 1 (and the terminal of the
// child's std::cout); the parent keeps both ends, so that it reads the
// child's output on the master and sees the slave description's flags.
struct Pty {
    int master = -1;
    int slave = -1;
    Pty() { REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0); }
    Pty(const Pty&) = delete;
    Pty& operator=(const Pty&) = delete;
    ~Pty() {
        ::close(master);
        ::close(slave);
    }
};

// In the child: the pty's slave as 0 and 1.
void become_pty_child(const Pty& t) {
    if (::dup2(t.slave, 0) < 0 || ::dup2(t.slave, 1) < 0) {
        ::_exit(10);
    }
    ::close(t.master);
    ::close(t.slave);
}

// Reads the master until `want` newlines came, the child exited, or it was
// quiet for 20 s (a hang guard: the child stopped writing). The count.
long count_lines(int master, pid_t child, long want) {
    long lines = 0;
    char buf[65536];
    while (lines < want) {
        ::pollfd p{master, POLLIN, 0};
        const int r = ::poll(&p, 1, 20000);
        if (r <= 0) {
            break;
        }
        const ssize_t n = ::read(master, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        for (ssize_t i = 0; i < n; ++i) {
            lines += buf[i] == '\n' ? 1 : 0;
        }
    }
    (void)child;
    return lines;
}

} // namespace

// The repro (/work/shared/repros/stdin_nonblock_cout.cpp): with stdin()
// holding a pending read of the terminal, std::cout on the same terminal
// lost its output after a few hundred lines, because stdin() had made the
// shared description non-blocking. The child exits 0 when std::cout stayed
// good and the read got the parent's line.
TEST_CASE("stdin() on a terminal leaves std::cout on it blocking: 50,000 lines all arrive",
          "[io][stdio][pty]") {
    Pty t;
    const int flags = ::fcntl(t.slave, F_GETFL);
    REQUIRE((flags & O_NONBLOCK) == 0);
    constexpr long kLines = 50000;
    std::cout.flush(); // nothing of the parent's buffer is written twice
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        become_pty_child(t);
        int code = 0;
        {
            Runtime rt;
            code = rt.block_on([]() -> Async<int> {
                auto in = io::stdin();
                if (!in || in->mode() != io::StdStream::Mode::reopened) {
                    co_return 11;
                }
                char buf[16];
                auto read = [&]() -> Async<Result<std::size_t>> {
                    co_return co_await io::read(*in, asio::buffer(buf));
                };
                auto print = [&]() -> Async<bool> {
                    const std::string row(200, 'x');
                    for (long i = 0; i < kLines && std::cout; ++i) {
                        std::cout << i << ' ' << row << '\n';
                    }
                    std::cout.flush();
                    co_return static_cast<bool>(std::cout);
                };
                // The read is polled first, so it is pending (armed) all
                // the while std::cout writes.
                auto [n, printed] = co_await join(read(), print());
                if (!printed) {
                    co_return 12;
                }
                if (!n || std::string(buf, *n) != "q\n") {
                    co_return 13;
                }
                co_return 0;
            }());
        }
        ::_exit(code);
    }
    const long lines = count_lines(t.master, pid, kLines);
    REQUIRE(::write(t.master, "q\n", 2) == 2);
    int status = 0;
    if (lines != kLines) {
        ::kill(pid, SIGKILL); // it hangs or failed: do not wait for its read
    }
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(lines == kLines);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(::fcntl(t.slave, F_GETFL) == flags); // the description the shell would share
}

// A program killed while it reads stdin() has no chance to put flags back:
// the terminal must never have had them changed.
TEST_CASE("stdin() on a terminal: a killed reader leaves the terminal's flags unchanged",
          "[io][stdio][pty]") {
    Pty t;
    const int flags = ::fcntl(t.slave, F_GETFL);
    Pipe ready(false);
    std::cout.flush();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        become_pty_child(t);
        ready.close_r();
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto in = io::stdin();
            if (!in) {
                ::_exit(11);
            }
            char buf[16];
            auto read = [&]() -> Async<> { (void)co_await io::read(*in, asio::buffer(buf)); };
            auto tell = [&]() -> Async<> {
                (void)::write(ready.w, "r", 1); // the read is pending now
                co_return;
            };
            co_await join(read(), tell());
        }());
        ::_exit(12); // not reached: the parent kills it first
    }
    ready.close_w();
    char c = 0;
    REQUIRE(::read(ready.r, &c, 1) == 1);
    CHECK(::fcntl(t.slave, F_GETFL) == flags); // while the read is pending
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
    CHECK(::fcntl(t.slave, F_GETFL) == flags);
}
