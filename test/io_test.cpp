#include <pollux/io.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/join.hpp>
#include <pollux/net/tcp_stream.hpp>
#include <pollux/net/unix_stream.hpp>
#include <pollux/runtime.hpp>

#include "support/mock_task.hpp"
#include "support/result_string.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

using namespace pollux;
namespace asio = boost::asio;

namespace {

// A source that returns its chunks one per read, with a Pending (and a
// self-wake) before each, and then end of stream.
struct ChunkReader {
    std::vector<std::string> chunks;
    std::size_t next = 0;
    std::size_t off = 0;
    bool pend = true;
    Poll<Result<std::size_t>> poll_read(Context& cx, asio::mutable_buffer buf) {
        if (pend) {
            pend = false;
            cx.waker().wake_by_ref();
            return Pending{};
        }
        pend = true;
        if (next == chunks.size()) {
            return Ready<Result<std::size_t>>{std::size_t{0}};
        }
        const std::string& c = chunks[next];
        std::size_t n = asio::buffer_copy(buf, asio::buffer(c.data() + off, c.size() - off));
        off += n;
        if (off == c.size()) {
            ++next;
            off = 0;
        }
        return Ready<Result<std::size_t>>{n};
    }
};

// A sink that accepts at most `max_write` bytes per write, Pending in between.
struct SlowWriter {
    std::string data;
    std::size_t max_write = 7;
    bool pend = true;
    bool zero = false; // accept nothing at all
    int flushes = 0;
    Poll<Result<std::size_t>> poll_write(Context& cx, asio::const_buffer buf) {
        if (pend) {
            pend = false;
            cx.waker().wake_by_ref();
            return Pending{};
        }
        pend = true;
        if (zero) {
            return Ready<Result<std::size_t>>{std::size_t{0}};
        }
        std::size_t n = std::min(buf.size(), max_write);
        data.append(static_cast<const char*>(buf.data()), n);
        return Ready<Result<std::size_t>>{n};
    }
    Poll<Result<void>> poll_flush(Context&) {
        ++flushes;
        return Ready<Result<void>>{Result<void>()};
    }
    Poll<Result<void>> poll_shutdown(Context&) { return Ready<Result<void>>{Result<void>()}; }
};

} // namespace

TEST_CASE("io concepts hold for the net streams and the adaptors", "[io]") {
    STATIC_REQUIRE(io::AsyncRead<net::TcpStream>);
    STATIC_REQUIRE(io::AsyncWrite<net::TcpStream>);
    STATIC_REQUIRE(io::AsyncRead<net::UnixStream>);
    STATIC_REQUIRE(io::AsyncWrite<net::UnixStream>);
    STATIC_REQUIRE(io::AsyncRead<net::TcpStream::ReadHalf>);
    STATIC_REQUIRE(io::AsyncWrite<net::TcpStream::WriteHalf>);
    STATIC_REQUIRE(!io::AsyncWrite<net::TcpStream::ReadHalf>);
    STATIC_REQUIRE(io::AsyncRead<io::BufReader<net::TcpStream>>);
    STATIC_REQUIRE(io::AsyncWrite<io::BufReader<net::TcpStream>>);
    STATIC_REQUIRE(!io::AsyncWrite<io::BufReader<ChunkReader>>);
    STATIC_REQUIRE(Future<io::Read<ChunkReader>>);
    STATIC_REQUIRE(Future<io::ReadLine<io::BufReader<ChunkReader>>>);
    STATIC_REQUIRE(std::is_same_v<output_t<io::WriteAll<SlowWriter>>, Result<void>>);
    STATIC_REQUIRE(
        std::is_same_v<output_t<io::Copy<ChunkReader, SlowWriter>>, Result<std::uint64_t>>);
}

TEST_CASE("io::read returns one chunk and 0 at end of stream", "[io][read]") {
    ChunkReader r{{"hello", "world"}};
    char buf[16];
    auto a = block_on(io::read(r, asio::buffer(buf)));
    REQUIRE(a);
    REQUIRE(std::string(buf, *a) == "hello");
    auto b = block_on(io::read(r, asio::buffer(buf)));
    REQUIRE(*b == 5);
    auto c = block_on(io::read(r, asio::buffer(buf)));
    REQUIRE(*c == 0);
}

TEST_CASE("io::read_exact fills the buffer across short reads, eof when the source ends",
          "[io][read_exact]") {
    ChunkReader r{{"ab", "cde", "f", "ghij"}};
    char buf[6];
    auto a = block_on(io::read_exact(r, asio::buffer(buf)));
    REQUIRE(a);
    REQUIRE(*a == 6);
    REQUIRE(std::string(buf, 6) == "abcdef");
    auto b = block_on(io::read_exact(r, asio::buffer(buf)));
    REQUIRE_FALSE(b);
    REQUIRE(b.error() == asio::error::eof);
}

TEST_CASE("io::read_exact dropped midway has consumed bytes it does not return",
          "[io][read_exact][cancel]") {
    ChunkReader r{{"abc", "def"}};
    char buf[6];
    test::MockTask t(io::read_exact(r, asio::buffer(buf)));
    REQUIRE(t.poll().is_pending());
    REQUIRE(t.poll().is_pending()); // took "abc"
    REQUIRE(t.future().bytes_read() == 3);
}

TEST_CASE("io::write_all writes everything through partial writes", "[io][write_all]") {
    SlowWriter w;
    std::string msg(100, 'x');
    auto r = block_on(io::write_all(w, asio::buffer(msg)));
    REQUIRE(r);
    REQUIRE(w.data == msg);
    SlowWriter z;
    z.zero = true;
    auto e = block_on(io::write_all(z, asio::buffer(msg)));
    REQUIRE_FALSE(e);
    REQUIRE(e.error() == boost::system::errc::broken_pipe);
    auto empty = block_on(io::write_all(z, asio::const_buffer()));
    REQUIRE(empty);
}

TEST_CASE("io::copy moves every byte and flushes at the end", "[io][copy]") {
    std::vector<std::string> chunks;
    std::string all;
    for (int i = 0; i < 50; ++i) {
        chunks.push_back(
            std::string(static_cast<std::size_t>(i * 37 % 1000 + 1), char('a' + i % 26)));
        all += chunks.back();
    }
    ChunkReader r{chunks};
    SlowWriter w;
    w.max_write = 333;
    auto n = block_on(io::copy(r, w));
    REQUIRE(n);
    REQUIRE(*n == all.size());
    REQUIRE(w.data == all);
    REQUIRE(w.flushes >= 1);
}

TEST_CASE("BufReader read_line splits lines across chunks and keeps a last partial line",
          "[io][buf_reader]") {
    io::BufReader<ChunkReader> r(ChunkReader{{"one\ntw", "o\n", "\nthr", "ee"}}, 4);
    std::vector<std::string> lines;
    for (;;) {
        std::string line;
        auto n = block_on(r.read_line(line));
        REQUIRE(n);
        REQUIRE(*n == line.size());
        if (*n == 0) {
            break;
        }
        lines.push_back(line);
    }
    REQUIRE(lines == std::vector<std::string>{"one\n", "two\n", "\n", "three"});
}

TEST_CASE("BufReader poll_read serves buffered bytes first", "[io][buf_reader]") {
    io::BufReader<ChunkReader> r(ChunkReader{{"line\nrest"}});
    std::string line;
    REQUIRE(*block_on(io::read_line(r, line)) == 5);
    REQUIRE(r.buffer().size() == 4);
    char buf[16];
    auto n = block_on(io::read(r, asio::buffer(buf)));
    REQUIRE(std::string(buf, *n) == "rest");
}

TEST_CASE("read_line dropped midway leaves the partial line in the string",
          "[io][buf_reader][cancel]") {
    io::BufReader<ChunkReader> r(ChunkReader{{"par", "tial\n"}});
    std::string line;
    {
        test::MockTask t(r.read_line(line));
        REQUIRE(t.poll().is_pending());
        REQUIRE(t.poll().is_pending()); // "par" taken and appended
    }
    REQUIRE(line == "par");
    REQUIRE(*block_on(r.read_line(line)) == 5);
    REQUIRE(line == "partial\n");
}

TEST_CASE("io::split halves of a UnixStream read and write at once", "[io][split]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = net::UnixStream::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        auto [rd, wr] = io::split(b);
        // b echoes a's bytes back through its own halves, concurrently.
        std::string msg(200'000, 'q');
        std::string back(msg.size(), '\0');
        auto send = [](net::UnixStream& s, const std::string& m) -> Async<> {
            auto w = co_await io::write_all(s, asio::buffer(m));
            REQUIRE(w);
            auto sd = co_await io::shutdown(s);
            REQUIRE(sd);
        };
        auto echo = [](io::ReadHalf<net::UnixStream> r,
                       io::WriteHalf<net::UnixStream> w) -> Async<std::uint64_t> {
            auto n = co_await io::copy(r, w);
            REQUIRE(n);
            co_return *n;
        };
        auto [s, n, got] =
            co_await join(send(a, msg), echo(rd, wr), io::read_exact(a, asio::buffer(back)));
        REQUIRE(n == msg.size());
        REQUIRE(got);
        REQUIRE(back == msg);
    }());
}
