#include <pollux/codec/framed.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/codec.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/io/write_all.hpp>
#include <pollux/net/tcp_listener.hpp>
#include <pollux/net/tcp_stream.hpp>
#include <pollux/net/unix_stream.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>
#include <pollux/time/timeout.hpp>

#include "support/mock_io.hpp"
#include "support/mock_task.hpp"
#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

using namespace pollux;
using namespace std::chrono_literals;
using codec::Framed;
using codec::LinesCodec;
using pollux::test::open_fds;

namespace {

using LineFramed = Framed<net::UnixStream, LinesCodec>;

// A connected UnixStream pair, framed with LinesCodec, made in a task of rt.
std::pair<LineFramed, LineFramed> line_pair(Runtime& rt) {
    return rt.block_on([]() -> Async<std::pair<LineFramed, LineFramed>> {
        auto p = net::UnixStream::pair();
        REQUIRE(p);
        co_return std::pair<LineFramed, LineFramed>(LineFramed(std::move(p->first), LinesCodec()),
                                                    LineFramed(std::move(p->second), LinesCodec()));
    }());
}

} // namespace

TEST_CASE("Framed<UnixStream, LinesCodec> carries lines both ways over a socket pair, and close "
          "ends the peer's stream",
          "[codec][framed][net]") {
    Runtime rt;
    auto [a, b] = line_pair(rt);
    rt.block_on([&]() -> Async<> {
        {
            auto r = co_await send(a, std::string("ping"));
            REQUIRE(r);
        }
        auto ping = co_await next(b);
        REQUIRE(ping);
        REQUIRE(**ping == "ping");
        {
            auto r = co_await feed(b, "pong");
            REQUIRE(r);
        }
        {
            auto r = co_await feed(b, "again");
            REQUIRE(r);
        }
        {
            auto r = co_await flush(b);
            REQUIRE(r);
        }
        auto pong = co_await next(a);
        REQUIRE(**pong == "pong");
        auto again = co_await next(a);
        REQUIRE(**again == "again");
        {
            auto r = co_await close(b);
            REQUIRE(r); // shutdown(SHUT_WR): a sees the end
        }
        {
            auto r = co_await next(a);
            REQUIRE_FALSE(r);
        }
    }());
}

TEST_CASE("Framed over a TcpStream pair round-trips length-delimited frames",
          "[codec][framed][net][length_delimited]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto c = co_await net::TcpStream::connect(*l->local_addr());
        REQUIRE(c);
        auto s = co_await l->accept();
        REQUIRE(s);
        auto client = codec::LengthDelimitedCodec::builder().new_framed(std::move(*c));
        codec::Framed server(std::move(s->first), codec::LengthDelimitedCodec());
        const std::string big(100'000, 'x'); // several reads and writes
        auto [sent, got] = co_await join(
            [&]() -> Async<bool> {
                co_return co_await send(client, std::string_view("small")) &&
                    co_await send(client, std::string_view(big));
            }(),
            [&]() -> Async<std::string> {
                auto one = co_await next(server);
                auto two = co_await next(server);
                co_return (*one)->to_string() + "|" + std::to_string((*two)->size());
            }());
        REQUIRE(sent);
        REQUIRE(got == "small|100000");
    }());
}

TEST_CASE("next(framed) dropped while pending loses no frame", "[codec][framed][cancel]") {
    test::ScriptReader r;
    r.hold = true;
    codec::FramedRead f(std::move(r), LinesCodec());
    {
        test::MockTask t(next(f));
        REQUIRE(t.poll().is_pending());
    } // dropped
    f.get_mut().chunks = {"a\nb\n"};
    f.get_mut().release();
    test::MockTask t1(next(f));
    auto a = t1.poll();
    REQUIRE(a.is_ready());
    REQUIRE(**a.value() == "a");
    {
        test::MockTask unpolled(next(f)); // dropped without a poll
    }
    test::MockTask t2(next(f));
    auto b = t2.poll();
    REQUIRE(b.is_ready());
    REQUIRE(**b.value() == "b");
}

TEST_CASE("next(framed) lost to a timeout over a socket loses no frame",
          "[codec][framed][cancel]") {
    Runtime rt;
    auto [a, b] = line_pair(rt);
    rt.block_on([&]() -> Async<> {
        // Half a line arrives; the read that waits for the rest is dropped.
        {
            auto r = co_await io::write_all(a.get_mut(), boost::asio::buffer("hel", 3));
            REQUIRE(r);
        }
        auto lost = co_await time::timeout(20ms, next(b));
        REQUIRE_FALSE(lost);
        REQUIRE(b.read_buffer() == "hel");
        {
            auto r = co_await io::write_all(a.get_mut(), boost::asio::buffer("lo\n", 3));
            REQUIRE(r);
        }
        auto line = co_await next(b);
        REQUIRE(**line == "hello");
    }());
}

TEST_CASE("FramedWrite::poll_ready is Pending while the write buffer is at the backpressure "
          "boundary and cannot be written",
          "[codec][framed][backpressure]") {
    test::GateWriter w;
    w.open = false;
    codec::FramedWrite f(std::move(w), LinesCodec());
    f.set_backpressure_boundary(16);
    REQUIRE(block_on(feed(f, "123456789"))); // 10 bytes buffered
    REQUIRE(block_on(feed(f, "abcdefghi"))); // 10 < 16: taken; 20 buffered
    test::MockTask third(feed(f, "third"));
    REQUIRE(third.poll().is_pending()); // 20 >= 16: flushes first, and cannot
    REQUIRE(f.write_buffer().size() == 20);
    REQUIRE(f.get_ref().data.empty());
    f.get_mut().unblock();
    REQUIRE(third.wake_count() == 1);
    auto p = third.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value());
    REQUIRE(f.get_ref().data == "123456789\nabcdefghi\n");
    REQUIRE(f.write_buffer() == "third\n");
}

TEST_CASE("Framed over a socket whose peer does not read stops taking items near the boundary",
          "[codec][framed][backpressure][net]") {
    Runtime rt;
    auto [a, b] = line_pair(rt);
    const std::string line(1000, 'l');
    std::size_t taken = 0;
    rt.block_on([&]() -> Async<> {
        for (;;) {
            auto r = co_await time::timeout(50ms, feed(a, line));
            if (!r) {
                break; // stalled: the peer's socket buffer is full
            }
            REQUIRE(*r);
            ++taken;
        }
        // What is held back on behalf of the peer is bounded by the
        // boundary (plus the item that crossed it).
        REQUIRE(a.write_buffer().size() < a.backpressure_boundary() + line.size() + 1);
        // The peer reads everything: every item taken arrives, once.
        auto [flushed, got] = co_await join(flush(a), [&]() -> Async<std::size_t> {
            std::size_t n = 0;
            while (n < taken) {
                auto l = co_await next(b);
                REQUIRE(l);
                REQUIRE(**l == line);
                ++n;
            }
            co_return n;
        }());
        REQUIRE(flushed);
        REQUIRE(got == taken);
    }());
    REQUIRE(taken > 8); // more than the boundary's worth went through
}

TEST_CASE("Framed reports write_zero when the writer takes no byte", "[codec][framed][errors]") {
    test::GateWriter w;
    w.zero = true;
    codec::FramedWrite f(std::move(w), LinesCodec());
    auto r = block_on(send(f, "x"));
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == codec::errc::write_zero);
}

TEST_CASE("Framed::poll_close flushes, then shuts the writer down", "[codec][framed][close]") {
    codec::FramedWrite f{test::GateWriter(), codec::BytesCodec()};
    REQUIRE(block_on(feed(f, "bytes")));
    REQUIRE(block_on(close(f)));
    REQUIRE(f.get_ref().data == "bytes");
    REQUIRE(f.get_ref().shutdowns == 1);
}

TEST_CASE("FramedRead<BytesCodec> yields each read's bytes as they come",
          "[codec][framed][bytes]") {
    test::ScriptReader r;
    r.chunks = {"one", "two"};
    codec::FramedRead f(std::move(r), codec::BytesCodec());
    REQUIRE(**block_on(next(f)) == "one");
    REQUIRE(**block_on(next(f)) == "two");
    REQUIRE_FALSE(block_on(next(f)));
}

TEST_CASE("Framed::into_inner gives back the stream, which still works", "[codec][framed]") {
    Runtime rt;
    auto [a, b] = line_pair(rt);
    rt.block_on([&]() -> Async<> {
        net::UnixStream raw = std::move(a).into_inner();
        {
            auto r = co_await io::write_all(raw, boost::asio::buffer("raw\n", 4));
            REQUIRE(r);
        }
        auto l = co_await next(b);
        REQUIRE(**l == "raw");
    }());
}

// tokio-util's framed.rs tests `external_buf_grows_to_init` /
// `external_buf_does_not_shrink` cover from_parts' buffer; these cover what a
// user takes parts for: switching codecs without losing buffered bytes.
TEST_CASE("Framed::into_parts keeps the bytes read but not yet decoded", "[codec][framed][parts]") {
    Runtime rt;
    auto [a, b] = line_pair(rt);
    rt.block_on([&]() -> Async<> {
        {
            auto w =
                co_await io::write_all(a.get_mut(), boost::asio::buffer("one\ntwo\nthree", 13));
            REQUIRE(w);
        }
        auto first = co_await next(b);
        REQUIRE(**first == "one");
        auto parts = std::move(b).into_parts();
        CHECK(parts.read_buf.view() == "two\nthree");
        CHECK(parts.write_buf.empty());
    }());
}

TEST_CASE("Framed::from_parts decodes the buffered bytes before reading, with a new codec",
          "[codec][framed][parts]") {
    Runtime rt;
    auto [a, b] = line_pair(rt);
    rt.block_on([&]() -> Async<> {
        {
            auto w = co_await io::write_all(a.get_mut(), boost::asio::buffer("hello\nraw", 9));
            REQUIRE(w);
        }
        auto greeting = co_await next(b);
        REQUIRE(**greeting == "hello");
        auto p = std::move(b).into_parts();
        // The protocol switch: the same stream and buffers, a byte codec now.
        using RawFramed = Framed<net::UnixStream, codec::BytesCodec>;
        RawFramed raw = RawFramed::from_parts(
            codec::FramedParts<net::UnixStream, codec::BytesCodec>(std::move(p.io),
                                                                   codec::BytesCodec(),
                                                                   std::move(p.read_buf),
                                                                   std::move(p.write_buf)));
        // Nothing more is sent: the item can only come from the kept buffer.
        auto chunk = co_await next(raw);
        REQUIRE(chunk);
        REQUIRE(*chunk);
        CHECK((*chunk)->view() == "raw");
    }());
}

TEST_CASE("Framed::into_parts keeps encoded bytes, and from_parts writes them on the next flush",
          "[codec][framed][parts]") {
    Runtime rt;
    auto [a, b] = line_pair(rt);
    rt.block_on([&]() -> Async<> {
        REQUIRE(a.start_send(std::string("queued")));
        auto p = std::move(a).into_parts();
        CHECK(p.write_buf.view() == "queued\n");
        LineFramed again = LineFramed::from_parts(std::move(p));
        {
            auto f = co_await flush(again);
            REQUIRE(f);
        }
        auto got = co_await next(b);
        REQUIRE(**got == "queued");
    }());
}

TEST_CASE("FramedParts::new has empty buffers and from_parts of it reads as a new Framed",
          "[codec][framed][parts]") {
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto pr = net::UnixStream::pair();
        REQUIRE(pr);
        codec::FramedParts<net::UnixStream, LinesCodec> parts(std::move(pr->second), LinesCodec());
        CHECK(parts.read_buf.empty());
        CHECK(parts.write_buf.empty());
        LineFramed f = LineFramed::from_parts(std::move(parts));
        {
            auto w = co_await io::write_all(pr->first, boost::asio::buffer("x\n", 2));
            REQUIRE(w);
        }
        auto got = co_await next(f);
        REQUIRE(**got == "x");
    }());
}

TEST_CASE("external_buf_grows_to_init: from_parts grows a small read buffer to 8 KiB",
          "[codec][framed][parts]") {
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto pr = net::UnixStream::pair();
        REQUIRE(pr);
        LineFramed f = LineFramed::from_parts(
            {std::move(pr->first), LinesCodec(), codec::BytesMut(), codec::BytesMut()});
        CHECK(f.read_buffer().capacity() >= 8 * 1024);
        co_return;
    }());
}

TEST_CASE("external_buf_does_not_shrink: from_parts keeps a larger read buffer",
          "[codec][framed][parts]") {
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto pr = net::UnixStream::pair();
        REQUIRE(pr);
        LineFramed f = LineFramed::from_parts(
            {std::move(pr->first), LinesCodec(), codec::BytesMut(16 * 1024), codec::BytesMut()});
        CHECK(f.read_buffer().capacity() == 16 * 1024);
        co_return;
    }());
}

TEST_CASE("a Framed dropped before its Runtime's shutdown closes its descriptor",
          "[codec][framed][teardown]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        auto [a, b] = line_pair(rt);
        rt.block_on([&]() -> Async<> {
            {
                auto r = co_await send(a, "x");
                REQUIRE(r);
            }
            (void)co_await time::timeout(10ms, next(a)); // a read wait queued
        }());
        const std::size_t with_pair = open_fds();
        { auto dropped = std::move(a); }
        { auto dropped = std::move(b); }
        REQUIRE(open_fds() == with_pair - 2); // closed now, not at the shutdown
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("a Framed left pending in a task is dropped by the Runtime's shutdown",
          "[codec][framed][teardown]") {
    const std::size_t before = open_fds();
    {
        std::optional<Runtime> rt(std::in_place);
        auto [a, b] = line_pair(*rt);
        rt->block_on([&]() -> Async<> {
            (void)spawn([](LineFramed f) -> Async<> {
                // Half a frame buffered, waiting for the rest forever.
                auto l = co_await next(f);
                FAIL("the frame never completes");
                (void)l;
            }(std::move(b)));
            {
                auto r = co_await io::write_all(a.get_mut(), boost::asio::buffer("half", 4));
                REQUIRE(r);
            }
            co_await time::sleep(10ms); // the task is now parked in next()
        }());
        rt.reset();                        // drops the task's Framed with its read pending
        REQUIRE(open_fds() == before + 1); // only a is still open
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("a Framed dropped after its Runtime closes its descriptor", "[codec][framed][teardown]") {
    const std::size_t before = open_fds();
    std::optional<LineFramed> a;
    std::optional<LineFramed> b;
    {
        Runtime rt;
        auto p = line_pair(rt);
        a.emplace(std::move(p.first));
        b.emplace(std::move(p.second));
        rt.block_on([&]() -> Async<> {
            {
                auto r = co_await feed(*a, "unflushed");
                REQUIRE(r); // in a's write buffer
            }
            (void)co_await time::timeout(10ms, next(*b)); // a read wait queued
        }());
    }
    REQUIRE(a->write_buffer() == "unflushed\n");
    a.reset();
    b.reset();
    REQUIRE(open_fds() == before);
}
