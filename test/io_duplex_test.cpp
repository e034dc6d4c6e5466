#include <pollux/io/duplex.hpp>
#include <pollux/io/empty.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/mock_task.hpp"
#include "support/result_string.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// io::duplex (tokio's DuplexStream) and io::empty/sink/repeat: data both
// ways, backpressure at max_buf_size, end of stream on shutdown and on the
// peer's drop, wakes across threads, and drops around a runtime's shutdown.

using namespace pollux;
namespace asio = boost::asio;

namespace {

// Catch's assertion macros are not thread-safe: code that runs on another
// thread reports with this, and the exception reaches the main thread
// through the JoinHandle / block_on, or is collected by the thread.
void ensure(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(what);
    }
}

Async<std::string> read_all(io::DuplexStream& s) {
    std::string out;
    auto n = co_await io::read_to_string(s, out);
    REQUIRE(n);
    co_return out;
}

Async<Result<std::size_t>> read_some(io::DuplexStream& s) {
    char buf[64];
    co_return co_await io::read(s, asio::buffer(buf));
}

} // namespace

TEST_CASE("duplex: DuplexStream is AsyncRead and AsyncWrite; empty, sink, repeat are what they say",
          "[io][duplex]") {
    STATIC_REQUIRE(io::AsyncRead<io::DuplexStream>);
    STATIC_REQUIRE(io::AsyncWrite<io::DuplexStream>);
    STATIC_REQUIRE(io::AsyncRead<io::Empty>);
    STATIC_REQUIRE(io::AsyncWrite<io::Empty>);
    STATIC_REQUIRE(io::AsyncWrite<io::Sink>);
    STATIC_REQUIRE(!io::AsyncRead<io::Sink>);
    STATIC_REQUIRE(io::AsyncRead<io::Repeat>);
}

TEST_CASE("duplex: what one end writes the other reads, both ways", "[io][duplex]") {
    auto [a, b] = io::duplex(64);
    REQUIRE(block_on(io::write_all(a, asio::buffer("ping", 4))));
    REQUIRE(block_on(io::write_all(b, asio::buffer("pong!", 5))));
    char buf[8];
    REQUIRE(block_on(io::read_exact(b, asio::buffer(buf, 4))));
    CHECK(std::string(buf, 4) == "ping");
    REQUIRE(block_on(io::read_exact(a, asio::buffer(buf, 5))));
    CHECK(std::string(buf, 5) == "pong!");
}

TEST_CASE("duplex: a write takes only what fits under max_buf_size, then is Pending (tokio)",
          "[io][duplex][backpressure]") {
    auto [a, b] = io::duplex(4);
    std::string data = "abcdefgh";
    {
        test::MockTask t(io::write(a, asio::buffer(data)));
        auto p = t.poll();
        REQUIRE(p.is_ready());
        CHECK(*p.value() == 4);
    }
    test::MockTask t(io::write(a, asio::buffer(data.data() + 4, 4)));
    CHECK(t.poll().is_pending());
    CHECK(!t.is_woken());
    char buf[3];
    CHECK(*block_on(io::read(b, asio::buffer(buf))) == 3);
    CHECK(t.is_woken());
    auto p = t.poll();
    REQUIRE(p.is_ready());
    CHECK(*p.value() == 3);
}

TEST_CASE("duplex: a read of an empty pipe is Pending, and the peer's write wakes it",
          "[io][duplex]") {
    auto [a, b] = io::duplex(16);
    char buf[8];
    test::MockTask t(io::read(b, asio::buffer(buf)));
    CHECK(t.poll().is_pending());
    CHECK(!t.is_woken());
    REQUIRE(block_on(io::write_all(a, asio::buffer("x", 1))));
    CHECK(t.is_woken());
    auto p = t.poll();
    REQUIRE(p.is_ready());
    CHECK(*p.value() == 1);
}

TEST_CASE("duplex: after shutdown the peer reads the rest, then end of stream; writing again is "
          "broken_pipe",
          "[io][duplex]") {
    auto [a, b] = io::duplex(16);
    REQUIRE(block_on(io::write_all(a, asio::buffer("last", 4))));
    REQUIRE(block_on(io::shutdown(a)));
    CHECK(block_on(read_all(b)) == "last");
    auto w = block_on(io::write(a, asio::buffer("x", 1)));
    REQUIRE(!w);
    CHECK(w.error() == boost::system::errc::broken_pipe);
    // The other direction is still open.
    REQUIRE(block_on(io::write_all(b, asio::buffer("back", 4))));
    char buf[4];
    REQUIRE(block_on(io::read_exact(a, asio::buffer(buf))));
}

TEST_CASE("duplex: dropping an end gives the peer the rest, then end of stream (tokio)",
          "[io][duplex]") {
    auto [a, b] = io::duplex(16);
    REQUIRE(block_on(io::write_all(a, asio::buffer("bye", 3))));
    { io::DuplexStream gone = std::move(a); }
    CHECK(block_on(read_all(b)) == "bye");
}

TEST_CASE("duplex: dropping an end fails the peer's writes with broken_pipe and wakes a blocked "
          "writer",
          "[io][duplex]") {
    auto [a, b] = io::duplex(2);
    REQUIRE(block_on(io::write_all(b, asio::buffer("xx", 2))));
    test::MockTask t(io::write(b, asio::buffer("y", 1)));
    CHECK(t.poll().is_pending());
    { io::DuplexStream gone = std::move(a); }
    CHECK(t.is_woken());
    auto p = t.poll();
    REQUIRE(p.is_ready());
    REQUIRE(!p.value());
    CHECK(p.value().error() == boost::system::errc::broken_pipe);
}

TEST_CASE("duplex: dropping an end wakes the peer's pending read, which then reads end of stream",
          "[io][duplex]") {
    auto [a, b] = io::duplex(8);
    char buf[4];
    test::MockTask t(io::read(b, asio::buffer(buf)));
    CHECK(t.poll().is_pending());
    { io::DuplexStream gone = std::move(a); }
    CHECK(t.is_woken());
    auto p = t.poll();
    REQUIRE(p.is_ready());
    CHECK(*p.value() == 0);
}

TEST_CASE("duplex: a task's pending read is woken by a write from another thread",
          "[io][duplex][thread]") {
    Runtime rt;
    auto [a, b] = io::duplex(8);
    bool wrote = false;
    std::thread writer([&a, &wrote] {
        wrote = static_cast<bool>(block_on(io::write_all(a, asio::buffer("hi", 2))));
    });
    auto n = rt.block_on(read_some(b));
    writer.join();
    CHECK(wrote);
    REQUIRE(n);
    CHECK(*n == 2);
}

namespace {

Async<std::uint64_t> pump_out(io::DuplexStream& s, std::size_t total) {
    std::vector<unsigned char> chunk(1000);
    std::uint64_t sent = 0;
    while (sent < total) {
        for (std::size_t i = 0; i < chunk.size(); ++i) {
            chunk[i] = static_cast<unsigned char>((sent + i) % 251);
        }
        const std::size_t n = std::min<std::size_t>(chunk.size(), total - sent);
        // Not inside REQUIRE: Catch's macro repeats its expression in an
        // unevaluated branch, which g++ 12 mishandles around co_await.
        auto w = co_await io::write_all(s, asio::buffer(chunk.data(), n));
        ensure(w.has_value(), "write_all failed");
        sent += n;
    }
    auto sd = co_await io::shutdown(s);
    ensure(sd.has_value(), "shutdown failed");
    co_return sent;
}

Async<std::uint64_t> pump_in(io::DuplexStream& s) {
    std::vector<unsigned char> buf(777);
    std::uint64_t got = 0;
    for (;;) {
        auto n = co_await io::read(s, asio::buffer(buf));
        ensure(n.has_value(), "read failed");
        if (*n == 0) {
            co_return got;
        }
        for (std::size_t i = 0; i < *n; ++i) {
            ensure(buf[i] == static_cast<unsigned char>((got + i) % 251), "byte out of order");
        }
        got += *n;
    }
}

} // namespace

TEST_CASE("duplex: 1 MiB through a 64-byte pipe between two runtimes' threads arrives in order",
          "[io][duplex][thread]") {
    auto [a, b] = io::duplex(64);
    const std::size_t total = 1 << 20;
    std::uint64_t got = 0;
    std::string error;
    std::thread reader([&b, &got, &error] {
        try {
            Runtime rt;
            got = rt.block_on(pump_in(b));
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    Runtime rt;
    CHECK(rt.block_on(pump_out(a, total)) == total);
    reader.join();
    CHECK(error.empty());
    CHECK(got == total);
}

TEST_CASE("duplex: ends dropped before the runtime's shutdown leave its tasks' reads at end of "
          "stream",
          "[io][duplex][teardown]") {
    Runtime rt;
    auto [a, b] = io::duplex(8);
    auto h = rt.spawn(read_some(b));
    { io::DuplexStream gone = std::move(a); }
    auto n = rt.block_on(std::move(h));
    REQUIRE(n);
    CHECK(*n == 0);
}

TEST_CASE("duplex: an end dropped during the runtime's shutdown (inside a task's frame) wakes the "
          "peer harmlessly",
          "[io][duplex][teardown]") {
    std::optional<io::DuplexStream> peer;
    {
        Runtime rt;
        auto [a, b] = io::duplex(8);
        peer.emplace(std::move(b));
        // The task owns `a` and waits on it; ~Runtime destroys the task's
        // frame, which drops `a` (it has registered no waker itself, the
        // peer's is none: the drop only marks the pipes closed).
        (void)rt.spawn([](io::DuplexStream s) -> Async<> {
            char buf[4];
            (void)co_await io::read(s, asio::buffer(buf));
        }(std::move(a)));
        // And the peer waits on a read in a second task, whose waker the
        // drop of `a` may wake while the runtime shuts down.
        (void)rt.spawn(read_some(*peer));
        rt.block_on([]() -> Async<> { co_return; }());
    }
    // After the runtime: the peer sees end of stream and broken_pipe.
    CHECK(*block_on(read_some(*peer)) == 0);
    auto w = block_on(io::write(*peer, asio::buffer("x", 1)));
    REQUIRE(!w);
    CHECK(w.error() == boost::system::errc::broken_pipe);
}

TEST_CASE("duplex: an end dropped after the runtime's shutdown wakes a dead task's waker, which "
          "does nothing",
          "[io][duplex][teardown]") {
    auto [a, b] = io::duplex(8);
    {
        Runtime rt;
        // The task registers its waker in `b`'s read pipe and never
        // completes; the runtime drops it at shutdown.
        (void)rt.spawn(read_some(b));
        rt.block_on([]() -> Async<> { co_return; }());
    }
    { io::DuplexStream gone = std::move(a); } // wakes the stale waker: no effect
    CHECK(*block_on(read_some(b)) == 0);
}

TEST_CASE("empty: reads are end of stream and writes accept everything (tokio)", "[io][empty]") {
    io::Empty e = io::empty();
    char buf[8];
    CHECK(*block_on(io::read(e, asio::buffer(buf))) == 0);
    CHECK(*block_on(io::write(e, asio::buffer(buf))) == 8);
}

TEST_CASE("sink: takes every byte of a copy (tokio)", "[io][empty]") {
    io::Repeat r = io::repeat('a');
    io::Sink s = io::sink();
    char buf[100000];
    REQUIRE(block_on(io::read_exact(r, asio::buffer(buf))));
    CHECK(std::string(buf, 3) == "aaa");
    CHECK(buf[sizeof buf - 1] == 'a');
    REQUIRE(block_on(io::write_all(s, asio::buffer(buf))));
}
