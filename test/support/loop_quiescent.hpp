#pragma once

// `require_loop_quiescent(loop)`: the end of every uv loop test (libuv's
// MAKE_VALGRIND_HAPPY plus its "loop is empty" checks). It requires that
// nothing keeps the loop alive, no handle is left open or closing, no
// request is in flight, one more non-blocking run has nothing to do, and
// `Loop::close()` succeeds.

#include <pollux/uv/loop.hpp>

#include <catch2/catch.hpp>

namespace pollux::test {

inline void require_loop_quiescent(pollux::uv::Loop& loop) {
    REQUIRE_FALSE(loop.alive());
    REQUIRE(loop.handle_count() == 0);
    REQUIRE(loop.active_requests() == 0);
    REQUIRE(loop.run(pollux::uv::RunMode::NoWait) == 0);
    REQUIRE_FALSE(loop.close());
}

} // namespace pollux::test
