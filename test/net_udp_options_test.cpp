#include <pollux/net/udp_socket.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/runtime.hpp>
#include <pollux/time.hpp>

#include "support/result_string.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <variant>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::UdpSocket;

namespace {

const asio::ip::udp::endpoint loopback_any{asio::ip::make_address("127.0.0.1"), 0};

int raw_int_option(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof(v);
    REQUIRE(::getsockopt(fd, level, name, &v, &len) == 0);
    return v;
}

} // namespace

TEST_CASE("UdpSocket broadcast is off by default: a send to a broadcast address is refused "
          "until set_broadcast(true)",
          "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        // 127.255.255.255 is the loopback network's broadcast address: its
        // route is in the local table, so this needs no default route.
        auto rx = UdpSocket::bind({asio::ip::address_v4::any(), 0}).value();
        auto s = UdpSocket::bind({asio::ip::address_v4::any(), 0}).value();
        REQUIRE_FALSE(s.broadcast().value());
        const asio::ip::udp::endpoint to(asio::ip::make_address("127.255.255.255"),
                                         rx.local_addr()->port());
        auto r = co_await s.send_to(asio::buffer("x", 1), to);
        REQUIRE_FALSE(r);
        REQUIRE(r.error() == asio::error::access_denied);
        REQUIRE(s.set_broadcast(true));
        REQUIRE(s.broadcast().value());
        REQUIRE(raw_int_option(s.socket().native_handle(), SOL_SOCKET, SO_BROADCAST) != 0);
        auto sent = co_await s.send_to(asio::buffer("x", 1), to);
        REQUIRE(sent);
        REQUIRE(*sent == 1);
    }());
}

TEST_CASE("UdpSocket ttl reads back as set and refuses values above 255", "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = UdpSocket::bind(loopback_any).value();
        REQUIRE(s.set_ttl(42));
        REQUIRE(s.ttl().value() == 42u);
        REQUIRE(raw_int_option(s.socket().native_handle(), IPPROTO_IP, IP_TTL) == 42);
        auto big = s.set_ttl(256);
        REQUIRE_FALSE(big);
        REQUIRE(big.error() == asio::error::invalid_argument);
        co_return;
    }());
}

TEST_CASE("UdpSocket multicast loop and ttl (IPv4) have the kernel's defaults and read back",
          "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = UdpSocket::bind(loopback_any).value();
        REQUIRE(s.multicast_loop_v4().value());
        REQUIRE(s.multicast_ttl_v4().value() == 1u);
        REQUIRE(s.set_multicast_loop_v4(false));
        REQUIRE_FALSE(s.multicast_loop_v4().value());
        REQUIRE(s.set_multicast_ttl_v4(32));
        REQUIRE(s.multicast_ttl_v4().value() == 32u);
        const int fd = s.socket().native_handle();
        REQUIRE(raw_int_option(fd, IPPROTO_IP, IP_MULTICAST_TTL) == 32);
        auto big = s.set_multicast_ttl_v4(256);
        REQUIRE_FALSE(big);
        REQUIRE(big.error() == asio::error::invalid_argument);
        co_return;
    }());
}

TEST_CASE("UdpSocket join_multicast_v4 refuses a unicast group and leave of a group not joined",
          "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = UdpSocket::bind({asio::ip::address_v4::any(), 0}).value();
        auto lo = asio::ip::make_address_v4("127.0.0.1");
        auto bad = s.join_multicast_v4(lo, lo);
        REQUIRE_FALSE(bad);
        REQUIRE(bad.error() == asio::error::invalid_argument);
        auto not_joined = s.leave_multicast_v4(asio::ip::make_address_v4("239.255.0.7"), lo);
        REQUIRE_FALSE(not_joined);
        REQUIRE(not_joined.error() == std::errc::address_not_available);
        co_return;
    }());
}

TEST_CASE("UdpSocket joined to a group on 127.0.0.1 receives what is sent to it there",
          "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        const auto group = asio::ip::make_address_v4("239.255.0.1");
        const auto lo = asio::ip::make_address_v4("127.0.0.1");
        auto rx = UdpSocket::bind({asio::ip::address_v4::any(), 0}).value();
        auto joined = rx.join_multicast_v4(group, lo);
        if (!joined && joined.error() == asio::error::no_such_device) {
            WARN("no multicast on the loopback interface here (ENODEV): skipped, as libuv's "
                 "tests skip");
            co_return;
        }
        REQUIRE(joined);
        auto tx = UdpSocket::bind(loopback_any).value();
        tx.socket().set_option(asio::ip::multicast::outbound_interface(lo));
        REQUIRE(tx.multicast_loop_v4().value());
        const asio::ip::udp::endpoint to(group, rx.local_addr()->port());
        auto sent = co_await tx.send_to(asio::buffer("PING", 4), to);
        REQUIRE(sent);
        char buf[16];
        auto got = co_await select(rx.recv_from(asio::buffer(buf)), time::sleep(10s));
        REQUIRE(got.index() == 0); // the sleep is only a hang guard
        auto& r = std::get<0>(got);
        REQUIRE(r);
        REQUIRE(std::string(buf, r->first) == "PING");
        REQUIRE(rx.leave_multicast_v4(group, lo));
    }());
}

TEST_CASE("UdpSocket IPv6 multicast loop reads back; join refuses a unicast group", "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = UdpSocket::bind({asio::ip::address_v6::any(), 0});
        if (!s && s.error() == asio::error::address_family_not_supported) {
            WARN("no IPv6 here: skipped");
            co_return;
        }
        REQUIRE(s);
        REQUIRE(s->multicast_loop_v6().value());
        REQUIRE(s->set_multicast_loop_v6(false));
        REQUIRE_FALSE(s->multicast_loop_v6().value());
        auto bad = s->join_multicast_v6(asio::ip::make_address_v6("::1"), 0);
        REQUIRE_FALSE(bad);
        REQUIRE(bad.error() == asio::error::invalid_argument);
        co_return;
    }());
}

TEST_CASE("UdpSocket from_fd adopts a UDP socket and refuses a TCP one, leaving it open",
          "[net][udp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        REQUIRE(fd >= 0);
        auto s = UdpSocket::from_fd(fd);
        REQUIRE(s);
        REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        REQUIRE(s->socket().native_handle() == fd);

        const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        auto t = UdpSocket::from_fd(tcp);
        REQUIRE_FALSE(t);
        REQUIRE(t.error() == asio::error::invalid_argument);
        REQUIRE(::fcntl(tcp, F_GETFD) != -1);
        ::close(tcp);
        co_return;
    }());
}
