#include <pollux/uv/getaddrinfo.hpp>
#include <pollux/uv/loop.hpp>

#include "support/loop_quiescent.hpp"

#include <catch2/catch.hpp>

using namespace pollux;
using pollux::test::require_loop_quiescent;

TEST_CASE("uv getaddrinfo resolves a numeric host and service on the loop", "[uv][getaddrinfo]") {
    uv::Loop loop;
    int getaddrinfo_cb_called = 0;
    auto req = uv::getaddrinfo(
        loop, "127.0.0.1", "8080", [&](boost::system::error_code ec, uv::AddrInfoResults r) {
            REQUIRE_FALSE(ec);
            REQUIRE_FALSE(r.empty());
            REQUIRE(r.begin()->endpoint().port() == 8080);
            ++getaddrinfo_cb_called;
        });
    REQUIRE(getaddrinfo_cb_called == 0);
    REQUIRE(loop.alive());
    REQUIRE(loop.run() == 0);
    REQUIRE(getaddrinfo_cb_called == 1);
    REQUIRE(req.done());
    require_loop_quiescent(loop);
}

TEST_CASE("uv getaddrinfo reports an unknown service as an error in the callback",
          "[uv][getaddrinfo]") {
    uv::Loop loop;
    int getaddrinfo_cb_called = 0;
    boost::system::error_code got;
    (void)uv::getaddrinfo(loop,
                          "127.0.0.1",
                          "no-such-service-pollux",
                          [&](boost::system::error_code ec, uv::AddrInfoResults) {
                              got = ec;
                              ++getaddrinfo_cb_called;
                          });
    REQUIRE(loop.run() == 0);
    REQUIRE(getaddrinfo_cb_called == 1);
    REQUIRE(got);
    require_loop_quiescent(loop);
}
