#include <pollux/core/pending.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/result.hpp>
#include <pollux/runtime.hpp>
#include <pollux/time/error.hpp>
#include <pollux/time/pause.hpp>
#include <pollux/time/timeout.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <sstream>
#include <string>
#include <system_error>
#include <type_traits>

using namespace pollux;
using namespace std::chrono_literals;

namespace {

Result<int> fails_with(boost::system::error_code ec) {
    return Result<int>(boost::system::in_place_error, ec);
}

} // namespace

TEST_CASE("time::errc::elapsed is an error code whose message is \"deadline elapsed\"",
          "[time][error]") {
    STATIC_REQUIRE(boost::system::is_error_code_enum<time::errc>::value);
    const boost::system::error_code ec = time::errc::elapsed;
    REQUIRE(ec.message() == "deadline elapsed");
    REQUIRE(ec.category() == time::elapsed_category());
    REQUIRE(std::string(time::elapsed_category().name()) == "pollux.time");
    REQUIRE(ec == time::make_error_code(time::errc::elapsed));
    REQUIRE(ec != boost::asio::error::timed_out);
    std::ostringstream os;
    os << time::errc::elapsed;
    REQUIRE(os.str() == "deadline elapsed");
}

TEST_CASE("timeout that gives up reports time::errc::elapsed, not asio's timed_out",
          "[time][error][timeout]") {
    RuntimeOptions options;
    options.start_paused = true;
    Runtime rt(options);
    Result<int> r = rt.block_on(time::timeout(30s, pending<int>()));
    REQUIRE(r.has_error());
    REQUIRE(r.error() == time::errc::elapsed);
    REQUIRE(r.error() != boost::asio::error::timed_out);
    REQUIRE(r.error().message() == "deadline elapsed");
}

TEST_CASE("time::errc::elapsed compares equal to the generic timed_out condition",
          "[time][error]") {
    const boost::system::error_code ec = time::errc::elapsed;
    REQUIRE(ec == boost::system::errc::timed_out);
    REQUIRE(ec == std::errc::timed_out);
    REQUIRE(std::error_code(ec) == std::errc::timed_out);
    REQUIRE(ec.default_error_condition() ==
            boost::system::errc::make_error_condition(boost::system::errc::timed_out));
    // Still pollux's own code: its category, value and message are unchanged.
    REQUIRE(ec.category() == time::elapsed_category());
    REQUIRE(ec.message() == "deadline elapsed");
    REQUIRE(ec != std::errc::operation_canceled);
}

TEST_CASE("flatten of an outer error is the outer error", "[time][error][flatten]") {
    Result<Result<int>> r(boost::system::in_place_error,
                          time::make_error_code(time::errc::elapsed));
    Result<int> flat = flatten(r);
    REQUIRE(flat.error() == time::errc::elapsed);
}

TEST_CASE("flatten of an inner error is the inner error", "[time][error][flatten]") {
    Result<Result<int>> r(boost::system::in_place_value,
                          fails_with(boost::asio::error::connection_reset));
    Result<int> flat = flatten(r);
    REQUIRE(flat.error() == boost::asio::error::connection_reset);
}

TEST_CASE("flatten of an inner value is the value", "[time][error][flatten]") {
    Result<Result<int>> r(boost::system::in_place_value, Result<int>(7));
    Result<int> flat = flatten(r);
    REQUIRE(flat.value() == 7);
    Result<Result<void>> v(boost::system::in_place_value, Result<void>());
    REQUIRE(flatten(v).has_value());
}

TEST_CASE("timeout around a Result future flattens to one Result", "[time][error][flatten]") {
    RuntimeOptions options;
    options.start_paused = true;
    Runtime rt(options);
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(time::timeout(1s, ready(Result<int>(1))))>,
                                  Result<Result<int>>>);
    SECTION("the inner value") {
        Result<int> r = flatten(rt.block_on(time::timeout(1s, ready(Result<int>(5)))));
        REQUIRE(r.value() == 5);
    }
    SECTION("the inner error") {
        Result<int> r = flatten(rt.block_on(
            time::timeout(1s, ready(fails_with(boost::asio::error::connection_refused)))));
        REQUIRE(r.error() == boost::asio::error::connection_refused);
    }
    SECTION("the deadline") {
        Result<int> r = flatten(rt.block_on(time::timeout(1s, pending<Result<int>>())));
        REQUIRE(r.error() == time::errc::elapsed);
    }
}
