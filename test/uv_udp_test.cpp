#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>
#include <pollux/uv/udp.hpp>

#include "support/high_descriptors.hpp"
#include "support/loop_quiescent.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <span>
#include <string>

using namespace pollux;
using pollux::test::require_loop_quiescent;

TEST_CASE("uv Udp send and recv a datagram round trip", "[uv][udp]") {
    uv::Loop loop;
    uv::Udp server(loop);
    uv::Udp client(loop);
    const uv::Udp::Endpoint any{boost::asio::ip::make_address("127.0.0.1"), 0};
    REQUIRE_FALSE(server.bind(any));
    const auto server_ep = server.getsockname().value();

    int server_recv_cb_called = 0;
    int client_recv_cb_called = 0;
    int send_cb_called = 0;
    int close_cb_called = 0;
    std::string reply;
    REQUIRE_FALSE(server.recv_start(
        [&](boost::system::error_code ec, std::span<const char> d, const uv::Udp::Endpoint& from) {
            REQUIRE_FALSE(ec);
            ++server_recv_cb_called;
            REQUIRE_FALSE(server.send(std::string(d.begin(), d.end()) + "!", from));
        }));
    REQUIRE(server.is_active());

    REQUIRE_FALSE(client.send(std::string("ping"), server_ep, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++send_cb_called;
    }));
    REQUIRE(send_cb_called == 0); // deferred, never inside send()
    REQUIRE_FALSE(client.recv_start(
        [&](boost::system::error_code ec, std::span<const char> d, const uv::Udp::Endpoint& from) {
            REQUIRE_FALSE(ec);
            REQUIRE(from == server_ep);
            ++client_recv_cb_called;
            reply.assign(d.begin(), d.end());
            client.close([&] { ++close_cb_called; });
            server.close([&] { ++close_cb_called; });
        }));
    REQUIRE(loop.run() == 0);
    REQUIRE(reply == "ping!");
    REQUIRE(send_cb_called == 1);
    REQUIRE(server_recv_cb_called == 1);
    REQUIRE(client_recv_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    REQUIRE(client.send_queue_count() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Udp send after close reports an error", "[uv][udp][close]") {
    uv::Loop loop;
    uv::Udp sock(loop);
    sock.close();
    int send_cb_called = 0;
    REQUIRE(sock.send(std::string("x"),
                      {boost::asio::ip::make_address("127.0.0.1"), 9},
                      [&](boost::system::error_code) { ++send_cb_called; }) ==
            boost::asio::error::bad_descriptor);
    REQUIRE(loop.run() == 0);
    REQUIRE(send_cb_called == 0);
    require_loop_quiescent(loop);
}

// Asio's select reactor refuses to wait on a descriptor at or above
// FD_SETSIZE (fd_set_failure). A receiving uv::Udp used to wait again at
// once, a busy loop until a datagram came; now the receive callback gets the
// reactor's error once and receiving stops (every later wait would fail the
// same way). On every other reactor the datagram just arrives.
TEST_CASE("uv Udp receiving on a socket the reactor cannot wait on reports the error once and "
          "stops",
          "[uv][udp][readiness]") {
    test::HighDescriptors high;
    if (!high.ok()) {
        WARN("the hard descriptor limit is below 1100: nothing to check here");
        return;
    }
    uv::Loop loop;
    uv::Udp client(loop);
    const uv::Udp::Endpoint any{boost::asio::ip::make_address("127.0.0.1"), 0};
    REQUIRE_FALSE(client.bind(any)); // below 1024
    uv::Timer send_later(loop);
    uv::Timer guard(loop);
    high.fill_below_1024();
    uv::Udp server(loop);
    REQUIRE_FALSE(server.bind(any)); // 1024 or above
    const auto server_ep = server.getsockname().value();
    int recv_cb_called = 0;
    boost::system::error_code recv_ec;
    std::string got;
    auto finish = [&] {
        server.close();
        client.close();
        send_later.close();
        guard.close();
    };
    REQUIRE_FALSE(server.recv_start(
        [&](boost::system::error_code ec, std::span<const char> d, const uv::Udp::Endpoint&) {
            ++recv_cb_called;
            recv_ec = ec;
            got.assign(d.begin(), d.end());
            if (ec) {
                CHECK_FALSE(server.is_active());
            }
        }));
    REQUIRE_FALSE(send_later.start(
        [&] {
            REQUIRE_FALSE(client.send(std::string("hello"), server_ep));
            // Time for a second callback, if the handle went on receiving.
            REQUIRE_FALSE(guard.start(finish, std::chrono::milliseconds(200)));
        },
        std::chrono::milliseconds(100)));
    loop.run();
    CHECK(recv_cb_called == 1);
    if (test::select_reactor) {
        CHECK(recv_ec == boost::asio::error::fd_set_failure);
    } else {
        CHECK(recv_ec == boost::system::error_code());
        CHECK(got == "hello");
    }
    require_loop_quiescent(loop);
}
