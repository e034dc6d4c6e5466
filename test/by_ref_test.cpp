#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/by_ref.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/select.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/oneshot.hpp>
#include <pollux/time/sleep.hpp>
#include <pollux/time/timeout.hpp>

#include "support/futures.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <utility>
#include <variant>

using namespace pollux;
using namespace std::chrono_literals;

namespace {

// A future that is Pending until its gate opens, then Ready(7).
Async<int> seven_after(std::shared_ptr<test::Gate> gate) {
    co_await test::wait(std::move(gate));
    co_return 7;
}

// The example of docs/cancellation.md ("Racing a future without losing
// it"), verbatim: keep the two in sync.
void log_progress() {
}
// clang-format off
pollux::Async<int> wait_with_progress(pollux::JoinHandle<int> h) {
    for (;;) {
        auto r = co_await pollux::select(pollux::by_ref(h), pollux::time::sleep(1s));
        if (r.index() == 0) {
            co_return std::get<0>(r);
        }
        log_progress();   // the sleep won: h was only borrowed, so await it again
    }
}
// clang-format on

Async<int> finishes_after_sleeping(std::chrono::seconds d) {
    co_await time::sleep(d);
    co_return 42;
}

RuntimeOptions paused() {
    RuntimeOptions o;
    o.start_paused = true;
    return o;
}

template <class T>
concept CanByRef = requires(T&& t) {
    by_ref(std::forward<T>(t));
};

struct Throws {
    using Output = int;
    Poll<int> poll(Context&) { throw std::runtime_error("inner threw"); }
};

} // namespace

TEST_CASE("by_ref is a future with the referenced future's output", "[core][by_ref]") {
    STATIC_REQUIRE(Future<ByRef<test::Gate::Wait>>);
    STATIC_REQUIRE(std::is_same_v<output_t<ByRef<JoinHandle<int>>>, int>);
    STATIC_REQUIRE(std::is_same_v<output_t<ByRef<Async<std::string>>>, std::string>);
    // A temporary would dangle: by_ref takes non-const lvalues only.
    STATIC_REQUIRE(!CanByRef<Async<int>>);
    STATIC_REQUIRE(!CanByRef<const test::Gate::Wait&>);
    STATIC_REQUIRE(CanByRef<test::Gate::Wait&>);
}

TEST_CASE("by_ref polls the referenced future and registers the waker of its own poll",
          "[core][by_ref]") {
    auto gate = std::make_shared<test::Gate>();
    auto wait = test::wait(gate);
    test::MockTask task(by_ref(wait));
    REQUIRE(task.poll().is_pending());
    gate->open();
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().is_ready());
}

TEST_CASE("by_ref of a future that loses a select leaves it alive to be awaited again",
          "[core][by_ref]") {
    auto dropped = std::make_shared<std::atomic<bool>>(false);
    test::PendingForever forever(dropped);
    auto r = block_on(select_biased(by_ref(forever), ready(1)));
    REQUIRE(r.index() == 1);
    // select destroyed its branch, the ByRef, and not the future it borrowed.
    REQUIRE_FALSE(dropped->load());
}

TEST_CASE("by_ref of an Async lvalue: the Async resumes where it was after losing a select",
          "[core][by_ref][async]") {
    auto gate = std::make_shared<test::Gate>();
    Async<int> a = seven_after(gate);
    auto first = block_on(select_biased(by_ref(a), ready(0)));
    REQUIRE(first.index() == 1); // a ran to its gate and was suspended there
    gate->open();
    REQUIRE(block_on(by_ref(a)) == 7);
}

TEST_CASE("by_ref of a JoinHandle that loses a timeout can be awaited again",
          "[core][by_ref][join_handle]") {
    Runtime rt(paused());
    auto body = []() -> Async<int> {
        JoinHandle<int> h = spawn(finishes_after_sleeping(10s));
        auto r = co_await time::timeout(1s, by_ref(h));
        REQUIRE_FALSE(r.has_value()); // timed out; the task keeps running
        REQUIRE_FALSE(h.is_finished());
        co_return co_await h;
    };
    REQUIRE(rt.block_on(body()) == 42);
}

TEST_CASE("by_ref of a oneshot Receiver keeps a value sent after its select branch lost",
          "[core][by_ref][sync]") {
    auto [tx, rx] = sync::oneshot::channel<int>();
    auto r = block_on(select_biased(by_ref(rx), ready(0)));
    REQUIRE(r.index() == 1);
    REQUIRE(tx.send(5).has_value());
    REQUIRE(block_on(by_ref(rx)).value() == 5);
}

TEST_CASE("by_ref rethrows what the referenced future's poll throws", "[core][by_ref]") {
    Throws t;
    REQUIRE_THROWS_WITH(block_on(by_ref(t)), "inner threw");
}

TEST_CASE("the cancellation.md example: select over by_ref(h) and sleep awaits h until it "
          "finishes",
          "[core][by_ref][docs]") {
    Runtime rt(paused());
    auto body = []() -> Async<int> {
        co_return co_await wait_with_progress(spawn(finishes_after_sleeping(3s)));
    };
    REQUIRE(rt.block_on(body()) == 42);
}
