#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/select.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/cancellation_token.hpp>

#include "support/futures.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;
using namespace pollux::sync;

namespace {

using WaitTask = test::MockTask<WaitForCancellation>;

std::size_t children(const CancellationToken& t) {
    return detail::cancellation_node_counts(t).first;
}
std::size_t waiters(const CancellationToken& t) {
    return detail::cancellation_node_counts(t).second;
}

// A waker that counts its live clones.
std::atomic<int> live_wakers{0};
extern const RawWakerVTable live_vtable;
RawWaker live_clone(const void*) {
    live_wakers.fetch_add(1);
    return RawWaker{nullptr, &live_vtable};
}
void live_drop(const void*) {
    live_wakers.fetch_sub(1);
}
void live_wake_by_ref(const void*) {
}
const RawWakerVTable live_vtable{&live_clone, &live_drop, &live_wake_by_ref, &live_drop};
Waker live_waker() {
    live_wakers.fetch_add(1);
    return Waker::from_raw(RawWaker{nullptr, &live_vtable});
}

// Counts its wakes.
struct CountingWake {
    std::atomic<int> wakes{0};
    void wake() { wakes.fetch_add(1); }
};

Async<int> wait_then(CancellationToken t, int v) {
    co_await t.cancelled();
    co_return v;
}

} // namespace

TEST_CASE("CancellationToken cancelled completes after cancel, and is_cancelled turns true",
          "[sync][cancellation_token]") {
    STATIC_REQUIRE(Future<WaitForCancellation>);
    CancellationToken t;
    REQUIRE_FALSE(t.is_cancelled());
    WaitTask w(t.cancelled());
    REQUIRE(w.poll().is_pending());
    REQUIRE_FALSE(w.is_woken());
    t.cancel();
    REQUIRE(t.is_cancelled());
    REQUIRE(w.is_woken());
    REQUIRE(w.poll().is_ready());
}

TEST_CASE("CancellationToken cancel wakes every waiting cancelled future",
          "[sync][cancellation_token]") {
    CancellationToken t;
    std::vector<std::unique_ptr<WaitTask>> ws;
    for (int i = 0; i < 20; ++i) { // more than one wake batch
        ws.push_back(std::make_unique<WaitTask>(t.cancelled()));
        REQUIRE(ws.back()->poll().is_pending());
    }
    REQUIRE(waiters(t) == 20);
    t.cancel();
    REQUIRE(waiters(t) == 0);
    for (auto& w : ws) {
        REQUIRE(w->wake_count() == 1);
        REQUIRE(w->poll().is_ready());
    }
}

TEST_CASE("CancellationToken cancelled of a cancelled token is ready on its first poll",
          "[sync][cancellation_token]") {
    CancellationToken t;
    t.cancel();
    t.cancel(); // a second cancel does nothing
    WaitTask w(t.cancelled());
    REQUIRE(w.poll().is_ready());
}

TEST_CASE("CancellationToken copies are the same token", "[sync][cancellation_token]") {
    CancellationToken a;
    CancellationToken b = a;
    CancellationToken c;
    c = b;
    WaitTask w(a.cancelled());
    REQUIRE(w.poll().is_pending());
    c.cancel();
    REQUIRE(a.is_cancelled());
    REQUIRE(b.is_cancelled());
    REQUIRE(w.is_woken());
}

TEST_CASE("CancellationToken cancel of a parent cancels its children and grandchildren",
          "[sync][cancellation_token]") {
    CancellationToken root;
    CancellationToken child = root.child_token();
    CancellationToken grandchild = child.child_token();
    WaitTask w(grandchild.cancelled());
    REQUIRE(w.poll().is_pending());
    root.cancel();
    REQUIRE(child.is_cancelled());
    REQUIRE(grandchild.is_cancelled());
    REQUIRE(w.is_woken());
    REQUIRE(w.poll().is_ready());
}

TEST_CASE("CancellationToken cancel of a child does not cancel its parent or siblings",
          "[sync][cancellation_token]") {
    CancellationToken root;
    CancellationToken a = root.child_token();
    CancellationToken b = root.child_token();
    WaitTask w(root.cancelled());
    REQUIRE(w.poll().is_pending());
    a.cancel();
    REQUIRE(a.is_cancelled());
    REQUIRE_FALSE(root.is_cancelled());
    REQUIRE_FALSE(b.is_cancelled());
    REQUIRE_FALSE(w.is_woken());
}

TEST_CASE("CancellationToken child_token of a cancelled token starts cancelled",
          "[sync][cancellation_token]") {
    CancellationToken root;
    root.cancel();
    CancellationToken child = root.child_token();
    REQUIRE(child.is_cancelled());
    REQUIRE(children(root) == 0); // nothing to link: it can never be cancelled again
}

TEST_CASE("CancellationToken dropped children leave their parent's list",
          "[sync][cancellation_token]") {
    CancellationToken root;
    for (int i = 0; i < 1000; ++i) {
        CancellationToken child = root.child_token();
        WaitTask w(child.child_token().cancelled());
        REQUIRE(w.poll().is_pending());
        REQUIRE(children(root) == 1);
    }
    REQUIRE(children(root) == 0);
    CancellationToken kept = root.child_token();
    REQUIRE(children(root) == 1);
}

TEST_CASE("CancellationToken cancel of a parent reaches grandchildren through a child whose "
          "tokens are gone",
          "[sync][cancellation_token]") {
    CancellationToken root;
    std::optional<CancellationToken> child(root.child_token());
    CancellationToken grandchild = child->child_token();
    child.reset(); // the relay node stays while the grandchild lives
    REQUIRE(children(root) == 1);
    root.cancel();
    REQUIRE(grandchild.is_cancelled());
}

TEST_CASE("CancellationToken cancelled future keeps its node: cancel reaches it after the token "
          "copy is gone",
          "[sync][cancellation_token]") {
    CancellationToken root;
    std::optional<WaitTask> w;
    {
        CancellationToken child = root.child_token();
        w.emplace(child.cancelled());
    }
    REQUIRE(w->poll().is_pending());
    REQUIRE(children(root) == 1);
    root.cancel();
    REQUIRE(w->is_woken());
    REQUIRE(w->poll().is_ready());
    w.reset();
    REQUIRE(children(root) == 0);
}

TEST_CASE("CancellationToken cancelled dropped while waiting unregisters its waker",
          "[sync][cancellation_token]") {
    CancellationToken t;
    {
        Waker waker = live_waker();
        Context cx(waker);
        WaitForCancellation f = t.cancelled();
        REQUIRE(f.poll(cx).is_pending());
        REQUIRE(waiters(t) == 1);
        REQUIRE(live_wakers.load() == 2); // ours and the registered clone
    }
    REQUIRE(waiters(t) == 0);
    REQUIRE(live_wakers.load() == 0);
    t.cancel();
}

TEST_CASE("CancellationToken cancelled moved between polls still completes",
          "[sync][cancellation_token]") {
    CancellationToken t;
    auto counter = std::make_shared<CountingWake>();
    Waker waker = waker_from(counter);
    Context cx(waker);
    WaitForCancellation a = t.cancelled();
    REQUIRE(a.poll(cx).is_pending());
    WaitForCancellation b = std::move(a);
    t.cancel();
    REQUIRE(counter->wakes.load() == 1);
    REQUIRE(b.poll(cx).is_ready());
}

TEST_CASE("CancellationToken drop_guard cancels when destroyed, and not once disarmed",
          "[sync][cancellation_token][drop_guard]") {
    CancellationToken a;
    { auto guard = a.drop_guard(); }
    REQUIRE(a.is_cancelled());

    CancellationToken b;
    {
        auto guard = b.drop_guard();
        DropGuard moved = std::move(guard);
        std::optional<CancellationToken> back = moved.disarm();
        REQUIRE(back.has_value());
        REQUIRE_FALSE(moved.disarm().has_value());
    }
    REQUIRE_FALSE(b.is_cancelled());
}

TEST_CASE("CancellationToken cancel from another thread wakes tasks on runtime workers",
          "[sync][cancellation_token][thread]") {
    RuntimeOptions o;
    o.worker_threads = 2;
    Runtime rt(o);
    CancellationToken root;
    std::vector<JoinHandle<int>> hs;
    for (int i = 0; i < 50; ++i) {
        hs.push_back(rt.spawn(wait_then(root.child_token(), 1)));
    }
    std::thread canceller([root] { root.cancel(); });
    auto body = [](std::vector<JoinHandle<int>> v) -> Async<int> {
        int n = 0;
        for (auto& h : v) {
            n += co_await std::move(h);
        }
        co_return n;
    };
    REQUIRE(rt.block_on(body(std::move(hs))) == 50);
    canceller.join();
}

TEST_CASE("CancellationToken children made, awaited and dropped on many threads while the "
          "parent is cancelled",
          "[sync][cancellation_token][thread][stress]") {
    for (int round = 0; round < 20; ++round) {
        CancellationToken root;
        std::atomic<bool> go{false};
        std::atomic<int> missed{0}; // Catch2's REQUIRE is not thread-safe: count, check after
        std::vector<std::thread> ts;
        for (int k = 0; k < 3; ++k) {
            ts.emplace_back([&root, &go, &missed] {
                while (!go.load()) {
                    std::this_thread::yield();
                }
                for (int i = 0; i < 300; ++i) {
                    CancellationToken c = root.child_token();
                    CancellationToken gc = c.child_token();
                    auto counter = std::make_shared<CountingWake>();
                    Waker waker = waker_from(counter);
                    Context cx(waker);
                    WaitForCancellation f = gc.cancelled();
                    const bool ready_now = f.poll(cx).is_ready();
                    if (root.is_cancelled()) {
                        // Either it saw the cancel, or the cancel woke it.
                        if (!(ready_now || counter->wakes.load() == 1) || !gc.is_cancelled()) {
                            missed.fetch_add(1);
                        }
                    }
                }
            });
        }
        go = true;
        root.cancel();
        for (auto& t : ts) {
            t.join();
        }
        REQUIRE(missed.load() == 0);
        REQUIRE(children(root) == 0);
        REQUIRE(root.child_token().is_cancelled());
    }
}

TEST_CASE("CancellationToken waited on by tasks dropped at runtime shutdown, cancelled after",
          "[sync][cancellation_token][lifetime]") {
    CancellationToken root;
    auto rt = std::make_unique<Runtime>();
    std::vector<JoinHandle<int>> hs;
    for (int i = 0; i < 5; ++i) {
        hs.push_back(rt->spawn(wait_then(root.child_token(), i)));
    }
    rt->block_on(yield_now());
    REQUIRE(children(root) == 5);
    rt.reset(); // drops the waiting futures: they unregister and free their nodes
    REQUIRE(children(root) == 0);
    root.cancel(); // wakes nobody; nothing of the runtime is touched
    for (auto& h : hs) {
        REQUIRE(h.is_finished());
    }
}

TEST_CASE("CancellationToken cancelled from another thread while its runtime shuts down",
          "[sync][cancellation_token][lifetime][thread]") {
    for (int round = 0; round < 50; ++round) {
        CancellationToken root;
        RuntimeOptions o;
        o.worker_threads = 2;
        auto rt = std::make_unique<Runtime>(o);
        for (int i = 0; i < 4; ++i) {
            (void)rt->spawn(wait_then(root.child_token(), i));
        }
        std::thread canceller([root] { root.cancel(); });
        rt.reset();
        canceller.join();
        REQUIRE(root.is_cancelled());
        REQUIRE(children(root) == 0);
    }
}

TEST_CASE("CancellationToken in select: the cancelled branch wins once cancelled",
          "[sync][cancellation_token]") {
    Runtime rt;
    auto body = []() -> Async<std::size_t> {
        CancellationToken t;
        auto gate = std::make_shared<test::Gate>();
        spawn([](CancellationToken tok) -> Async<void> {
            co_await yield_now();
            tok.cancel();
        }(t));
        auto r = co_await select(t.cancelled(), test::wait(gate));
        co_return r.index();
    };
    REQUIRE(rt.block_on(body()) == 0);
}
