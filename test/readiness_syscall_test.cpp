// A would-block wait costs no epoll_ctl (lib/detail/readiness.hpp): net
// sockets, uv::Tcp and io::AsyncFd wait with persistent speculative reactor
// operations, which Asio's epoll reactor queues without re-arming the
// descriptor. (async_wait is never speculative, so epoll_reactor::start_op
// re-armed it with one EPOLL_CTL_MOD per wait.)
//
// This executable defines epoll_ctl itself: libpollux.so (which has Asio's
// reactor compiled in) calls it through the PLT, so the definition here
// interposes for the library too. It counts each call by op and forwards it
// to libc's. The first test case checks that the counter really sees the
// library's calls; without that, the others could not fail.
//
// A read that drained its descriptor lets the next read poll wait without
// the read syscall (readiness.hpp, "A drained read"). The same interposition
// counts recvmsg (TcpStream's and a TCP AsyncFd's reads) and read (a pipe
// AsyncFd's) on one watched descriptor.

#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/pipe.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/result_string.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <dlfcn.h>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <utility>

using namespace pollux;
namespace asio = boost::asio;
using io::AsyncFd;
using net::TcpListener;
using net::TcpStream;

namespace {

std::atomic<int> epoll_adds{0};
std::atomic<int> epoll_mods{0};
std::atomic<int> epoll_dels{0};
std::atomic<int> watched_fd{-1};
std::atomic<int> watched_reads{0}; // recvmsg and read calls on watched_fd

using EpollCtl = int (*)(int, int, int, epoll_event*);

EpollCtl real_epoll_ctl() {
    static const EpollCtl real = reinterpret_cast<EpollCtl>(::dlsym(RTLD_NEXT, "epoll_ctl"));
    return real;
}

// The epoll_ctl calls made since it was taken, by op.
struct EpollCtlCount {
    int add = epoll_adds.load();
    int mod = epoll_mods.load();
    int del = epoll_dels.load();

    [[nodiscard]] int adds() const { return epoll_adds.load() - add; }
    [[nodiscard]] int mods() const { return epoll_mods.load() - mod; }
    [[nodiscard]] int dels() const { return epoll_dels.load() - del; }
};

// Round trips before counting: connects, and the first write wait of a
// descriptor (which adds EPOLLOUT to its registration once) are not what is
// measured.
constexpr int warm_up_rounds = 3;
constexpr int counted_rounds = 200;
constexpr std::size_t message_size = 64;

// The message of round `i`: 64 bytes that differ from round to round.
std::array<char, message_size> message(int i) {
    std::array<char, message_size> m{};
    for (std::size_t k = 0; k < m.size(); ++k) {
        m[k] = static_cast<char>('A' + (static_cast<std::size_t>(i) * 7 + k) % 58);
    }
    return m;
}

asio::ip::tcp::endpoint loopback() {
    return {asio::ip::make_address("127.0.0.1"), 0};
}

// Accepts one connection and echoes `rounds` messages of message_size
// bytes, one at a time.
Async<> echo_messages(TcpListener& listener, int rounds) {
    auto conn = co_await listener.accept();
    REQUIRE(conn);
    TcpStream s = std::move(conn->first);
    std::array<char, message_size> buf{};
    for (int i = 0; i < rounds; ++i) {
        auto r = co_await io::read_exact(s, asio::buffer(buf));
        REQUIRE(r);
        auto w = co_await io::write_all(s, asio::buffer(buf));
        REQUIRE(w);
    }
}

// Fills `buf` from `s`, counting the polls that found nothing to read.
Async<> read_exact_counting_waits(TcpStream& s, std::span<char> buf, int& waits) {
    std::size_t filled = 0;
    while (filled < buf.size()) {
        auto n =
            co_await poll_fn<Result<std::size_t>>([&](Context& cx) -> Poll<Result<std::size_t>> {
                Poll<Result<std::size_t>> p =
                    s.poll_read(cx, asio::buffer(buf.data() + filled, buf.size() - filled));
                if (p.is_pending()) {
                    ++waits;
                }
                return p;
            });
        REQUIRE(n);
        REQUIRE(*n > 0);
        filled += *n;
    }
}

template <class F>
F real_function(const char* name) {
    return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

using RecvMsg = ssize_t (*)(int, msghdr*, int);
using Read = ssize_t (*)(int, void*, std::size_t);

// Counts the read syscalls on `fd` while it lives.
struct WatchReads {
    explicit WatchReads(int fd) {
        REQUIRE(real_function<RecvMsg>("recvmsg") != nullptr);
        REQUIRE(real_function<Read>("read") != nullptr);
        watched_reads.store(0);
        watched_fd.store(fd);
    }
    WatchReads(const WatchReads&) = delete;
    WatchReads& operator=(const WatchReads&) = delete;
    ~WatchReads() { watched_fd.store(-1); }
    [[nodiscard]] int reads() const { return watched_reads.load(); }
};

// Polls `r`'s read once: whether it was pending, and how many read
// syscalls that poll made on the watched descriptor.
template <class R>
Async<std::pair<bool, int>> poll_read_once(R& r, std::span<char> buf, const WatchReads& w) {
    const int before = w.reads();
    const bool pending = co_await poll_fn<bool>([&](Context& cx) -> Poll<bool> {
        return Ready{r.poll_read(cx, asio::buffer(buf.data(), buf.size())).is_pending()};
    });
    co_return std::pair<bool, int>(pending, w.reads() - before);
}

// A non-blocking pipe, both ends close-on-exec.
struct Pipe {
    int r = -1;
    int w = -1;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
        r = fds[0];
        w = fds[1];
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe() {
        for (int fd : {r, w}) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
    }
    int take_r() { return std::exchange(r, -1); }
};

} // namespace

extern "C" int epoll_ctl(int epfd, int op, int fd, struct epoll_event* ev) noexcept {
    switch (op) {
    case EPOLL_CTL_ADD:
        epoll_adds.fetch_add(1);
        break;
    case EPOLL_CTL_MOD:
        epoll_mods.fetch_add(1);
        break;
    case EPOLL_CTL_DEL:
        epoll_dels.fetch_add(1);
        break;
    default:
        break;
    }
    const EpollCtl real = real_epoll_ctl();
    if (real == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return real(epfd, op, fd, ev);
}

extern "C" ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    if (fd == watched_fd.load(std::memory_order_relaxed)) {
        watched_reads.fetch_add(1);
    }
    static const RecvMsg real = real_function<RecvMsg>("recvmsg");
    if (real == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, msg, flags);
}

extern "C" ssize_t read(int fd, void* data, std::size_t size) {
    if (fd == watched_fd.load(std::memory_order_relaxed)) {
        watched_reads.fetch_add(1);
    }
    static const Read real = real_function<Read>("read");
    if (real == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, data, size);
}

TEST_CASE("epoll_ctl counting: the library's registration of each new socket is counted",
          "[readiness]") {
    REQUIRE(real_epoll_ctl() != nullptr);
    Runtime rt;
    rt.block_on([]() -> Async<> {
        const EpollCtlCount count;
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto server = spawn(echo_messages(*l, 0));
        auto c = co_await TcpStream::connect(*l->local_addr());
        REQUIRE(c);
        co_await server;
        // One EPOLL_CTL_ADD for each of the listener, the connecting socket
        // and the accepted one, all registered inside libpollux.so.
        REQUIRE(count.adds() >= 3);
    }());
}

TEST_CASE("net: a TcpStream's would-block read waits cost no epoll_ctl", "[readiness][net]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto server = spawn(echo_messages(*l, warm_up_rounds + counted_rounds));
        auto c = co_await TcpStream::connect(*l->local_addr());
        REQUIRE(c);
        std::array<char, message_size> back{};
        int waits = 0;
        for (int i = 0; i < warm_up_rounds; ++i) {
            const auto m = message(i);
            auto w = co_await io::write_all(*c, asio::buffer(m));
            REQUIRE(w);
            co_await read_exact_counting_waits(*c, back, waits);
            REQUIRE(back == m);
        }

        const EpollCtlCount count;
        waits = 0;
        int completed = 0;
        for (int i = warm_up_rounds; i < warm_up_rounds + counted_rounds; ++i) {
            const auto m = message(i);
            auto w = co_await io::write_all(*c, asio::buffer(m));
            REQUIRE(w);
            // The echo task has not run yet (one thread): this read would
            // block, and so did the echo's.
            co_await read_exact_counting_waits(*c, back, waits);
            REQUIRE(back == m);
            ++completed;
        }
        const int mods = count.mods();
        REQUIRE(completed == counted_rounds);
        REQUIRE(waits >= counted_rounds);
        REQUIRE(mods == 0);
        co_await server;
    }());
}

TEST_CASE("uv: a Tcp handle's would-block read waits cost no epoll_ctl", "[readiness][uv]") {
    uv::Loop loop;
    uv::Tcp listener(loop);
    std::unique_ptr<uv::Tcp> peer;
    REQUIRE_FALSE(listener.bind(loopback()));
    REQUIRE_FALSE(listener.listen(16, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        peer = std::make_unique<uv::Tcp>(loop);
        REQUIRE_FALSE(listener.accept(*peer));
        // Echo: what the kernel takes at once, the rest queued.
        REQUIRE_FALSE(peer->read_start([&](boost::system::error_code rec, std::span<const char> d) {
            if (rec) {
                REQUIRE(rec == asio::error::eof);
                peer->close();
                return;
            }
            auto sent = peer->try_write(asio::buffer(d.data(), d.size()));
            const std::size_t n = sent ? *sent : 0;
            if (n < d.size()) {
                REQUIRE_FALSE(peer->write(std::string(d.begin() + n, d.end())));
            }
        }));
    }));

    uv::Tcp client(loop);
    std::string got;
    int round = 0;
    int completed = 0;
    std::optional<EpollCtlCount> count;
    std::optional<int> mods;
    auto send_round = [&] {
        const auto m = message(round);
        REQUIRE_FALSE(client.write(std::string(m.begin(), m.end())));
    };
    REQUIRE_FALSE(client.connect(listener.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(
            client.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                REQUIRE_FALSE(rec);
                got.append(d.begin(), d.end());
                if (got.size() < message_size) {
                    return;
                }
                REQUIRE(got.size() == message_size); // one message in flight at a time
                const auto m = message(round);
                REQUIRE(got == std::string(m.begin(), m.end()));
                got.clear();
                if (round >= warm_up_rounds) {
                    ++completed;
                }
                ++round;
                if (round == warm_up_rounds) {
                    count.emplace();
                }
                if (round == warm_up_rounds + counted_rounds) {
                    mods = count->mods();
                    client.close();
                    listener.close();
                    return;
                }
                // The peer reads this only after the loop polled again: each
                // round, both sides wait for readiness.
                send_round();
            }));
        send_round();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(completed == counted_rounds);
    REQUIRE(mods.has_value());
    REQUIRE(*mods == 0);
    REQUIRE(peer != nullptr);
    REQUIRE(peer->is_closing());
    peer.reset();
    pollux::test::require_loop_quiescent(loop);
}

TEST_CASE("io: an AsyncFd's readable() waits after clear_read_ready cost no epoll_ctl",
          "[readiness][io]") {
    Runtime rt;
    Pipe p;
    auto rd = AsyncFd::create(p.take_r(), rt.io_context().get_executor());
    REQUIRE(rd);
    rt.block_on([&]() -> Async<> {
        // Each round: read to EAGAIN, clear, a wait that is pending (armed),
        // then the writer, then the wait completes.
        auto round = [&](int i) -> Async<> {
            char c = 0;
            for (;;) {
                const ssize_t n = ::read(rd->fd(), &c, 1);
                if (n < 0) {
                    REQUIRE(errno == EAGAIN);
                    break;
                }
                REQUIRE(n == 1);
            }
            rd->clear_read_ready();
            const bool armed = co_await poll_fn<bool>([&](Context& cx) -> Poll<bool> {
                return Ready{rd->poll_read_ready(cx).is_pending()};
            });
            REQUIRE(armed);
            const char byte = static_cast<char>('a' + i % 26);
            REQUIRE(::write(p.w, &byte, 1) == 1);
            auto ready = co_await rd->readable();
            REQUIRE(ready);
            REQUIRE(::read(rd->fd(), &c, 1) == 1);
            REQUIRE(c == byte);
        };
        for (int i = 0; i < warm_up_rounds; ++i) {
            co_await round(i);
        }
        const EpollCtlCount count;
        for (int i = 0; i < counted_rounds; ++i) {
            co_await round(i);
        }
        REQUIRE(count.mods() == 0);
    }());
}

TEST_CASE("net: after a TcpStream read that drained the socket, the next read poll waits without "
          "a read syscall",
          "[readiness][net]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto c = co_await TcpStream::connect(*l->local_addr());
        REQUIRE(c);
        auto a = co_await l->accept();
        REQUIRE(a);
        TcpStream& s = a->first;
        const WatchReads watch(s.socket().native_handle());
        std::array<char, 1024> buf{};
        int trusted = 0;
        for (int i = 0; i < warm_up_rounds + counted_rounds; ++i) {
            const auto m = message(i);
            auto w = co_await io::write_all(*c, asio::buffer(m));
            REQUIRE(w);
            auto n = co_await io::read(s, asio::buffer(buf));
            REQUIRE(n);
            REQUIRE(*n == message_size); // short: 64 of 1024
            const auto [pending, reads] = co_await poll_read_once(s, buf, watch);
            REQUIRE(pending);
            if (i >= warm_up_rounds) {
                // The socket's first read wait counts as a hang-up (the
                // reactor's registration flag): the warm-up is behind it.
                REQUIRE(reads == 0);
                ++trusted;
            }
        }
        REQUIRE(trusted == counted_rounds);
        REQUIRE(watch.reads() > 0); // the counter sees the library's reads
    }());
}

TEST_CASE("io: after an AsyncFd pipe read that drained the pipe, the next read poll waits without "
          "a read syscall",
          "[readiness][io]") {
    Runtime rt;
    Pipe p;
    auto rd = AsyncFd::create(p.take_r(), rt.io_context().get_executor());
    REQUIRE(rd);
    rt.block_on([&]() -> Async<> {
        const WatchReads watch(rd->fd());
        std::array<char, 1024> buf{};
        int trusted = 0;
        for (int i = 0; i < warm_up_rounds + counted_rounds; ++i) {
            const auto m = message(i);
            REQUIRE(::write(p.w, m.data(), m.size()) == static_cast<ssize_t>(m.size()));
            auto n = co_await io::read(*rd, asio::buffer(buf));
            REQUIRE(n);
            REQUIRE(*n == message_size);
            const auto [pending, reads] = co_await poll_read_once(*rd, buf, watch);
            REQUIRE(pending);
            if (i >= warm_up_rounds) {
                REQUIRE(reads == 0);
                ++trusted;
            }
        }
        REQUIRE(trusted == counted_rounds);
        REQUIRE(watch.reads() > 0);
    }());
}

TEST_CASE("net: after a pipe::Receiver read that drained the pipe, the next read poll waits "
          "without a read syscall",
          "[readiness][net]") {
    Runtime rt;
    Pipe p;
    auto rx = net::pipe::Receiver::from_fd(p.take_r(), rt.io_context().get_executor());
    REQUIRE(rx);
    rt.block_on([&]() -> Async<> {
        const WatchReads watch(rx->fd());
        std::array<char, 1024> buf{};
        int trusted = 0;
        for (int i = 0; i < warm_up_rounds + counted_rounds; ++i) {
            const auto m = message(i);
            REQUIRE(::write(p.w, m.data(), m.size()) == static_cast<ssize_t>(m.size()));
            auto n = co_await io::read(*rx, asio::buffer(buf));
            REQUIRE(n);
            REQUIRE(*n == message_size);
            const auto [pending, reads] = co_await poll_read_once(*rx, buf, watch);
            REQUIRE(pending);
            if (i >= warm_up_rounds) {
                REQUIRE(reads == 0);
                ++trusted;
            }
        }
        REQUIRE(trusted == counted_rounds);
        REQUIRE(watch.reads() > 0);
    }());
}

// What from_fd_unchecked adopts that is not a pipe or FIFO (here a Unix
// stream socket, where a short read proves nothing: readiness.hpp) is read
// until would-block: the poll after a short read makes the read that says so.
TEST_CASE("net: a pipe::Receiver over a Unix socket reads until would-block after a short read",
          "[readiness][net]") {
    Runtime rt;
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    const int w = sv[1];
    auto rx = net::pipe::Receiver::from_fd_unchecked(sv[0], rt.io_context().get_executor());
    REQUIRE(rx);
    rt.block_on([&]() -> Async<> {
        const WatchReads watch(rx->fd());
        std::array<char, 1024> buf{};
        for (int i = 0; i < warm_up_rounds + 3; ++i) {
            const auto m = message(i);
            REQUIRE(::write(w, m.data(), m.size()) == static_cast<ssize_t>(m.size()));
            auto n = co_await io::read(*rx, asio::buffer(buf));
            REQUIRE(n);
            REQUIRE(*n == message_size);
            const auto [pending, reads] = co_await poll_read_once(*rx, buf, watch);
            REQUIRE(pending);
            REQUIRE(reads == 1);
        }
    }());
    ::close(w);
}

// uv::Stream's read loop: after a read that drained a uv::Tcp's socket and
// its callback, the loop waits without the read that would say
// would-block. Each round the client writes one message from a timer
// started by the server's callback, so the message is not there yet when
// the callback returns; the server's socket gets one recvmsg per message
// (reading until would-block made two).
TEST_CASE("uv: after a uv::Tcp read that drained the socket, the read loop waits without a read "
          "syscall",
          "[readiness][uv]") {
    uv::Loop loop;
    uv::Tcp listener(loop);
    std::unique_ptr<uv::Tcp> peer;
    std::optional<WatchReads> watch;
    REQUIRE_FALSE(listener.bind(loopback()));
    uv::Tcp client(loop);
    uv::Timer next(loop);
    int round = 0;
    int reads_at_count_start = 0;
    auto send_round = [&] {
        const auto m = message(round);
        REQUIRE_FALSE(client.write(std::string(m.begin(), m.end())));
    };
    REQUIRE_FALSE(listener.listen(16, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        peer = std::make_unique<uv::Tcp>(loop);
        REQUIRE_FALSE(listener.accept(*peer));
        watch.emplace(peer->socket().native_handle());
        REQUIRE_FALSE(peer->read_start([&](boost::system::error_code rec, std::span<const char> d) {
            REQUIRE_FALSE(rec);
            REQUIRE(d.size() == message_size); // one message at a time
            ++round;
            if (round == warm_up_rounds) {
                reads_at_count_start = watch->reads();
            }
            if (round == warm_up_rounds + counted_rounds) {
                // One read per message, none that would block.
                REQUIRE(watch->reads() - reads_at_count_start == counted_rounds);
                peer->close();
                client.close();
                listener.close();
                next.close();
                return;
            }
            REQUIRE_FALSE(next.start(send_round, std::chrono::milliseconds(0)));
        }));
    }));
    REQUIRE_FALSE(client.connect(listener.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        send_round();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(round == warm_up_rounds + counted_rounds);
    watch.reset();
}

namespace {

// Runs uv::Pipe `rd`'s read loop for warm_up_rounds + counted_rounds
// messages, one at a time: each callback starts a timer that writes the
// next message to `w`, so it is not there yet when the callback returns.
// Returns the reads of `rd`'s descriptor made for the counted rounds.
int uv_pipe_reads_per_counted_rounds(uv::Loop& loop, uv::Pipe& rd, int w) {
    const WatchReads watch(rd.fd());
    uv::Timer next(loop);
    int round = 0;
    int reads_at_count_start = 0;
    int counted_reads = -1;
    auto send_round = [&] {
        const auto m = message(round);
        REQUIRE(::write(w, m.data(), m.size()) == static_cast<ssize_t>(m.size()));
    };
    REQUIRE_FALSE(rd.read_start([&](boost::system::error_code rec, std::span<const char> d) {
        REQUIRE_FALSE(rec);
        REQUIRE(d.size() == message_size); // one message at a time
        ++round;
        if (round == warm_up_rounds) {
            reads_at_count_start = watch.reads();
        }
        if (round == warm_up_rounds + counted_rounds) {
            counted_reads = watch.reads() - reads_at_count_start;
            rd.close();
            next.close();
            return;
        }
        REQUIRE_FALSE(next.start(send_round, std::chrono::milliseconds(0)));
    }));
    send_round();
    REQUIRE(loop.run() == 0);
    REQUIRE(round == warm_up_rounds + counted_rounds);
    return counted_reads;
}

} // namespace

// uv::Stream's read loop on a uv::Pipe opened on a pipe's read end: a read
// shorter than asked emptied the pipe, so the loop waits after its
// callback without the read that would say would-block.
TEST_CASE("uv: after a uv::Pipe read that drained a pipe, the read loop waits without a read "
          "syscall",
          "[readiness][uv]") {
    uv::Loop loop;
    Pipe p;
    uv::Pipe rd(loop);
    REQUIRE_FALSE(rd.open(p.take_r()));
    // One read per message, none that would block.
    REQUIRE(uv_pipe_reads_per_counted_rounds(loop, rd, p.w) == counted_rounds);
}

// On a Unix stream socket a short read proves nothing (readiness.hpp):
// uv::Pipe reads until would-block there, two reads per message.
TEST_CASE("uv: a uv::Pipe on a Unix stream socket reads until would-block after a short read",
          "[readiness][uv]") {
    uv::Loop loop;
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    uv::Pipe rd(loop);
    REQUIRE_FALSE(rd.open(sv[0]));
    REQUIRE(uv_pipe_reads_per_counted_rounds(loop, rd, sv[1]) == 2 * counted_rounds);
    ::close(sv[1]);
}
