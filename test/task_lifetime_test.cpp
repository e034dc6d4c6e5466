// Lifetimes of tasks, wakers and JoinHandles across their context's
// shutdown (docs/design.md, "Lifetimes"). The defects these tests pin down
// show as use-after-free, leaks or data races under ASan/LSan and TSan,
// which CI runs them under; the plain build checks the observable parts.

#include <pollux/core/async.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;

namespace {

// Pending for ever; hands out its waker through `slot` on the first poll.
struct PublishesWaker {
    using Output = void;
    std::shared_ptr<std::mutex> mu;
    std::shared_ptr<std::optional<Waker>> slot;
    Poll<void> poll(Context& cx) {
        std::lock_guard lock(*mu);
        if (!*slot) {
            slot->emplace(cx.waker());
        }
        return Pending{};
    }
};

// Waits until the task published its waker, then takes it.
Waker take_waker(std::mutex& mu, std::optional<Waker>& slot) {
    for (;;) {
        {
            std::lock_guard lock(mu);
            if (slot) {
                Waker w = std::move(*slot);
                slot.reset();
                return w;
            }
        }
        std::this_thread::yield();
    }
}

// One round of a runtime with `workers` threads torn down while another
// thread keeps waking a task's waker, aborting it and, once the runtime is
// gone, dropping its JoinHandle and waker.
void teardown_round(std::size_t workers) {
    auto mu = std::make_shared<std::mutex>();
    auto slot = std::make_shared<std::optional<Waker>>();
    RuntimeOptions options;
    options.worker_threads = workers;
    auto rt = std::make_unique<Runtime>(options);
    std::optional<JoinHandle<void>> handle(rt->spawn(PublishesWaker{mu, slot}));
    std::optional<JoinHandle<void>> other(rt->spawn(pending<void>()));
    Waker w = take_waker(*mu, *slot);
    std::atomic<bool> stop{false};
    std::thread hammer([&] {
        int i = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            w.wake_by_ref();
            if (++i % 8 == 0) {
                other->abort();
            }
        }
    });
    rt.reset();
    stop = true;
    hammer.join();
    CHECK(handle->is_finished());
    CHECK(other->is_finished());
    w.wake_by_ref(); // after the runtime: does nothing
    handle.reset();
    other.reset();
}

} // namespace

TEST_CASE("a wake racing ~Runtime from another thread posts nothing into the dead scheduler",
          "[lifetime][scheduler]") {
    for (int round = 0; round < 200; ++round) {
        teardown_round(2);
    }
}

TEST_CASE("a wake racing the shutdown of a current-thread runtime posts nothing after it",
          "[lifetime][scheduler]") {
    for (int round = 0; round < 100; ++round) {
        auto mu = std::make_shared<std::mutex>();
        auto slot = std::make_shared<std::optional<Waker>>();
        auto rt = std::make_unique<Runtime>();
        JoinHandle<void> h = rt->spawn(PublishesWaker{mu, slot});
        rt->block_on(yield_now()); // runs the task's first poll
        Waker w = take_waker(*mu, *slot);
        std::atomic<bool> stop{false};
        std::thread hammer([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                w.wake_by_ref();
            }
        });
        rt.reset();
        stop = true;
        hammer.join();
        CHECK(h.is_finished());
    }
}

TEST_CASE("500 rounds of a 2-worker runtime torn down while another thread wakes, aborts "
          "and drops handles",
          "[lifetime][scheduler][stress]") {
    for (int round = 0; round < 500; ++round) {
        teardown_round(2);
    }
}

TEST_CASE("a JoinHandle of a strand-spawned task may outlive its io_context",
          "[lifetime][scheduler]") {
    std::optional<JoinHandle<int>> h;
    {
        auto io = std::make_unique<boost::asio::io_context>();
        auto strand = boost::asio::make_strand(*io);
        h.emplace(spawn(strand, []() -> Async<int> { co_return 7; }()));
        io->run();
        CHECK(h->is_finished());
    }
    h.reset(); // the last task reference: must not touch the strand service
}

TEST_CASE("a pending strand-spawned task's JoinHandle and Waker may outlive its io_context",
          "[lifetime][scheduler]") {
    auto mu = std::make_shared<std::mutex>();
    auto slot = std::make_shared<std::optional<Waker>>();
    std::optional<JoinHandle<void>> h;
    std::optional<Waker> w;
    {
        boost::asio::io_context io;
        auto strand = boost::asio::make_strand(io);
        h.emplace(spawn(strand, PublishesWaker{mu, slot}));
        io.run();
        w.emplace(take_waker(*mu, *slot));
    } // shutdown drops the future; the strand is released with the context
    CHECK(h->is_finished());
    w->wake_by_ref();
    h->abort();
    w.reset();
    h.reset();
}

TEST_CASE("a JoinHandle and Waker that outlive their Runtime do nothing when used",
          "[lifetime][scheduler]") {
    auto mu = std::make_shared<std::mutex>();
    auto slot = std::make_shared<std::optional<Waker>>();
    std::optional<JoinHandle<void>> h;
    std::optional<Waker> w;
    {
        Runtime rt;
        h.emplace(rt.spawn(PublishesWaker{mu, slot}));
        rt.block_on(yield_now());
        w.emplace(take_waker(*mu, *slot));
    }
    REQUIRE(h->is_finished());
    w->wake_by_ref();
    std::move(*w).wake();
    h->abort();
    CHECK_THROWS_AS(block_on(std::move(*h)), TaskCancelled);
}

namespace {

int cleanups_run = 0;

Async<void> cleanup() {
    ++cleanups_run;
    co_return;
}

// Spawns a cleanup task with spawn(f) from its destructor, which needs a
// current task.
struct SpawnsOnDrop {
    bool armed = true;
    SpawnsOnDrop() = default;
    SpawnsOnDrop(SpawnsOnDrop&& o) noexcept : armed(std::exchange(o.armed, false)) {}
    ~SpawnsOnDrop() {
        if (armed) {
            pollux::spawn(cleanup());
        }
    }
};

Async<void> guarded_forever() {
    SpawnsOnDrop guard;
    co_await pending<void>();
}

} // namespace

TEST_CASE("abort drops the future with its task current, so a destructor may spawn",
          "[lifetime][scheduler][abort]") {
    cleanups_run = 0;
    Runtime rt;
    rt.block_on([]() -> Async<void> {
        auto h = spawn(guarded_forever());
        co_await yield_now(); // it starts and parks
        h.abort();
        bool cancelled = false;
        try {
            co_await h;
        } catch (const TaskCancelled&) {
            cancelled = true;
        }
        CHECK(cancelled);
        for (int i = 0; i < 10 && cleanups_run == 0; ++i) {
            co_await yield_now();
        }
    }());
    CHECK(cleanups_run == 1);
}

TEST_CASE("the runtime's shutdown drops a future with its task current, so a destructor may "
          "spawn",
          "[lifetime][scheduler]") {
    cleanups_run = 0;
    {
        Runtime rt;
        rt.spawn(guarded_forever());
        rt.block_on(yield_now());
    } // the cleanup task spawned during shutdown is dropped by it, not leaked
    CHECK(cleanups_run == 0);
}

namespace {

std::atomic<int> tracked_alive{0};
struct Tracked {
    Tracked() { ++tracked_alive; }
    ~Tracked() { --tracked_alive; }
    Tracked(const Tracked&) = delete;
    Tracked& operator=(const Tracked&) = delete;
};

Async<void> holds(std::shared_ptr<Tracked>) {
    co_return;
}

// A handler whose destructor spawns onto its io_context. Destroyed unrun by
// the io_context's destructor, it spawns after the scheduler shut down.
struct SpawnsOnDestroy {
    boost::asio::io_context* io;
    std::shared_ptr<std::optional<JoinHandle<void>>> out;
    SpawnsOnDestroy(boost::asio::io_context* i, std::shared_ptr<std::optional<JoinHandle<void>>> o)
        : io(i), out(std::move(o)) {}
    SpawnsOnDestroy(SpawnsOnDestroy&& o) noexcept
        : io(std::exchange(o.io, nullptr)), out(std::move(o.out)) {}
    ~SpawnsOnDestroy() {
        if (io) {
            out->emplace(spawn(*io, holds(std::make_shared<Tracked>())));
        }
    }
    void operator()() {}
};

} // namespace

TEST_CASE("a spawn after the scheduler shut down is refused and its future freed",
          "[lifetime][scheduler]") {
    tracked_alive = 0;
    auto out = std::make_shared<std::optional<JoinHandle<void>>>();
    {
        boost::asio::io_context io;
        spawn(io, pending<void>()); // makes the scheduler service
        boost::asio::post(io, SpawnsOnDestroy(&io, out));
    }
    CHECK(tracked_alive == 0);
    REQUIRE(out->has_value());
    CHECK((*out)->is_finished());
    CHECK_THROWS_AS(block_on(std::move(**out)), TaskCancelled);
}

namespace {

// An io_context executor whose posts throw std::bad_alloc while `fail` is
// set: stands in for an allocation failure inside Asio's post.
struct FailingExecutor {
    boost::asio::io_context::executor_type inner;
    std::shared_ptr<std::atomic<bool>> fail;

    boost::asio::execution_context& query(boost::asio::execution::context_t) const noexcept {
        return inner.context();
    }
    static constexpr boost::asio::execution::blocking_t
    query(boost::asio::execution::blocking_t) noexcept {
        return boost::asio::execution::blocking.never;
    }
    template <class F>
    void execute(F&& f) const {
        if (fail->load()) {
            throw std::bad_alloc();
        }
        boost::asio::post(inner, std::forward<F>(f));
    }
    // C++20 rewrites `a != b` (which Asio's executor concept asks for) to
    // !(a == b); a hand-written != is never used, and clang warns of it.
    friend bool operator==(const FailingExecutor& a, const FailingExecutor& b) noexcept {
        return a.inner == b.inner && a.fail == b.fail;
    }
};

// Ready on the poll after `wakes` says so; publishes its waker.
struct ReadyWhenFlagged {
    using Output = int;
    std::shared_ptr<std::atomic<bool>> flag;
    std::shared_ptr<std::optional<Waker>> waker;
    std::shared_ptr<int> polls;
    Poll<int> poll(Context& cx) {
        ++*polls;
        if (flag->load()) {
            return Ready{5};
        }
        waker->emplace(cx.waker());
        return Pending{};
    }
};

} // namespace

TEST_CASE("a wake whose post throws leaves the task idle, and the next wake runs it",
          "[lifetime][scheduler][alloc]") {
    boost::asio::io_context io;
    auto fail = std::make_shared<std::atomic<bool>>(false);
    auto flag = std::make_shared<std::atomic<bool>>(false);
    auto waker = std::make_shared<std::optional<Waker>>();
    auto polls = std::make_shared<int>(0);
    auto h = spawn(FailingExecutor{io.get_executor(), fail}, ReadyWhenFlagged{flag, waker, polls});
    io.run();
    io.restart();
    REQUIRE(*polls == 1);
    REQUIRE(waker->has_value());

    flag->store(true);
    fail->store(true);
    CHECK_THROWS_AS((*waker)->wake_by_ref(), std::bad_alloc);
    io.run();
    io.restart();
    CHECK(*polls == 1); // nothing was queued
    CHECK_FALSE(h.is_finished());

    fail->store(false);
    (*waker)->wake_by_ref(); // not stranded `notified`: this wake posts
    io.run();
    CHECK(*polls == 2);
    CHECK(h.is_finished());
    CHECK(block_on(std::move(h)) == 5);
}

TEST_CASE("a resubmit whose post throws polls the task again instead of losing the wake",
          "[lifetime][scheduler][alloc]") {
    boost::asio::io_context io;
    auto fail = std::make_shared<std::atomic<bool>>(false);
    int polls = 0;
    // Wakes itself during its first poll (a resubmit); the post of that
    // resubmit throws.
    auto h = spawn(FailingExecutor{io.get_executor(), fail}, poll_fn<int>([&](Context& cx) {
                       if (++polls == 1) {
                           fail->store(true);
                           cx.waker().wake_by_ref();
                           return Poll<int>(Pending{});
                       }
                       fail->store(false);
                       return Poll<int>(Ready{9});
                   }));
    io.run();
    CHECK(polls == 2);
    REQUIRE(h.is_finished());
    CHECK(block_on(std::move(h)) == 9);
}

TEST_CASE("a spawn whose first post throws rethrows and frees the task",
          "[lifetime][scheduler][alloc]") {
    tracked_alive = 0;
    boost::asio::io_context io;
    auto fail = std::make_shared<std::atomic<bool>>(true);
    CHECK_THROWS_AS(
        spawn(FailingExecutor{io.get_executor(), fail}, holds(std::make_shared<Tracked>())),
        std::bad_alloc);
    CHECK(tracked_alive == 0);
    CHECK(boost::asio::use_service<detail::SchedulerService>(io).live_tasks() == 0);
}

TEST_CASE("a run handler releases its task when the run throws", "[lifetime][scheduler][alloc]") {
    // The JoinHandle is awaited by a task on a failing executor: completing
    // the first task wakes the awaiting task, whose post throws out of the
    // first task's run. Both tasks must still be freed (LSan).
    tracked_alive = 0;
    {
        boost::asio::io_context io;
        auto fail = std::make_shared<std::atomic<bool>>(false);
        auto gate = std::make_shared<std::atomic<bool>>(false);
        auto inner = spawn(io, poll_fn<int>([gate, t = std::make_shared<Tracked>()](Context& cx) {
                               if (gate->load()) {
                                   return Poll<int>(Ready{1});
                               }
                               cx.waker().wake_by_ref();
                               return Poll<int>(Pending{});
                           }));
        auto outer = spawn(FailingExecutor{io.get_executor(), fail},
                           [](JoinHandle<int> h, std::shared_ptr<Tracked>) -> Async<int> {
                               co_return co_await std::move(h);
                           }(std::move(inner), std::make_shared<Tracked>()));
        io.run_one(); // inner polls, wakes itself
        io.run_one(); // outer polls, parks on inner
        fail->store(true);
        gate->store(true);
        bool threw = false;
        try {
            io.run();
        } catch (const std::bad_alloc&) {
            threw = true;
        }
        CHECK(threw);
        fail->store(false);
    }
    CHECK(tracked_alive == 0);
}

TEST_CASE("a task whose resubmit's post threw is freed once its handle is dropped",
          "[lifetime][scheduler][alloc]") {
    // The resubmit's post takes a reference for the run it would queue and
    // gives it back when it throws; the run then polls once more. The
    // output lives in the task, so it is destroyed only when the task's
    // memory is freed: neither leaked nor freed twice.
    tracked_alive = 0;
    {
        boost::asio::io_context io;
        auto fail = std::make_shared<std::atomic<bool>>(false);
        int polls = 0;
        using Out = std::shared_ptr<Tracked>;
        auto h = spawn(FailingExecutor{io.get_executor(), fail}, poll_fn<Out>([&](Context& cx) {
                           if (++polls == 1) {
                               fail->store(true);
                               cx.waker().wake_by_ref();
                               return Poll<Out>(Pending{});
                           }
                           fail->store(false);
                           return Poll<Out>(Ready{std::make_shared<Tracked>()});
                       }));
        io.run();
        CHECK(polls == 2);
        REQUIRE(h.is_finished());
        CHECK(tracked_alive == 1); // the output, held by the task
    }
    CHECK(tracked_alive == 0);
}

TEST_CASE("tasks that wake themselves on a 2-worker runtime are each freed once",
          "[lifetime][scheduler]") {
    // Each yield is a wake during the poll, so a run is posted while the
    // current one returns, and another worker may run, complete and free
    // the task meanwhile (TSan).
    tracked_alive = 0;
    {
        RuntimeOptions options;
        options.worker_threads = 2;
        Runtime rt(options);
        std::vector<std::optional<JoinHandle<std::shared_ptr<Tracked>>>> handles;
        for (int i = 0; i < 64; ++i) {
            handles.emplace_back(rt.spawn([]() -> Async<std::shared_ptr<Tracked>> {
                auto t = std::make_shared<Tracked>();
                for (int j = 0; j < 50; ++j) {
                    co_await yield_now();
                }
                co_return t;
            }()));
        }
        for (std::size_t i = 0; i < handles.size(); i += 2) {
            handles[i].reset(); // detach half
        }
        for (std::size_t i = 1; i < handles.size(); i += 2) {
            CHECK(block_on(std::move(*handles[i])) != nullptr);
        }
        handles.clear();
        while (rt.metrics().live_tasks != 0) {
            std::this_thread::yield();
        }
    }
    CHECK(tracked_alive == 0);
}
