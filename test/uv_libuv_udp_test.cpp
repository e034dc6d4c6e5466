#include <pollux/uv/udp.hpp>
// Own header first: this proves it is self-contained.

// libuv 1.44's UDP tests (test-udp-*.c, udp_ref* of test-ref.c, udp of
// test-getsockname.c), ported to pollux::uv on loopback.
// docs/callbacks.md's table maps each libuv test.

#include <pollux/uv/idle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;
using Endpoint = uv::Udp::Endpoint;

namespace {

Endpoint loopback4(unsigned short port = 0) {
    return {boost::asio::ip::make_address("127.0.0.1"), port};
}

Endpoint loopback6(unsigned short port = 0) {
    return {boost::asio::ip::make_address("::1"), port};
}

bool have_ipv6_loopback() {
    boost::asio::io_context io;
    boost::asio::ip::udp::socket s(io);
    boost::system::error_code ec;
    s.open(boost::asio::ip::udp::v6(), ec);
    if (!ec) {
        s.bind(loopback6(), ec);
    }
    return !ec;
}

// A UDP port nobody receives on: bound, read back, released.
unsigned short closed_udp_port() {
    boost::asio::io_context io;
    boost::asio::ip::udp::socket s(io, loopback4());
    return s.local_endpoint().port();
}

void fail_recv(boost::system::error_code, std::span<const char>, const Endpoint&) {
    FAIL("no datagram expected");
}

// libuv's udp_send_and_recv, over `at` (127.0.0.1 or ::1).
void send_and_recv(const Endpoint& at) {
    uv::Loop loop;
    uv::Udp server(loop);
    uv::Udp client(loop);
    int cl_send_cb_called = 0;
    int cl_recv_cb_called = 0;
    int sv_send_cb_called = 0;
    int sv_recv_cb_called = 0;
    int close_cb_called = 0;
    auto close_cb = [&] { ++close_cb_called; };
    REQUIRE_FALSE(server.bind(at));
    const Endpoint server_ep = server.getsockname().value();
    REQUIRE_FALSE(server.recv_start(
        [&](boost::system::error_code ec, std::span<const char> d, const Endpoint& from) {
            REQUIRE_FALSE(ec);
            REQUIRE(std::string(d.begin(), d.end()) == "PING");
            server.recv_stop();
            REQUIRE_FALSE(
                server.send(std::string("PONG"), from, [&](boost::system::error_code sec) {
                    REQUIRE_FALSE(sec);
                    server.close(close_cb);
                    ++sv_send_cb_called;
                }));
            ++sv_recv_cb_called;
        }));
    REQUIRE_FALSE(client.send(std::string("PING"), server_ep, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.recv_start(
            [&](boost::system::error_code rec, std::span<const char> d, const Endpoint& from) {
                REQUIRE_FALSE(rec);
                REQUIRE(from == server_ep);
                REQUIRE(std::string(d.begin(), d.end()) == "PONG");
                ++cl_recv_cb_called;
                client.close(close_cb);
            }));
        ++cl_send_cb_called;
    }));
    REQUIRE(close_cb_called == 0);
    REQUIRE(cl_send_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(cl_send_cb_called == 1);
    REQUIRE(cl_recv_cb_called == 1);
    REQUIRE(sv_send_cb_called == 1);
    REQUIRE(sv_recv_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    REQUIRE(client.send_queue_size() == 0);
    REQUIRE(server.send_queue_size() == 0);
    require_loop_quiescent(loop);
}

} // namespace

TEST_CASE("udp_send_and_recv: a PING from an unbound client gets a PONG back", "[uv][libuv][udp]") {
    send_and_recv(loopback4());
}

TEST_CASE("udp_send_and_recv: a PING from an unbound client gets a PONG back over ::1",
          "[uv][libuv][udp]") {
    if (!have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    send_and_recv(loopback6());
}

TEST_CASE("udp_send_and_recv: recv_start while receiving is already_started and keeps the "
          "first callback",
          "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp server(loop);
    uv::Udp client(loop);
    REQUIRE_FALSE(server.bind(loopback4()));
    int first_cb_called = 0;
    REQUIRE_FALSE(server.recv_start(
        [&](boost::system::error_code ec, std::span<const char>, const Endpoint&) {
            REQUIRE_FALSE(ec);
            ++first_cb_called;
            server.close();
            client.close();
        }));
    REQUIRE(server.recv_start(fail_recv) == boost::asio::error::already_started);
    REQUIRE(server.is_active());
    REQUIRE_FALSE(client.send(std::string("x"), server.getsockname().value()));
    REQUIRE(loop.run() == 0);
    REQUIRE(first_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_send_and_recv: recv_start on an unbound handle binds it to an ephemeral port",
          "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h(loop);
    REQUIRE(h.getsockname().error() == boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(h.recv_start(fail_recv));
    auto name = h.getsockname();
    REQUIRE(name);
    REQUIRE(name->address().is_v4());
    REQUIRE(name->port() != 0);
    h.recv_stop();
    REQUIRE_FALSE(h.recv_start(fail_recv)); // stopped: starts again
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_bind: binding a used port is address_in_use", "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h1(loop);
    uv::Udp h2(loop);
    REQUIRE_FALSE(h1.bind(loopback4()));
    REQUIRE(h2.bind(h1.getsockname().value()) == boost::asio::error::address_in_use);
    h1.close();
    h2.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_bind: binding a bound handle again is invalid_argument", "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h(loop);
    REQUIRE_FALSE(h.bind(loopback4()));
    REQUIRE(h.bind(loopback4()) == boost::asio::error::invalid_argument);
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_bind_reuseaddr: two handles bind one port with reuse_address", "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h1(loop);
    uv::Udp h2(loop);
    REQUIRE_FALSE(h1.bind(loopback4(), true));
    REQUIRE_FALSE(h2.bind(h1.getsockname().value(), true));
    h1.close();
    h2.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

namespace {

// libuv's test-udp-ipv6.c do_test: a server bound to [::] with `flags`, an
// IPv4 client sending to 127.0.0.1 at the server's port; every handle is
// closed by a 500 ms timer. Returns how many datagrams from the client the
// server got.
int ipv6_do_test(uv::Udp::BindFlags flags) {
    uv::Loop loop;
    uv::Udp server(loop);
    uv::Udp client(loop);
    uv::Timer timeout(loop);
    int send_cb_called = 0;
    int recv_cb_called = 0;
    int close_cb_called = 0;
    auto close_cb = [&] { ++close_cb_called; };
    REQUIRE_FALSE(server.bind({boost::asio::ip::address_v6::any(), 0}, flags));
    const unsigned short port = server.getsockname().value().port();
    REQUIRE_FALSE(server.recv_start(
        [&](boost::system::error_code ec, std::span<const char> d, const Endpoint& from) {
            REQUIRE_FALSE(ec);
            // libuv's is_from_client: the IPv4 client seen as a mapped address.
            if (from.address() != boost::asio::ip::make_address("::ffff:127.0.0.1") ||
                from.port() != client.getsockname().value().port()) {
                return;
            }
            REQUIRE(std::string(d.begin(), d.end()) == "PING12345");
            ++recv_cb_called;
        }));
    REQUIRE_FALSE(
        client.send(std::string("PING12345"), loopback4(port), [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            ++send_cb_called;
        }));
    timeout.start(
        [&] {
            server.close(close_cb);
            client.close(close_cb);
            timeout.close(close_cb);
        },
        500ms);
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 3);
    REQUIRE(send_cb_called == 1);
    require_loop_quiescent(loop);
    return recv_cb_called;
}

} // namespace

TEST_CASE("udp_dual_stack: a socket bound to [::] without ipv6_only gets IPv4 datagrams",
          "[uv][libuv][udp]") {
    if (!have_ipv6_loopback()) {
        WARN("no IPv6 here");
        return;
    }
    REQUIRE(ipv6_do_test(uv::Udp::BindFlags::none) == 1);
}

TEST_CASE("udp_ipv6_only: a socket bound to [::] with ipv6_only gets no IPv4 datagram",
          "[uv][libuv][udp]") {
    if (!have_ipv6_loopback()) {
        WARN("no IPv6 here");
        return;
    }
    REQUIRE(ipv6_do_test(uv::Udp::BindFlags::ipv6_only) == 0);
}

TEST_CASE("udp_bind: ipv6_only with an IPv4 address or an unknown flag is invalid_argument",
          "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h(loop);
    REQUIRE(h.bind(loopback4(), uv::Udp::BindFlags::ipv6_only) ==
            boost::asio::error::invalid_argument);
    REQUIRE(h.bind(loopback4(), static_cast<uv::Udp::BindFlags>(2)) ==
            boost::asio::error::invalid_argument);
    // Nothing was opened: the handle still binds.
    REQUIRE_FALSE(h.bind(loopback4(), uv::Udp::BindFlags::reuse_address));
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_send_immediate: two sends queued at once both arrive", "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp server(loop);
    uv::Udp client(loop);
    int cl_send_cb_called = 0;
    int sv_recv_cb_called = 0;
    int close_cb_called = 0;
    auto close_cb = [&] { ++close_cb_called; };
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.recv_start(
        [&](boost::system::error_code ec, std::span<const char> d, const Endpoint&) {
            REQUIRE_FALSE(ec);
            const std::string s(d.begin(), d.end());
            REQUIRE((s == "PING" || s == "PANG"));
            if (++sv_recv_cb_called == 2) {
                server.close(close_cb);
                client.close(close_cb);
            }
        }));
    const Endpoint to = server.getsockname().value();
    for (const char* msg : {"PING", "PANG"}) {
        REQUIRE_FALSE(client.send(std::string(msg), to, [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            ++cl_send_cb_called;
        }));
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(cl_send_cb_called == 2);
    REQUIRE(sv_recv_cb_called == 2);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_send_unreachable: sends to a port nobody receives on succeed and the sender "
          "receives nothing",
          "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp client(loop);
    uv::Timer timer(loop);
    int send_cb_called = 0;
    int timer_cb_called = 0;
    int close_cb_called = 0;
    auto close_cb = [&] { ++close_cb_called; };
    REQUIRE_FALSE(timer.start(
        [&] {
            ++timer_cb_called;
            client.close(close_cb);
            timer.close(close_cb);
        },
        200ms));
    REQUIRE_FALSE(client.bind(loopback4()));
    // An ICMP port unreachable is reported only on a connected socket
    // (or with IP_RECVERR, libuv's UV_UDP_LINUX_RECVERR, not in pollux).
    REQUIRE_FALSE(client.recv_start(fail_recv));
    const Endpoint to = loopback4(closed_udp_port());
    for (const char* msg : {"PING", "PANG"}) {
        REQUIRE_FALSE(client.send(std::string(msg), to, [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            ++send_cb_called;
        }));
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(send_cb_called == 2);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_dgram_too_big: a 64 KiB datagram fails in its callback with message_size",
          "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h(loop);
    int send_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(h.send(std::vector<char>(65536, 42),
                         loopback4(closed_udp_port()),
                         [&](boost::system::error_code ec) {
                             REQUIRE(ec == boost::asio::error::message_size);
                             h.close([&] { ++close_cb_called; });
                             ++send_cb_called;
                         }));
    REQUIRE(send_cb_called == 0);
    REQUIRE(close_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(send_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    REQUIRE(h.send_queue_size() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_try_send: a send the kernel refuses fails alone and the next one arrives",
          "[uv][libuv][udp]") {
    // pollux has no try_send (send tries the system call first); this
    // checks libuv's sequence with send: too big (message_size), then
    // "EXIT", received.
    uv::Loop loop;
    uv::Udp server(loop);
    uv::Udp client(loop);
    int sv_recv_cb_called = 0;
    int close_cb_called = 0;
    std::vector<boost::system::error_code> send_results;
    auto close_cb = [&] { ++close_cb_called; };
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.recv_start(
        [&](boost::system::error_code ec, std::span<const char> d, const Endpoint&) {
            REQUIRE_FALSE(ec);
            REQUIRE(std::string(d.begin(), d.end()) == "EXIT");
            server.close(close_cb);
            client.close(close_cb);
            ++sv_recv_cb_called;
        }));
    const Endpoint to = server.getsockname().value();
    REQUIRE_FALSE(client.send(std::vector<char>(64 * 1024), to, [&](boost::system::error_code ec) {
        send_results.push_back(ec);
    }));
    REQUIRE_FALSE(client.send(std::string("EXIT"), to, [&](boost::system::error_code ec) {
        send_results.push_back(ec);
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 2);
    REQUIRE(sv_recv_cb_called == 1);
    REQUIRE(send_results.size() == 2);
    REQUIRE(send_results[0] == boost::asio::error::message_size);
    REQUIRE_FALSE(send_results[1]);
    REQUIRE(client.send_queue_size() == 0);
    REQUIRE(server.send_queue_size() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_send_hang_loop: a thousand sends, each from an idle callback after the last "
          "completed, never stall the loop",
          "[uv][libuv][udp]") {
    // libuv sends to 192.0.2.3 (TEST-NET); loopback's stand-in is a port
    // nobody receives on.
    uv::Loop loop;
    uv::Udp client(loop);
    uv::Idle idle(loop);
    const Endpoint to = loopback4(closed_udp_port());
    static const std::vector<char> data(1024);
    int loop_hang_called = 0;
    bool in_flight = false;
    std::function<void()> idle_cb = [&] {
        REQUIRE_FALSE(in_flight);
        idle.stop();
        if (++loop_hang_called > 1000) {
            client.close();
            idle.close();
            return;
        }
        in_flight = true;
        REQUIRE_FALSE(client.send(boost::asio::buffer(data), to, [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            in_flight = false;
            REQUIRE_FALSE(idle.start(idle_cb));
        }));
    };
    REQUIRE_FALSE(idle.start(idle_cb));
    REQUIRE(loop.run() == 0);
    REQUIRE(loop_hang_called > 1000);
    require_loop_quiescent(loop);
}

TEST_CASE("getsockname_udp: a bound handle and the sender's address seen by the receiver",
          "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp server(loop);
    uv::Udp client(loop);
    int getsocknamecount = 0;
    REQUIRE_FALSE(server.bind(loopback4()));
    const Endpoint server_ep = server.getsockname().value();
    REQUIRE(server_ep.address() == boost::asio::ip::make_address("127.0.0.1"));
    ++getsocknamecount;
    REQUIRE_FALSE(client.bind(loopback4()));
    REQUIRE_FALSE(server.recv_start(
        [&](boost::system::error_code ec, std::span<const char>, const Endpoint& from) {
            REQUIRE_FALSE(ec);
            REQUIRE(from == client.getsockname().value());
            ++getsocknamecount;
            server.close();
            client.close();
        }));
    REQUIRE_FALSE(client.send(std::string("PING"), server_ep));
    REQUIRE(loop.run() == 0);
    REQUIRE(getsocknamecount == 2);
    require_loop_quiescent(loop);
}

// ---- ref counting (test-ref.c) ---------------------------------------------

TEST_CASE("udp_ref: an unreferenced fresh handle does not keep run() going", "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h(loop);
    h.unref();
    REQUIRE(loop.run() == 0);
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_ref2: an unreferenced receiving handle does not keep run() going",
          "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h(loop);
    REQUIRE_FALSE(h.bind(loopback4()));
    REQUIRE_FALSE(h.recv_start(fail_recv));
    h.unref();
    REQUIRE(loop.run() == 0);
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("udp_ref3: a send on an unreferenced handle keeps run() going until its callback",
          "[uv][libuv][udp]") {
    uv::Loop loop;
    uv::Udp h(loop);
    int req_cb_called = 0;
    REQUIRE_FALSE(h.send(std::string("PING"),
                         loopback4(closed_udp_port()),
                         [&](boost::system::error_code) { ++req_cb_called; }));
    h.unref();
    REQUIRE(loop.run() == 0);
    REQUIRE(req_cb_called == 1);
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}
