#include <pollux/abort_handle.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/counted.hpp"
#include "support/futures.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

using namespace pollux;
using pollux::test::Counted;

namespace {

std::shared_ptr<std::atomic<bool>> flag() {
    return std::make_shared<std::atomic<bool>>(false);
}

Async<Counted> counted_after(std::shared_ptr<test::Gate> gate) {
    co_await test::wait(std::move(gate));
    co_return Counted(1);
}

// Pending for ever, waking itself on every poll: a task that is always
// scheduled or running, so an abort meets it in every state.
struct Spins {
    using Output = void;
    std::shared_ptr<std::atomic<bool>> dropped;
    explicit Spins(std::shared_ptr<std::atomic<bool>> d) : dropped(std::move(d)) {}
    Spins(Spins&& o) noexcept : dropped(std::move(o.dropped)) {}
    ~Spins() {
        if (dropped) {
            dropped->store(true);
        }
    }
    Poll<void> poll(Context& cx) {
        cx.waker().wake_by_ref();
        return Pending{};
    }
};

// Never ready; holds an AbortHandle (of its own task or another) and aborts
// it when destroyed.
struct AbortsOnDrop {
    using Output = void;
    std::shared_ptr<std::optional<AbortHandle>> target;
    std::shared_ptr<std::atomic<bool>> dropped;
    AbortsOnDrop(std::shared_ptr<std::optional<AbortHandle>> t,
                 std::shared_ptr<std::atomic<bool>> d)
        : target(std::move(t)), dropped(std::move(d)) {}
    AbortsOnDrop(AbortsOnDrop&&) noexcept = default;
    ~AbortsOnDrop() {
        if (target && *target) {
            (*target)->abort();
            target->reset();
        }
        if (dropped) {
            dropped->store(true);
        }
    }
    Poll<void> poll(Context&) { return Pending{}; }
};

} // namespace

TEST_CASE("AbortHandle is copyable and nothrow movable", "[scheduler][abort_handle]") {
    STATIC_REQUIRE(std::is_copy_constructible_v<AbortHandle>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<AbortHandle>);
    STATIC_REQUIRE(std::is_nothrow_destructible_v<AbortHandle>);
}

TEST_CASE("AbortHandle abort cancels the task and its JoinHandle throws TaskCancelled",
          "[scheduler][abort_handle]") {
    boost::asio::io_context io;
    auto dropped = flag();
    JoinHandle<int> h = spawn(io, test::PendingForever(dropped));
    AbortHandle a = h.abort_handle();
    io.run_one(); // the first poll
    REQUIRE_FALSE(a.is_finished());
    a.abort();
    io.restart();
    io.run();
    REQUIRE(dropped->load());
    REQUIRE(a.is_finished());
    REQUIRE(h.is_finished());
    REQUIRE_THROWS_AS(block_on(std::move(h)), TaskCancelled);
}

TEST_CASE("AbortHandle id and is_finished are the JoinHandle's", "[scheduler][abort_handle]") {
    boost::asio::io_context io;
    auto gate = std::make_shared<test::Gate>();
    JoinHandle<void> h = spawn(io, test::wait(gate));
    JoinHandle<void> other = spawn(io, test::wait(gate));
    AbortHandle a = h.abort_handle();
    REQUIRE(a.id() != 0);
    REQUIRE(a.id() == h.id());
    REQUIRE(a.id() != other.abort_handle().id());
    REQUIRE_FALSE(a.is_finished());
    gate->open();
    io.run();
    REQUIRE(a.is_finished());
}

TEST_CASE("AbortHandle of a detached task still aborts it", "[scheduler][abort_handle]") {
    boost::asio::io_context io;
    auto dropped = flag();
    std::optional<JoinHandle<int>> h(spawn(io, test::PendingForever(dropped)));
    AbortHandle a = h->abort_handle();
    h.reset(); // detach
    io.run_one();
    REQUIRE_FALSE(dropped->load());
    a.abort();
    io.restart();
    io.run();
    REQUIRE(dropped->load());
    REQUIRE(a.is_finished());
}

TEST_CASE("AbortHandle abort of a finished task does nothing and the output is kept",
          "[scheduler][abort_handle]") {
    boost::asio::io_context io;
    JoinHandle<int> h = spawn(io, []() -> Async<int> { co_return 3; }());
    AbortHandle a = h.abort_handle();
    io.run();
    REQUIRE(a.is_finished());
    a.abort();
    io.restart();
    io.run();
    REQUIRE(block_on(std::move(h)) == 3);
}

TEST_CASE("AbortHandle keeps the task's memory: the last handle dropped frees the output",
          "[scheduler][abort_handle]") {
    Counted::reset();
    boost::asio::io_context io;
    auto gate = std::make_shared<test::Gate>();
    std::optional<JoinHandle<Counted>> h(spawn(io, counted_after(gate)));
    std::optional<AbortHandle> a(h->abort_handle());
    AbortHandle copy = *a;
    h.reset(); // detached: the output will have no reader
    gate->open();
    io.run();
    REQUIRE(copy.is_finished());
    REQUIRE(Counted::alive() == 1); // the output lives in the task, held by the handles
    a.reset();
    REQUIRE(Counted::alive() == 1);
    {
        AbortHandle last = std::move(copy);
        REQUIRE(copy.id() == 0); // NOLINT(bugprone-use-after-move): moved-from is specified
    }
    REQUIRE(Counted::alive() == 0);
}

TEST_CASE("AbortHandle of a moved-from JoinHandle or default-made refers to no task",
          "[scheduler][abort_handle]") {
    boost::asio::io_context io;
    JoinHandle<void> h = spawn(io, []() -> Async<void> { co_return; }());
    JoinHandle<void> taken = std::move(h);
    AbortHandle none = h.abort_handle(); // NOLINT(bugprone-use-after-move)
    REQUIRE(none.is_finished());
    REQUIRE(none.id() == 0);
    none.abort(); // does nothing
    AbortHandle empty;
    REQUIRE(empty.is_finished());
    io.run();
}

TEST_CASE("AbortHandle aborts a task running on a worker thread from another thread",
          "[scheduler][abort_handle][thread]") {
    RuntimeOptions o;
    o.worker_threads = 2;
    Runtime rt(o);
    auto dropped = flag();
    JoinHandle<void> h = rt.spawn(Spins(dropped));
    AbortHandle a = h.abort_handle();
    std::thread t([a] { a.abort(); });
    t.join();
    REQUIRE_THROWS_AS(rt.block_on(std::move(h)), TaskCancelled);
    REQUIRE(dropped->load());
}

TEST_CASE("AbortHandle used and dropped after its Runtime is gone does nothing harmful",
          "[scheduler][abort_handle][lifetime]") {
    auto dropped = flag();
    auto rt = std::make_unique<Runtime>();
    JoinHandle<int> h = rt->spawn(test::PendingForever(dropped));
    AbortHandle a = h.abort_handle();
    rt->block_on(yield_now());
    rt.reset(); // the shutdown drops the task
    REQUIRE(dropped->load());
    REQUIRE(a.is_finished());
    a.abort();
    AbortHandle copy = a;
    REQUIRE_THROWS_AS(block_on(std::move(h)), TaskCancelled);
    // `a` and `copy` hold the last references: dropping them frees the task.
}

TEST_CASE("AbortHandle held by a task's own future is freed by its Runtime's shutdown",
          "[scheduler][abort_handle][lifetime]") {
    auto rt = std::make_unique<Runtime>();
    auto own = std::make_shared<std::optional<AbortHandle>>();
    auto dropped = flag();
    {
        JoinHandle<void> h = rt->spawn(AbortsOnDrop(own, dropped));
        own->emplace(h.abort_handle()); // a cycle: the task holds a handle of itself
    }
    rt->block_on(yield_now());
    rt.reset();
    REQUIRE(dropped->load()); // LSan reports the task if the cycle leaked
}

TEST_CASE("AbortHandle abort from a future dropped during its Runtime's shutdown",
          "[scheduler][abort_handle][lifetime]") {
    auto rt = std::make_unique<Runtime>();
    auto victim_dropped = flag();
    auto holder_dropped = flag();
    auto target = std::make_shared<std::optional<AbortHandle>>();
    JoinHandle<int> victim = rt->spawn(test::PendingForever(victim_dropped));
    target->emplace(victim.abort_handle());
    JoinHandle<void> holder = rt->spawn(AbortsOnDrop(target, holder_dropped));
    rt->block_on(yield_now());
    rt.reset(); // one drop aborts the other, whichever order the shutdown takes
    REQUIRE(holder_dropped->load());
    REQUIRE(victim_dropped->load());
    REQUIRE_THROWS_AS(block_on(std::move(victim)), TaskCancelled);
}

TEST_CASE("AbortHandle copies aborting and dropping on another thread race ~Runtime safely",
          "[scheduler][abort_handle][lifetime][thread]") {
    for (int round = 0; round < 100; ++round) {
        RuntimeOptions o;
        o.worker_threads = 2;
        auto rt = std::make_unique<Runtime>(o);
        auto dropped = flag();
        std::optional<AbortHandle> a;
        {
            JoinHandle<void> h = rt->spawn(Spins(dropped));
            a.emplace(h.abort_handle());
        } // detached
        std::atomic<bool> stop{false};
        std::thread hammer([&stop, a = *a] {
            unsigned i = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                AbortHandle copy = a;
                if (++i % 64 == 0) {
                    copy.abort();
                }
            }
            a.abort();
        });
        rt.reset();
        stop = true;
        hammer.join();
        CHECK(a->is_finished());
        CHECK(dropped->load());
    }
}
