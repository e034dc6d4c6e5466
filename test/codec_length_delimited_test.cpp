#include <pollux/codec/length_delimited_codec.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/block_on.hpp>
#include <pollux/core/stream.hpp>

#include "support/mock_io.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using namespace pollux;
using codec::BytesMut;
using codec::LengthDelimitedCodec;

namespace {

using namespace std::string_view_literals;

// Decodes `wire` with `c` in one go; the one frame it holds, as a string.
std::string decode_one(LengthDelimitedCodec c, std::string_view wire) {
    BytesMut buf(wire);
    auto r = c.decode(buf);
    REQUIRE(r);
    REQUIRE(r->has_value());
    REQUIRE(buf.empty());
    return (*r)->to_string();
}

} // namespace

TEST_CASE("LengthDelimitedCodec by default reads a 4-byte big-endian length and yields the payload",
          "[codec][length_delimited]") {
    LengthDelimitedCodec c;
    BytesMut buf(std::string_view("\0\0\0\x05hel"sv));
    auto partial = c.decode(buf);
    REQUIRE(partial);
    REQUIRE_FALSE(partial->has_value());
    buf.put("lo\0\0\0\x00"sv);
    auto hello = c.decode(buf);
    REQUIRE(hello);
    REQUIRE(**hello == "hello");
    auto empty = c.decode(buf);
    REQUIRE(empty);
    REQUIRE(**empty == ""); // a zero-length frame is a frame
    REQUIRE(buf.empty());
}

TEST_CASE("LengthDelimitedCodec's default max_frame_length is 8 MiB", "[codec][length_delimited]") {
    REQUIRE(LengthDelimitedCodec().max_frame_length() == 8 * 1024 * 1024);
}

// tokio-util's documented configurations (tokio-util/src/codec/
// length_delimited.rs, module docs "Example 1" to "Example 7"), each on its
// input, expecting its documented output.
TEST_CASE("LengthDelimitedCodec decodes tokio-util's documented example configurations",
          "[codec][length_delimited][tokio]") {
    SECTION("Example 1: u16 length at offset 0, head kept (num_skip 0)") {
        auto c = LengthDelimitedCodec::builder()
                     .length_field_offset(0)
                     .length_field_length(2)
                     .length_adjustment(0)
                     .num_skip(0)
                     .new_codec();
        REQUIRE(decode_one(c, "\x00\x0BHello world"sv) == "\x00\x0BHello world"sv);
    }
    SECTION("Example 2: u16 length at offset 0, head skipped (the default num_skip)") {
        auto c = LengthDelimitedCodec::builder()
                     .length_field_offset(0)
                     .length_field_length(2)
                     .length_adjustment(0)
                     .new_codec();
        REQUIRE(decode_one(c, "\x00\x0BHello world"sv) == "Hello world");
    }
    SECTION("Example 3: the length counts the head (adjustment -2), head kept") {
        auto c = LengthDelimitedCodec::builder()
                     .length_field_offset(0)
                     .length_field_length(2)
                     .length_adjustment(-2)
                     .num_skip(0)
                     .new_codec();
        REQUIRE(decode_one(c, "\x00\x0DHello world"sv) == "\x00\x0DHello world"sv);
    }
    SECTION("Example 4: 3-byte length in a 5-byte head (adjustment 2), head kept") {
        auto c = LengthDelimitedCodec::builder()
                     .length_field_offset(0)
                     .length_field_length(3)
                     .length_adjustment(2)
                     .num_skip(0)
                     .new_codec();
        REQUIRE(decode_one(c, "\x00\x00\x0B\xCA\xFEHello world"sv) ==
                "\x00\x00\x0B\xCA\xFEHello world"sv);
    }
    SECTION("Example 5: u16 length at offset 1 of a 4-byte head, hdr2 kept") {
        auto c = LengthDelimitedCodec::builder()
                     .length_field_offset(1)
                     .length_field_length(2)
                     .length_adjustment(1)
                     .num_skip(3)
                     .new_codec();
        REQUIRE(decode_one(c, "\xCA\x00\x0B\xFEHello world"sv) == "\xFEHello world"sv);
    }
    SECTION("Example 6: as 5, the length counting the whole frame (adjustment -3)") {
        auto c = LengthDelimitedCodec::builder()
                     .length_field_offset(1)
                     .length_field_length(2)
                     .length_adjustment(-3)
                     .num_skip(3)
                     .new_codec();
        REQUIRE(decode_one(c, "\xCA\x00\x0F\xFEHello world"sv) == "\xFEHello world"sv);
    }
    SECTION("Example 7: 3-byte length in a 4-byte head, all 4 skipped") {
        auto c = LengthDelimitedCodec::builder()
                     .length_field_offset(0)
                     .length_field_length(3)
                     .length_adjustment(0)
                     .num_skip(4)
                     .new_codec();
        REQUIRE(decode_one(c, "\x00\x00\x0B\xFFHello world"sv) == "Hello world");
    }
}

TEST_CASE("LengthDelimitedCodec encodes as tokio-util documents",
          "[codec][length_delimited][tokio]") {
    SECTION("the default: a u32 big-endian length") {
        BytesMut dst;
        REQUIRE(LengthDelimitedCodec().encode("hello world"sv, dst));
        REQUIRE(dst == "\x00\x00\x00\x0bhello world"sv);
    }
    SECTION("\"Encoding\": length_field_length(2)") {
        BytesMut dst;
        auto c = LengthDelimitedCodec::builder().length_field_length(2).new_codec();
        REQUIRE(c.encode("hello world"sv, dst));
        REQUIRE(dst == "\x00\x0bhello world"sv);
    }
    SECTION("little endian") {
        BytesMut dst;
        auto c = LengthDelimitedCodec::builder().length_field_length(2).little_endian().new_codec();
        REQUIRE(c.encode("hello world"sv, dst));
        REQUIRE(dst == "\x0b\x00hello world"sv);
        REQUIRE(decode_one(c, dst.view()) == "hello world");
    }
    SECTION("a negative adjustment counts the field in the length") {
        BytesMut dst;
        auto c = LengthDelimitedCodec::builder()
                     .length_field_length(2)
                     .length_adjustment(-2)
                     .new_codec();
        REQUIRE(c.encode("hello world"sv, dst));
        REQUIRE(dst == "\x00\x0dhello world"sv);
        REQUIRE(decode_one(c, dst.view()) == "hello world");
    }
}

TEST_CASE("LengthDelimitedCodec rejects a length field over max_frame_length from the head alone",
          "[codec][length_delimited][limit]") {
    auto c = LengthDelimitedCodec::builder().max_frame_length(10).new_codec();
    BytesMut buf(std::string_view("\x00\x00\x00\x0b"sv)); // 11: no payload byte yet
    auto r = c.decode(buf);
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == codec::errc::frame_too_big);
    REQUIRE(r.error().message() == "frame size too big");
    BytesMut ok(std::string_view("\x00\x00\x00\x0a"
                                 "0123456789"sv)); // exactly 10
    REQUIRE(decode_one(c, ok.view()) == "0123456789");
}

TEST_CASE("LengthDelimitedCodec caps max_frame_length at what the length field can hold",
          "[codec][length_delimited][limit]") {
    REQUIRE(LengthDelimitedCodec::builder().length_field_length(1).new_codec().max_frame_length() ==
            255);
    REQUIRE(LengthDelimitedCodec::builder()
                .length_field_length(8)
                .max_frame_length(100)
                .new_codec()
                .max_frame_length() == 100);
}

TEST_CASE("LengthDelimitedCodec refuses to encode a frame over max_frame_length and writes nothing",
          "[codec][length_delimited][limit]") {
    auto c = LengthDelimitedCodec::builder().max_frame_length(4).new_codec();
    BytesMut dst;
    auto r = c.encode("hello"sv, dst);
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == codec::errc::frame_too_big);
    REQUIRE(dst.empty());
}

TEST_CASE("LengthDelimitedCodec reports a length that underflows its adjustment",
          "[codec][length_delimited][limit]") {
    auto c =
        LengthDelimitedCodec::builder().length_field_length(2).length_adjustment(-10).new_codec();
    BytesMut buf(std::string_view("\x00\x05hello"sv));
    auto r = c.decode(buf);
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == codec::errc::length_overflow);
}

TEST_CASE("LengthDelimitedCodec builder refuses a length field of 0 or more than 8 bytes",
          "[codec][length_delimited]") {
    REQUIRE_THROWS_AS(LengthDelimitedCodec::builder().length_field_length(0),
                      std::invalid_argument);
    REQUIRE_THROWS_AS(LengthDelimitedCodec::builder().length_field_length(9),
                      std::invalid_argument);
}

TEST_CASE("FramedRead<LengthDelimitedCodec> fed a head claiming 1 GiB errors without buffering it",
          "[codec][length_delimited][framed][limit]") {
    test::EndlessReader r;
    r.prefix = "\x40\x00\x00\x00"sv; // 1 GiB, then payload bytes forever
    auto f = LengthDelimitedCodec::builder().new_read(std::move(r));
    auto e = block_on(next(f));
    REQUIRE(e);
    REQUIRE_FALSE(*e);
    REQUIRE(e->error() == codec::errc::frame_too_big);
    REQUIRE(f.get_ref().bytes <= 8 * 1024); // one read
    REQUIRE(f.read_buffer().capacity() <= 16 * 1024);
    REQUIRE_FALSE(block_on(next(f))); // the end after the error
}

TEST_CASE("FramedRead<LengthDelimitedCodec> with a 1 GiB limit still reserves only what arrived "
          "plus the frame it announced",
          "[codec][length_delimited][framed][limit]") {
    test::EndlessReader r;
    r.prefix = "\x00\x01\x00\x00"sv; // 64 KiB frame
    r.limit = 4 + 64 * 1024 + 10;
    auto f = LengthDelimitedCodec::builder()
                 .max_frame_length(std::size_t{1} << 30)
                 .new_read(std::move(r));
    auto frame = block_on(next(f));
    REQUIRE(frame);
    REQUIRE(*frame);
    REQUIRE((*frame)->size() == 64 * 1024);
    REQUIRE(f.read_buffer().capacity() <= 2 * 64 * 1024 + 16 * 1024);
}

TEST_CASE("FramedRead<LengthDelimitedCodec> at end of stream inside a frame yields "
          "bytes_remaining_on_stream, then ends",
          "[codec][length_delimited][framed][eof]") {
    test::ScriptReader r;
    r.chunks = {std::string("\x00\x00\x00\x02ok\x00\x00\x00\x05hel"sv)};
    codec::FramedRead f(std::move(r), LengthDelimitedCodec());
    auto ok = block_on(next(f));
    REQUIRE(ok);
    REQUIRE(**ok == "ok");
    auto e = block_on(next(f));
    REQUIRE(e);
    REQUIRE_FALSE(*e);
    REQUIRE(e->error() == codec::errc::bytes_remaining_on_stream);
    REQUIRE(e->error().message() == "bytes remaining on stream");
    REQUIRE_FALSE(block_on(next(f)));
}

TEST_CASE("codec::decode_eof of a decoder without one reports bytes left over",
          "[codec][length_delimited][eof]") {
    LengthDelimitedCodec c;
    BytesMut partial(std::string_view("\x00\x00"sv));
    auto r = codec::decode_eof(c, partial);
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == codec::errc::bytes_remaining_on_stream);
    BytesMut empty;
    auto none = codec::decode_eof(c, empty);
    REQUIRE(none);
    REQUIRE_FALSE(none->has_value());
}
