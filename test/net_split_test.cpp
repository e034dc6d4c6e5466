#include <pollux/net/owned_split.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/mock_task.hpp"
#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <utility>
#include <vector>

// Owned split halves (tokio's TcpStream::into_split / UnixStream::into_split,
// OwnedReadHalf, OwnedWriteHalf, reunite): two tasks on a multi-thread
// runtime, the write half's drop sending FIN, forget, reunite, and drops
// around the runtime's shutdown.

using namespace pollux;
using net::TcpListener;
using net::TcpStream;
using net::UnixStream;
namespace asio = boost::asio;

namespace {

// Catch's assertion macros are not thread-safe: the tasks of the
// multi-thread case report with this, and the exception reaches the main
// thread through the JoinHandles and block_on.
void ensure(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(what);
    }
}

std::vector<unsigned char> pattern(std::size_t n) {
    std::vector<unsigned char> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        v[i] = static_cast<unsigned char>((i * 7 + i / 251) & 0xff);
    }
    return v;
}

// Accepts one connection and echoes it until end of stream, then shuts down.
Async<std::uint64_t> echo_once(TcpListener& l) {
    auto c = co_await l.accept();
    ensure(c.has_value(), "c failed");
    auto [rd, wr] = c->first.split();
    auto n = co_await io::copy(rd, wr);
    ensure(n.has_value(), "n failed");
    auto sd = co_await io::shutdown(c->first);
    ensure(sd.has_value(), "sd failed");
    co_return *n;
}

Async<std::uint64_t> write_all_then_drop(TcpStream::OwnedWriteHalf wr, std::size_t total) {
    const auto data = pattern(total);
    auto w = co_await io::write_all(wr, asio::buffer(data));
    ensure(w.has_value(), "w failed");
    co_return data.size(); // dropping `wr` sends FIN
}

Async<std::vector<unsigned char>> read_all(TcpStream::OwnedReadHalf rd) {
    std::vector<unsigned char> got;
    auto n = co_await io::read_to_end(rd, got);
    ensure(n.has_value(), "n failed");
    co_return got;
}

Async<> two_tasks_case(std::size_t total) {
    auto l = TcpListener::bind("127.0.0.1:0");
    ensure(l.has_value(), "l failed");
    auto server = spawn(echo_once(*l));
    auto s = co_await TcpStream::connect(*l->local_addr());
    ensure(s.has_value(), "s failed");
    auto [rd, wr] = std::move(*s).into_split();
    auto writer = spawn(write_all_then_drop(std::move(wr), total));
    auto reader = spawn(read_all(std::move(rd)));
    auto sent = co_await std::move(writer);
    auto got = co_await std::move(reader);
    auto echoed = co_await std::move(server);
    ensure(sent == total, "not all sent");
    ensure(echoed == total, "not all echoed");
    ensure(got == pattern(total), "echo differs");
}

} // namespace

TEST_CASE("into_split halves satisfy AsyncRead / AsyncWrite and are move-only", "[net][split]") {
    STATIC_REQUIRE(io::AsyncRead<TcpStream::OwnedReadHalf>);
    STATIC_REQUIRE(!io::AsyncWrite<TcpStream::OwnedReadHalf>);
    STATIC_REQUIRE(io::AsyncWrite<TcpStream::OwnedWriteHalf>);
    STATIC_REQUIRE(!io::AsyncRead<TcpStream::OwnedWriteHalf>);
    STATIC_REQUIRE(io::AsyncRead<UnixStream::OwnedReadHalf>);
    STATIC_REQUIRE(io::AsyncWrite<UnixStream::OwnedWriteHalf>);
    STATIC_REQUIRE(!std::is_copy_constructible_v<TcpStream::OwnedReadHalf>);
    STATIC_REQUIRE(!std::is_copy_constructible_v<TcpStream::OwnedWriteHalf>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<TcpStream::OwnedWriteHalf>);
}

TEST_CASE("into_split: a reader task and a writer task on a multi-thread runtime move 4 MiB "
          "through an echo server in order (tokio: halves usable concurrently)",
          "[net][split][thread]") {
    RuntimeOptions o;
    o.worker_threads = 4;
    Runtime rt(o);
    rt.block_on(two_tasks_case(4u << 20));
}

namespace {

Async<> fin_on_drop_case() {
    auto l = TcpListener::bind("127.0.0.1:0");
    REQUIRE(l);
    auto s = co_await TcpStream::connect(*l->local_addr());
    REQUIRE(s);
    auto peer = co_await l->accept();
    REQUIRE(peer);
    auto [rd, wr] = std::move(*s).into_split();
    auto w = co_await io::write_all(wr, asio::buffer("last", 4));
    REQUIRE(w);
    { auto gone = std::move(wr); }
    // The peer reads the bytes, then end of stream, while our read half lives.
    std::string got;
    auto n = co_await io::read_to_string(peer->first, got);
    REQUIRE(n);
    CHECK(got == "last");
    // The other direction still works: the peer writes, the read half reads.
    auto pw = co_await io::write_all(peer->first, asio::buffer("back", 4));
    REQUIRE(pw);
    char buf[4];
    auto r = co_await io::read_exact(rd, asio::buffer(buf));
    REQUIRE(r);
    CHECK(std::string(buf, 4) == "back");
}

} // namespace

TEST_CASE("into_split: dropping the write half sends FIN while the read half keeps reading "
          "(tokio's OwnedWriteHalf drop)",
          "[net][split]") {
    Runtime rt;
    rt.block_on(fin_on_drop_case());
}

TEST_CASE("into_split: forget() drops the write half without shutting the write side down",
          "[net][split]") {
    Runtime rt;
    auto pair = UnixStream::pair(rt.io_context().get_executor());
    REQUIRE(pair);
    auto [rd, wr] = std::move(pair->first).into_split();
    std::move(wr).forget();
    // A Unix socket's shutdown is seen by the peer at once: had it been
    // sent, this read would be Ready(0), not Pending.
    char buf[1];
    {
        test::MockTask t(io::read(pair->second, asio::buffer(buf)));
        CHECK(t.poll().is_pending());
    }
    // The socket closes with the read half: now the peer reads end of stream.
    { auto gone = std::move(rd); }
    CHECK(*rt.block_on(io::read(pair->second, asio::buffer(buf))) == 0);
}

TEST_CASE("into_split: reunite of the halves of one stream gives the stream back, open",
          "[net][split][reunite]") {
    Runtime rt;
    auto pair = UnixStream::pair(rt.io_context().get_executor());
    REQUIRE(pair);
    auto [rd, wr] = std::move(pair->first).into_split();
    CHECK(rd.is_pair_of(wr));
    auto s = std::move(rd).reunite(std::move(wr));
    REQUIRE(s);
    // Not shut down: the stream writes, and the peer reads no end of stream.
    REQUIRE(rt.block_on(io::write_all(*s, asio::buffer("ok", 2))));
    char buf[2];
    REQUIRE(rt.block_on(io::read_exact(pair->second, asio::buffer(buf))));
    CHECK(std::string(buf, 2) == "ok");
    REQUIRE(rt.block_on(io::write_all(pair->second, asio::buffer("yo", 2))));
    REQUIRE(rt.block_on(io::read_exact(*s, asio::buffer(buf))));
    CHECK(std::string(buf, 2) == "yo");
}

TEST_CASE("into_split: reunite of halves of two streams is invalid_argument and leaves both "
          "halves with the caller (tokio's ReuniteError gives them back)",
          "[net][split][reunite]") {
    Runtime rt;
    auto ex = rt.io_context().get_executor();
    auto p1 = UnixStream::pair(ex);
    auto p2 = UnixStream::pair(ex);
    REQUIRE(p1);
    REQUIRE(p2);
    auto [rd1, wr1] = std::move(p1->first).into_split();
    auto [rd2, wr2] = std::move(p2->first).into_split();
    CHECK(!rd1.is_pair_of(wr2));
    auto r = std::move(rd1).reunite(std::move(wr2));
    REQUIRE(!r);
    CHECK(r.error() == boost::system::errc::invalid_argument);
    // Nothing was moved: both halves still work, with their own streams.
    REQUIRE(rt.block_on(io::write_all(wr2, asio::buffer("2", 1))));
    char c = 0;
    REQUIRE(rt.block_on(io::read_exact(p2->second, asio::buffer(&c, 1))));
    CHECK(c == '2');
    REQUIRE(rt.block_on(io::write_all(p1->second, asio::buffer("1", 1))));
    REQUIRE(rt.block_on(io::read_exact(rd1, asio::buffer(&c, 1))));
    CHECK(c == '1');
    REQUIRE(std::move(rd1).reunite(std::move(wr1)));
    REQUIRE(std::move(wr2).reunite(std::move(rd2)));
}

TEST_CASE("into_split: halves dropped before the runtime's shutdown close the socket",
          "[net][split][teardown]") {
    const std::size_t before = test::open_fds();
    {
        Runtime rt;
        auto pair = UnixStream::pair(rt.io_context().get_executor());
        REQUIRE(pair);
        auto [rd, wr] = std::move(pair->first).into_split();
        { auto g1 = std::move(wr); }
        { auto g2 = std::move(rd); }
        char buf[1];
        CHECK(*rt.block_on(io::read(pair->second, asio::buffer(buf))) == 0);
    }
    CHECK(test::open_fds() == before);
}

namespace {

Async<> hold_and_read(UnixStream::OwnedReadHalf rd) {
    char buf[1];
    (void)co_await io::read(rd, asio::buffer(buf));
}

Async<> hold_and_wait(UnixStream::OwnedWriteHalf wr, UnixStream::OwnedReadHalf) {
    // Holds the write half in a frame that never completes.
    co_await pollux::pending<void>();
    (void)wr;
}

} // namespace

TEST_CASE("into_split: halves in task frames dropped during the runtime's shutdown close the "
          "socket, the peer sees end of stream",
          "[net][split][teardown]") {
    const std::size_t before = test::open_fds();
    std::optional<UnixStream> peer;
    int peer_fd = -1;
    {
        RuntimeOptions o;
        o.worker_threads = 2;
        Runtime rt(o);
        auto pair = UnixStream::pair(rt.io_context().get_executor());
        REQUIRE(pair);
        peer_fd = pair->second.socket().native_handle();
        peer.emplace(std::move(pair->second));
        auto [rd, wr] = std::move(pair->first).into_split();
        (void)rt.spawn(hold_and_read(std::move(rd)));
        auto other = UnixStream::pair(rt.io_context().get_executor());
        REQUIRE(other);
        auto [rd2, wr2] = std::move(other->first).into_split();
        (void)rt.spawn(hold_and_wait(std::move(wr2), std::move(rd2)));
        { auto g = std::move(wr); }
    }
    // ~Runtime dropped the frames: the first stream's socket is closed.
    // (`peer` was made on the gone runtime's context: only its descriptor is
    // looked at, with a non-blocking recv.)
    char c = 0;
    CHECK(::recv(peer_fd, &c, 1, MSG_DONTWAIT) == 0);
    peer.reset();
    CHECK(test::open_fds() == before);
}

TEST_CASE("into_split: halves dropped after the runtime's shutdown close the socket without "
          "touching the gone context",
          "[net][split][teardown]") {
    const std::size_t before = test::open_fds();
    std::optional<UnixStream::OwnedReadHalf> rd;
    std::optional<UnixStream::OwnedWriteHalf> wr;
    int peer_fd = -1;
    std::optional<UnixStream> peer;
    {
        Runtime rt;
        auto pair = UnixStream::pair(rt.io_context().get_executor());
        REQUIRE(pair);
        peer_fd = pair->second.socket().native_handle();
        peer.emplace(std::move(pair->second));
        auto [r, w] = std::move(pair->first).into_split();
        rd.emplace(std::move(r));
        wr.emplace(std::move(w));
    }
    // The write half's drop shuts the write side down through the
    // descriptor (the context's services are gone).
    wr.reset();
    char c = 0;
    CHECK(::recv(peer_fd, &c, 1, MSG_DONTWAIT) == 0);
    rd.reset();
    peer.reset();
    CHECK(test::open_fds() == before);
}
