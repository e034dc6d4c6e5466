#include <pollux/io.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/block_on.hpp>
#include <pollux/core/stream.hpp>

#include "support/mock_task.hpp"
#include "support/result_string.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// The I/O utilities of tokio's AsyncBufReadExt / AsyncReadExt (read_until,
// read_line, read_to_end, read_to_string, lines) and tokio's BufWriter, on
// hand-written sources and sinks, so each case pins one rule.

using namespace pollux;
namespace asio = boost::asio;

namespace {

// A source that returns its chunks one per read, with a Pending (and a
// self-wake) before each, then end of stream, or `fail` once the chunks are
// done.
struct ChunkReader {
    std::vector<std::string> chunks;
    std::optional<boost::system::error_code> fail;
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
            if (fail) {
                return Ready<Result<std::size_t>>{
                    Result<std::size_t>(boost::system::in_place_error, *fail)};
            }
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

// A source of `total` bytes of 'x' with a '\n' after each `line` of them,
// ready at once, in reads of at most 64 KiB.
struct EndlessLines {
    std::size_t line;
    std::size_t total;
    std::size_t pos = 0;
    Poll<Result<std::size_t>> poll_read(Context&, asio::mutable_buffer buf) {
        std::size_t n = std::min<std::size_t>({buf.size(), total - pos, 64 * 1024});
        char* p = static_cast<char*>(buf.data());
        for (std::size_t i = 0; i < n; ++i) {
            p[i] = (pos + i) % (line + 1) == line ? '\n' : 'x';
        }
        pos += n;
        return Ready<Result<std::size_t>>{n};
    }
};

// A sink that records each poll_write call and what it accepted; at most
// `max_write` bytes per write, 0 when `zero`.
struct RecordingWriter {
    std::string data;
    std::vector<std::size_t> writes; // sizes accepted, one per write call
    std::size_t max_write = static_cast<std::size_t>(-1);
    bool zero = false;
    std::string* mirror = nullptr; // also gets what was accepted, if set
    int flushes = 0;
    int shutdowns = 0;
    Poll<Result<std::size_t>> poll_write(Context&, asio::const_buffer buf) {
        std::size_t n = zero ? 0 : std::min(buf.size(), max_write);
        data.append(static_cast<const char*>(buf.data()), n);
        if (mirror != nullptr) {
            mirror->append(static_cast<const char*>(buf.data()), n);
        }
        writes.push_back(n);
        return Ready<Result<std::size_t>>{n};
    }
    Poll<Result<void>> poll_flush(Context&) {
        ++flushes;
        return Ready<Result<void>>{Result<void>()};
    }
    Poll<Result<void>> poll_shutdown(Context&) {
        ++shutdowns;
        return Ready<Result<void>>{Result<void>()};
    }
};

template <class F>
RecordingWriter writer_with(F set) {
    RecordingWriter w;
    set(w);
    return w;
}

io::BufReader<ChunkReader> buffered(std::vector<std::string> chunks, std::size_t cap = 8) {
    return io::BufReader<ChunkReader>(ChunkReader{std::move(chunks), std::nullopt}, cap);
}

template <class S>
std::optional<item_t<S>> next_now(S& s) {
    return block_on(next(s));
}

} // namespace

TEST_CASE("io utility concepts: BufReader is AsyncBufRead, BufWriter is AsyncWrite", "[io]") {
    STATIC_REQUIRE(io::AsyncBufRead<io::BufReader<ChunkReader>>);
    STATIC_REQUIRE(!io::AsyncBufRead<ChunkReader>);
    STATIC_REQUIRE(io::AsyncWrite<io::BufWriter<RecordingWriter>>);
    STATIC_REQUIRE(!io::AsyncRead<io::BufWriter<RecordingWriter>>);
    STATIC_REQUIRE(Stream<io::Lines<io::BufReader<ChunkReader>>>);
    STATIC_REQUIRE(
        std::is_same_v<item_t<io::Lines<io::BufReader<ChunkReader>>>, Result<std::string>>);
    STATIC_REQUIRE(Future<io::ReadUntil<io::BufReader<ChunkReader>, std::vector<char>>>);
    STATIC_REQUIRE(Future<io::ReadToEnd<ChunkReader, std::string>>);
}

TEST_CASE("read_until appends up to and including the delimiter, across chunks (tokio)",
          "[io][read_until]") {
    auto r = buffered({"ab", "c;de", "f;g"}, 3);
    std::string buf = ">";
    auto n = block_on(io::read_until(r, ';', buf));
    REQUIRE(n);
    CHECK(*n == 4);
    CHECK(buf == ">abc;");
    n = block_on(io::read_until(r, ';', buf));
    CHECK(*n == 4);
    CHECK(buf == ">abc;def;");
}

TEST_CASE("read_until at end of stream returns the rest, then 0 (tokio: Ok(0) is EOF)",
          "[io][read_until]") {
    auto r = buffered({"tail"});
    std::vector<unsigned char> buf;
    CHECK(*block_on(io::read_until(r, '\n', buf)) == 4);
    CHECK(std::string(buf.begin(), buf.end()) == "tail");
    CHECK(*block_on(io::read_until(r, '\n', buf)) == 0);
    CHECK(buf.size() == 4);
}

TEST_CASE("read_until dropped midway keeps the partial bytes in the buffer; a new call completes",
          "[io][read_until][cancel]") {
    auto r = buffered({"hel", "lo\n"}, 4);
    std::vector<char> buf;
    {
        test::MockTask t(io::read_until(r, '\n', buf));
        // The first poll is Pending (ChunkReader pends), the second reads
        // "hel", the third pends again: drop it there.
        CHECK(t.poll().is_pending());
        CHECK(t.poll().is_pending());
    }
    CHECK(std::string(buf.begin(), buf.end()) == "hel");
    CHECK(*block_on(io::read_until(r, '\n', buf)) == 3);
    CHECK(std::string(buf.begin(), buf.end()) == "hello\n");
}

TEST_CASE("read_until passes the reader's error on and keeps the bytes appended before it",
          "[io][read_until]") {
    io::BufReader<ChunkReader> r(
        ChunkReader{{"abc"}, make_error_code(asio::error::connection_reset)}, 8);
    std::string buf;
    auto n = block_on(io::read_until(r, '\n', buf));
    REQUIRE(!n);
    CHECK(n.error() == asio::error::connection_reset);
    CHECK(buf == "abc");
}

TEST_CASE("read_line reads one line of any AsyncBufRead, newline included", "[io][read_line]") {
    auto r = buffered({"one\ntw", "o\n"});
    std::string line;
    CHECK(*block_on(io::read_line(r, line)) == 4);
    CHECK(line == "one\n");
    line.clear();
    CHECK(*block_on(r.read_line(line)) == 4);
    CHECK(line == "two\n");
}

TEST_CASE("read_to_end appends everything until end of stream and returns the count (tokio)",
          "[io][read_to_end]") {
    std::string big(100000, 'z');
    ChunkReader src{{"head-", big, "-end"}, std::nullopt};
    std::vector<char> buf = {'>'};
    auto n = block_on(io::read_to_end(src, buf));
    REQUIRE(n);
    CHECK(*n == 5 + big.size() + 4);
    CHECK(std::string(buf.begin(), buf.end()) == ">head-" + big + "-end");
}

TEST_CASE("read_to_string reads into a string and returns 0 for an empty source",
          "[io][read_to_end]") {
    ChunkReader empty{{}, std::nullopt};
    std::string s = "keep";
    CHECK(*block_on(io::read_to_string(empty, s)) == 0);
    CHECK(s == "keep");
    ChunkReader src{{"a", "bc"}, std::nullopt};
    CHECK(*block_on(io::read_to_string(src, s)) == 3);
    CHECK(s == "keepabc");
}

TEST_CASE("read_to_end on an error keeps the bytes read before it, with no padding",
          "[io][read_to_end]") {
    ChunkReader src{{"abc", "de"}, make_error_code(asio::error::connection_reset)};
    std::string s;
    auto n = block_on(io::read_to_string(src, s));
    REQUIRE(!n);
    CHECK(n.error() == asio::error::connection_reset);
    CHECK(s == "abcde");
}

TEST_CASE("read_to_end dropped while pending leaves exactly the bytes read so far",
          "[io][read_to_end][cancel]") {
    ChunkReader src{{"abc", "def"}, std::nullopt};
    std::string s;
    {
        test::MockTask t(io::read_to_string(src, s));
        CHECK(t.poll().is_pending()); // pend
        CHECK(t.poll().is_pending()); // "abc", then pend
    }
    CHECK(s == "abc");
}

TEST_CASE("lines yields each line without \\n or \\r\\n, and a last line without \\n (tokio)",
          "[io][lines]") {
    auto lines = io::lines(buffered({"a\r\nb", "b\n\nlast"}, 4));
    std::vector<std::string> got;
    while (auto l = next_now(lines)) {
        REQUIRE(*l);
        got.push_back(**l);
    }
    CHECK(got == std::vector<std::string>{"a", "bb", "", "last"});
}

TEST_CASE("lines ends without an item when the stream ends right after a newline", "[io][lines]") {
    auto lines = io::lines(buffered({"x\n"}));
    CHECK(**next_now(lines) == "x");
    CHECK(!next_now(lines));
}

TEST_CASE("lines accepts a line of exactly the maximum length", "[io][lines][limit]") {
    auto lines = io::lines(buffered({"12345\n6"}, 3), 5);
    CHECK(**next_now(lines) == "12345");
    CHECK(**next_now(lines) == "6");
}

TEST_CASE("lines: a line over the maximum is a message_size error, then the next line is read "
          "(tokio-util LinesCodec)",
          "[io][lines][limit]") {
    auto lines = io::lines(buffered({"ok\n", "toolong", "-still\nnext\n"}, 4), 5);
    CHECK(**next_now(lines) == "ok");
    auto e = next_now(lines);
    REQUIRE(e);
    REQUIRE(!*e);
    CHECK(e->error() == boost::system::errc::message_size);
    CHECK(**next_now(lines) == "next");
    CHECK(!next_now(lines));
}

TEST_CASE("lines: a 16 MiB line over the limit is an error and is discarded, not buffered",
          "[io][lines][limit]") {
    const std::size_t huge = 16u << 20;
    // Two lines of `huge` x's, each over the limit, then "ok\n": reading goes
    // on after them.
    struct Source {
        EndlessLines big;
        ChunkReader tail;
        Poll<Result<std::size_t>> poll_read(Context& cx, asio::mutable_buffer buf) {
            if (big.pos < big.total) {
                return big.poll_read(cx, buf);
            }
            return tail.poll_read(cx, buf);
        }
    };
    auto lines = io::lines(io::BufReader<Source>(Source{EndlessLines{huge, 2 * (huge + 1)},
                                                        ChunkReader{{"ok\n"}, {}}}),
                           1024);
    for (int i = 0; i < 2; ++i) {
        auto e = next_now(lines);
        REQUIRE(e);
        REQUIRE(!*e);
        CHECK(e->error() == boost::system::errc::message_size);
    }
    CHECK(**next_now(lines) == "ok");
    CHECK(!next_now(lines));
}

TEST_CASE("lines: an over-limit line at end of stream ends the stream after its error",
          "[io][lines][limit]") {
    auto lines = io::lines(buffered({"abcdefgh"}, 4), 3);
    auto e = next_now(lines);
    REQUIRE(e);
    CHECK(!*e);
    CHECK(!next_now(lines));
}

TEST_CASE("lines is cancel safe: a dropped next() keeps the partial line in the stream",
          "[io][lines][cancel]") {
    auto lines = io::lines(buffered({"par", "tial\n"}, 8));
    {
        test::MockTask t(next(lines));
        CHECK(t.poll().is_pending());
        CHECK(t.poll().is_pending()); // "par" taken, then Pending
    }
    CHECK(**next_now(lines) == "partial");
}

TEST_CASE("lines: a reader error is an item, then the stream ends", "[io][lines]") {
    auto lines = io::lines(io::BufReader<ChunkReader>(
        ChunkReader{{"a\nb"}, make_error_code(asio::error::connection_reset)}, 8));
    CHECK(**next_now(lines) == "a");
    auto e = next_now(lines);
    REQUIRE(e);
    REQUIRE(!*e);
    CHECK(e->error() == asio::error::connection_reset);
    CHECK(!next_now(lines));
}

TEST_CASE("BufWriter keeps small writes in its buffer until flush (tokio)", "[io][buf_writer]") {
    io::BufWriter<RecordingWriter> w(RecordingWriter{}, 16);
    REQUIRE(block_on(io::write_all(w, asio::buffer("abc", 3))));
    REQUIRE(block_on(io::write_all(w, asio::buffer("def", 3))));
    CHECK(w.get_ref().writes.empty());
    CHECK(w.buffer().size() == 6);
    REQUIRE(block_on(io::flush(w)));
    CHECK(w.get_ref().data == "abcdef");
    CHECK(w.get_ref().writes == std::vector<std::size_t>{6});
    CHECK(w.get_ref().flushes == 1);
    CHECK(w.buffer().size() == 0);
}

TEST_CASE("BufWriter: a write of at least the capacity goes straight to the writer (tokio)",
          "[io][buf_writer]") {
    io::BufWriter<RecordingWriter> w(RecordingWriter{}, 8);
    std::string big(8, 'B');
    test::MockTask t(io::write(w, asio::buffer(big)));
    auto p = t.poll();
    REQUIRE(p.is_ready());
    CHECK(*p.value() == 8);
    CHECK(w.get_ref().writes == std::vector<std::size_t>{8});
    CHECK(w.buffer().size() == 0);
}

TEST_CASE("BufWriter: a write that does not fit writes the buffer out first, in order (tokio)",
          "[io][buf_writer]") {
    io::BufWriter<RecordingWriter> w(RecordingWriter{}, 8);
    REQUIRE(block_on(io::write_all(w, asio::buffer("12345", 5))));
    REQUIRE(block_on(io::write_all(w, asio::buffer("6789", 4))));
    // "12345" went out as one write; "6789" is buffered.
    CHECK(w.get_ref().writes == std::vector<std::size_t>{5});
    CHECK(w.buffer().size() == 4);
    std::string big(20, 'z');
    REQUIRE(block_on(io::write_all(w, asio::buffer(big))));
    CHECK(w.get_ref().data == "123456789" + big);
    CHECK(w.get_ref().writes == std::vector<std::size_t>{5, 4, 20});
}

TEST_CASE("BufWriter shutdown writes the buffer out, then shuts the writer down",
          "[io][buf_writer]") {
    io::BufWriter<RecordingWriter> w(writer_with([](RecordingWriter& w) { w.max_write = 2; }), 16);
    REQUIRE(block_on(io::write_all(w, asio::buffer("hello", 5))));
    REQUIRE(block_on(io::shutdown(w)));
    CHECK(w.get_ref().data == "hello");
    CHECK(w.get_ref().writes == std::vector<std::size_t>{2, 2, 1});
    CHECK(w.get_ref().shutdowns == 1);
}

TEST_CASE("BufWriter dropped without flush writes nothing (tokio: buffered data is lost)",
          "[io][buf_writer]") {
    std::string reached;
    {
        io::BufWriter<RecordingWriter> w(
            writer_with([&](RecordingWriter& w) { w.mirror = &reached; }), 16);
        REQUIRE(block_on(io::write_all(w, asio::buffer("lost", 4))));
    }
    CHECK(reached.empty());
}

TEST_CASE("BufWriter: a writer that accepts 0 bytes makes flush fail with broken_pipe and keeps "
          "the bytes",
          "[io][buf_writer]") {
    io::BufWriter<RecordingWriter> w(writer_with([](RecordingWriter& w) { w.zero = true; }), 16);
    REQUIRE(block_on(io::write_all(w, asio::buffer("data", 4))));
    auto r = block_on(io::flush(w));
    REQUIRE(!r);
    CHECK(r.error() == boost::system::errc::broken_pipe);
    CHECK(w.buffer().size() == 4);
    CHECK(w.get_ref().flushes == 0);
}
