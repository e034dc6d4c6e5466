#include <pollux/codec/any_delimiter_codec.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/codec/framed_read.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/stream.hpp>

#include "support/mock_io.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace pollux;
using codec::AnyDelimiterCodec;
using codec::BytesMut;

TEST_CASE("AnyDelimiterCodec splits at any of its delimiters, dropping them",
          "[codec][any_delimiter]") {
    AnyDelimiterCodec c(",;\n", ",");
    BytesMut buf(std::string_view("a,b;c\nrest"));
    for (std::string_view want : {"a", "b", "c"}) {
        auto r = c.decode(buf);
        REQUIRE(r);
        REQUIRE(r->has_value());
        REQUIRE(**r == want);
    }
    auto none = c.decode(buf);
    REQUIRE(none);
    REQUIRE_FALSE(none->has_value());
    REQUIRE(buf == "rest");
}

TEST_CASE("AnyDelimiterCodec reports a chunk over max_length, then skips to the next delimiter",
          "[codec][any_delimiter][limit]") {
    AnyDelimiterCodec c(",", ",", 3);
    REQUIRE(c.max_length() == 3);
    BytesMut buf(std::string_view("abcd"));
    auto e = c.decode(buf);
    REQUIRE_FALSE(e);
    REQUIRE(e.error() == codec::errc::max_line_length_exceeded);
    buf.put("ef,ok,");
    auto ok = c.decode(buf);
    REQUIRE(ok);
    REQUIRE(**ok == "ok");
}

TEST_CASE("AnyDelimiterCodec's default max_length is 64 KiB", "[codec][any_delimiter][limit]") {
    REQUIRE(AnyDelimiterCodec(",", ",").max_length() == 64 * 1024);
}

TEST_CASE("AnyDelimiterCodec decode_eof returns the bytes after the last delimiter",
          "[codec][any_delimiter][eof]") {
    test::ScriptReader r;
    r.chunks = {"x;y", "z"};
    codec::FramedRead f(std::move(r), AnyDelimiterCodec(";", ";"));
    REQUIRE(**block_on(next(f)) == "x");
    REQUIRE(**block_on(next(f)) == "yz");
    REQUIRE_FALSE(block_on(next(f)));
}

TEST_CASE("AnyDelimiterCodec encode appends the sequence writer",
          "[codec][any_delimiter][encode]") {
    AnyDelimiterCodec c(",;", ";;");
    BytesMut dst;
    REQUIRE(c.encode("a", dst));
    REQUIRE(c.encode(std::string("b"), dst));
    REQUIRE(dst == "a;;b;;");
}
