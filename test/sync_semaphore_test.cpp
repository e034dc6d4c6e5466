#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/semaphore.hpp>

#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <vector>

using namespace pollux;
using namespace pollux::sync;

using AcquireTask = test::MockTask<Semaphore::Acquire>;

TEST_CASE("Semaphore acquire takes permits that its permit guard gives back", "[sync][semaphore]") {
    STATIC_REQUIRE(Future<Semaphore::Acquire>);
    STATIC_REQUIRE(Future<Semaphore::AcquireOwned>);
    Semaphore s(3);
    {
        auto p = block_on(s.acquire(2));
        REQUIRE(p.has_value());
        REQUIRE(p->num_permits() == 2);
        REQUIRE(s.available_permits() == 1);
    }
    REQUIRE(s.available_permits() == 3);
    auto p = s.try_acquire(3);
    REQUIRE(p.has_value());
    REQUIRE(s.try_acquire().error() == TryAcquireError::no_permits);
    p->forget();
    { auto drop = std::move(*p); }
    REQUIRE(s.available_permits() == 0);
    s.add_permits(2);
    REQUIRE(s.available_permits() == 2);
    REQUIRE(s.forget_permits(5) == 2);
}

TEST_CASE("Semaphore acquire is served in FIFO order, large requests included",
          "[sync][semaphore]") {
    Semaphore s(0);
    AcquireTask big(s.acquire(3));
    AcquireTask small(s.acquire(1));
    REQUIRE(big.poll().is_pending());
    REQUIRE(small.poll().is_pending());
    s.add_permits(2); // not enough for `big`; `small` must not overtake it
    REQUIRE_FALSE(big.is_woken());
    REQUIRE_FALSE(small.is_woken());
    REQUIRE(s.available_permits() == 0);
    REQUIRE(s.try_acquire().error() == TryAcquireError::no_permits);
    s.add_permits(2);
    REQUIRE(big.is_woken());
    REQUIRE(small.is_woken());
    REQUIRE(big.poll().value()->num_permits() == 3);
    REQUIRE(small.poll().value()->num_permits() == 1);
}

TEST_CASE("Semaphore acquire dropped after partial assignment returns its permits",
          "[sync][semaphore]") {
    Semaphore s(1);
    auto big = std::make_unique<AcquireTask>(s.acquire(3));
    AcquireTask next(s.acquire(2));
    REQUIRE(big->poll().is_pending()); // took the 1 permit there was
    REQUIRE(next.poll().is_pending());
    REQUIRE(s.available_permits() == 0);
    s.add_permits(1); // `big` now holds 2 of 3
    REQUIRE_FALSE(next.is_woken());
    big.reset(); // its 2 permits go to `next`
    REQUIRE(next.is_woken());
    auto permit = next.poll();
    REQUIRE(permit.value()->num_permits() == 2);
    REQUIRE(s.available_permits() == 0);
}

TEST_CASE("Semaphore acquire dropped after full assignment passes the permits on",
          "[sync][semaphore]") {
    Semaphore s(0);
    auto first = std::make_unique<AcquireTask>(s.acquire(1));
    AcquireTask second(s.acquire(1));
    REQUIRE(first->poll().is_pending());
    REQUIRE(second.poll().is_pending());
    s.add_permits(1);
    REQUIRE(first->is_woken());
    first.reset();
    REQUIRE(second.is_woken());
    REQUIRE(second.poll().is_ready());
}

TEST_CASE("Semaphore close wakes every waiter with closed", "[sync][semaphore]") {
    Semaphore s(1);
    std::vector<std::unique_ptr<AcquireTask>> waiting;
    for (int i = 0; i < 4; ++i) {
        waiting.push_back(std::make_unique<AcquireTask>(s.acquire(2)));
        REQUIRE(waiting.back()->poll().is_pending());
    }
    s.close();
    REQUIRE(s.is_closed());
    for (auto& t : waiting) {
        REQUIRE(t->is_woken());
        REQUIRE(t->poll().value().error() == errc::closed);
    }
    REQUIRE(s.try_acquire().error() == TryAcquireError::closed);
    REQUIRE(block_on(s.acquire()).error() == errc::closed);
}

TEST_CASE("Semaphore acquire with no budget left returns Pending without taking permits",
          "[sync][semaphore][coop]") {
    Semaphore s(1);
    AcquireTask t(s.acquire());
    Budget spent(0);
    Context cx(t.waker(), &spent);
    REQUIRE(t.future().poll(cx).is_pending());
    REQUIRE(t.is_woken());
    REQUIRE(s.available_permits() == 1);
    REQUIRE(t.poll().is_ready());
}

TEST_CASE("Semaphore acquire_owned permits keep the semaphore alive", "[sync][semaphore]") {
    auto s = std::make_shared<Semaphore>(1);
    auto p = block_on(Semaphore::acquire_owned(s));
    REQUIRE(p.has_value());
    REQUIRE(Semaphore::try_acquire_owned(s).error() == TryAcquireError::no_permits);
    std::weak_ptr<Semaphore> weak = s;
    test::MockTask waiter(Semaphore::acquire_owned(s));
    REQUIRE(waiter.poll().is_pending());
    s.reset();
    REQUIRE_FALSE(weak.expired());
    { auto release = std::move(*p); }
    REQUIRE(waiter.is_woken());
    auto q = waiter.poll();
    REQUIRE(q.value()->num_permits() == 1);
}

TEST_CASE("Semaphore bounds concurrency across a multi-thread Runtime", "[sync][semaphore]") {
    Runtime rt(RuntimeOptions{.worker_threads = 4});
    auto s = std::make_shared<Semaphore>(3);
    auto inside = std::make_shared<std::atomic<int>>(0);
    auto peak = std::make_shared<std::atomic<int>>(0);
    auto work = [](std::shared_ptr<Semaphore> sem,
                   std::shared_ptr<std::atomic<int>> in,
                   std::shared_ptr<std::atomic<int>> top) -> Async<> {
        for (int i = 0; i < 200; ++i) {
            auto p = co_await sem->acquire();
            const int now = in->fetch_add(1) + 1;
            int seen = top->load();
            while (now > seen && !top->compare_exchange_weak(seen, now)) {
            }
            co_await yield_now();
            in->fetch_sub(1);
        }
    };
    std::vector<JoinHandle<void>> hs;
    for (int t = 0; t < 8; ++t) {
        hs.push_back(rt.spawn(work(s, inside, peak)));
    }
    for (auto& h : hs) {
        rt.block_on(std::move(h));
    }
    REQUIRE(peak->load() <= 3);
    REQUIRE(s->available_permits() == 3);
}
