// Allocation counts of the uv loop. This binary replaces the global
// operator new (and counts aligned_alloc), so it is its own test executable,
// as alloc_test is.
#include <pollux/uv/idle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/pipe.hpp>
#include <pollux/uv/timer.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <span>
#include <unistd.h>

using pollux::test::allocations;

using namespace pollux;
using namespace std::chrono_literals;

TEST_CASE("uv loop iterations allocate nothing after warm-up", "[uv][loop][alloc]") {
    uv::Loop loop;
    uv::Idle idle(loop);
    int iterations = 0;
    std::size_t before = 0;
    std::size_t after = 0;
    REQUIRE_FALSE(idle.start([&] {
        ++iterations;
        if (iterations == 100) {
            before = allocations.load();
        } else if (iterations == 1'100) {
            after = allocations.load();
            idle.stop();
        }
    }));
    loop.run();
    REQUIRE(iterations == 1'100);
    // Each iteration runs every phase, including the poll phase's drain of
    // the io_context up to its two markers.
    REQUIRE(after - before == 0);
}

TEST_CASE("a repeating uv Timer allocates nothing per fire after warm-up", "[uv][timer][alloc]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int fires = 0;
    std::size_t before = 0;
    std::size_t after = 0;
    // Each fire takes the timer out of the loop's queue and puts it back
    // with its next due time (1 ms: the uv Timer's resolution).
    REQUIRE_FALSE(timer.start(
        [&] {
            ++fires;
            if (fires == 10) {
                before = allocations.load();
            } else if (fires == 210) {
                after = allocations.load();
                timer.stop();
            }
        },
        1ms,
        1ms));
    loop.run();
    REQUIRE(fires == 210);
    REQUIRE(after - before == 0);
}

TEST_CASE("restarting a uv Timer from its callback allocates nothing after warm-up",
          "[uv][timer][alloc]") {
    struct State {
        uv::Loop loop;
        uv::Timer timer{loop};
        int fires = 0;
        std::size_t before = 0;
        std::size_t after = 0;
    } st;
    // One pointer: small enough for std::function to store in place.
    struct Restart {
        State* st;
        void operator()() const {
            ++st->fires;
            if (st->fires == 100) {
                st->before = allocations.load();
            }
            if (st->fires == 1'100) {
                st->after = allocations.load();
                return;
            }
            (void)st->timer.start(*this, 0ms); // a fresh start of a stopped one-shot
        }
    };
    REQUIRE_FALSE(st.timer.start(Restart{&st}, 0ms));
    st.loop.run();
    REQUIRE(st.fires == 1'100);
    REQUIRE(st.after - st.before == 0);
}

// Issue 22: a stream has no read buffer of its own; the loop lends its one
// buffer to each read callback. So once a loop has read anything, starting
// to read on another stream from a callback (as servers do: Asio recycles
// handler memory on the loop's thread), and reading there, allocates
// nothing.
TEST_CASE("a uv Stream's read_start and first read allocate no read buffer once the loop has "
          "read",
          "[uv][pipe][alloc]") {
    uv::Loop loop;
    auto f1 = uv::socketpair();
    auto f2 = uv::socketpair();
    REQUIRE(f1.has_value());
    REQUIRE(f2.has_value());
    uv::Pipe a(loop);
    uv::Pipe b(loop);
    REQUIRE_FALSE(a.open((*f1)[0]));
    REQUIRE_FALSE(b.open((*f2)[0]));
    REQUIRE(::write((*f1)[1], "a", 1) == 1);
    REQUIRE(::write((*f2)[1], "b", 1) == 1);
    // Captures of one pointer: the callbacks fit std::function's small
    // buffer, so that only what the streams do is counted.
    struct Seen {
        uv::Pipe& a;
        uv::Pipe& b;
        int reads = 0;
        std::size_t size = 0;
        std::size_t before = 0;
        std::size_t during = 0;
    } seen{a, b};
    // `a`'s read warms up the loop's buffer and Asio's recycling; `b` starts
    // reading from its callback.
    REQUIRE_FALSE(a.read_start([s = &seen](boost::system::error_code ec, std::span<const char>) {
        REQUIRE_FALSE(ec);
        ++s->reads;
        s->a.read_stop();
        s->before = allocations.load();
        REQUIRE_FALSE(s->b.read_start([s](boost::system::error_code, std::span<const char> d) {
            s->during = allocations.load();
            ++s->reads;
            s->size = d.size();
            s->b.read_stop();
        }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(seen.reads == 2);
    REQUIRE(seen.size == 1);
    REQUIRE(seen.during - seen.before == 0);
    ::close((*f1)[1]);
    ::close((*f2)[1]);
}
