#include <pollux/net/tcp_stream.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

// TcpStream's readiness API (tokio's readable/writable, try_read/try_write).

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/result_string.hpp"

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>
#include <sys/socket.h>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;
namespace asio = boost::asio;
using net::TcpListener;
using net::TcpStream;

namespace {

struct Pair {
    TcpStream client;
    TcpStream server;
};

Async<Pair> connected_pair() {
    auto l = TcpListener::bind("127.0.0.1:0");
    REQUIRE(l);
    auto [c, a] = co_await join(TcpStream::connect(*l->local_addr()), l->accept());
    REQUIRE(c);
    REQUIRE(a);
    co_return Pair{std::move(*c), std::move(a->first)};
}

bool would_block(const boost::system::error_code& ec) {
    return ec == asio::error::would_block;
}

// Calls try_read until it says would_block (readable() is Ready at first:
// nothing is known about a fresh stream), so the next readable() waits.
void drain(TcpStream& s) {
    std::array<char, 4096> buf{};
    for (;;) {
        auto n = s.try_read(asio::buffer(buf));
        REQUIRE(!n);
        if (would_block(n.error())) {
            return;
        }
    }
}

// readable() then try_read, again while try_read says would_block
// (readable() may complete spuriously).
Async<Result<std::size_t>> read_when_ready(TcpStream& s, asio::mutable_buffer buf) {
    for (;;) {
        auto r = co_await s.readable();
        if (!r) {
            co_return r.error();
        }
        auto n = s.try_read(buf);
        if (n || !would_block(n.error())) {
            co_return n;
        }
    }
}

bool is_pending(TcpStream::ReadyFuture& f) {
    Context cx(Waker::noop());
    return f.poll(cx).is_pending();
}

} // namespace

TEST_CASE("TcpStream try_read on an empty socket says would_block", "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        std::array<char, 16> buf{};
        auto n = p.server.try_read(asio::buffer(buf));
        REQUIRE(!n);
        REQUIRE(would_block(n.error()));
    }());
}

TEST_CASE("TcpStream readable waits after would_block and completes when data arrives",
          "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        drain(p.server);
        auto f = p.server.readable();
        REQUIRE(is_pending(f));
        auto w = co_await io::write_all(p.client, asio::buffer("hello", 5));
        REQUIRE(w);
        std::array<char, 16> buf{};
        auto n = co_await read_when_ready(p.server, asio::buffer(buf));
        REQUIRE(n);
        REQUIRE(*n == 5);
        REQUIRE(std::string_view(buf.data(), 5) == "hello");
    }());
}

TEST_CASE("TcpStream readable completes at end of stream, and try_read then reads 0",
          "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        drain(p.server);
        auto r1 = co_await io::shutdown(p.client);
        REQUIRE(r1);
        std::array<char, 16> buf{};
        auto n = co_await read_when_ready(p.server, asio::buffer(buf));
        REQUIRE(n);
        REQUIRE(*n == 0);
    }());
}

TEST_CASE("TcpStream readable completes on a reset, and try_read then reports it",
          "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        drain(p.server);
        p.client.close_reset();
        std::array<char, 16> buf{};
        auto n = co_await read_when_ready(p.server, asio::buffer(buf));
        REQUIRE(!n);
        REQUIRE(n.error() == asio::error::connection_reset);
    }());
}

TEST_CASE("TcpStream readable after a read that emptied the socket waits for the next bytes",
          "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        for (int i = 0; i < 3; ++i) {
            auto r2 = co_await io::write_all(p.client, asio::buffer("abc", 3));
            REQUIRE(r2);
            std::size_t got = 0;
            std::array<char, 16> buf{};
            while (got < 3) {
                auto r3 = co_await p.server.readable();
                REQUIRE(r3);
                auto n = p.server.try_read(asio::buffer(buf));
                if (!n) {
                    REQUIRE(would_block(n.error()));
                    continue;
                }
                REQUIRE(*n > 0);
                got += *n;
            }
            REQUIRE(got == 3);
        }
    }());
}

TEST_CASE("TcpStream writable waits after try_write says would_block until the peer drains",
          "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        std::vector<char> chunk(64 * 1024, 'x');
        std::size_t sent = 0;
        for (;;) {
            auto n = p.client.try_write(asio::buffer(chunk));
            if (!n) {
                REQUIRE(would_block(n.error()));
                break;
            }
            sent += *n;
        }
        REQUIRE(sent > 0);
        auto f = p.client.writable();
        REQUIRE(is_pending(f));
        // The peer reads everything: the send buffer empties.
        std::vector<char> sink(sent);
        auto r4 = co_await io::read_exact(p.server, asio::buffer(sink));
        REQUIRE(r4);
        auto r5 = co_await p.client.writable();
        REQUIRE(r5);
        auto n = p.client.try_write(asio::buffer(chunk.data(), 1));
        REQUIRE(n);
        REQUIRE(*n == 1);
    }());
}

TEST_CASE("TcpStream try_write to a reset peer is an error, not SIGPIPE", "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        p.server.close_reset();
        std::array<char, 16> buf{};
        auto got = co_await read_when_ready(p.client, asio::buffer(buf));
        REQUIRE(!got); // the reset
        auto n = p.client.try_write(asio::buffer("x", 1));
        REQUIRE(!n);
        REQUIRE(
            (n.error() == asio::error::broken_pipe || n.error() == asio::error::connection_reset));
    }());
}

TEST_CASE("TcpStream readable dropped while pending loses no readiness", "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        drain(p.server);
        {
            auto f = p.server.readable();
            REQUIRE(is_pending(f));
        } // dropped with its wait in flight
        auto r7 = co_await io::write_all(p.client, asio::buffer("z", 1));
        REQUIRE(r7);
        std::array<char, 4> buf{};
        auto n = co_await read_when_ready(p.server, asio::buffer(buf));
        REQUIRE(n);
        REQUIRE(*n == 1);
    }());
}

TEST_CASE("TcpStream dropped after a readable future pending on it was dropped closes cleanly",
          "[net][tcp][ready]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        drain(p.server);
        std::optional<TcpStream> s(std::move(p.server));
        auto task = spawn([](TcpStream& st) -> Async<> {
            std::array<char, 4> buf{};
            (void)co_await read_when_ready(st, asio::buffer(buf));
            FAIL("read without data");
        }(*s));
        co_await yield_now();
        REQUIRE(!task.is_finished());
        task.abort(); // the future goes first, its wait still in flight
        s.reset();    // then the stream
        co_await yield_now();
        REQUIRE(task.is_finished());
    }());
}

TEST_CASE("Runtime destroyed with a readable future pending drops it", "[net][tcp][ready]") {
    std::optional<TcpStream> keep;
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            Pair p = co_await connected_pair();
            drain(p.server);
            keep.emplace(std::move(p.server));
            (void)spawn([](TcpStream& st) -> Async<> {
                std::array<char, 4> buf{};
                (void)co_await read_when_ready(st, asio::buffer(buf));
                FAIL("read without data");
            }(*keep));
            co_await yield_now();
        }());
    } // the runtime goes with the task pending
    keep.reset();
    SUCCEED();
}

TEST_CASE("TcpStream readable is woken by bytes written from another thread",
          "[net][tcp][ready][threads]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        Pair p = co_await connected_pair();
        drain(p.server);
        int fd = p.client.socket().native_handle();
        std::thread t([fd] {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            REQUIRE(::send(fd, "q", 1, MSG_NOSIGNAL) == 1);
        });
        std::array<char, 4> buf{};
        auto n = co_await read_when_ready(p.server, asio::buffer(buf));
        t.join();
        REQUIRE(n);
        REQUIRE(*n == 1);
    }());
}
