#include <pollux/uv/loop.hpp>
#include <pollux/uv/signal.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;

TEST_CASE("uv Signal calls back on the loop for a raised signal", "[uv][signal]") {
    uv::Loop loop;
    uv::Signal sig(loop);
    uv::Timer timer(loop);
    int signal_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(sig.start(
        [&](int signum) {
            REQUIRE(signum == SIGUSR2);
            ++signal_cb_called;
            sig.close([&] { ++close_cb_called; });
            timer.close([&] { ++close_cb_called; });
        },
        SIGUSR2));
    REQUIRE(sig.signum() == SIGUSR2);
    REQUIRE(sig.is_active());
    REQUIRE_FALSE(timer.start([] { std::raise(SIGUSR2); }, 1ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(signal_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Signal stop stops deliveries and makes the handle inactive", "[uv][signal]") {
    uv::Loop loop;
    uv::Signal sig(loop);
    int signal_cb_called = 0;
    REQUIRE_FALSE(sig.start([&](int) { ++signal_cb_called; }, SIGUSR2));
    sig.stop();
    REQUIRE_FALSE(sig.is_active());
    REQUIRE_FALSE(loop.alive());
    REQUIRE(loop.run() == 0);
    REQUIRE(signal_cb_called == 0);
    sig.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}
