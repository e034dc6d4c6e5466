#include <pollux/net/udp_socket.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/runtime.hpp>
#include <pollux/time.hpp>

#include "support/result_string.hpp"

#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::UdpSocket;

TEST_CASE("UdpSocket send_to and recv_from exchange datagrams with their sender", "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto a = UdpSocket::bind("127.0.0.1:0");
        auto b = UdpSocket::bind(asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        REQUIRE(a);
        REQUIRE(b);
        auto b_addr = b->local_addr().value();
        auto sent = co_await a->send_to(asio::buffer("ping", 4), b_addr);
        REQUIRE(sent);
        REQUIRE(*sent == 4);
        char buf[64];
        auto got = co_await b->recv_from(asio::buffer(buf));
        REQUIRE(got);
        REQUIRE(std::string(buf, got->first) == "ping");
        REQUIRE(got->second == a->local_addr().value());
    }());
}

TEST_CASE("UdpSocket connect then send and recv", "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto a = UdpSocket::bind("127.0.0.1:0");
        auto b = UdpSocket::bind("127.0.0.1:0");
        REQUIRE(a);
        REQUIRE(b);
        REQUIRE(a->connect(b->local_addr().value()));
        REQUIRE(b->connect(a->local_addr().value()));
        REQUIRE(a->peer_addr().value() == b->local_addr().value());
        for (int i = 0; i < 100; ++i) {
            std::string msg = "datagram " + std::to_string(i);
            auto s = co_await a->send(asio::buffer(msg));
            REQUIRE(s);
            char buf[64];
            auto r = co_await b->recv(asio::buffer(buf));
            REQUIRE(r);
            REQUIRE(std::string(buf, *r) == msg);
        }
    }());
}

TEST_CASE("UdpSocket recv under select with a timer loses no datagram", "[net][udp][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto a = UdpSocket::bind("127.0.0.1:0");
        auto b = UdpSocket::bind("127.0.0.1:0");
        REQUIRE(a);
        REQUIRE(b);
        auto to = b->local_addr().value();
        constexpr int count = 50;
        auto sender = spawn([](UdpSocket& s, asio::ip::udp::endpoint to) -> Async<> {
            for (int i = 0; i < count; ++i) {
                auto r = co_await s.send_to(asio::buffer(&i, sizeof i), to);
                REQUIRE(r);
                co_await time::sleep(1ms);
            }
        }(*a, to));
        int expected = 0;
        int timer_wins = 0;
        while (expected < count) {
            int v = -1;
            auto w = co_await select(b->recv(asio::buffer(&v, sizeof v)), time::sleep(300us));
            if (w.index() == 1) {
                ++timer_wins;
                continue;
            }
            REQUIRE(std::get<0>(w));
            REQUIRE(v == expected); // loopback keeps order and loses nothing here
            ++expected;
        }
        co_await sender;
        REQUIRE(timer_wins > 0);
    }());
}

TEST_CASE("UdpSocket bind outside a task throws logic_error", "[net][udp]") {
    REQUIRE_THROWS_AS(UdpSocket::bind("127.0.0.1:0"), std::logic_error);
}
