#include <pollux/uv/tcp.hpp>
// Own header first: this proves it is self-contained.

// libuv 1.44's test-tcp-open.c and test-tcp-close-reset.c, ported to
// pollux::uv, and pollux's own cases for `connect("address:port")`.
// libuv's echo server (another process) is a uv::Tcp echo server on the
// same loop here. docs/callbacks.md's table maps each libuv test.

#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/open_fds.hpp"
#include "support/uv_tcp_port.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <span>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::closed_tcp_port;
using pollux::test::loopback4;
using pollux::test::loopback6;
using pollux::test::require_loop_quiescent;
using pollux::test::TcpServer;
using Errc = boost::system::errc::errc_t;

namespace {

// libuv's echo server, per connection: echo what is read; at eof, shut the
// write side down, then close.
void echo_peer(uv::Tcp& peer) {
    REQUIRE_FALSE(peer.read_start([&peer](boost::system::error_code ec, std::span<const char> d) {
        if (ec) {
            if (!peer.is_closing()) {
                peer.close();
            }
            return;
        }
        REQUIRE_FALSE(peer.write(std::string(d.begin(), d.end())));
    }));
}

// test-tcp-open.c's create_tcp_socket: a blocking TCP socket with
// SO_REUSEADDR.
int create_tcp_socket() {
    const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    REQUIRE(sock >= 0);
    int yes = 1;
    REQUIRE(::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) == 0);
    return sock;
}

bool fd_is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}

} // namespace

// ---- test-tcp-open.c -------------------------------------------------------

TEST_CASE("tcp_open: a fresh socket opened into a handle connects, writes, shuts down and reads "
          "the echo; opening it into a second handle is file_exists",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    const int sock = create_tcp_socket();
    uv::Tcp client(loop);
    REQUIRE_FALSE(client.open(sock));
    REQUIRE((::fcntl(sock, F_GETFL) & O_NONBLOCK) != 0);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int shutdown_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        REQUIRE_FALSE(client.write(std::string("PING"), [&](boost::system::error_code wec) {
            REQUIRE_FALSE(wec);
            ++write_cb_called;
        }));
        REQUIRE_FALSE(client.shutdown([&](boost::system::error_code sec) {
            REQUIRE_FALSE(sec);
            ++shutdown_cb_called;
        }));
        REQUIRE_FALSE(
            client.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                if (!rec) {
                    REQUIRE(std::string(d.begin(), d.end()) == "PING");
                    return;
                }
                REQUIRE(rec == boost::asio::error::eof);
                client.close([&] {
                    ++close_cb_called;
                    server.close_all();
                });
            }));
    }));
    {
        uv::Tcp client2(loop);
        REQUIRE(client2.open(sock) == Errc::file_exists);
        client2.close();
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    REQUIRE_FALSE(fd_is_open(sock)); // the handle owned it
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_open_twice: opening a second socket into a handle that has one is "
          "device_or_resource_busy and leaves it the caller's",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    const int sock1 = create_tcp_socket();
    const int sock2 = create_tcp_socket();
    uv::Tcp client(loop);
    REQUIRE_FALSE(client.open(sock1));
    REQUIRE(client.open(sock2) == Errc::device_or_resource_busy);
    REQUIRE(fd_is_open(sock2));
    REQUIRE(::close(sock2) == 0);
    client.close();
    REQUIRE(loop.run() == 0);
    REQUIRE_FALSE(fd_is_open(sock1));
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_open_bound: a bound socket opened into a handle listens", "[uv][libuv][tcp]") {
    uv::Loop loop;
    const int sock = create_tcp_socket();
    const auto addr = loopback4();
    REQUIRE(::bind(sock, addr.data(), static_cast<socklen_t>(addr.size())) == 0);
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.open(sock));
    REQUIRE_FALSE(server.listen(128, [](boost::system::error_code) {}));
    REQUIRE(server.getsockname().value().port() != 0);
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_open_connected: a connected socket opened into a handle is a stream at once",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    const int sock = create_tcp_socket();
    const auto ep = server.endpoint();
    // A blocking connect: the kernel completes the handshake into the
    // listener's backlog; the loop accepts later.
    REQUIRE(::connect(sock, ep.data(), static_cast<socklen_t>(ep.size())) == 0);
    uv::Tcp client(loop);
    REQUIRE_FALSE(client.open(sock));
    REQUIRE(client.getpeername().value() == ep);
    int write_cb_called = 0;
    int shutdown_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(client.write(std::string("PING"), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++write_cb_called;
    }));
    REQUIRE_FALSE(client.shutdown([&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++shutdown_cb_called;
    }));
    REQUIRE_FALSE(client.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        if (!ec) {
            REQUIRE(std::string(d.begin(), d.end()) == "PING");
            return;
        }
        REQUIRE(ec == boost::asio::error::eof);
        client.close([&] {
            ++close_cb_called;
            server.close_all();
        });
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_write_ready: an opened socket writes until a timer shuts it down, and reads the "
          "echo to eof",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    const int sock = create_tcp_socket();
    uv::Tcp client(loop);
    REQUIRE_FALSE(client.open(sock));
    uv::Timer tm(loop);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int shutdown_cb_called = 0;
    int shutdown_requested = 0;
    int close_cb_called = 0;
    std::function<void(boost::system::error_code)> write1_cb = [&](boost::system::error_code ec) {
        if (ec) {
            REQUIRE(shutdown_cb_called == 1);
            return;
        }
        if (shutdown_requested != 0) {
            return;
        }
        REQUIRE_FALSE(client.write(std::string("P"), write1_cb));
        ++write_cb_called;
    };
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        // libuv waits 2 s; 100 ms shows the same.
        REQUIRE_FALSE(tm.start(
            [&] {
                REQUIRE_FALSE(client.shutdown([&](boost::system::error_code sec) {
                    REQUIRE_FALSE(sec);
                    ++shutdown_cb_called;
                }));
                ++shutdown_requested;
                tm.close();
            },
            100ms,
            0ms));
        REQUIRE_FALSE(client.write(std::string("P"), write1_cb));
        REQUIRE_FALSE(
            client.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                if (!rec) {
                    for (char c : d) {
                        REQUIRE(c == 'P');
                    }
                    return;
                }
                REQUIRE(rec == boost::asio::error::eof);
                client.close([&] {
                    ++close_cb_called;
                    server.close_all();
                });
            }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(shutdown_requested == 1);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called > 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::Tcp open refuses what is not a TCP socket and leaves it the caller's", "[uv][tcp]") {
    uv::Loop loop;
    uv::Tcp h(loop);
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(h.open(udp) == boost::asio::error::invalid_argument);
    REQUIRE(fd_is_open(udp));
    ::close(udp);
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    REQUIRE(h.open(p[0]) == boost::asio::error::not_socket);
    ::close(p[0]);
    ::close(p[1]);
    REQUIRE(h.open(-1) == boost::asio::error::bad_descriptor);
    h.close();
    REQUIRE(h.open(create_tcp_socket()) == boost::asio::error::bad_descriptor); // closing
    REQUIRE(loop.run() == 0);
}

TEST_CASE("uv::Tcp destroyed with an opened socket, unrun, closes the descriptor", "[uv][tcp]") {
    const std::size_t before = pollux::test::open_fds();
    {
        uv::Loop loop;
        uv::Tcp h(loop);
        REQUIRE_FALSE(h.open(create_tcp_socket()));
    }
    REQUIRE(pollux::test::open_fds() == before);
}

// ---- test-tcp-close-reset.c --------------------------------------------------

namespace {

// The fixture of test-tcp-close-reset.c: a server that accepts one
// connection and reads it; a client that connects, reads, and queues four
// writes of "PING". `client_close` picks the side that resets;
// `shutdown_before_close`: 0 reset at once, 1 shutdown() first (the reset
// is refused), 2 shutdown(2) of the socket first.
struct CloseReset {
    uv::Loop loop;
    uv::Tcp tcp_server{loop};
    uv::Tcp tcp_client{loop};
    uv::Tcp tcp_accepted{loop};
    bool client_close;
    int shutdown_before_close;
    int write_cb_called = 0;
    int close_cb_called = 0;
    int shutdown_cb_called = 0;
    std::size_t read_size = 0;

    CloseReset(bool client, int shutdown_mode)
        : client_close(client), shutdown_before_close(shutdown_mode) {
        REQUIRE_FALSE(tcp_server.bind(loopback4()));
        REQUIRE_FALSE(tcp_server.listen(128, [this](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            REQUIRE_FALSE(tcp_server.accept(tcp_accepted));
            REQUIRE_FALSE(tcp_accepted.read_start(
                [this](boost::system::error_code rec, std::span<const char> d) {
                    if (rec) {
                        if (!tcp_accepted.is_closing()) {
                            tcp_accepted.close();
                        }
                        return;
                    }
                    read_size += d.size();
                    if (read_size == 16 && !client_close) {
                        do_close(tcp_accepted);
                    }
                }));
        }));
        REQUIRE_FALSE(
            tcp_client.connect(tcp_server.getsockname().value(), [this](boost::system::error_code) {
                REQUIRE_FALSE(tcp_client.read_start(
                    [this](boost::system::error_code rec, std::span<const char>) {
                        // libuv closes on eof only; a reset read error stops
                        // its reading (the loop ends with the handle open).
                        // Closing it here as well ends the test cleanly.
                        if (rec && !tcp_client.is_closing()) {
                            tcp_client.close();
                        }
                    }));
                for (int i = 0; i < 4; ++i) {
                    REQUIRE_FALSE(
                        tcp_client.write(std::string("PING"), [this](boost::system::error_code) {
                            // Write callbacks run before the close callback.
                            REQUIRE(close_cb_called == 0);
                            ++write_cb_called;
                        }));
                }
                if (client_close) {
                    do_close(tcp_client);
                }
            }));
    }

    void do_close(uv::Tcp& handle) {
        auto close_cb = [this] { ++close_cb_called; };
        if (shutdown_before_close == 1) {
            REQUIRE_FALSE(
                handle.shutdown([this](boost::system::error_code) { ++shutdown_cb_called; }));
            REQUIRE(handle.close_reset(close_cb) == boost::asio::error::invalid_argument);
        } else if (shutdown_before_close == 2) {
            const int fd = handle.socket().native_handle();
            REQUIRE(fd >= 0);
            REQUIRE(::shutdown(fd, SHUT_RDWR) == 0);
            REQUIRE_FALSE(handle.close_reset(close_cb));
        } else {
            REQUIRE_FALSE(handle.close_reset(close_cb));
            // libuv: UV_ENOTCONN (closing cleared the writable flag);
            // pollux refuses every call on a closing handle with
            // bad_descriptor (guarantee 1).
            REQUIRE(handle.shutdown([this](boost::system::error_code) { ++shutdown_cb_called; }) ==
                    boost::asio::error::bad_descriptor);
        }
        tcp_server.close();
    }
};

} // namespace

TEST_CASE("tcp_close_reset_client: a client reset with writes queued runs their callbacks "
          "before its close callback",
          "[uv][libuv][tcp]") {
    CloseReset t(true, 0);
    REQUIRE(t.write_cb_called == 0);
    REQUIRE(t.close_cb_called == 0);
    REQUIRE(t.shutdown_cb_called == 0);
    REQUIRE(t.loop.run() == 0);
    REQUIRE(t.write_cb_called == 4);
    REQUIRE(t.close_cb_called == 1);
    REQUIRE(t.shutdown_cb_called == 0);
    require_loop_quiescent(t.loop);
}

TEST_CASE("tcp_close_reset_client_after_shutdown: close_reset after shutdown is "
          "invalid_argument and does not close",
          "[uv][libuv][tcp]") {
    CloseReset t(true, 1);
    REQUIRE(t.loop.run() == 0);
    REQUIRE(t.write_cb_called == 4);
    REQUIRE(t.close_cb_called == 0);
    REQUIRE(t.shutdown_cb_called == 1);
    require_loop_quiescent(t.loop);
}

TEST_CASE("tcp_close_reset_accepted: an accepted connection reset after reading closes once",
          "[uv][libuv][tcp]") {
    CloseReset t(false, 0);
    REQUIRE(t.loop.run() == 0);
    REQUIRE(t.write_cb_called == 4);
    REQUIRE(t.close_cb_called == 1);
    REQUIRE(t.shutdown_cb_called == 0);
    require_loop_quiescent(t.loop);
}

TEST_CASE("tcp_close_reset_accepted_after_shutdown: close_reset on an accepted connection after "
          "shutdown is invalid_argument",
          "[uv][libuv][tcp]") {
    CloseReset t(false, 1);
    REQUIRE(t.loop.run() == 0);
    REQUIRE(t.write_cb_called == 4);
    REQUIRE(t.close_cb_called == 0);
    REQUIRE(t.shutdown_cb_called == 1);
    require_loop_quiescent(t.loop);
}

TEST_CASE("tcp_close_reset_accepted_after_socket_shutdown: close_reset after shutdown(2) of the "
          "socket succeeds",
          "[uv][libuv][tcp]") {
    CloseReset t(false, 2);
    REQUIRE(t.loop.run() == 0);
    REQUIRE(t.write_cb_called == 4);
    REQUIRE(t.close_cb_called == 1);
    REQUIRE(t.shutdown_cb_called == 0);
    require_loop_quiescent(t.loop);
}

TEST_CASE("uv::Tcp close_reset makes the peer read connection_reset", "[uv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    boost::system::error_code peer_error;
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char>) {
            if (ec) {
                peer_error = ec;
                server.close_all();
            }
        }));
    };
    uv::Tcp client(loop);
    int close_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.close_reset([&] { ++close_cb_called; }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    REQUIRE(peer_error == boost::asio::error::connection_reset);
    require_loop_quiescent(loop);
}

TEST_CASE("uv::Tcp close_reset without a socket or while closing is bad_descriptor and does "
          "not close",
          "[uv][tcp]") {
    uv::Loop loop;
    uv::Tcp h(loop);
    int called = 0;
    REQUIRE(h.close_reset([&] { ++called; }) == boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(h.is_closing());
    h.close();
    REQUIRE(h.close_reset([&] { ++called; }) == boost::asio::error::bad_descriptor);
    REQUIRE(loop.run() == 0);
    REQUIRE(called == 0);
}

// ---- connect("address:port") -------------------------------------------------

TEST_CASE("uv::Tcp connect with \"address:port\" connects like connect(Endpoint)", "[uv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    const std::string where = "127.0.0.1:" + std::to_string(server.endpoint().port());
    REQUIRE_FALSE(client.connect(where, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        REQUIRE(client.getpeername().value() == server.endpoint());
        client.close();
        server.close_all();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(server.connection_cb_called == 1);
}

TEST_CASE("uv::Tcp connect with \"[::1]:port\" connects over IPv6", "[uv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here: skipped");
        return;
    }
    uv::Loop loop;
    TcpServer server(loop, loopback6());
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    REQUIRE_FALSE(client.connect("[::1]:" + std::to_string(server.endpoint().port()),
                                 [&](boost::system::error_code ec) {
                                     REQUIRE_FALSE(ec);
                                     ++connect_cb_called;
                                     client.close();
                                     server.close_all();
                                 }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
}

TEST_CASE("uv::Tcp connect with a bad \"address:port\" is invalid_argument and never calls back",
          "[uv][tcp]") {
    uv::Loop loop;
    uv::Tcp client(loop);
    int called = 0;
    auto cb = [&](boost::system::error_code) { ++called; };
    for (const char* bad : {"nonsense",
                            "127.0.0.1",
                            "127.0.0.1:",
                            "127.0.0.1:http",
                            "127.0.0.1:65536",
                            "127.0.0.1:-1",
                            "localhost:80",
                            "::1:80",
                            "[::1]",
                            ":80",
                            ""}) {
        INFO(bad);
        REQUIRE(client.connect(bad, cb) == boost::asio::error::invalid_argument);
    }
    // Still usable: a good one goes through to the kernel.
    REQUIRE_FALSE(client.connect("127.0.0.1:" + std::to_string(closed_tcp_port()),
                                 [&](boost::system::error_code ec) {
                                     REQUIRE(ec == boost::asio::error::connection_refused);
                                     ++called;
                                     client.close();
                                 }));
    REQUIRE(loop.run() == 0);
    REQUIRE(called == 1);
}
