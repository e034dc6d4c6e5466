// Allocation counts of pollux::codec in steady state. This binary replaces
// the global operator new, so it is its own test executable (and is built
// only without sanitizers).
#include <pollux/codec.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string_view>

using pollux::test::allocations;

using namespace pollux;

namespace {

// Fills each read with a repeating pattern; allocates nothing.
struct PatternReader {
    std::string_view pattern;
    std::size_t pos = 0;
    Poll<Result<std::size_t>> poll_read(Context&, boost::asio::mutable_buffer buf) {
        auto* out = static_cast<char*>(buf.data());
        for (std::size_t i = 0; i < buf.size(); ++i) {
            out[i] = pattern[pos];
            pos = (pos + 1) % pattern.size();
        }
        return Ready<Result<std::size_t>>{buf.size()};
    }
};

// Takes every write whole and forgets it; allocates nothing.
struct NullWriter {
    std::size_t bytes = 0;
    Poll<Result<std::size_t>> poll_write(Context&, boost::asio::const_buffer buf) {
        bytes += buf.size();
        return Ready<Result<std::size_t>>{buf.size()};
    }
    Poll<Result<void>> poll_flush(Context&) { return Ready<Result<void>>{Result<void>()}; }
    Poll<Result<void>> poll_shutdown(Context&) { return Ready<Result<void>>{Result<void>()}; }
};

} // namespace

TEST_CASE("FramedRead<LinesCodec> of short lines allocates nothing per line after warm-up",
          "[codec][alloc]") {
    codec::FramedRead f(PatternReader{"a line\n"}, codec::LinesCodec());
    Context cx(Waker::noop());
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(f.poll_next(cx).is_ready());
    }
    const std::size_t before = allocations.load();
    for (int i = 0; i < 100'000; ++i) {
        auto p = f.poll_next(cx);
        REQUIRE(**p.value() == "a line"); // fits std::string's inline buffer
    }
    REQUIRE(allocations.load() - before == 0);
}

TEST_CASE("FramedRead<LengthDelimitedCodec> allocates only each frame's own bytes",
          "[codec][alloc]") {
    // Frames of 100 bytes (a 104-byte pattern), which the read buffer splits
    // at every possible offset over time.
    static const std::string wire = [] {
        std::string s("\x00\x00\x00\x64", 4);
        s.append(100, 'f');
        return s;
    }();
    codec::FramedRead f(PatternReader{wire}, codec::LengthDelimitedCodec());
    Context cx(Waker::noop());
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(f.poll_next(cx).is_ready());
    }
    const std::size_t before = allocations.load();
    for (int i = 0; i < 100'000; ++i) {
        auto p = f.poll_next(cx);
        REQUIRE((*p.value())->size() == 100);
    }
    REQUIRE(allocations.load() - before == 100'000); // one per frame: the item
}

TEST_CASE("FramedWrite<LinesCodec> allocates nothing per item after warm-up", "[codec][alloc]") {
    codec::FramedWrite f(NullWriter{}, codec::LinesCodec());
    Context cx(Waker::noop());
    auto one = [&](int i) {
        REQUIRE(f.poll_ready(cx).is_ready());
        REQUIRE(f.start_send(std::string_view("a line")));
        if (i % 16 == 0) {
            REQUIRE(f.poll_flush(cx).is_ready());
        }
    };
    for (int i = 0; i < 1000; ++i) {
        one(i);
    }
    const std::size_t before = allocations.load();
    for (int i = 0; i < 100'000; ++i) {
        one(i);
    }
    REQUIRE(allocations.load() - before == 0);
    REQUIRE(f.get_ref().bytes > 0);
}
