#include <pollux/io/copy_bidirectional.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/join.hpp>
#include <pollux/io.hpp>
#include <pollux/io/duplex.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>

#include "support/mock_task.hpp"
#include "support/result_string.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

// io::copy_bidirectional (tokio's): client <-> [pa | proxy | pb] <-> server,
// with in-memory duplex pairs, and once over TCP.

using namespace pollux;
namespace asio = boost::asio;

namespace {

Async<std::string> read_to_eof(io::DuplexStream& s) {
    std::string out;
    auto n = co_await io::read_to_string(s, out);
    REQUIRE(n);
    co_return out;
}

template <class W>
Async<> write_then_shutdown(W& w, std::string data) {
    auto r = co_await io::write_all(w, asio::buffer(data));
    REQUIRE(r);
    auto sd = co_await io::shutdown(w);
    REQUIRE(sd);
}

template <class R>
Async<std::string> read_all(R& r) {
    std::string out;
    auto n = co_await io::read_to_string(r, out);
    REQUIRE(n);
    co_return out;
}

// Writes `data` then shuts down while it reads until end of stream (both
// at once: a peer that reads only after writing could deadlock against
// one that does the same, as with TCP); returns what it read.
template <class S>
Async<std::string> talk(S& s, std::string data) {
    auto [rd, wr] = io::split(s);
    auto [unit, got] = co_await join(write_then_shutdown(wr, std::move(data)), read_all(rd));
    (void)unit;
    co_return got;
}

std::string pattern(std::size_t n, char seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>(seed + i % 91);
    }
    return s;
}

} // namespace

TEST_CASE("copy_bidirectional copies both ways and returns (a to b, b to a) byte counts (tokio)",
          "[io][copy_bidirectional]") {
    auto [client, pa] = io::duplex(64);
    auto [pb, server] = io::duplex(64);
    const std::string up = pattern(100000, 'a');
    const std::string down = pattern(70000, 'A');
    auto [counts, got_by_server, got_by_client] =
        block_on(join(io::copy_bidirectional(pa, pb), talk(server, down), talk(client, up)));
    REQUIRE(counts);
    CHECK(counts->first == up.size());
    CHECK(counts->second == down.size());
    CHECK(got_by_server == up);
    CHECK(got_by_client == down);
}

TEST_CASE("copy_bidirectional: one side's end of stream shuts the other's write side down, and "
          "the other direction goes on (tokio)",
          "[io][copy_bidirectional]") {
    auto [client, pa] = io::duplex(64);
    auto [pb, server] = io::duplex(64);
    test::MockTask copy(io::copy_bidirectional(pa, pb));
    REQUIRE(block_on(io::write_all(client, asio::buffer("req", 3))));
    REQUIRE(block_on(io::shutdown(client)));
    CHECK(copy.poll().is_pending());
    // The server got the request and then end of stream (the proxy's shutdown of pb).
    CHECK(block_on(read_to_eof(server)) == "req");
    // The server -> client direction is still open.
    REQUIRE(block_on(io::write_all(server, asio::buffer("resp", 4))));
    CHECK(copy.poll().is_pending());
    char buf[4];
    REQUIRE(block_on(io::read_exact(client, asio::buffer(buf))));
    CHECK(std::string(buf, 4) == "resp");
    // Only when the server ends too does the copy complete.
    REQUIRE(block_on(io::shutdown(server)));
    auto p = copy.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value());
    CHECK(*p.value() == std::pair<std::uint64_t, std::uint64_t>(3, 4));
    CHECK(block_on(read_to_eof(client)).empty());
}

TEST_CASE("copy_bidirectional completes with the first error of either direction",
          "[io][copy_bidirectional]") {
    auto [client, pa] = io::duplex(64);
    auto [pb, server] = io::duplex(64);
    test::MockTask copy(io::copy_bidirectional(pa, pb));
    CHECK(copy.poll().is_pending());
    { io::DuplexStream gone = std::move(server); }
    // The server is gone: pb reads end of stream (so pa's write side is
    // shut down), and the client's bytes can no longer be written to pb.
    REQUIRE(block_on(io::write_all(client, asio::buffer("lost", 4))));
    auto p = copy.poll();
    REQUIRE(p.is_ready());
    REQUIRE(!p.value());
    CHECK(p.value().error() == boost::system::errc::broken_pipe);
}

TEST_CASE("copy_bidirectional dropped midway leaves both streams usable",
          "[io][copy_bidirectional]") {
    auto [client, pa] = io::duplex(64);
    auto [pb, server] = io::duplex(64);
    {
        test::MockTask copy(io::copy_bidirectional(pa, pb));
        REQUIRE(block_on(io::write_all(client, asio::buffer("one", 3))));
        CHECK(copy.poll().is_pending());
    }
    char buf[3];
    REQUIRE(block_on(io::read_exact(server, asio::buffer(buf))));
    CHECK(std::string(buf, 3) == "one");
    // No shutdown happened: a new copy takes over.
    REQUIRE(block_on(io::write_all(client, asio::buffer("two", 3))));
    REQUIRE(block_on(io::shutdown(client)));
    REQUIRE(block_on(io::shutdown(server)));
    auto counts = block_on(io::copy_bidirectional(pa, pb));
    REQUIRE(counts);
    CHECK(counts->first == 3);
    CHECK(counts->second == 0);
}

namespace {

Async<Result<std::pair<std::uint64_t, std::uint64_t>>> proxy_one(net::TcpListener& front,
                                                                 net::TcpStream::endpoint back) {
    auto in = co_await front.accept();
    REQUIRE(in);
    auto out = co_await net::TcpStream::connect(back);
    REQUIRE(out);
    co_return co_await io::copy_bidirectional(in->first, *out);
}

Async<std::string> echo_upper(net::TcpListener& l) {
    auto c = co_await l.accept();
    REQUIRE(c);
    std::string got;
    auto n = co_await io::read_to_string(c->first, got);
    REQUIRE(n);
    std::string up = got;
    for (char& ch : up) {
        ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    }
    auto w = co_await io::write_all(c->first, asio::buffer(up));
    REQUIRE(w);
    auto sd = co_await io::shutdown(c->first);
    REQUIRE(sd);
    co_return got;
}

Async<std::string> client_of(net::TcpStream::endpoint ep, std::string msg) {
    auto s = co_await net::TcpStream::connect(ep);
    REQUIRE(s);
    co_return co_await talk(*s, std::move(msg));
}

Async<> tcp_proxy_case() {
    auto front = net::TcpListener::bind("127.0.0.1:0");
    auto back = net::TcpListener::bind("127.0.0.1:0");
    REQUIRE(front);
    REQUIRE(back);
    auto [counts, at_server, at_client] = co_await join(proxy_one(*front, *back->local_addr()),
                                                        echo_upper(*back),
                                                        client_of(*front->local_addr(), "hello"));
    REQUIRE(counts);
    CHECK(*counts == std::pair<std::uint64_t, std::uint64_t>(5, 5));
    CHECK(at_server == "hello"); // the server saw the client's FIN through the proxy
    CHECK(at_client == "HELLO");
}

} // namespace

TEST_CASE("copy_bidirectional proxies a TCP connection, passing each side's FIN on",
          "[io][copy_bidirectional][net]") {
    Runtime rt;
    rt.block_on(tcp_proxy_case());
}
