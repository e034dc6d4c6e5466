// Allocation counts of the uv loop. This binary replaces the global
// operator new (and counts aligned_alloc), so it is its own test executable,
// as alloc_test is.
#include <pollux/uv/idle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>

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
