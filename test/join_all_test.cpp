#include <pollux/core/block_on.hpp>
#include <pollux/core/join_all.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"
#include "support/wakers.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;
using pollux::test::Counted;
using pollux::test::MockTask;

namespace {

// A harness of gates: child i stays pending, keeping its latest waker here,
// until gate i is open; every child poll is counted.
struct Gates {
    explicit Gates(std::size_t n) : open(n, 0), wakers(n, Waker::noop()) {}
    std::vector<char> open;
    std::vector<Waker> wakers;
    std::size_t polls = 0;

    void wake(std::size_t i) { std::exchange(wakers[i], Waker::noop()).wake(); }
    void open_and_wake(std::size_t i) {
        open[i] = 1;
        wake(i);
    }
};

struct Gate {
    using Output = int;
    Gates* gates;
    int id;
    Poll<int> poll(Context& cx) {
        ++gates->polls;
        const auto i = static_cast<std::size_t>(id);
        if (gates->open[i]) {
            return Ready{id};
        }
        gates->wakers[i] = cx.waker();
        return Pending{};
    }
};

std::vector<Gate> make_gates(Gates& gates, std::size_t n) {
    std::vector<Gate> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        v.push_back(Gate{&gates, static_cast<int>(i)});
    }
    return v;
}

std::vector<int> iota(std::size_t n) {
    std::vector<int> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        v[i] = static_cast<int>(i);
    }
    return v;
}

} // namespace

TEST_CASE("join_all is a Future of a vector of the outputs", "[core][join_all]") {
    STATIC_REQUIRE(Future<JoinAll<Gate>>);
    STATIC_REQUIRE(std::is_same_v<output_t<JoinAll<Gate>>, std::vector<int>>);
    STATIC_REQUIRE(std::is_same_v<decltype(join_all(std::vector<Gate>{})), JoinAll<Gate>>);
}

TEST_CASE("join_all returns outputs in input order when children finish in reverse order",
          "[core][join_all]") {
    Gates gates(5);
    MockTask task(join_all(make_gates(gates, 5)));
    REQUIRE(task.poll().is_pending());
    for (std::size_t i = 5; i-- > 1;) {
        gates.open_and_wake(i);
        REQUIRE(task.is_woken());
        REQUIRE(task.poll().is_pending());
    }
    gates.open_and_wake(0);
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == iota(5));
}

TEST_CASE("join_all of an empty vector is ready at once with an empty vector", "[core][join_all]") {
    auto fut = join_all(std::vector<Gate>{});
    Context cx(pollux::test::panicking_waker());
    auto p = fut.poll(cx);
    REQUIRE(p.is_ready());
    REQUIRE(p.value().empty());
}

TEST_CASE("join_all polls N children 2N times when each is woken once at once",
          "[core][join_all]") {
    constexpr std::size_t n = 10'000;
    Gates gates(n);
    MockTask task(join_all(make_gates(gates, n)));
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == n);
    for (std::size_t i = 0; i < n; ++i) {
        gates.open_and_wake(i);
    }
    REQUIRE(task.wake_count() == 1); // one parent wake for the whole batch
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == iota(n));
    REQUIRE(gates.polls == 2 * n);
    REQUIRE(task.poll_count() == 2);
}

TEST_CASE("join_all polls N children 2N times when woken one at a time between polls",
          "[core][join_all]") {
    constexpr std::size_t n = 10'000;
    Gates gates(n);
    MockTask task(join_all(make_gates(gates, n)));
    REQUIRE(task.poll().is_pending());
    for (std::size_t i = 0; i + 1 < n; ++i) {
        gates.open_and_wake(i);
        REQUIRE(task.poll().is_pending());
    }
    gates.open_and_wake(n - 1);
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == iota(n));
    REQUIRE(gates.polls == 2 * n);
    REQUIRE(task.wake_count() == n);
}

TEST_CASE("join_all polls a child again only after it is woken", "[core][join_all]") {
    Gates gates(3);
    MockTask task(join_all(make_gates(gates, 3)));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.poll().is_pending()); // spurious parent poll: no child polled
    REQUIRE(gates.polls == 3);
    gates.wake(1); // woken, still pending
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == 4);
}

TEST_CASE("join_all moves outputs into the vector without copies and leaks none",
          "[core][join_all]") {
    struct Make {
        using Output = Counted;
        int id;
        bool pended = false;
        Poll<Counted> poll(Context& cx) {
            if (!pended) {
                pended = true;
                cx.waker().wake_by_ref();
                return Pending{};
            }
            return Ready{Counted(id)};
        }
    };
    Counted::reset();
    {
        std::vector<Make> fs;
        for (int i = 0; i < 10; ++i) {
            fs.push_back(Make{i});
        }
        std::vector<Counted> out = block_on(join_all(std::move(fs)));
        REQUIRE(out.size() == 10);
        for (int i = 0; i < 10; ++i) {
            REQUIRE(out[static_cast<std::size_t>(i)].id == i);
        }
        REQUIRE(Counted::alive() == 10);
    }
    REQUIRE(Counted::copies == 0);
    REQUIRE(Counted::value_constructions == 10);
    REQUIRE(Counted::alive() == 0);
}

namespace {

struct Holding {
    using Output = int;
    Counted state{0};
    Poll<int> poll(Context&) { return Pending{}; }
};

} // namespace

TEST_CASE("join_all destroys every child when dropped", "[core][join_all]") {
    Counted::reset();
    {
        std::vector<Holding> fs(4);
        MockTask task(join_all(std::move(fs)));
        REQUIRE(task.poll().is_pending());
        REQUIRE(Counted::alive() == 4);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("join_all propagates a child's exception and destroys the other children",
          "[core][join_all]") {
    struct Throws {
        using Output = int;
        bool fail;
        Counted state{0};
        Poll<int> poll(Context&) {
            if (fail) {
                throw std::runtime_error("child failed");
            }
            return Pending{};
        }
    };
    Counted::reset();
    {
        std::vector<Throws> fs;
        fs.push_back(Throws{false});
        fs.push_back(Throws{true});
        fs.push_back(Throws{false});
        MockTask task(join_all(std::move(fs)));
        REQUIRE_THROWS_AS(task.poll(), std::runtime_error);
        REQUIRE(Counted::alive() == 0);
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("join_all of void futures gives a vector of Unit", "[core][join_all]") {
    struct Done {
        using Output = void;
        Poll<void> poll(Context&) { return Ready<void>{}; }
    };
    std::vector<Done> fs(3);
    STATIC_REQUIRE(std::is_same_v<output_t<JoinAll<Done>>, std::vector<Unit>>);
    REQUIRE(block_on(join_all(std::move(fs))).size() == 3);
}

TEST_CASE("join_all completes under block_on when children are woken from other threads",
          "[core][join_all]") {
    // Each child hands its waker to a thread of its own on the first poll.
    struct Threaded {
        using Output = int;
        int id;
        std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
        std::unique_ptr<std::thread> thread;
        explicit Threaded(int i) : id(i) {}
        Threaded(Threaded&&) = default;
        ~Threaded() {
            if (thread) {
                thread->join();
            }
        }
        Poll<int> poll(Context& cx) {
            if (done->load()) {
                return Ready{id};
            }
            if (!thread) {
                thread = std::make_unique<std::thread>([w = cx.waker(), d = done] {
                    d->store(true);
                    w.wake_by_ref();
                });
            }
            return Pending{};
        }
    };
    std::vector<Threaded> fs;
    for (int i = 0; i < 16; ++i) {
        fs.emplace_back(i);
    }
    REQUIRE(block_on(join_all(std::move(fs))) == iota(16));
}

TEST_CASE("join_all polls a child woken during its first poll again", "[core][join_all]") {
    struct WakesItself {
        using Output = int;
        int polls = 0;
        Poll<int> poll(Context& cx) {
            if (++polls == 1) {
                cx.waker().wake_by_ref(); // on the first poll's waker
                return Pending{};
            }
            return Ready{polls};
        }
    };
    std::vector<WakesItself> fs(1);
    MockTask task(join_all(std::move(fs)));
    REQUIRE(task.poll().is_pending());
    REQUIRE(task.is_woken());
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == std::vector<int>{2});
}

namespace {

// Finishes in its first poll after keeping a clone of its waker.
struct KeepsWakerAndFinishes {
    using Output = int;
    int id;
    Waker* keep;
    Poll<int> poll(Context& cx) {
        *keep = cx.waker();
        return Ready{id};
    }
};

// Ready at once, or a gate; one type for both.
struct Mixed {
    using Output = int;
    std::optional<Gate> gate;
    std::optional<KeepsWakerAndFinishes> keeps;
    int id = 0;
    Poll<int> poll(Context& cx) {
        if (gate) {
            return gate->poll(cx);
        }
        if (keeps) {
            return keeps->poll(cx);
        }
        return Ready{id};
    }
};

} // namespace

TEST_CASE("join_all keeps input order across children ready at once and children that wait",
          "[core][join_all]") {
    Gates gates(5);
    Waker kept = Waker::noop();
    std::vector<Mixed> fs(5);
    fs[0].id = 0;                                  // ready at once
    fs[1].gate = Gate{&gates, 1};                  // waits
    fs[2].id = 2;                                  // ready, after one waited
    fs[3].keeps = KeepsWakerAndFinishes{3, &kept}; // keeps a waker, ready
    fs[4].gate = Gate{&gates, 4};                  // waits
    MockTask task(join_all(std::move(fs)));
    REQUIRE(task.poll().is_pending());
    gates.open_and_wake(4);
    REQUIRE(task.poll().is_pending());
    gates.open_and_wake(1);
    auto p = task.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == iota(5));
}

TEST_CASE("join_all does not wake its task for a child that already finished", "[core][join_all]") {
    Gates gates(2);
    Waker kept = Waker::noop();
    std::vector<Mixed> fs(2);
    fs[0].keeps = KeepsWakerAndFinishes{0, &kept};
    fs[1].gate = Gate{&gates, 1};
    MockTask task(join_all(std::move(fs)));
    REQUIRE(task.poll().is_pending());
    kept.wake_by_ref();
    REQUIRE_FALSE(task.is_woken());
    REQUIRE(task.poll().is_pending());
    REQUIRE(gates.polls == 1); // the gate was not polled again
}

TEST_CASE("join_all child woken after the future was dropped does nothing", "[core][join_all]") {
    Gates gates(3);
    std::optional<MockTask<JoinAll<Gate>>> task;
    task.emplace(join_all(make_gates(gates, 3)));
    REQUIRE(task->poll().is_pending());
    Waker late = gates.wakers[1]; // outlives the future (and its block's owner)
    task.reset();
    late.wake_by_ref();
    std::move(late).wake();
    gates.wakers.assign(3, Waker::noop()); // the last wakers go: the block is freed
    REQUIRE(gates.polls == 3);
}

TEST_CASE("join_all may be moved between polls", "[core][join_all]") {
    Gates gates(3);
    auto first = join_all(make_gates(gates, 3));
    MockTask a(std::move(first));
    REQUIRE(a.poll().is_pending());
    MockTask b(std::move(a.future())); // moved after its first poll
    gates.open_and_wake(0);
    gates.open_and_wake(1);
    gates.open_and_wake(2);
    REQUIRE(a.wake_count() == 1); // the waker registered by the last poll, a's
    auto p = b.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value() == iota(3));
}
