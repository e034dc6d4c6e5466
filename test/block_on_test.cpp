#include <pollux/core/block_on.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

using namespace pollux;

namespace {

// Returns Pending `n` times, waking itself each time, then Ready(n).
struct SelfWaking {
    using Output = int;
    int remaining;
    int total = remaining;
    Poll<int> poll(Context& cx) {
        if (remaining-- > 0) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        return Ready{total};
    }
};

// Pending until a thread, started on the first poll, wakes it after a delay.
struct WokenFromThread {
    using Output = int;
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
    std::optional<std::thread> thread;
    WokenFromThread() = default;
    WokenFromThread(WokenFromThread&&) = default;
    ~WokenFromThread() {
        if (thread) {
            thread->join();
        }
    }
    Poll<int> poll(Context& cx) {
        if (done->load()) {
            return Ready{1};
        }
        if (!thread) {
            thread.emplace([w = cx.waker(), done = done]() mutable {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                done->store(true);
                std::move(w).wake();
            });
        }
        return Pending{};
    }
};

struct Throws {
    using Output = int;
    Poll<int> poll(Context&) { throw std::runtime_error("boom"); }
};

struct Void {
    using Output = void;
    Poll<void> poll(Context&) { return Ready<void>{}; }
};

} // namespace

TEST_CASE("block_on completes a future that is pending N times and wakes itself",
          "[core][block_on]") {
    REQUIRE(block_on(SelfWaking{1000}) == 1000);
}

TEST_CASE("block_on ends when a waker is fired from another thread after a delay",
          "[core][block_on]") {
    REQUIRE(block_on(WokenFromThread{}) == 1);
}

TEST_CASE("block_on rethrows what poll threw", "[core][block_on]") {
    REQUIRE_THROWS_AS(block_on(Throws{}), std::runtime_error);
}

TEST_CASE("block_on of a void future returns", "[core][block_on]") {
    block_on(Void{});
    SUCCEED();
}

TEST_CASE("block_on polls an lvalue future in place", "[core][block_on]") {
    SelfWaking f{3};
    REQUIRE(block_on(f) == 3);
    REQUIRE(f.remaining == -1);
}

TEST_CASE("block_on nested inside a poll does not steal the outer wake", "[core][block_on]") {
    struct Outer {
        using Output = int;
        bool first = true;
        Poll<int> poll(Context& cx) {
            if (first) {
                first = false;
                cx.waker().wake_by_ref();              // the outer wake
                return Ready{block_on(SelfWaking{2})}; // an inner block_on
            }
            return Ready{0};
        }
    };
    REQUIRE(block_on(Outer{}) == 2);
}
