// A read that drained its descriptor lets the next read poll wait without
// the syscall (lib/detail/readiness.hpp, "A drained read"). These cases pin
// what must not be lost then: a peer's last bytes and its end of stream
// (FIN, RST, a pipe's last writer closing) that reach the descriptor before
// the reactor's epoll_wait arrive on one edge, which the read wait consumes;
// a reader that trusted the read of those bytes would wait for an edge that
// never comes. Each case makes that happen on purpose: while a read poll is
// pending (its wait queued), the peer sends and ends inside the same poll,
// so the reactor collects both on its next turn. A hang is caught by a
// generous timeout (a hang guard, never a bound on speed).
//
// Each reader first reads one message (warm_up), so that its read wait is
// queued in the reactor when the peer sends and ends.

#include <pollux/io.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/time.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/pipe.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/timer.hpp>
#include <pollux/uv/tty.hpp>

#include "support/result_string.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <span>
#include <stdlib.h>
#include <string>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include <utility>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using io::AsyncFd;
using net::TcpListener;
using net::TcpStream;

namespace {

constexpr auto hang_guard = 20s;

// A connected pair: `server` accepted, `client` connected.
struct TcpPair {
    std::optional<TcpStream> client;
    std::optional<TcpStream> server;
};

Async<TcpPair> tcp_pair() {
    auto l = TcpListener::bind("127.0.0.1:0");
    REQUIRE(l);
    auto c = co_await TcpStream::connect(*l->local_addr());
    REQUIRE(c);
    auto a = co_await l->accept();
    REQUIRE(a);
    TcpPair p;
    p.client.emplace(std::move(*c));
    p.server.emplace(std::move(a->first));
    co_return p;
}

// Reads from `r` until one poll finds nothing to read; `send` is called
// right after that first pending poll (its wait queued, the reactor not yet
// run). Returns the read's result. Hang-guarded.
template <class R>
Async<Result<std::size_t>>
read_after_pending_poll(R& r, std::span<char> buf, const std::function<void()>& send) {
    bool sent = false;
    auto got = co_await time::timeout(
        hang_guard, poll_fn<Result<std::size_t>>([&](Context& cx) -> Poll<Result<std::size_t>> {
            Poll<Result<std::size_t>> p = r.poll_read(cx, asio::buffer(buf.data(), buf.size()));
            if (!sent) {
                REQUIRE(p.is_pending());
                sent = true;
                send();
            }
            return p;
        }));
    REQUIRE(got); // the hang guard's deadline did not pass
    co_return std::move(*got);
}

// A read of `r`, hang-guarded.
template <class R>
Async<Result<std::size_t>> guarded_read(R& r, std::span<char> buf) {
    auto got =
        co_await time::timeout(hang_guard, io::read(r, asio::buffer(buf.data(), buf.size())));
    REQUIRE(got); // the hang guard's deadline did not pass
    co_return std::move(*got);
}

// Sends `msg` on connected socket `fd` (it fits the socket's buffer).
void send_all(int fd, const std::string& msg) {
    REQUIRE(::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(msg.size()));
}

// One message in and read, sent by another task a moment after the read
// began to wait. By then the read has found nothing, and its wait is queued
// in the reactor (a first wait completes at once, spuriously: the reactor's
// registration marked the descriptor ready), so the message's edge performs
// that wait, and nothing marks the descriptor ready after it: the next wait
// is queued too, which is what the cases need. (The first wait also counts
// as a hang-up: the registration sets that flag as well. It is behind.)
template <class R>
Async<> warm_up(R& r, const std::function<void()>& send) {
    std::array<char, 1024> buf{};
    auto [n, sent] = co_await join(guarded_read(r, buf), [&]() -> Async<bool> {
        co_await time::sleep(50ms);
        send();
        co_return true;
    }());
    REQUIRE(sent);
    REQUIRE(n);
    REQUIRE(*n == 4);
}

} // namespace

TEST_CASE("TcpStream: a peer's last bytes and FIN on one edge are read, then end of stream",
          "[net][tcp][readiness]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TcpPair p = co_await tcp_pair();
        const int peer = p.client->socket().native_handle();
        co_await warm_up(*p.server, [&] { send_all(peer, "warm"); });
        std::array<char, 1024> buf{};
        auto n = co_await read_after_pending_poll(*p.server, buf, [&] {
            send_all(peer, "last");
            REQUIRE(::shutdown(peer, SHUT_WR) == 0);
        });
        REQUIRE(n);
        REQUIRE(*n == 4);
        REQUIRE(std::string(buf.data(), 4) == "last");
        auto eof = co_await guarded_read(*p.server, buf);
        REQUIRE(eof);
        REQUIRE(*eof == 0);
    }());
}

TEST_CASE("TcpStream: a peer's last bytes and RST on one edge are read, then the reset",
          "[net][tcp][readiness]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TcpPair p = co_await tcp_pair();
        const int peer = p.client->socket().native_handle();
        co_await warm_up(*p.server, [&] { send_all(peer, "warm"); });
        std::array<char, 1024> buf{};
        auto n = co_await read_after_pending_poll(*p.server, buf, [&] {
            send_all(peer, "last");
            // Set behind Asio's back: Asio turns a linger it set off
            // again before its destructor closes (so that close never
            // blocks), which would send a FIN.
            const ::linger lg{1, 0};
            REQUIRE(::setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
            p.client.reset(); // closed with RST
        });
        REQUIRE(n);
        REQUIRE(*n == 4);
        REQUIRE(std::string(buf.data(), 4) == "last");
        auto reset = co_await guarded_read(*p.server, buf);
        REQUIRE_FALSE(reset);
        REQUIRE(reset.error() == asio::error::connection_reset);
    }());
}

TEST_CASE("TcpStream: a dropped read future after a drained read loses no byte",
          "[net][tcp][readiness]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TcpPair p = co_await tcp_pair();
        const int peer = p.client->socket().native_handle();
        co_await warm_up(*p.server, [&] { send_all(peer, "warm"); });
        std::array<char, 1024> buf{};
        // From the second round on, the read of "next" is trusted (the
        // first round's dropped poll still reads, after the warm-up's wait).
        for (int i = 0; i < 3; ++i) {
            send_all(peer, "next");
            auto got = co_await guarded_read(*p.server, buf);
            REQUIRE(got);
            REQUIRE(*got == 4);
            // The read drained the socket: a new read future waits without
            // a syscall; it is dropped after one poll.
            {
                auto dropped = io::read(*p.server, asio::buffer(buf));
                const bool pending = co_await poll_fn<bool>([&](Context& cx) -> Poll<bool> {
                    return Ready{dropped.poll(cx).is_pending()};
                });
                REQUIRE(pending);
            }
            send_all(peer, "kept");
            auto kept = co_await guarded_read(*p.server, buf);
            REQUIRE(kept);
            REQUIRE(*kept == 4);
            REQUIRE(std::string(buf.data(), 4) == "kept");
        }
    }());
}

TEST_CASE("AsyncFd: a pipe writer's last bytes and close on one edge are read, then end of stream",
          "[io][readiness]") {
    Runtime rt;
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
    int w = fds[1];
    auto rd = AsyncFd::create(fds[0], rt.io_context().get_executor());
    REQUIRE(rd);
    rt.block_on([&]() -> Async<> {
        co_await warm_up(*rd, [&] { REQUIRE(::write(w, "warm", 4) == 4); });
        std::array<char, 1024> buf{};
        auto n = co_await read_after_pending_poll(*rd, buf, [&] {
            REQUIRE(::write(w, "last", 4) == 4);
            ::close(std::exchange(w, -1));
        });
        REQUIRE(n);
        REQUIRE(*n == 4);
        REQUIRE(std::string(buf.data(), 4) == "last");
        auto eof = co_await guarded_read(*rd, buf);
        REQUIRE(eof);
        REQUIRE(*eof == 0);
    }());
    if (w >= 0) {
        ::close(w);
    }
}

TEST_CASE("pipe::Receiver: a pipe writer's last bytes and close on one edge are read, then end "
          "of stream",
          "[net][readiness]") {
    Runtime rt;
    auto ends = net::pipe::pipe(rt.io_context().get_executor());
    REQUIRE(ends);
    std::optional<net::pipe::Sender> tx(std::move(ends->first));
    net::pipe::Receiver& rx = ends->second;
    rt.block_on([&]() -> Async<> {
        co_await warm_up(rx, [&] { REQUIRE(::write(tx->fd(), "warm", 4) == 4); });
        std::array<char, 1024> buf{};
        auto n = co_await read_after_pending_poll(rx, buf, [&] {
            REQUIRE(::write(tx->fd(), "last", 4) == 4);
            tx.reset(); // the last writer closes
        });
        REQUIRE(n);
        REQUIRE(*n == 4);
        REQUIRE(std::string(buf.data(), 4) == "last");
        auto eof = co_await guarded_read(rx, buf);
        REQUIRE(eof);
        REQUIRE(*eof == 0);
    }());
}

TEST_CASE("AsyncFd: a TCP peer's last bytes and FIN on one edge are read, then end of stream",
          "[io][readiness]") {
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        TcpPair p = co_await tcp_pair();
        const int peer = p.client->socket().native_handle();
        // The accepted socket's descriptor, duplicated for the AsyncFd
        // (non-blocking: the flag is the open file description's).
        const int fd = ::fcntl(p.server->socket().native_handle(), F_DUPFD_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        auto rd = AsyncFd::create(fd);
        REQUIRE(rd);
        co_await warm_up(*rd, [&] { send_all(peer, "warm"); });
        std::array<char, 1024> buf{};
        auto n = co_await read_after_pending_poll(*rd, buf, [&] {
            send_all(peer, "last");
            REQUIRE(::shutdown(peer, SHUT_WR) == 0);
        });
        REQUIRE(n);
        REQUIRE(*n == 4);
        auto eof = co_await guarded_read(*rd, buf);
        REQUIRE(eof);
        REQUIRE(*eof == 0);
    }());
}

// The same for uv::Tcp's read loop (uv::Stream): the warm-up message comes
// a moment after read_start, so its edge performs a queued read wait; its
// callback sends the last bytes and the FIN, before the read loop waits
// again (on trust: the warm-up read drained the socket).
TEST_CASE("uv::Tcp: a peer's last bytes and FIN on one edge are read, then end of stream",
          "[uv][tcp][readiness]") {
    uv::Loop loop;
    uv::Tcp listener(loop);
    REQUIRE_FALSE(listener.bind({asio::ip::make_address("127.0.0.1"), 0}));
    std::unique_ptr<uv::Tcp> peer;
    int client = -1;
    std::string got;
    int eofs = 0;
    uv::Timer warm(loop);
    uv::Timer guard(loop);
    auto finish = [&] {
        guard.close();
        warm.close();
        listener.close();
        if (peer) {
            peer->close();
        }
    };
    REQUIRE_FALSE(listener.listen(1, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        peer = std::make_unique<uv::Tcp>(loop);
        REQUIRE_FALSE(listener.accept(*peer));
        REQUIRE_FALSE(peer->read_start([&](boost::system::error_code rec, std::span<const char> d) {
            if (rec) {
                REQUIRE(rec == asio::error::eof);
                ++eofs;
                finish();
                return;
            }
            got.append(d.begin(), d.end());
            if (got == "warm") {
                send_all(client, "last");
                REQUIRE(::shutdown(client, SHUT_WR) == 0);
            }
        }));
        REQUIRE_FALSE(warm.start([&] { send_all(client, "warm"); }, 50ms));
    }));
    const auto addr = listener.getsockname().value();
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(client >= 0);
    ::sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(addr.port());
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(client, reinterpret_cast<const ::sockaddr*>(&sin), sizeof(sin)) == 0);
    REQUIRE_FALSE(guard.start(finish, hang_guard)); // a hang guard
    REQUIRE(loop.run() == 0);
    ::close(client);
    REQUIRE(got == "warmlast");
    REQUIRE(eofs == 1);
}

// The same for uv::Pipe opened on a pipe's read end (a short read empties
// a pipe): the warm-up's callback writes the last bytes and closes the
// writer, whose data and hang-up reach the reactor on one edge.
TEST_CASE("uv::Pipe: a pipe writer's last bytes and close on one edge are read, then end of "
          "stream",
          "[uv][pipe][readiness]") {
    uv::Loop loop;
    auto fds = uv::pipe(uv::nonblock_pipe, 0);
    REQUIRE(fds);
    int w = (*fds)[1];
    uv::Pipe rd(loop);
    REQUIRE_FALSE(rd.open((*fds)[0]));
    std::string got;
    int eofs = 0;
    uv::Timer warm(loop);
    uv::Timer guard(loop);
    auto finish = [&] {
        guard.close();
        warm.close();
        rd.close();
    };
    REQUIRE_FALSE(rd.read_start([&](boost::system::error_code rec, std::span<const char> d) {
        if (rec) {
            REQUIRE(rec == asio::error::eof);
            ++eofs;
            finish();
            return;
        }
        got.append(d.begin(), d.end());
        if (got == "warm") {
            REQUIRE(::write(w, "last", 4) == 4);
            ::close(std::exchange(w, -1)); // the last writer closes
        }
    }));
    REQUIRE_FALSE(warm.start([&] { REQUIRE(::write(w, "warm", 4) == 4); }, 50ms));
    REQUIRE_FALSE(guard.start(finish, hang_guard)); // a hang guard
    REQUIRE(loop.run() == 0);
    if (w >= 0) {
        ::close(w);
    }
    REQUIRE(got == "warmlast");
    REQUIRE(eofs == 1);
}

// Faces where a short read proves nothing, and which therefore read until
// would-block (readiness.hpp, "A drained read"). Each case would hang if a
// short read marked the direction drained there.

// A Unix stream peer's shutdown(SHUT_WR) raises EPOLLIN|EPOLLRDHUP, no
// EPOLLHUP: nothing tells the read of the last bytes that the end of
// stream came with them.
TEST_CASE("UnixStream: a peer's last bytes and shutdown(SHUT_WR) on one edge are read, then end "
          "of stream",
          "[net][unix][readiness]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = net::UnixStream::pair();
        REQUIRE(p);
        const int peer = p->second.socket().native_handle();
        co_await warm_up(p->first, [&] { send_all(peer, "warm"); });
        std::array<char, 1024> buf{};
        auto n = co_await read_after_pending_poll(p->first, buf, [&] {
            send_all(peer, "last");
            REQUIRE(::shutdown(peer, SHUT_WR) == 0);
        });
        REQUIRE(n);
        REQUIRE(*n == 4);
        REQUIRE(std::string(buf.data(), 4) == "last");
        auto eof = co_await guarded_read(p->first, buf);
        REQUIRE(eof);
        REQUIRE(*eof == 0);
    }());
}

// A message that carries descriptors ends a Unix stream read, with the
// bytes sent after it still queued (unix_stream_read_generic).
TEST_CASE("UnixStream: bytes queued behind a message carrying a descriptor are read without a new "
          "edge",
          "[net][unix][readiness]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = net::UnixStream::pair();
        REQUIRE(p);
        const int peer = p->second.socket().native_handle();
        co_await warm_up(p->first, [&] { send_all(peer, "warm"); });
        std::array<char, 1024> buf{};
        auto n = co_await read_after_pending_poll(p->first, buf, [&] {
            // "last" with a descriptor (the peer's own: it is closed by the
            // receiving kernel, the reader asks for none), then "more".
            char data[] = {'l', 'a', 's', 't'};
            ::iovec iov{data, sizeof(data)};
            alignas(::cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
            ::msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof(control);
            ::cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(c), &peer, sizeof(int));
            REQUIRE(::sendmsg(peer, &msg, MSG_NOSIGNAL) == 4);
            send_all(peer, "more");
        });
        REQUIRE(n);
        REQUIRE(*n == 4);
        REQUIRE(std::string(buf.data(), 4) == "last");
        auto more = co_await guarded_read(p->first, buf);
        REQUIRE(more);
        REQUIRE(*more == 4);
        REQUIRE(std::string(buf.data(), 4) == "more");
    }());
}

// The same for uv::Pipe on a Unix stream socket (uv::Stream's read loop).
TEST_CASE("uv::Pipe: a Unix stream peer's last bytes and shutdown(SHUT_WR) on one edge are read, "
          "then end of stream",
          "[uv][pipe][readiness]") {
    uv::Loop loop;
    auto sv = uv::socketpair(uv::nonblock_pipe, 0);
    REQUIRE(sv);
    const int peer = (*sv)[1];
    uv::Pipe rd(loop);
    REQUIRE_FALSE(rd.open((*sv)[0]));
    std::string got;
    int eofs = 0;
    uv::Timer warm(loop);
    uv::Timer guard(loop);
    auto finish = [&] {
        guard.close();
        warm.close();
        rd.close();
    };
    REQUIRE_FALSE(rd.read_start([&](boost::system::error_code rec, std::span<const char> d) {
        if (rec) {
            REQUIRE(rec == asio::error::eof);
            ++eofs;
            finish();
            return;
        }
        got.append(d.begin(), d.end());
        if (got == "warm") {
            send_all(peer, "last");
            REQUIRE(::shutdown(peer, SHUT_WR) == 0);
        }
    }));
    REQUIRE_FALSE(warm.start([&] { send_all(peer, "warm"); }, 50ms));
    REQUIRE_FALSE(guard.start(finish, hang_guard)); // a hang guard
    REQUIRE(loop.run() == 0);
    ::close(peer);
    REQUIRE(got == "warmlast");
    REQUIRE(eofs == 1);
}

namespace {

// A pseudo-terminal in canonical mode without echo: the master, and its
// terminal opened non-blocking.
struct Pty {
    int master = -1;
    int term = -1;

    Pty() {
        master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        REQUIRE(master >= 0);
        REQUIRE(::grantpt(master) == 0);
        REQUIRE(::unlockpt(master) == 0);
        const char* name = ::ptsname(master);
        REQUIRE(name != nullptr);
        term = ::open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(term >= 0);
        ::termios t{};
        REQUIRE(::tcgetattr(term, &t) == 0);
        t.c_lflag |= ICANON;
        t.c_lflag &= ~static_cast<::tcflag_t>(ECHO | ECHONL);
        REQUIRE(::tcsetattr(term, TCSANOW, &t) == 0);
    }
    Pty(const Pty&) = delete;
    Pty& operator=(const Pty&) = delete;
    ~Pty() {
        if (term >= 0) {
            ::close(term);
        }
        ::close(master);
    }
};

} // namespace

// A canonical terminal read returns one line, with more lines queued.
TEST_CASE("AsyncFd: a terminal's two lines on one edge are both read (a canonical read returns "
          "one line)",
          "[io][readiness]") {
    Runtime rt;
    Pty pty;
    auto rd = AsyncFd::create(std::exchange(pty.term, -1), rt.io_context().get_executor());
    REQUIRE(rd);
    rt.block_on([&]() -> Async<> {
        std::array<char, 1024> buf{};
        auto [warm, sent] = co_await join(guarded_read(*rd, buf), [&]() -> Async<bool> {
            co_await time::sleep(50ms);
            REQUIRE(::write(pty.master, "warm\n", 5) == 5);
            co_return true;
        }());
        REQUIRE(sent);
        REQUIRE(warm);
        REQUIRE(*warm == 5);
        auto n = co_await read_after_pending_poll(
            *rd, buf, [&] { REQUIRE(::write(pty.master, "one\ntwo\n", 8) == 8); });
        REQUIRE(n);
        REQUIRE(*n == 4);
        REQUIRE(std::string(buf.data(), 4) == "one\n");
        auto two = co_await guarded_read(*rd, buf);
        REQUIRE(two);
        REQUIRE(*two == 4);
        REQUIRE(std::string(buf.data(), 4) == "two\n");
    }());
}

// The same for uv::Tty (uv::Stream's read loop): the warm-up line's
// callback makes the terminal's next two lines arrive.
TEST_CASE("uv::Tty: a terminal's two lines on one edge are both read (a canonical read returns "
          "one line)",
          "[uv][tty][readiness]") {
    uv::Loop loop;
    Pty pty;
    uv::Tty tty(loop, pty.term);
    std::string got;
    uv::Timer warm(loop);
    uv::Timer guard(loop);
    auto finish = [&] {
        guard.close();
        warm.close();
        tty.close();
    };
    REQUIRE_FALSE(tty.read_start([&](boost::system::error_code rec, std::span<const char> d) {
        REQUIRE_FALSE(rec);
        got.append(d.begin(), d.end());
        if (got == "warm\n") {
            REQUIRE(::write(pty.master, "one\ntwo\n", 8) == 8);
        } else if (got == "warm\none\ntwo\n") {
            finish();
        }
    }));
    REQUIRE_FALSE(warm.start([&] { REQUIRE(::write(pty.master, "warm\n", 5) == 5); }, 50ms));
    REQUIRE_FALSE(guard.start(finish, hang_guard)); // a hang guard
    REQUIRE(loop.run() == 0);
    REQUIRE(got == "warm\none\ntwo\n");
}
