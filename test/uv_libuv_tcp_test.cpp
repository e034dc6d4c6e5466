#include <pollux/uv/tcp.hpp>
// Own header first: this proves it is self-contained.

// libuv 1.44's TCP tests of binding, connecting, early sockets and the
// errors of stream calls on handles that are not connected (test-tcp-bind-
// error.c, test-tcp-bind6-error.c, test-tcp-connect-error.c,
// test-tcp-connect-timeout.c, test-tcp-close-while-connecting.c,
// test-tcp-connect-error-after-write.c, test-tcp-write-after-connect.c,
// test-tcp-create-socket-early.c, test-tcp-flags.c, test-connection-fail.c),
// ported to pollux::uv. docs/callbacks.md's table maps each libuv test.

#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/uv_tcp_port.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <span>
#include <string>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::closed_tcp_port;
using pollux::test::FullListener;
using pollux::test::loopback4;
using pollux::test::loopback6;
using pollux::test::require_loop_quiescent;
using pollux::test::TcpServer;
using Errc = boost::system::errc::errc_t;

namespace {

void ignore_read(boost::system::error_code, std::span<const char>) {
}

} // namespace

// ---- bind errors (test-tcp-bind-error.c, test-tcp-bind6-error.c) ---------

TEST_CASE("tcp_bind_error_addrinuse_listen: binding a used port succeeds and listen reports "
          "address_in_use",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server1(loop);
    uv::Tcp server2(loop);
    REQUIRE_FALSE(server1.bind(loopback4()));
    const auto ep = server1.getsockname().value();
    REQUIRE_FALSE(server2.bind(ep));
    int connection_cb_called = 0;
    REQUIRE_FALSE(server1.listen(128, [&](boost::system::error_code) { ++connection_cb_called; }));
    REQUIRE(server2.listen(128, [&](boost::system::error_code) { ++connection_cb_called; }) ==
            boost::asio::error::address_in_use);
    // As libuv's: the error stays with the handle.
    REQUIRE(server2.listen(128, [&](boost::system::error_code) { ++connection_cb_called; }) ==
            boost::asio::error::address_in_use);
    REQUIRE_FALSE(server2.is_active());
    int close_cb_called = 0;
    server1.close([&] { ++close_cb_called; });
    server2.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 2);
    REQUIRE(connection_cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind_error_addrinuse_connect: binding a used port succeeds, getsockname and the "
          "connect callback report address_in_use",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    uv::Tcp conn(loop);
    REQUIRE_FALSE(conn.bind(server.endpoint()));
    int connect_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(conn.connect(loopback4(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::address_in_use);
        ++connect_cb_called;
        conn.close([&] { ++close_cb_called; });
        server.close_all();
    }));
    REQUIRE(connect_cb_called == 0); // never inside connect()
    auto name = conn.getsockname();
    REQUIRE_FALSE(name);
    REQUIRE(name.error() == boost::asio::error::address_in_use);
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    REQUIRE(server.connection_cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind6_error_addrinuse: binding a used IPv6 port succeeds and listen reports "
          "address_in_use",
          "[uv][libuv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    uv::Loop loop;
    uv::Tcp server1(loop);
    uv::Tcp server2(loop);
    REQUIRE_FALSE(server1.bind(loopback6()));
    REQUIRE_FALSE(server2.bind(server1.getsockname().value()));
    REQUIRE_FALSE(server1.listen(128, [](boost::system::error_code) {}));
    REQUIRE(server2.listen(128, [](boost::system::error_code) {}) ==
            boost::asio::error::address_in_use);
    int close_cb_called = 0;
    server1.close([&] { ++close_cb_called; });
    server2.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind_error_addrnotavail_1: binding 127.255.255.255 succeeds or is "
          "address_not_available",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    const auto ec = server.bind(
        uv::Tcp::Endpoint(boost::asio::ip::make_address("127.255.255.255"), closed_tcp_port()));
    REQUIRE((!ec || ec == Errc::address_not_available));
    int close_cb_called = 0;
    server.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind_error_addrnotavail_2: binding an address of no local interface is "
          "address_not_available",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE(server.bind(uv::Tcp::Endpoint(boost::asio::ip::make_address("4.4.4.4"), 0)) ==
            Errc::address_not_available);
    int close_cb_called = 0;
    server.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind6_error_addrnotavail: binding an IPv6 address of no local interface is "
          "address_not_available",
          "[uv][libuv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE(server.bind(uv::Tcp::Endpoint(boost::asio::ip::make_address("4:4:4:4:4:4:4:4"), 0)) ==
            Errc::address_not_available);
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind_error_inval: binding a bound handle again is invalid_argument",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE(server.bind(loopback4()) == boost::asio::error::invalid_argument);
    int close_cb_called = 0;
    server.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind6_error_inval: binding a bound IPv6 handle again is invalid_argument",
          "[uv][libuv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind(loopback6()));
    REQUIRE(server.bind(loopback6()) == boost::asio::error::invalid_argument);
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind_localhost_ok: binding 127.0.0.1 succeeds", "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind(loopback4()));
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind6_localhost_ok: binding ::1 succeeds", "[uv][libuv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind(loopback6()));
    REQUIRE(server.getsockname()->address() == boost::asio::ip::make_address("::1"));
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_listen_without_bind: listen on a fresh handle binds an ephemeral port",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.listen(128, [](boost::system::error_code) {}));
    REQUIRE(server.getsockname()->port() != 0);
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind_writable_flags: on a listening handle write is broken_pipe, shutdown and "
          "read_start are not_connected",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind(loopback4()));
    // Bound, not listening yet: the same errors (checked against libuv).
    REQUIRE(server.write(std::string("PING")) == boost::asio::error::broken_pipe);
    REQUIRE(server.shutdown() == boost::asio::error::not_connected);
    REQUIRE(server.read_start(ignore_read) == boost::asio::error::not_connected);
    REQUIRE_FALSE(server.listen(128, [](boost::system::error_code) {}));
    REQUIRE_FALSE(server.is_writable());
    REQUIRE_FALSE(server.is_readable());
    int write_cb_called = 0;
    int shutdown_cb_called = 0;
    REQUIRE(server.write(std::string("PING"), [&](boost::system::error_code) {
        ++write_cb_called;
    }) == boost::asio::error::broken_pipe);
    REQUIRE(server.try_write(boost::asio::buffer("PING", 4)).error() ==
            boost::asio::error::broken_pipe);
    REQUIRE(server.shutdown([&](boost::system::error_code) { ++shutdown_cb_called; }) ==
            boost::asio::error::not_connected);
    REQUIRE(server.read_start(ignore_read) == boost::asio::error::not_connected);
    REQUIRE_FALSE(server.is_reading());
    int close_cb_called = 0;
    server.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    REQUIRE(write_cb_called == 0);
    REQUIRE(shutdown_cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind_writable_flags: on a fresh handle write is bad_descriptor, shutdown and "
          "read_start are not_connected",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp fresh(loop);
    REQUIRE_FALSE(fresh.is_writable());
    REQUIRE_FALSE(fresh.is_readable());
    REQUIRE(fresh.write(std::string("PING")) == boost::asio::error::bad_descriptor);
    REQUIRE(fresh.shutdown() == boost::asio::error::not_connected);
    REQUIRE(fresh.read_start(ignore_read) == boost::asio::error::not_connected);
    fresh.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_bind_or_listen_error_after_close: bind and listen on a closing handle are "
          "bad_descriptor",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp tcp(loop);
    tcp.close();
    REQUIRE(tcp.bind(loopback4()) == boost::asio::error::bad_descriptor);
    REQUIRE(tcp.listen(5, [](boost::system::error_code) {}) == boost::asio::error::bad_descriptor);
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

// ---- early sockets (test-tcp-create-socket-early.c, test-tcp-flags.c) ----

TEST_CASE("tcp_create_early: a handle made with a protocol has a socket before bind",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp client(loop, boost::asio::ip::tcp::v4());
    REQUIRE(client.socket().is_open());
    auto name = client.getsockname();
    REQUIRE(name);
    REQUIRE(name->address().is_v4());
    const int fd = client.socket().native_handle();
    REQUIRE_FALSE(client.bind(loopback4()));
    REQUIRE(client.socket().native_handle() == fd); // bind used the early socket
    name = client.getsockname();
    REQUIRE(name);
    REQUIRE(name->address() == boost::asio::ip::make_address("127.0.0.1"));
    int close_cb_called = 0;
    client.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_create_early_bad_bind: binding an IPv4 address on an early IPv6 socket is "
          "invalid_argument",
          "[uv][libuv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    uv::Loop loop;
    uv::Tcp client(loop, boost::asio::ip::tcp::v6());
    auto name = client.getsockname();
    REQUIRE(name);
    REQUIRE(name->address().is_v6());
    REQUIRE(client.bind(loopback4()) == boost::asio::error::invalid_argument);
    client.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_create_early_accept: accept into a handle with an early socket is "
          "device_or_resource_busy",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind(loopback4()));
    int connection_cb_called = 0;
    int connect_cb_called = 0;
    uv::Tcp early(loop, boost::asio::ip::tcp::v4());
    uv::Tcp client(loop);
    REQUIRE_FALSE(server.listen(128, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connection_cb_called;
        REQUIRE(server.accept(early) ==
                boost::system::errc::make_error_code(Errc::device_or_resource_busy));
        server.close();
        early.close();
    }));
    REQUIRE_FALSE(client.connect(server.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        client.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connection_cb_called == 1);
    REQUIRE(connect_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_flags: nodelay and keepalive work on an early socket, before bind",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp handle(loop, boost::asio::ip::tcp::v4());
    REQUIRE_FALSE(handle.nodelay(true));
    REQUIRE_FALSE(handle.keepalive(true, 60s));
    boost::asio::ip::tcp::no_delay nd;
    handle.socket().get_option(nd);
    REQUIRE(nd.value());
    handle.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_flags: nodelay and keepalive on a handle without a socket are bad_descriptor",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp handle(loop);
    REQUIRE(handle.nodelay(true) == boost::asio::error::bad_descriptor);
    REQUIRE(handle.keepalive(true, 60s) == boost::asio::error::bad_descriptor);
    handle.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

// ---- connecting ----------------------------------------------------------

TEST_CASE("tcp_write_after_connect: a write queued while connecting fails with "
          "operation_aborted when the connect is refused",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    REQUIRE_FALSE(client.connect(loopback4(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::connection_refused);
        REQUIRE(write_cb_called == 0); // the connect callback runs first
        ++connect_cb_called;
    }));
    REQUIRE_FALSE(client.write(std::string("x"), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        REQUIRE(connect_cb_called == 1);
        ++write_cb_called;
        // As libuv's: the failed handle takes a write, which fails in its
        // callback.
        REQUIRE_FALSE(client.write(std::string("y"), [&](boost::system::error_code wec) {
            REQUIRE(wec == boost::asio::error::broken_pipe);
            ++write_cb_called;
            client.close();
        }));
    }));
    REQUIRE(client.write_queue_size() == 1);
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 2);
    REQUIRE(client.write_queue_size() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_write_after_connect: writes queued while connecting go out once connected, in "
          "order",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    std::string got;
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            if (ec) {
                REQUIRE(ec == boost::asio::error::eof);
                server.close_all();
                return;
            }
            got.append(d.begin(), d.end());
        }));
    };
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int shutdown_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(write_cb_called == 0);
        ++connect_cb_called;
        // After the shutdown queued below: refused, as libuv's EPIPE.
        REQUIRE(client.write(std::string("3")) == boost::asio::error::broken_pipe);
    }));
    REQUIRE(client.try_write(boost::asio::buffer("0", 1)).error() ==
            boost::asio::error::would_block);
    REQUIRE_FALSE(client.write(std::string("1"), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(write_cb_called == 0);
        ++write_cb_called;
    }));
    REQUIRE_FALSE(client.write(std::string("2"), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(write_cb_called == 1);
        ++write_cb_called;
    }));
    // A shutdown queued while connecting runs after the writes.
    REQUIRE_FALSE(client.shutdown([&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(write_cb_called == 2);
        ++shutdown_cb_called;
        client.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 2);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(got == "12");
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_write_after_connect: read_start while connecting reads once connected",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [&](uv::Tcp& peer) { REQUIRE_FALSE(peer.write(std::string("hello"))); };
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    int read_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
    }));
    std::string got;
    REQUIRE_FALSE(client.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        REQUIRE_FALSE(ec);
        REQUIRE(connect_cb_called == 1);
        ++read_cb_called;
        got.append(d.begin(), d.end());
        if (got.size() == 5) {
            client.close();
            server.close_all();
        }
    }));
    REQUIRE(client.is_reading());
    REQUIRE(client.is_active());
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(read_cb_called >= 1);
    REQUIRE(got == "hello");
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_connect_error_after_write: a write before connect is bad_descriptor, one "
          "while connecting fails when the connect callback closes the handle",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp conn(loop);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE(conn.write(std::string("TEST"), [&](boost::system::error_code) {
        ++write_cb_called;
    }) == boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(conn.connect(loopback4(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec);
        ++connect_cb_called;
        conn.close([&] { ++close_cb_called; });
    }));
    REQUIRE_FALSE(conn.write(std::string("TEST"), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        REQUIRE(close_cb_called == 0);
        ++write_cb_called;
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_connect_error_after_write: a shutdown queued while connecting gets "
          "not_connected when the connect is refused",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp conn(loop);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int shutdown_cb_called = 0;
    REQUIRE_FALSE(conn.connect(loopback4(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::connection_refused);
        ++connect_cb_called;
    }));
    REQUIRE_FALSE(conn.write(std::string("TEST"), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        ++write_cb_called;
    }));
    REQUIRE_FALSE(conn.shutdown([&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::not_connected);
        REQUIRE(write_cb_called == 1);
        ++shutdown_cb_called;
        conn.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(shutdown_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_connect_timeout: closing a handle whose connect is pending gives the connect "
          "callback operation_aborted",
          "[uv][libuv][tcp]") {
    FullListener full; // loopback's stand-in for libuv's 8.8.8.8:9999
    uv::Loop loop;
    uv::Tcp conn(loop);
    uv::Timer timer(loop);
    int connect_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(conn.connect(full.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        REQUIRE(close_cb_called == 0);
        ++connect_cb_called;
    }));
    REQUIRE_FALSE(timer.start(
        [&] {
            conn.close([&] { ++close_cb_called; });
            timer.close([&] { ++close_cb_called; });
        },
        50ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_local_connect_timeout: a connect to a local port nobody listens on fails at "
          "once, not by the timer",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp conn(loop);
    uv::Timer timer(loop);
    int connect_cb_called = 0;
    int timer_cb_called = 0;
    REQUIRE_FALSE(conn.connect(loopback4(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::connection_refused);
        ++connect_cb_called;
        conn.close();
        timer.close();
    }));
    // A hang guard, far longer than a refused connect takes.
    REQUIRE_FALSE(timer.start([&] { ++timer_cb_called; }, 30s));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(timer_cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp6_local_connect_timeout: a connect to a local IPv6 port nobody listens on fails "
          "at once",
          "[uv][libuv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    uv::Loop loop;
    uv::Tcp conn(loop);
    int connect_cb_called = 0;
    REQUIRE_FALSE(conn.connect(loopback6(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::connection_refused);
        ++connect_cb_called;
        conn.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_close_while_connecting: closing a connecting handle from a timer runs the "
          "connect callback once, with operation_aborted, and stops a timer it names",
          "[uv][libuv][tcp]") {
    FullListener full; // loopback's stand-in for libuv's 1.2.3.4
    uv::Loop loop;
    uv::Tcp tcp(loop);
    uv::Timer timer1(loop);
    uv::Timer timer2(loop);
    int connect_cb_called = 0;
    int timer1_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(tcp.connect(full.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        timer2.stop();
        ++connect_cb_called;
    }));
    REQUIRE_FALSE(timer1.start(
        [&] {
            timer1.close([&] { ++close_cb_called; });
            tcp.close([&] { ++close_cb_called; });
            ++timer1_cb_called;
        },
        1ms));
    REQUIRE_FALSE(timer2.start([] { FAIL("timer2 should not run"); }, 86400s));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(timer1_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    timer2.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_connect_error_fault: connecting an IPv4 handle to an IPv6 address is an "
          "error of the connect callback",
          "[uv][libuv][tcp]") {
    // libuv's test passes a garbage sockaddr (EINVAL from uv_tcp_connect);
    // an Asio endpoint cannot be garbage. The nearest misuse: an early IPv4
    // socket connected to an IPv6 address fails, in the callback.
    uv::Loop loop;
    uv::Tcp conn(loop, boost::asio::ip::tcp::v4());
    int connect_cb_called = 0;
    REQUIRE_FALSE(conn.connect(loopback6(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec);
        ++connect_cb_called;
        conn.close();
    }));
    REQUIRE(connect_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    require_loop_quiescent(loop);
}

// ---- connection_fail (test-connection-fail.c) ----------------------------

TEST_CASE("connection_fail: a refused connect calls back once with connection_refused and "
          "leaves the handle to close",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp tcp(loop);
    // libuv binds the client first.
    REQUIRE_FALSE(tcp.bind(loopback4()));
    int connect_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(tcp.connect(loopback4(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::connection_refused);
        ++connect_cb_called;
        REQUIRE(close_cb_called == 0);
        tcp.close([&] { ++close_cb_called; });
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("connection_fail: a handle whose connect failed stays a stream: read_start reads eof",
          "[uv][libuv][tcp]") {
    // Checked against libuv 1.44: uv_read_start after the failed connect
    // is 0, and the read callback gets UV_EOF.
    uv::Loop loop;
    uv::Tcp tcp(loop);
    int connect_cb_called = 0;
    int read_cb_called = 0;
    REQUIRE_FALSE(tcp.connect(loopback4(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::connection_refused);
        ++connect_cb_called;
        REQUIRE(tcp.is_readable());
        REQUIRE_FALSE(tcp.read_start([&](boost::system::error_code rec, std::span<const char> d) {
            REQUIRE(rec == boost::asio::error::eof);
            REQUIRE(d.empty());
            ++read_cb_called;
            tcp.close();
        }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(read_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("connection_fail_doesnt_auto_close: a refused connect leaves the handle open until "
          "the user closes it",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp tcp(loop);
    uv::Timer timer(loop);
    int connect_cb_called = 0;
    int timer_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(tcp.connect(loopback4(closed_tcp_port()), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::connection_refused);
        ++connect_cb_called;
        REQUIRE_FALSE(timer.start(
            [&] {
                ++timer_cb_called;
                REQUIRE_FALSE(tcp.is_closing()); // not closed for the user
                REQUIRE(close_cb_called == 0);
                tcp.close([&] { ++close_cb_called; });
                timer.close();
            },
            10ms));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}
