#include <pollux/core/block_on.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/result.hpp>
#include <pollux/core/try_join.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

using namespace pollux;
using boost::system::errc::make_error_code;
using pollux::test::Counted;
using pollux::test::interleave_pending;
using pollux::test::MockTask;
namespace errc = boost::system::errc;

namespace {

// A future completed by the test: pending (keeping the latest waker) until
// `finish(result)`. Records its polls and its destruction.
struct GateState {
    std::optional<Result<int>> result;
    int polls = 0;
    bool destroyed = false;
    std::optional<Waker> waker;
    void finish(Result<int> r) {
        result.emplace(std::move(r));
        if (waker) {
            std::move(*waker).wake();
        }
    }
};

struct Gate {
    using Output = Result<int>;
    std::shared_ptr<GateState> st;
    explicit Gate(std::shared_ptr<GateState> s) : st(std::move(s)) {}
    Gate(Gate&&) noexcept = default;
    ~Gate() {
        if (st) {
            st->destroyed = true;
        }
    }
    Poll<Result<int>> poll(Context& cx) {
        ++st->polls;
        if (!st->result) {
            st->waker = cx.waker();
            return Pending{};
        }
        return Ready{std::move(*st->result)};
    }
};

template <class T>
ReadyFuture<Result<T>> ok(T v) {
    return ready(Result<T>(std::move(v)));
}

ReadyFuture<Result<int>> fail(errc::errc_t e) {
    return ready(Result<int>(make_error_code(e)));
}

struct Throws {
    using Output = Result<int>;
    Poll<Result<int>> poll(Context&) { throw std::runtime_error("boom"); }
};

} // namespace

TEST_CASE("try_join returns all values in a tuple when every branch succeeds", "[core][try_join]") {
    auto f = try_join(ok(1), ok(std::string("two")));
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, Result<std::tuple<int, std::string>>>);
    auto r = block_on(std::move(f));
    REQUIRE(r.has_value());
    REQUIRE(std::get<0>(*r) == 1);
    REQUIRE(std::get<1>(*r) == "two");
}

TEST_CASE("try_join turns void values into Unit", "[core][try_join]") {
    auto f = try_join(ready(Result<void>()), ok(2));
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>, Result<std::tuple<Unit, int>>>);
    auto r = block_on(std::move(f));
    REQUIRE(r.has_value());
    REQUIRE(std::get<1>(*r) == 2);
}

TEST_CASE("try_join returns the first error and drops the other branches before returning",
          "[core][try_join]") {
    auto slow = std::make_shared<GateState>();
    auto failing = std::make_shared<GateState>();
    MockTask task(try_join(Gate(slow), Gate(failing), ok(3)));
    REQUIRE(task.poll().is_pending());
    failing->finish(make_error_code(errc::connection_reset));
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value().has_error());
    REQUIRE(p.value().error() == make_error_code(errc::connection_reset));
    // The TryJoin is still alive inside the task, but every branch is gone.
    REQUIRE(slow->destroyed);
    REQUIRE(failing->destroyed);
}

TEST_CASE("try_join drops the finished values when a branch fails", "[core][try_join]") {
    Counted::reset();
    auto failing = std::make_shared<GateState>();
    MockTask task(try_join(ok(Counted(1)), Gate(failing)));
    REQUIRE(task.poll().is_pending());
    REQUIRE(Counted::alive() == 1);
    failing->finish(make_error_code(errc::timed_out));
    auto p = task.poll();
    REQUIRE(p.value().has_error());
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("try_join returns the error of the first failing branch in argument order",
          "[core][try_join]") {
    auto after = std::make_shared<GateState>();
    auto f = try_join(ok(1), fail(errc::timed_out), fail(errc::io_error), Gate(after));
    auto r = block_on(std::move(f));
    REQUIRE(r.error() == make_error_code(errc::timed_out));
    REQUIRE(after->polls == 0); // polling stopped at the first error
    REQUIRE(after->destroyed);
}

TEST_CASE("try_join converts each branch's error to the first branch's error type",
          "[core][try_join]") {
    using StrResult = boost::system::result<int, std::string>;
    using CharResult = boost::system::result<long, const char*>;
    auto f = try_join(ready(StrResult(1)), ready(CharResult(boost::system::in_place_error, "bad")));
    STATIC_REQUIRE(std::is_same_v<output_t<decltype(f)>,
                                  boost::system::result<std::tuple<int, long>, std::string>>);
    auto r = block_on(std::move(f));
    REQUIRE(r.has_error());
    REQUIRE(r.error() == "bad");
}

TEST_CASE("try_join waits for the slowest branch and re-polls using the context's waker",
          "[core][try_join]") {
    MockTask task(try_join(ok(1), interleave_pending(ok(2))));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(*p.value() == std::tuple<int, int>(1, 2));
}

TEST_CASE("try_join moves values into the tuple without copying or leaking", "[core][try_join]") {
    Counted::reset();
    {
        auto r = block_on(try_join(ok(Counted(1)), interleave_pending(ok(Counted(2)))));
        REQUIRE(std::get<0>(*r).id == 1);
        REQUIRE(std::get<1>(*r).id == 2);
        REQUIRE(Counted::alive() == 2);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("try_join dropped before completion drops every branch", "[core][try_join]") {
    auto st = std::make_shared<GateState>();
    {
        MockTask task(try_join(ok(1), Gate(st)));
        REQUIRE(task.poll().is_pending());
    }
    REQUIRE(st->destroyed);
}

TEST_CASE("try_join rethrows what a child's poll throws", "[core][try_join]") {
    REQUIRE_THROWS_AS(block_on(try_join(ok(1), Throws{})), std::runtime_error);
}
