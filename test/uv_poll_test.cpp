#include <pollux/uv/loop.hpp>
#include <pollux/uv/poll.hpp>
#include <pollux/uv/timer.hpp>

#include "support/high_descriptors.hpp"
#include "support/loop_quiescent.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;

namespace {

// A connected AF_UNIX stream pair, closed at the end of the test (the
// handles never close their descriptors).
struct SocketPair {
    int fd[2] = {-1, -1};
    SocketPair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) == 0); }
    SocketPair(const SocketPair&) = delete;
    SocketPair& operator=(const SocketPair&) = delete;
    ~SocketPair() {
        for (int f : fd) {
            if (f >= 0) {
                ::close(f);
            }
        }
    }
};

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}

void send_all(int fd, const std::string& s) {
    REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

// One side of libuv's poll_duplex / poll_unidirectional exchange, smaller:
// it writes `to_send` bytes while the handle says writable, then shuts its
// writing side down; it reads while the handle says readable until EOF; it
// closes its handle when both are done.
struct Side {
    Side(uv::Loop& loop, int f, std::size_t n) : fd(f), to_send(n), poll(loop, f) {}
    int fd;
    std::size_t to_send;
    uv::Poll poll;
    std::size_t sent = 0;
    std::size_t received = 0;
    bool eof = false;
    bool shut = false;
    int disconnects = 0;
    int closed = 0;

    int events() const {
        return uv::Poll::readable | uv::Poll::disconnect | (shut ? 0 : uv::Poll::writable);
    }

    void start() {
        REQUIRE_FALSE(poll.start(
            events(), [this](boost::system::error_code ec, int ev) { on_event(ec, ev); }));
    }

    void on_event(boost::system::error_code ec, int ev) {
        REQUIRE_FALSE(ec);
        REQUIRE(ev != 0);
        if ((ev & uv::Poll::disconnect) != 0) {
            ++disconnects;
        }
        if ((ev & uv::Poll::readable) != 0) {
            char buf[1000];
            for (;;) {
                const ssize_t n = ::read(fd, buf, sizeof buf);
                if (n > 0) {
                    received += static_cast<std::size_t>(n);
                    continue;
                }
                if (n == 0) {
                    eof = true;
                } else {
                    REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
                }
                break;
            }
        }
        if ((ev & uv::Poll::writable) != 0 && !shut) {
            // Small writes, so that the exchange takes many turns.
            const std::string chunk(std::min<std::size_t>(to_send - sent, 777), 'x');
            if (!chunk.empty()) {
                const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
                if (n > 0) {
                    sent += static_cast<std::size_t>(n);
                } else {
                    REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
                }
            }
            if (sent == to_send) {
                REQUIRE(::shutdown(fd, SHUT_WR) == 0);
                shut = true;
                start(); // changes the events of the started handle
            }
        }
        if (eof && shut) {
            poll.close([this] { ++closed; });
        }
    }
};

void exchange(std::size_t a_sends, std::size_t b_sends) {
    uv::Loop loop;
    SocketPair sp;
    {
        Side a(loop, sp.fd[0], a_sends);
        Side b(loop, sp.fd[1], b_sends);
        a.start();
        b.start();
        REQUIRE(loop.run() == 0);
        REQUIRE(a.closed == 1);
        REQUIRE(b.closed == 1);
        REQUIRE(a.sent == a_sends);
        REQUIRE(b.sent == b_sends);
        REQUIRE(a.received == b_sends);
        REQUIRE(b.received == a_sends);
        // The peer's shutdown is reported as DISCONNECT (POLLRDHUP).
        REQUIRE(a.disconnects >= 1);
        REQUIRE(b.disconnects >= 1);
    }
    require_loop_quiescent(loop);
}

} // namespace

TEST_CASE("poll_duplex: both ends of a socket pair write and read through their handles",
          "[uv][poll]") {
    exchange(100000, 100000);
}

TEST_CASE("poll_unidirectional: one end writes, the other reads until EOF", "[uv][poll]") {
    exchange(100000, 0);
}

TEST_CASE("poll_bad_fdtype: a directory or a regular file is refused with EPERM", "[uv][poll]") {
    uv::Loop loop;
    for (const char* path : {".", "/proc/self/exe"}) {
        const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        REQUIRE(fd != -1);
        try {
            uv::Poll p(loop, fd);
            FAIL("uv::Poll accepted " << path);
        } catch (const boost::system::system_error& e) {
            REQUIRE(e.code() == boost::system::error_code(EPERM, boost::system::system_category()));
        }
        REQUIRE(is_open(fd));
        REQUIRE(::close(fd) == 0);
    }
    require_loop_quiescent(loop);
}

TEST_CASE("poll_close: handles closed right after start call their close callbacks only",
          "[uv][poll]") {
    constexpr int num_sockets = 64;
    uv::Loop loop;
    std::vector<int> fds;
    std::vector<std::unique_ptr<uv::Poll>> handles;
    int poll_cb_called = 0;
    int close_cb_called = 0;
    for (int i = 0; i < num_sockets; ++i) {
        fds.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(fds.back() >= 0);
        handles.push_back(std::make_unique<uv::Poll>(loop, fds.back()));
        REQUIRE_FALSE(
            handles.back()->start(uv::Poll::readable | uv::Poll::writable,
                                  [&](boost::system::error_code, int) { ++poll_cb_called; }));
    }
    for (auto& h : handles) {
        h->close([&] { ++close_cb_called; });
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == num_sockets);
    REQUIRE(poll_cb_called == 0);
    for (int fd : fds) {
        REQUIRE(is_open(fd));
        REQUIRE(::close(fd) == 0);
    }
    handles.clear();
    require_loop_quiescent(loop);
}

// libuv's test is Windows only (closesocket under a closing handle); its
// sequence is ported: close the handle, then the descriptor, then run.
TEST_CASE("poll_close_doesnt_corrupt_stack: the descriptor closed after the handle's close",
          "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    send_all(sp.fd[1], "pending");
    int poll_cb_called = 0;
    int close_cb_called = 0;
    {
        uv::Poll p(loop, sp.fd[0]);
        REQUIRE_FALSE(p.start(uv::Poll::readable | uv::Poll::writable,
                              [&](boost::system::error_code, int) { ++poll_cb_called; }));
        p.close([&] { ++close_cb_called; });
        REQUIRE(::close(sp.fd[0]) == 0);
        sp.fd[0] = -1;
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(close_cb_called == 1);
    REQUIRE(poll_cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("poll_multiple_handles: a second handle on a registered descriptor", "[uv][poll]") {
    uv::Loop loop;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    int close_cb_called = 0;
    {
        uv::Poll first(loop, fd);
        REQUIRE_FALSE(first.start(uv::Poll::readable, [](boost::system::error_code, int) {}));
        if constexpr (!pollux::test::select_reactor) {
            // epoll holds one registration per descriptor: EEXIST, from the
            // constructor (libuv: from the second uv_poll_start).
            try {
                uv::Poll second(loop, fd);
                FAIL("a second uv::Poll on the descriptor");
            } catch (const boost::system::system_error& e) {
                REQUIRE(e.code() ==
                        boost::system::error_code(EEXIST, boost::system::system_category()));
            }
        }
        first.close([&] { ++close_cb_called; });
        REQUIRE(loop.run() == 0);
        REQUIRE(close_cb_called == 1);
        // After the first handle is closed, a new one may watch the descriptor.
        uv::Poll third(loop, fd);
        REQUIRE_FALSE(third.start(uv::Poll::readable, [](boost::system::error_code, int) {}));
        REQUIRE(third.is_active());
        third.close([&] { ++close_cb_called; });
        REQUIRE(loop.run() == 0);
        REQUIRE(close_cb_called == 2);
    }
    REQUIRE(::close(fd) == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: a callback that does not read is called again while data is there",
          "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    send_all(sp.fd[1], "abc");
    int poll_cb_called = 0;
    {
        uv::Poll p(loop, sp.fd[0]);
        REQUIRE_FALSE(p.start(uv::Poll::readable, [&](boost::system::error_code ec, int ev) {
            REQUIRE_FALSE(ec);
            REQUIRE(ev == uv::Poll::readable);
            if (++poll_cb_called == 5) {
                p.close();
            }
        }));
        REQUIRE(poll_cb_called == 0); // never inside start()
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(poll_cb_called == 5);
    char buf[8];
    REQUIRE(::read(sp.fd[0], buf, sizeof buf) == 3); // still unread
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: a callback that reads everything is not called again until new data",
          "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    send_all(sp.fd[1], "first");
    int poll_cb_called = 0;
    int timer_cb_called = 0;
    std::string got;
    {
        uv::Poll p(loop, sp.fd[0]);
        uv::Timer t(loop);
        REQUIRE_FALSE(p.start(uv::Poll::readable, [&](boost::system::error_code ec, int ev) {
            REQUIRE_FALSE(ec);
            REQUIRE(ev == uv::Poll::readable);
            char buf[64];
            const ssize_t n = ::read(sp.fd[0], buf, sizeof buf);
            REQUIRE(n > 0);
            got.append(buf, static_cast<std::size_t>(n));
            if (++poll_cb_called == 2) {
                p.close();
            }
        }));
        // Many loop turns without new data: no callback (no spurious wake-up).
        REQUIRE_FALSE(t.start(
            [&] {
                ++timer_cb_called;
                REQUIRE(poll_cb_called == 1);
                send_all(sp.fd[1], "second");
                t.close();
            },
            100ms));
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(timer_cb_called == 1);
    REQUIRE(poll_cb_called == 2);
    REQUIRE(got == "firstsecond");
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: start on a started handle changes the events and the callback", "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    int readable_cb_called = 0;
    int writable_cb_called = 0;
    int timer_cb_called = 0;
    {
        uv::Poll p(loop, sp.fd[0]);
        uv::Timer t(loop);
        auto on_readable = [&](boost::system::error_code ec, int ev) {
            REQUIRE_FALSE(ec);
            REQUIRE(ev == uv::Poll::readable);
            ++readable_cb_called;
            p.close();
        };
        // Writable at once; changed to readable (nothing to read yet) from
        // inside the callback.
        REQUIRE_FALSE(p.start(uv::Poll::writable, [&](boost::system::error_code ec, int ev) {
            REQUIRE_FALSE(ec);
            REQUIRE(ev == uv::Poll::writable);
            ++writable_cb_called;
            REQUIRE_FALSE(p.start(uv::Poll::readable, on_readable));
            REQUIRE(p.is_active());
        }));
        REQUIRE_FALSE(t.start(
            [&] {
                ++timer_cb_called;
                REQUIRE(readable_cb_called == 0);
                send_all(sp.fd[1], "x");
                t.close();
            },
            100ms));
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(writable_cb_called == 1);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(readable_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: start with no events stops the handle, as libuv", "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    send_all(sp.fd[1], "x");
    int poll_cb_called = 0;
    uv::Poll p(loop, sp.fd[0]);
    REQUIRE_FALSE(
        p.start(uv::Poll::readable, [&](boost::system::error_code, int) { ++poll_cb_called; }));
    REQUIRE(p.is_active());
    REQUIRE_FALSE(p.start(0, [&](boost::system::error_code, int) { ++poll_cb_called; }));
    REQUIRE_FALSE(p.is_active());
    REQUIRE(loop.run() == 0);
    REQUIRE(poll_cb_called == 0);
    p.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: stop inside the callback ends the callbacks", "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    send_all(sp.fd[1], "x"); // never read: readable holds
    int poll_cb_called = 0;
    uv::Poll p(loop, sp.fd[0]);
    REQUIRE_FALSE(p.start(uv::Poll::readable, [&](boost::system::error_code, int) {
        ++poll_cb_called;
        p.stop();
        REQUIRE_FALSE(p.is_active());
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(poll_cb_called == 1);
    p.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: close while started calls only the close callback", "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    send_all(sp.fd[1], "x");
    int poll_cb_called = 0;
    int close_cb_called = 0;
    {
        uv::Poll p(loop, sp.fd[0]);
        REQUIRE_FALSE(p.start(uv::Poll::readable | uv::Poll::writable,
                              [&](boost::system::error_code, int) { ++poll_cb_called; }));
        p.close([&] { ++close_cb_called; });
        REQUIRE_FALSE(p.is_active());
        REQUIRE(p.start(uv::Poll::readable, [](boost::system::error_code, int) {}) ==
                boost::asio::error::bad_descriptor);
        REQUIRE(loop.run() == 0);
        REQUIRE(close_cb_called == 1);
    }
    REQUIRE(poll_cb_called == 0);
    REQUIRE(is_open(sp.fd[0]));
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: close inside the callback, with waits in flight", "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    int poll_cb_called = 0;
    int close_cb_called = 0;
    {
        uv::Poll p(loop, sp.fd[0]);
        uv::Timer t(loop);
        REQUIRE_FALSE(p.start(uv::Poll::readable, [&](boost::system::error_code ec, int) {
            REQUIRE_FALSE(ec);
            ++poll_cb_called;
        }));
        // The handle is waiting for readiness (nothing to read) when closed.
        REQUIRE_FALSE(t.start(
            [&] {
                p.close([&] { ++close_cb_called; });
                t.close();
            },
            20ms));
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(poll_cb_called == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: destroying a started handle is silent", "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    send_all(sp.fd[1], "x");
    int poll_cb_called = 0;
    {
        auto p = std::make_unique<uv::Poll>(loop, sp.fd[0]);
        REQUIRE_FALSE(p->start(uv::Poll::readable | uv::Poll::writable,
                               [&](boost::system::error_code, int) { ++poll_cb_called; }));
        p.reset();
        REQUIRE(loop.run() == 0);
    }
    {
        // Destroyed inside its own callback, with a wait in flight for the
        // other direction.
        auto p = std::make_unique<uv::Poll>(loop, sp.fd[0]);
        REQUIRE_FALSE(
            p->start(uv::Poll::readable | uv::Poll::writable, [&](boost::system::error_code, int) {
                ++poll_cb_called;
                p.reset();
            }));
        REQUIRE(loop.run() == 0);
        REQUIRE(p == nullptr);
    }
    REQUIRE(poll_cb_called == 1);
    REQUIRE(is_open(sp.fd[0]));
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: the descriptor stays open and usable after close and destruction",
          "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    {
        uv::Poll p(loop, sp.fd[0]);
        REQUIRE(p.fd() == sp.fd[0]);
        REQUIRE_FALSE(p.start(uv::Poll::readable, [](boost::system::error_code, int) {}));
        p.close();
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(is_open(sp.fd[0]));
    send_all(sp.fd[0], "ping");
    char buf[8];
    REQUIRE(::read(sp.fd[1], buf, sizeof buf) == 4);
    // And a new handle may watch it.
    int poll_cb_called = 0;
    {
        uv::Poll p(loop, sp.fd[1]);
        send_all(sp.fd[0], "pong");
        REQUIRE_FALSE(p.start(uv::Poll::readable, [&](boost::system::error_code ec, int ev) {
            REQUIRE_FALSE(ec);
            REQUIRE(ev == uv::Poll::readable);
            ++poll_cb_called;
            p.close();
        }));
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(poll_cb_called == 1);
    REQUIRE(::read(sp.fd[1], buf, sizeof buf) == 4);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: the peer's shutdown is reported as disconnect with readable", "[uv][poll]") {
    uv::Loop loop;
    SocketPair sp;
    int poll_cb_called = 0;
    int seen = 0;
    {
        uv::Poll p(loop, sp.fd[0]);
        REQUIRE_FALSE(p.start(uv::Poll::readable | uv::Poll::disconnect,
                              [&](boost::system::error_code ec, int ev) {
                                  REQUIRE_FALSE(ec);
                                  ++poll_cb_called;
                                  seen = ev;
                                  p.close();
                              }));
        // After the handle waits: the shutdown's edge wakes it.
        uv::Timer t(loop);
        REQUIRE_FALSE(t.start(
            [&] {
                REQUIRE(::shutdown(sp.fd[1], SHUT_WR) == 0);
                t.close();
            },
            20ms));
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(poll_cb_called == 1);
    REQUIRE(seen == (uv::Poll::readable | uv::Poll::disconnect));
    require_loop_quiescent(loop);
}

TEST_CASE("uv Poll: a descriptor error is bad_descriptor and stops the handle, as libuv's "
          "UV_EBADF",
          "[uv][poll]") {
    uv::Loop loop;
    // A connection refused: POLLERR.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    REQUIRE(::close(listener) == 0); // nobody listens on the port now
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    REQUIRE((r == 0 || errno == EINPROGRESS || errno == ECONNREFUSED));
    int poll_cb_called = 0;
    {
        uv::Poll p(loop, fd);
        REQUIRE_FALSE(p.start(uv::Poll::readable | uv::Poll::writable,
                              [&](boost::system::error_code ec, int ev) {
                                  ++poll_cb_called;
                                  REQUIRE(ec == boost::asio::error::bad_descriptor);
                                  REQUIRE(ev == 0);
                                  REQUIRE_FALSE(p.is_active());
                              }));
        REQUIRE(loop.run() == 0);
        REQUIRE(poll_cb_called == 1);
        p.close();
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(::close(fd) == 0);
    require_loop_quiescent(loop);
}

// A smaller poll_oob: TCP's urgent byte (send with MSG_OOB) is reported as
// `prioritized` with readable data, and read with recv(MSG_OOB).
TEST_CASE("poll_oob: urgent data is reported as prioritized", "[uv][poll]") {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(client >= 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const int server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(server >= 0);
    REQUIRE(::close(listener) == 0);

    uv::Loop loop;
    int prioritized_seen = 0;
    std::string oob;
    std::string data;
    {
        uv::Poll p(loop, server);
        REQUIRE_FALSE(p.start(uv::Poll::readable | uv::Poll::prioritized,
                              [&](boost::system::error_code ec, int ev) {
                                  REQUIRE_FALSE(ec);
                                  char buf[16];
                                  if ((ev & uv::Poll::prioritized) != 0) {
                                      ++prioritized_seen;
                                      const ssize_t n = ::recv(server, buf, sizeof buf, MSG_OOB);
                                      REQUIRE(n == 1);
                                      oob.append(buf, 1);
                                  }
                                  if ((ev & uv::Poll::readable) != 0) {
                                      const ssize_t n = ::recv(server, buf, sizeof buf, 0);
                                      if (n > 0) {
                                          data.append(buf, static_cast<std::size_t>(n));
                                      } else {
                                          REQUIRE(n == -1);
                                          REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
                                      }
                                  }
                                  if (oob == "!" && data == "hello") {
                                      p.close();
                                  }
                              }));
        send_all(client, "hello");
        REQUIRE(::send(client, "!", 1, MSG_OOB) == 1);
        REQUIRE(loop.run() == 0);
    }
    REQUIRE(prioritized_seen == 1);
    REQUIRE(oob == "!");
    REQUIRE(data == "hello");
    REQUIRE(::close(client) == 0);
    REQUIRE(::close(server) == 0);
    require_loop_quiescent(loop);
}

// Asio's select reactor refuses to wait on a descriptor at or above
// FD_SETSIZE (fd_set_failure): the callback gets that error once and the
// handle stops, instead of waiting again in a busy loop. On every other
// reactor the data just arrives.
TEST_CASE("uv Poll on a descriptor the reactor cannot wait on reports the error once and stops",
          "[uv][poll][readiness]") {
    test::HighDescriptors high;
    if (!high.ok()) {
        WARN("the hard descriptor limit is below 1100: nothing to check here");
        return;
    }
    uv::Loop loop;
    uv::Timer send_later(loop);
    uv::Timer guard(loop);
    high.fill_below_1024();
    SocketPair sp; // 1024 and above
    int poll_cb_called = 0;
    boost::system::error_code poll_ec;
    int poll_events = 0;
    uv::Poll p(loop, sp.fd[0]);
    REQUIRE_FALSE(p.start(uv::Poll::readable, [&](boost::system::error_code ec, int ev) {
        ++poll_cb_called;
        poll_ec = ec;
        poll_events = ev;
        if (ec) {
            CHECK_FALSE(p.is_active());
        } else {
            char buf[8];
            CHECK(::read(sp.fd[0], buf, sizeof buf) == 5);
        }
    }));
    REQUIRE_FALSE(send_later.start(
        [&] {
            send_all(sp.fd[1], "hello");
            // Time for a second callback, if the handle went on waiting.
            REQUIRE_FALSE(guard.start(
                [&] {
                    p.close();
                    send_later.close();
                    guard.close();
                },
                200ms));
        },
        100ms));
    REQUIRE(loop.run() == 0);
    CHECK(poll_cb_called == 1);
    if (test::select_reactor) {
        CHECK(poll_ec == boost::asio::error::fd_set_failure);
        CHECK(poll_events == 0);
    } else {
        CHECK(poll_ec == boost::system::error_code());
        CHECK(poll_events == uv::Poll::readable);
    }
    require_loop_quiescent(loop);
}
