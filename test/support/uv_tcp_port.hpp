#pragma once

// Helpers of the ports of libuv's TCP tests (test/uv_libuv_tcp*_test.cpp):
// loopback endpoints, a port nobody listens on, and a listener whose accept
// queue is full (a connect to it stays pending: loopback's stand-in for
// libuv's unreachable 8.8.8.8 and 1.2.3.4).

#include <pollux/uv/loop.hpp>
#include <pollux/uv/tcp.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <vector>

namespace pollux::test {

using TcpEndpoint = boost::asio::ip::tcp::endpoint;

inline TcpEndpoint loopback4(unsigned short port = 0) {
    return {boost::asio::ip::make_address("127.0.0.1"), port};
}

inline TcpEndpoint loopback6(unsigned short port = 0) {
    return {boost::asio::ip::make_address("::1"), port};
}

// Whether ::1 can be bound here (libuv's can_ipv6()).
inline bool have_ipv6_loopback() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io);
    boost::system::error_code ec;
    a.open(boost::asio::ip::tcp::v6(), ec);
    if (!ec) {
        a.bind(loopback6(), ec);
    }
    return !ec;
}

// A port nobody listens on: bound, read back, released.
inline unsigned short closed_tcp_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, loopback4());
    return a.local_endpoint().port();
}

// A listener with a backlog of 0 whose accept queue one connection fills:
// Linux drops the SYNs of further connects, which stay pending (SYN
// retransmissions) until the caller gives up.
struct FullListener {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor{io};
    boost::asio::ip::tcp::socket filler{io};

    FullListener() {
        acceptor.open(boost::asio::ip::tcp::v4());
        acceptor.bind(loopback4());
        acceptor.listen(0);
        filler.connect(acceptor.local_endpoint());
    }
    [[nodiscard]] TcpEndpoint endpoint() const { return acceptor.local_endpoint(); }
};

// A listening uv::Tcp that accepts every connection into `peers` and hands
// each to `on_peer`.
struct TcpServer {
    uv::Tcp listener;
    std::vector<std::unique_ptr<uv::Tcp>> peers;
    int connection_cb_called = 0;
    std::function<void(uv::Tcp&)> on_peer;

    explicit TcpServer(uv::Loop& loop, const TcpEndpoint& at = loopback4()) : listener(loop) {
        REQUIRE_FALSE(listener.bind(at));
        REQUIRE_FALSE(listener.listen(128, [this, &loop](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            ++connection_cb_called;
            peers.push_back(std::make_unique<uv::Tcp>(loop));
            REQUIRE_FALSE(listener.accept(*peers.back()));
            if (on_peer) {
                on_peer(*peers.back());
            }
        }));
    }
    [[nodiscard]] TcpEndpoint endpoint() const { return listener.getsockname().value(); }
    void close_all() {
        if (!listener.is_closing()) {
            listener.close();
        }
        for (auto& p : peers) {
            if (!p->is_closing()) {
                p->close();
            }
        }
    }
};

} // namespace pollux::test
