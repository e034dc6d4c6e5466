#include <pollux/net/pipe.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace np = net::pipe;
using test::open_fds;

namespace {

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) >= 0;
}

template <class F>
bool poll_once_in(Runtime& rt, F once) {
    return rt.block_on(poll_fn<bool>([&](Context& cx) -> Poll<bool> { return Ready{once(cx)}; }));
}

std::string temp_path(const char* what) {
    return (std::filesystem::temp_directory_path() /
            ("pollux_net_pipe_test_" + std::to_string(::getpid()) + "_" + what))
        .string();
}

// A raw pipe, for the from_fd tests; closes what it still holds.
struct RawPipe {
    int r = -1;
    int w = -1;
    explicit RawPipe(int flags = O_CLOEXEC) {
        int fds[2];
        REQUIRE(::pipe2(fds, flags) == 0);
        r = fds[0];
        w = fds[1];
    }
    RawPipe(const RawPipe&) = delete;
    RawPipe& operator=(const RawPipe&) = delete;
    ~RawPipe() {
        if (r >= 0) {
            ::close(r);
        }
        if (w >= 0) {
            ::close(w);
        }
    }
    int take_r() { return std::exchange(r, -1); }
    int take_w() { return std::exchange(w, -1); }
};

bool sigpipe_pending() {
    ::sigset_t set;
    ::sigpending(&set);
    return ::sigismember(&set, SIGPIPE) == 1;
}

bool sigpipe_blocked() {
    ::sigset_t set;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &set);
    return ::sigismember(&set, SIGPIPE) == 1;
}

} // namespace

// ---- pipe() ------------------------------------------------------------------

TEST_CASE("pipe() moves bytes from the Sender to the Receiver", "[net][pipe]") {
    static_assert(io::AsyncWrite<np::Sender> && io::AsyncRead<np::Receiver>);
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = np::pipe();
        REQUIRE(p);
        auto& [tx, rx] = *p;
        std::string msg = "hello, pipe";
        auto w = co_await io::write_all(tx, asio::buffer(msg));
        REQUIRE(w);
        std::string got(msg.size(), '\0');
        auto n = co_await io::read_exact(rx, asio::buffer(got));
        REQUIRE(n);
        REQUIRE(got == msg);
    }());
}

TEST_CASE("pipe() makes close-on-exec, non-blocking descriptors", "[net][pipe]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = np::pipe();
        REQUIRE(p);
        for (int fd : {p->first.fd(), p->second.fd()}) {
            REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
            REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        }
        co_return;
    }());
}

TEST_CASE("pipe() outside a task throws logic_error", "[net][pipe]") {
    REQUIRE_THROWS_AS(np::pipe(), std::logic_error);
}

TEST_CASE("pipe::Receiver reads the end of stream once the Sender is dropped", "[net][pipe]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = np::pipe();
        REQUIRE(p);
        auto tx = std::move(p->first);
        auto& rx = p->second;
        auto w = co_await io::write_all(tx, asio::buffer("ab", 2));
        REQUIRE(w);
        { [[maybe_unused]] auto gone = std::move(tx); }
        char buf[8];
        auto n1 = co_await io::read(rx, asio::buffer(buf));
        REQUIRE(n1);
        REQUIRE(*n1 == 2);
        auto n2 = co_await io::read(rx, asio::buffer(buf));
        REQUIRE(n2);
        REQUIRE(*n2 == 0);
    }());
}

TEST_CASE("pipe::Receiver read is pending on an empty pipe and completes when the Sender writes",
          "[net][pipe]") {
    Runtime rt;
    std::optional<std::pair<np::Sender, np::Receiver>> p;
    char buf[16];
    REQUIRE(poll_once_in(rt, [&](Context& cx) {
        p.emplace(np::pipe(rt.io_context().get_executor()).value());
        return p->second.poll_read(cx, asio::buffer(buf)).is_pending();
    }));
    auto n = rt.block_on([&]() -> Async<Result<std::size_t>> {
        auto reader = spawn([](np::Receiver& rx, char* buf) -> Async<Result<std::size_t>> {
            co_return co_await io::read(rx, asio::buffer(buf, 16));
        }(p->second, buf));
        co_await time::sleep(1ms);
        auto w = co_await io::write_all(p->first, asio::buffer("xyz", 3));
        REQUIRE(w);
        co_return co_await reader;
    }());
    REQUIRE(n);
    REQUIRE(std::string(buf, *n) == "xyz");
}

TEST_CASE("pipe::Sender write to a full pipe waits until the Receiver drains it", "[net][pipe]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = np::pipe();
        REQUIRE(p);
        auto& [tx, rx] = *p;
        const int cap = ::fcntl(tx.fd(), F_GETPIPE_SZ);
        REQUIRE(cap > 0);
        std::string big(static_cast<std::size_t>(cap) * 3, 'p');
        bool wrote = false;
        auto writer = spawn([](np::Sender& tx, const std::string& big, bool& wrote) -> Async<> {
            auto w = co_await io::write_all(tx, asio::buffer(big));
            REQUIRE(w);
            wrote = true;
        }(tx, big, wrote));
        co_await time::sleep(5ms);
        REQUIRE_FALSE(wrote); // the pipe holds only a third of it
        std::string got(big.size(), '\0');
        auto n = co_await io::read_exact(rx, asio::buffer(got));
        REQUIRE(n);
        co_await writer;
        REQUIRE(wrote);
        REQUIRE(got == big);
    }());
}

TEST_CASE("pipe::Sender write after the Receiver is dropped fails with broken_pipe and no SIGPIPE",
          "[net][pipe]") {
    // SIGPIPE's disposition is the default here: a SIGPIPE delivered would
    // end the test process.
    struct ::sigaction before {};
    REQUIRE(::sigaction(SIGPIPE, nullptr, &before) == 0);
    REQUIRE(before.sa_handler == SIG_DFL);
    REQUIRE_FALSE(sigpipe_blocked());
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = np::pipe();
        REQUIRE(p);
        auto tx = std::move(p->first);
        { [[maybe_unused]] auto gone = std::move(p->second); }
        auto w = co_await io::write(tx, asio::buffer("x", 1));
        REQUIRE_FALSE(w);
        REQUIRE(w.error() == boost::system::errc::broken_pipe);
    }());
    struct ::sigaction after {};
    REQUIRE(::sigaction(SIGPIPE, nullptr, &after) == 0);
    REQUIRE(after.sa_handler == SIG_DFL);
    REQUIRE_FALSE(sigpipe_blocked());
    REQUIRE_FALSE(sigpipe_pending());
}

TEST_CASE("pipe::Sender write with SIGPIPE blocked by the caller leaves the signal pending",
          "[net][pipe]") {
    ::sigset_t pipe_set;
    ::sigset_t old;
    ::sigemptyset(&pipe_set);
    ::sigaddset(&pipe_set, SIGPIPE);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &pipe_set, &old) == 0);
    {
        Runtime rt;
        rt.block_on([]() -> Async<> {
            auto p = np::pipe();
            REQUIRE(p);
            auto tx = std::move(p->first);
            { [[maybe_unused]] auto gone = std::move(p->second); }
            auto w = co_await io::write(tx, asio::buffer("x", 1));
            REQUIRE_FALSE(w);
            REQUIRE(w.error() == boost::system::errc::broken_pipe);
        }());
    }
    REQUIRE(sigpipe_blocked());
    REQUIRE(sigpipe_pending());
    const ::timespec zero{};
    REQUIRE(::sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE);
    REQUIRE(::pthread_sigmask(SIG_SETMASK, &old, nullptr) == 0);
}

TEST_CASE("pipe::Receiver read future dropped while pending loses no byte", "[net][pipe][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = np::pipe();
        REQUIRE(p);
        auto& [tx, rx] = *p;
        char buf[8];
        {
            auto pending = io::read(rx, asio::buffer(buf));
            auto first = co_await poll_fn<bool>(
                [&](Context& cx) -> Poll<bool> { return Ready{pending.poll(cx).is_pending()}; });
            REQUIRE(first);
        } // dropped with its wait armed
        auto w = co_await io::write_all(tx, asio::buffer("abc", 3));
        REQUIRE(w);
        auto n = co_await io::read(rx, asio::buffer(buf));
        REQUIRE(n);
        REQUIRE(std::string(buf, *n) == "abc");
    }());
}

// ---- from_fd -------------------------------------------------------------------

TEST_CASE("pipe::Sender::from_fd adopts a blocking pipe end and makes it non-blocking",
          "[net][pipe]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        RawPipe raw;
        const int w = raw.w;
        auto tx = np::Sender::from_fd(raw.take_w());
        REQUIRE(tx);
        REQUIRE(tx->fd() == w);
        REQUIRE((::fcntl(w, F_GETFL) & O_NONBLOCK) != 0);
        auto rx = np::Receiver::from_fd(raw.take_r());
        REQUIRE(rx);
        auto n = co_await io::write_all(*tx, asio::buffer("hi", 2));
        REQUIRE(n);
        char buf[2];
        auto r = co_await io::read_exact(*rx, asio::buffer(buf));
        REQUIRE(r);
        REQUIRE(std::string(buf, 2) == "hi");
    }());
}

TEST_CASE("pipe::Sender::from_fd refuses a regular file with invalid_argument and leaves it open",
          "[net][pipe]") {
    const std::string path = temp_path("regular");
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        auto tx = np::Sender::from_fd(fd);
        REQUIRE_FALSE(tx);
        REQUIRE(tx.error() == boost::system::errc::invalid_argument);
        auto rx = np::Receiver::from_fd(fd);
        REQUIRE_FALSE(rx);
        REQUIRE(rx.error() == boost::system::errc::invalid_argument);
        REQUIRE(is_open(fd));
        REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) == 0); // untouched
        ::close(fd);
        co_return;
    }(path));
    std::filesystem::remove(path);
}

TEST_CASE("pipe::Receiver::from_fd refuses a pipe's writing end with invalid_argument",
          "[net][pipe]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        RawPipe raw;
        auto rx = np::Receiver::from_fd(raw.w);
        REQUIRE_FALSE(rx);
        REQUIRE(rx.error() == boost::system::errc::invalid_argument);
        auto tx = np::Sender::from_fd(raw.r);
        REQUIRE_FALSE(tx);
        REQUIRE(tx.error() == boost::system::errc::invalid_argument);
        REQUIRE(is_open(raw.w));
        REQUIRE(is_open(raw.r));
        co_return;
    }());
}

TEST_CASE("pipe::Sender::from_fd reports bad_descriptor for a closed descriptor", "[net][pipe]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        int fd;
        {
            RawPipe raw;
            fd = raw.w;
        }
        auto tx = np::Sender::from_fd(fd);
        REQUIRE_FALSE(tx);
        REQUIRE(tx.error() == boost::system::errc::bad_file_descriptor);
        co_return;
    }());
}

// ---- FIFOs -------------------------------------------------------------------

TEST_CASE("pipe::OpenOptions opens both ends of a FIFO and moves bytes", "[net][pipe][fifo]") {
    const std::string path = temp_path("fifo");
    std::filesystem::remove(path);
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        auto rx = np::OpenOptions().open_receiver(path);
        REQUIRE(rx);
        auto tx = np::OpenOptions().open_sender(path);
        REQUIRE(tx);
        REQUIRE((::fcntl(tx->fd(), F_GETFD) & FD_CLOEXEC) != 0);
        auto w = co_await io::write_all(*tx, asio::buffer("fifo", 4));
        REQUIRE(w);
        { [[maybe_unused]] auto gone = std::move(*tx); }
        std::string got;
        char buf[16];
        for (;;) {
            auto n = co_await io::read(*rx, asio::buffer(buf));
            REQUIRE(n);
            if (*n == 0) {
                break;
            }
            got.append(buf, *n);
        }
        REQUIRE(got == "fifo");
    }(path));
    std::filesystem::remove(path);
}

TEST_CASE("pipe::OpenOptions open_sender with no reader fails with ENXIO, unless read_write",
          "[net][pipe][fifo]") {
    const std::string path = temp_path("fifo_noreader");
    std::filesystem::remove(path);
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        (void)np::pipe(); // the reactor's own descriptors are made now
        const std::size_t before = open_fds();
        {
            auto tx = np::OpenOptions().open_sender(path);
            REQUIRE_FALSE(tx);
            REQUIRE(tx.error() == boost::system::errc::no_such_device_or_address);
            auto rw = np::OpenOptions().read_write(true).open_sender(path);
            REQUIRE(rw);
        }
        REQUIRE(open_fds() == before);
        co_return;
    }(path));
    std::filesystem::remove(path);
}

TEST_CASE("pipe::OpenOptions refuses a regular file with invalid_argument and closes it",
          "[net][pipe][fifo]") {
    const std::string path = temp_path("not_fifo");
    {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        ::close(fd);
    }
    Runtime rt;
    const std::size_t before = open_fds();
    rt.block_on([](std::string path) -> Async<> {
        auto rx = np::OpenOptions().open_receiver(path);
        REQUIRE_FALSE(rx);
        REQUIRE(rx.error() == boost::system::errc::invalid_argument);
        auto missing = np::OpenOptions().open_receiver(path + ".missing");
        REQUIRE_FALSE(missing);
        REQUIRE(missing.error() == boost::system::errc::no_such_file_or_directory);
        co_return;
    }(path));
    REQUIRE(open_fds() == before);
    std::filesystem::remove(path);
}

// ---- Lifetimes (no descriptor leaks) ------------------------------------------

TEST_CASE("a pipe dropped before its Runtime closes both descriptors", "[net][pipe][io_lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        std::optional<std::pair<np::Sender, np::Receiver>> p;
        char c;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            p.emplace(np::pipe(rt.io_context().get_executor()).value());
            return p->second.poll_read(cx, asio::buffer(&c, 1)).is_pending();
        }));
        p.reset();
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("a pipe::Receiver left pending in a task is dropped by the Runtime's shutdown",
          "[net][pipe][io_lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        std::optional<np::Sender> tx;
        rt.block_on([&]() -> Async<> {
            auto p = np::pipe();
            REQUIRE(p);
            tx.emplace(std::move(p->first));
            (void)spawn([](np::Receiver rx) -> Async<> {
                char c;
                (void)co_await io::read(rx, asio::buffer(&c, 1)); // never written
            }(std::move(p->second)));
            co_await time::sleep(1ms); // the task is now parked on its read
        }());
        tx.reset();
    } // ~Runtime drops the task, and its Receiver, while shutting down
    REQUIRE(open_fds() == before);
}

TEST_CASE("a pipe dropped after its Runtime closes both descriptors", "[net][pipe][io_lifetime]") {
    const std::size_t before = open_fds();
    std::optional<std::pair<np::Sender, np::Receiver>> p;
    {
        Runtime rt;
        char c;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            p.emplace(np::pipe(rt.io_context().get_executor()).value());
            return p->second.poll_read(cx, asio::buffer(&c, 1)).is_pending(); // a wait in flight
        }));
    }
    p.reset();
    REQUIRE(open_fds() == before);
}

TEST_CASE("a pipe::Receiver on a worker thread reads what another thread writes to the Sender",
          "[net][pipe][threads]") {
    // Catch2's assertions are not thread-safe: the two threads report what
    // they saw, and the main thread checks it.
    RuntimeOptions one_worker;
    one_worker.worker_threads = 1;
    Runtime rt(one_worker);
    auto p = rt.block_on(
        []() -> Async<Result<std::pair<np::Sender, np::Receiver>>> { co_return np::pipe(); }());
    REQUIRE(p);
    static constexpr std::size_t total = 256 * 1024;
    static constexpr std::size_t failed = ~std::size_t{0};
    auto reader = rt.spawn([](np::Receiver rx) -> Async<std::size_t> {
        std::size_t got = 0;
        char buf[4096];
        for (;;) {
            auto n = co_await io::read(rx, asio::buffer(buf));
            if (!n) {
                co_return failed;
            }
            if (*n == 0) {
                co_return got;
            }
            got += *n;
        }
    }(std::move(p->second)));
    const int fd = ::fcntl(p->first.fd(), F_DUPFD_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    { [[maybe_unused]] auto gone = std::move(p->first); }
    bool wrote = false;
    std::thread writer([fd, &wrote] {
        // A Sender is polled on its own executor: this thread's runtime.
        Runtime other;
        wrote = other.block_on([](int fd) -> Async<bool> {
            auto tx = np::Sender::from_fd(fd);
            if (!tx) {
                ::close(fd);
                co_return false;
            }
            std::string chunk(4096, 'w');
            for (std::size_t sent = 0; sent < total; sent += chunk.size()) {
                auto w = co_await io::write_all(*tx, asio::buffer(chunk));
                if (!w) {
                    co_return false;
                }
            }
            co_return true;
        }(fd));
    });
    writer.join();
    REQUIRE(wrote);
    auto got = rt.block_on(std::move(reader));
    REQUIRE(got == total);
}
