#include <pollux/core/poll.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <type_traits>

using namespace pollux;

TEST_CASE("Poll from Pending is pending", "[core][poll]") {
    Poll<int> p = Pending{};
    REQUIRE(p.is_pending());
    REQUIRE_FALSE(p.is_ready());
}

TEST_CASE("Poll from Ready holds the value, deduced by CTAD", "[core][poll]") {
    Poll<int> p = Ready{42};
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 42);
}

TEST_CASE("Poll converts a Ready of a convertible type", "[core][poll]") {
    Poll<std::string> p = Ready{"abc"};
    REQUIRE(std::move(p).value() == "abc");
}

TEST_CASE("Poll of a move-only type moves its value out", "[core][poll]") {
    Poll<std::unique_ptr<int>> p = Ready{std::make_unique<int>(7)};
    std::unique_ptr<int> v = std::move(p).value();
    REQUIRE(*v == 7);
}

TEST_CASE("Poll<void> is ready from Ready<void>", "[core][poll]") {
    Poll<void> p = Ready<void>{};
    REQUIRE(p.is_ready());
    Poll<void> q = Pending{};
    REQUIRE(q.is_pending());
}

TEST_CASE("value_t maps void to Unit and keeps other types", "[core][poll]") {
    STATIC_REQUIRE(std::is_same_v<value_t<void>, Unit>);
    STATIC_REQUIRE(std::is_same_v<value_t<int>, int>);
    STATIC_REQUIRE(Unit{} == Unit{});
}
