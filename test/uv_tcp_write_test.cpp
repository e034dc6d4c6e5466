// uv::Tcp's write queue and try_write (libuv's uv_try_write).

#include <pollux/uv/loop.hpp>
#include <pollux/uv/tcp.hpp>

#include "support/loop_quiescent.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

using namespace pollux;
using pollux::test::require_loop_quiescent;
using Endpoint = boost::asio::ip::tcp::endpoint;

namespace {

Endpoint loopback() {
    return {boost::asio::ip::make_address("127.0.0.1"), 0};
}

// A listener that accepts one connection into `peer`, then calls on_peer.
struct OnePeerServer {
    uv::Tcp listener;
    std::unique_ptr<uv::Tcp> peer;
    std::function<void(uv::Tcp&)> on_peer;

    explicit OnePeerServer(uv::Loop& loop) : listener(loop) {
        REQUIRE_FALSE(listener.bind(loopback()));
        REQUIRE_FALSE(listener.listen(16, [this, &loop](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            peer = std::make_unique<uv::Tcp>(loop);
            REQUIRE_FALSE(listener.accept(*peer));
            listener.close();
            if (on_peer) {
                on_peer(*peer);
            }
        }));
    }
    [[nodiscard]] Endpoint endpoint() const { return listener.getsockname().value(); }
};

} // namespace

TEST_CASE("uv Tcp try_write sends what the kernel takes, with no callback and nothing queued",
          "[uv][tcp][write]") {
    uv::Loop loop;
    OnePeerServer server(loop);
    std::string received;
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            if (ec) {
                peer.close();
                return;
            }
            received.append(d.begin(), d.end());
        }));
    };
    uv::Tcp client(loop);
    std::size_t sent = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        const std::string msg = "hello";
        auto n = client.try_write(boost::asio::buffer(msg));
        REQUIRE(n);
        sent = *n;
        REQUIRE(client.write_queue_size() == 0);
        REQUIRE_FALSE(client.shutdown([&](boost::system::error_code) { client.close(); }));
    }));
    loop.run();
    REQUIRE(sent == 5);
    REQUIRE(received == "hello");
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp try_write reports would_block while writes are queued", "[uv][tcp][write]") {
    uv::Loop loop;
    OnePeerServer server(loop); // accepts, never reads: the client's write backs up
    uv::Tcp client(loop);
    boost::system::error_code try_ec;
    boost::system::error_code write_ec;
    const std::string big(16 * 1024 * 1024, 'x');
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.write(boost::asio::buffer(big),
                                   [&](boost::system::error_code wec) { write_ec = wec; }));
        REQUIRE(client.write_queue_size() > 0);
        auto n = client.try_write(boost::asio::buffer("y", 1));
        REQUIRE_FALSE(n);
        try_ec = n.error();
        client.close();
    }));
    loop.run(); // returns once the listener accepted and closed
    REQUIRE(server.peer);
    server.peer->close();
    loop.run();
    REQUIRE(try_ec == boost::asio::error::would_block);
    REQUIRE(write_ec == boost::asio::error::operation_aborted);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp try_write on an unconnected or shut-down handle reports an error",
          "[uv][tcp][write]") {
    uv::Loop loop;
    uv::Tcp never_connected(loop);
    auto n = never_connected.try_write(boost::asio::buffer("x", 1));
    REQUIRE_FALSE(n);
    REQUIRE(n.error() == boost::asio::error::bad_descriptor);
    never_connected.close();

    OnePeerServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { peer.close(); };
    uv::Tcp client(loop);
    boost::system::error_code after_shutdown;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.shutdown([&](boost::system::error_code) { client.close(); }));
        auto m = client.try_write(boost::asio::buffer("x", 1));
        REQUIRE_FALSE(m);
        after_shutdown = m.error();
    }));
    loop.run();
    REQUIRE(after_shutdown == boost::asio::error::broken_pipe);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp many queued writes arrive in order and each callback runs once, in order",
          "[uv][tcp][write]") {
    uv::Loop loop;
    OnePeerServer server(loop);
    constexpr int writes = 200;
    constexpr std::size_t chunk = 32 * 1024;
    std::string received;
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            if (ec) {
                peer.close();
                return;
            }
            received.append(d.begin(), d.end());
        }));
    };
    uv::Tcp client(loop);
    std::vector<int> completed;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        // Owned strings, vectors and borrowed buffers mixed, so the queue
        // moves requests of every kind while it grows and compacts.
        static const std::string borrowed(chunk, 'b');
        for (int i = 0; i < writes; ++i) {
            auto done = [&completed, i](boost::system::error_code wec) {
                REQUIRE_FALSE(wec);
                completed.push_back(i);
            };
            const char fill = static_cast<char>('a' + i % 26);
            boost::system::error_code qec;
            switch (i % 3) {
            case 0:
                qec = client.write(std::string(chunk, fill), done);
                break;
            case 1:
                qec = client.write(std::vector<char>(chunk, fill), done);
                break;
            default:
                qec = client.write(boost::asio::buffer(borrowed), done);
                break;
            }
            REQUIRE_FALSE(qec);
        }
        REQUIRE_FALSE(client.shutdown([&](boost::system::error_code sec) {
            REQUIRE_FALSE(sec);
            client.close();
        }));
    }));
    loop.run();
    REQUIRE(completed.size() == writes);
    for (int i = 0; i < writes; ++i) {
        REQUIRE(completed[static_cast<std::size_t>(i)] == i);
    }
    REQUIRE(received.size() == writes * chunk);
    for (int i = 0; i < writes; ++i) {
        const char expected = i % 3 == 2 ? 'b' : static_cast<char>('a' + i % 26);
        const std::size_t at = static_cast<std::size_t>(i) * chunk;
        REQUIRE(received[at] == expected);
        REQUIRE(received[at + chunk - 1] == expected);
    }
    require_loop_quiescent(loop);
}
