#include <pollux/codec/lines_codec.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/codec/framed_read.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/stream.hpp>

#include "support/mock_io.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace pollux;
using codec::BytesMut;
using codec::LinesCodec;

namespace {

// The next item of a FramedRead that never pends.
template <class F>
std::optional<typename F::Item> next_of(F& f) {
    return block_on(next(f));
}

} // namespace

TEST_CASE("LinesCodec decodes each line without its \\n or \\r\\n", "[codec][lines]") {
    LinesCodec c;
    BytesMut buf(std::string_view("one\ntwo\r\nthree"));
    auto a = c.decode(buf);
    REQUIRE(a);
    REQUIRE(*a == std::optional<std::string>("one"));
    auto b = c.decode(buf);
    REQUIRE(b);
    REQUIRE(*b == std::optional<std::string>("two"));
    auto none = c.decode(buf);
    REQUIRE(none);
    REQUIRE_FALSE(none->has_value());
    REQUIRE(buf == "three"); // kept for the next read
    buf.put("\n");
    auto d = c.decode(buf);
    REQUIRE(d);
    REQUIRE(*d == std::optional<std::string>("three"));
    REQUIRE(buf.empty());
}

TEST_CASE("LinesCodec's default max_length is 64 KiB", "[codec][lines][limit]") {
    REQUIRE(LinesCodec().max_length() == 64 * 1024);
    REQUIRE(LinesCodec(10).max_length() == 10);
}

TEST_CASE("LinesCodec decodes a line of exactly max_length bytes", "[codec][lines][limit]") {
    LinesCodec c(5);
    BytesMut buf(std::string_view("12345\n"));
    auto r = c.decode(buf);
    REQUIRE(r);
    REQUIRE(*r == std::optional<std::string>("12345"));
}

TEST_CASE("LinesCodec reports max_line_length_exceeded once more than max_length bytes have no "
          "newline",
          "[codec][lines][limit]") {
    LinesCodec c(5);
    BytesMut buf(std::string_view("12345"));
    auto r = c.decode(buf);
    REQUIRE(r);
    REQUIRE_FALSE(r->has_value()); // 5 bytes may still be a line
    buf.put("6");
    auto e = c.decode(buf);
    REQUIRE_FALSE(e);
    REQUIRE(e.error() == codec::errc::max_line_length_exceeded);
    REQUIRE(e.error().message() == "max line length exceeded");
}

TEST_CASE("LinesCodec after a too long line discards up to the next newline and decodes the "
          "line after it",
          "[codec][lines][limit]") {
    LinesCodec c(3);
    BytesMut buf(std::string_view("abcdef"));
    REQUIRE_FALSE(c.decode(buf)); // the error
    // Discarding: what arrives before the newline is dropped as it comes.
    buf.put("ghij");
    auto r = c.decode(buf);
    REQUIRE(r);
    REQUIRE_FALSE(r->has_value());
    REQUIRE(buf.empty());
    buf.put("kl\nok\n");
    auto ok = c.decode(buf);
    REQUIRE(ok);
    REQUIRE(*ok == std::optional<std::string>("ok"));
    REQUIRE(buf.empty());
}

TEST_CASE("LinesCodec decode_eof returns the unterminated last line", "[codec][lines][eof]") {
    LinesCodec c;
    BytesMut buf(std::string_view("a\nlast\r"));
    auto a = c.decode_eof(buf);
    REQUIRE(a);
    REQUIRE(*a == std::optional<std::string>("a"));
    auto last = c.decode_eof(buf);
    REQUIRE(last);
    REQUIRE(*last == std::optional<std::string>("last"));
    auto none = c.decode_eof(buf);
    REQUIRE(none);
    REQUIRE_FALSE(none->has_value());
}

TEST_CASE("LinesCodec decode_eof of a lone \\r is no line", "[codec][lines][eof]") {
    LinesCodec c;
    BytesMut buf(std::string_view("\r"));
    auto r = c.decode_eof(buf);
    REQUIRE(r);
    REQUIRE_FALSE(r->has_value());
}

TEST_CASE("LinesCodec rejects a line that is not UTF-8 and goes on with the next",
          "[codec][lines][utf8]") {
    LinesCodec c;
    BytesMut buf(std::string_view("\xc3\x28\n\xc3\xa9t\xc3\xa9\n"));
    auto bad = c.decode(buf);
    REQUIRE_FALSE(bad);
    REQUIRE(bad.error() == codec::errc::invalid_utf8);
    auto good = c.decode(buf);
    REQUIRE(good);
    REQUIRE(*good == std::optional<std::string>("\xc3\xa9t\xc3\xa9"));
}

TEST_CASE("LinesCodec encode appends the line and a newline", "[codec][lines][encode]") {
    LinesCodec c;
    BytesMut dst;
    REQUIRE(c.encode(std::string("hello"), dst));
    REQUIRE(c.encode("world", dst));
    REQUIRE(dst == "hello\nworld\n");
}

TEST_CASE("FramedRead<LinesCodec> yields lines split across reads, then the last one at eof",
          "[codec][lines][framed]") {
    test::ScriptReader r;
    r.chunks = {"he", "llo\nwor", "ld\n", "tail"};
    codec::FramedRead f(std::move(r), LinesCodec());
    auto a = next_of(f);
    REQUIRE(a);
    REQUIRE(**a == "hello");
    auto b = next_of(f);
    REQUIRE(b);
    REQUIRE(**b == "world");
    auto c = next_of(f);
    REQUIRE(c);
    REQUIRE(**c == "tail");
    REQUIRE_FALSE(next_of(f));
}

TEST_CASE("FramedRead<LinesCodec> fed a 1 GiB line errors after reading little more than "
          "max_length, with a small buffer",
          "[codec][lines][framed][limit]") {
    test::EndlessReader r; // 'a' for 1 GiB, never a newline in what is read
    r.limit = std::size_t{1} << 30;
    codec::FramedRead f(std::move(r), LinesCodec(64 * 1024));
    auto e = next_of(f);
    REQUIRE(e);
    REQUIRE_FALSE(*e);
    REQUIRE(e->error() == codec::errc::max_line_length_exceeded);
    // The buffer doubles as it fills, and each read fills its spare room:
    // the error comes with at most about twice max_length read.
    REQUIRE(f.get_ref().bytes > 64 * 1024);
    REQUIRE(f.get_ref().bytes <= 2 * 64 * 1024 + 8 * 1024);
    REQUIRE(f.read_buffer().capacity() <= 4 * 64 * 1024);
    // The stream ends after the error, as tokio-util's FramedRead does.
    REQUIRE_FALSE(next_of(f));
}

TEST_CASE("FramedRead<LinesCodec> polled on after a too long line yields the lines after it, "
          "without growing its buffer",
          "[codec][lines][framed][limit]") {
    test::EndlessReader r; // 4 MiB of 'a', then two lines
    r.limit = 4 * 1024 * 1024;
    r.suffix = "\nok\nnext\n";
    codec::FramedRead f(std::move(r), LinesCodec(1024));
    auto e = next_of(f);
    REQUIRE(e);
    REQUIRE_FALSE(*e);
    REQUIRE_FALSE(next_of(f)); // the end after the error
    auto ok = next_of(f);      // polled on: discards to the newline
    REQUIRE(ok);
    REQUIRE(*ok);
    REQUIRE(**ok == "ok");
    auto n = next_of(f);
    REQUIRE(n);
    REQUIRE(**n == "next");
    REQUIRE(f.read_buffer().capacity() <= 16 * 1024);
    REQUIRE_FALSE(next_of(f));
}
