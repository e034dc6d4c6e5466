#include <pollux/core/fuse.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/ready.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <type_traits>
#include <utility>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::interleave_pending;
using pollux::test::MockTask;

namespace {

// Ready(id) on its first poll; holds a Counted to show when it is destroyed.
struct HoldsCounted {
    using Output = int;
    Counted c{0};
    Poll<int> poll(Context&) { return Ready{7}; }
};

struct Throws {
    using Output = int;
    Poll<int> poll(Context&) { throw std::runtime_error("boom"); }
};

} // namespace

TEST_CASE("Fuse is a FusedFuture and a plain future is not", "[core][fuse]") {
    STATIC_REQUIRE(Future<Fuse<ReadyFuture<int>>>);
    STATIC_REQUIRE(FusedFuture<Fuse<ReadyFuture<int>>>);
    STATIC_REQUIRE_FALSE(FusedFuture<ReadyFuture<int>>);
    STATIC_REQUIRE(std::is_same_v<decltype(fuse(ready(1))), Fuse<ReadyFuture<int>>>);
    STATIC_REQUIRE(std::is_same_v<output_t<Fuse<ReadyFuture<void>>>, void>);
}

TEST_CASE("Fuse returns Pending after completion and never wakes", "[core][fuse]") {
    MockTask task(fuse(ready(1)));
    REQUIRE_FALSE(task.future().is_terminated());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == 1);
    REQUIRE(task.future().is_terminated());
    for (int i = 0; i < 10; ++i) {
        REQUIRE(task.poll().is_pending());
    }
    REQUIRE(task.wake_count() == 0);
}

TEST_CASE("Fuse of void returns Pending after completion", "[core][fuse]") {
    MockTask task(fuse(ready()));
    REQUIRE(task.poll().is_ready());
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.future().is_terminated());
}

TEST_CASE("Fuse passes Pending and the caller's waker through", "[core][fuse]") {
    MockTask task(fuse(interleave_pending(ready(3))));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.is_woken());
    REQUIRE_FALSE(task.future().is_terminated());
    REQUIRE(task.poll().value() == 3);
    REQUIRE(task.future().is_terminated());
}

TEST_CASE("Fuse destroys the inner future as soon as it completes", "[core][fuse]") {
    Counted::reset();
    MockTask task(fuse(HoldsCounted{}));
    REQUIRE(Counted::alive() == 1);
    REQUIRE(task.poll().is_ready());
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("Fuse terminated is terminated and always pending", "[core][fuse]") {
    auto f = Fuse<ReadyFuture<int>>::terminated();
    REQUIRE(f.is_terminated());
    Context cx(Waker::noop());
    REQUIRE(f.poll(cx).is_pending());
}

TEST_CASE("Fuse of a never-ready future is never terminated", "[core][fuse]") {
    MockTask task(fuse(pending<int>()));
    REQUIRE(task.poll().is_pending());
    REQUIRE_FALSE(task.future().is_terminated());
}

TEST_CASE("Fuse rethrows what the inner future throws and is not terminated", "[core][fuse]") {
    auto f = fuse(Throws{});
    Context cx(Waker::noop());
    REQUIRE_THROWS_AS(f.poll(cx), std::runtime_error);
    REQUIRE_FALSE(f.is_terminated());
}
