#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/mpsc.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

using namespace pollux;
using namespace pollux::sync;

TEST_CASE("mpsc receiver is a Stream and its futures are Futures", "[sync][mpsc]") {
    STATIC_REQUIRE(Stream<mpsc::Receiver<int>>);
    STATIC_REQUIRE(Future<mpsc::Receiver<int>::Recv>);
    STATIC_REQUIRE(Future<mpsc::Sender<int>::Send>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<mpsc::Sender<int>::Send>);
}

TEST_CASE("mpsc channel delivers values in order", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::channel<int>(4);
    REQUIRE(block_on(tx.send(1)));
    REQUIRE(block_on(tx.send(2)));
    REQUIRE(*block_on(rx.recv()) == 1);
    REQUIRE(*block_on(rx.recv()) == 2);
}

TEST_CASE("mpsc recv yields nullopt once every sender is gone and the queue is drained",
          "[sync][mpsc]") {
    auto [tx, rx] = mpsc::channel<int>(4);
    auto tx2 = tx;
    REQUIRE(block_on(tx.send(1)));
    { auto dropped = std::move(tx); }
    test::MockTask t(rx.recv());
    auto p = t.poll();
    REQUIRE(*p.value() == 1);
    test::MockTask t2(rx.recv());
    REQUIRE(t2.poll().is_pending());
    { auto dropped = std::move(tx2); }
    REQUIRE(t2.is_woken());
    REQUIRE(t2.poll().value() == std::nullopt);
    REQUIRE(rx.try_recv().error() == TryRecvError::closed);
}

TEST_CASE("mpsc try_send reports full and closed and hands the value back", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::channel<std::unique_ptr<int>>(1);
    REQUIRE(tx.try_send(std::make_unique<int>(1)));
    auto full = tx.try_send(std::make_unique<int>(2));
    REQUIRE_FALSE(full);
    REQUIRE(full.error() == TrySendError<std::unique_ptr<int>>::full);
    REQUIRE(*full.error().value == 2);
    REQUIRE(tx.capacity() == 0);
    REQUIRE(tx.max_capacity() == 1);
    rx.close();
    auto closed = tx.try_send(std::make_unique<int>(3));
    REQUIRE(closed.error().is_closed());
    REQUIRE(*std::move(closed).error().value == 3);
}

TEST_CASE("mpsc try_recv reports empty while senders remain", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    REQUIRE(rx.try_recv().error() == TryRecvError::empty);
    REQUIRE(tx.send(8));
    REQUIRE(*rx.try_recv() == 8);
}

TEST_CASE("mpsc bounded send applies backpressure until the receiver makes room", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::channel<int>(2);
    REQUIRE(block_on(tx.send(1)));
    REQUIRE(block_on(tx.send(2)));
    test::MockTask blocked(tx.send(3));
    REQUIRE(blocked.poll().is_pending());
    REQUIRE(rx.len() == 2);
    REQUIRE_FALSE(blocked.is_woken());
    REQUIRE(*rx.try_recv() == 1);
    REQUIRE(blocked.wake_count() == 1);
    REQUIRE(blocked.poll().value());
    REQUIRE(*rx.try_recv() == 2);
    REQUIRE(*rx.try_recv() == 3);
}

TEST_CASE("mpsc bounded senders waiting for room are served in FIFO order", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::channel<int>(1);
    REQUIRE(tx.try_send(0));
    std::vector<std::unique_ptr<test::MockTask<mpsc::Sender<int>::Send>>> waiting;
    for (int i = 1; i <= 3; ++i) {
        waiting.push_back(std::make_unique<test::MockTask<mpsc::Sender<int>::Send>>(tx.send(i)));
        REQUIRE(waiting.back()->poll().is_pending());
    }
    // try_send cannot overtake the queued senders.
    REQUIRE(tx.try_send(99).error().is_full());
    for (int i = 0; i < 3; ++i) {
        REQUIRE(*rx.try_recv() == i);
        REQUIRE(waiting[static_cast<std::size_t>(i)]->is_woken());
        REQUIRE(waiting[static_cast<std::size_t>(i)]->poll().value());
    }
    REQUIRE(*rx.try_recv() == 3);
}

TEST_CASE("mpsc send future dropped after being granted room passes the room on", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::channel<int>(1);
    REQUIRE(tx.try_send(0));
    auto first = std::make_unique<test::MockTask<mpsc::Sender<int>::Send>>(tx.send(1));
    test::MockTask second(tx.send(2));
    REQUIRE(first->poll().is_pending());
    REQUIRE(second.poll().is_pending());
    REQUIRE(*rx.try_recv() == 0); // room goes to `first`
    REQUIRE(first->is_woken());
    REQUIRE_FALSE(second.is_woken());
    first.reset(); // dropped before it used the room
    REQUIRE(second.is_woken());
    REQUIRE(second.poll().value());
    REQUIRE(*rx.try_recv() == 2);
}

TEST_CASE("mpsc send future moved between polls keeps its place and completes", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::channel<int>(1);
    REQUIRE(tx.try_send(0));
    auto first = std::make_unique<test::MockTask<mpsc::Sender<int>::Send>>(tx.send(1));
    REQUIRE(first->poll().is_pending());
    test::MockTask second(tx.send(2));
    REQUIRE(second.poll().is_pending());
    mpsc::Sender<int>::Send moved = std::move(first->future());
    REQUIRE(*rx.try_recv() == 0);
    REQUIRE(first->is_woken()); // the moved future's node is still first in line
    REQUIRE_FALSE(second.is_woken());
    Context cx(first->waker());
    REQUIRE(moved.poll(cx).value());
    first.reset(); // the moved-from future owns nothing
    REQUIRE(*rx.try_recv() == 1);
    REQUIRE(second.is_woken());
}

TEST_CASE("mpsc close wakes every waiting sender with the value and lets the receiver drain",
          "[sync][mpsc]") {
    auto [tx, rx] = mpsc::channel<int>(2);
    REQUIRE(tx.try_send(1));
    REQUIRE(tx.try_send(2));
    std::vector<std::unique_ptr<test::MockTask<mpsc::Sender<int>::Send>>> waiting;
    for (int i = 0; i < 5; ++i) {
        waiting.push_back(
            std::make_unique<test::MockTask<mpsc::Sender<int>::Send>>(tx.send(10 + i)));
        REQUIRE(waiting.back()->poll().is_pending());
    }
    rx.close();
    for (int i = 0; i < 5; ++i) {
        auto& t = *waiting[static_cast<std::size_t>(i)];
        REQUIRE(t.is_woken());
        auto p = t.poll();
        REQUIRE_FALSE(p.value());
        REQUIRE(p.value().error().value == 10 + i);
    }
    REQUIRE(tx.is_closed());
    REQUIRE_FALSE(tx.try_send(3));
    REQUIRE(*block_on(rx.recv()) == 1);
    REQUIRE(*block_on(rx.recv()) == 2);
    REQUIRE(block_on(rx.recv()) == std::nullopt);
}

TEST_CASE("mpsc close wakes the waiting receiver", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    test::MockTask t(rx.recv());
    REQUIRE(t.poll().is_pending());
    rx.close();
    REQUIRE(t.is_woken());
    REQUIRE(t.poll().value() == std::nullopt);
    REQUIRE_FALSE(tx.send(1));
}

TEST_CASE("mpsc receiver dropped destroys queued values exactly once", "[sync][mpsc]") {
    test::Counted::reset();
    {
        auto [tx, rx] = mpsc::unbounded_channel<test::Counted>();
        for (int i = 0; i < 100; ++i) {
            REQUIRE(tx.send(test::Counted(i)));
        }
        auto r = rx.try_recv();
        REQUIRE(r->id == 0);
    }
    REQUIRE(test::Counted::alive() == 0);
    REQUIRE(test::Counted::copies == 0);
}

TEST_CASE("mpsc unbounded channel gives memory back after a burst drains", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::unbounded_channel<std::uint64_t>();
    REQUIRE(rx.allocated_capacity() == 0);
    for (std::uint64_t i = 0; i < 100000; ++i) {
        REQUIRE(tx.send(i));
    }
    REQUIRE(rx.allocated_capacity() >= 100000);
    for (std::uint64_t i = 0; i < 100000; ++i) {
        REQUIRE(*rx.try_recv() == i);
    }
    REQUIRE(rx.allocated_capacity() <= 2 * mpsc::Receiver<std::uint64_t>::queue_block_size);
    // and it is reused, not regrown, by a steady trickle
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(tx.send(1));
        REQUIRE(rx.try_recv());
    }
    REQUIRE(rx.allocated_capacity() <= 2 * mpsc::Receiver<std::uint64_t>::queue_block_size);
}

TEST_CASE("mpsc recv with no budget left returns Pending without taking a value",
          "[sync][mpsc][coop]") {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    REQUIRE(tx.send(1));
    test::MockTask t(rx.recv());
    Budget spent(0);
    Context cx(t.waker(), &spent);
    REQUIRE(t.future().poll(cx).is_pending());
    REQUIRE(t.is_woken());
    REQUIRE(rx.len() == 1);
    REQUIRE(*t.poll().value() == 1);
}

TEST_CASE("mpsc receiver works with next() as a stream", "[sync][mpsc]") {
    auto [tx, rx] = mpsc::unbounded_channel<int>();
    REQUIRE(tx.send(1));
    REQUIRE(tx.send(2));
    { auto dropped = std::move(tx); }
    REQUIRE(block_on(next(rx)) == 1);
    REQUIRE(block_on(next(rx)) == 2);
    REQUIRE(block_on(next(rx)) == std::nullopt);
}

namespace {

constexpr int producers = 8;
constexpr std::uint32_t per_producer = 100000;

// Checks exactly-once, per-producer FIFO delivery of (producer << 32 | seq).
void check_delivery(const std::vector<std::uint64_t>& got) {
    REQUIRE(got.size() == producers * std::size_t{per_producer});
    std::vector<std::uint32_t> next(producers, 0);
    bool in_order = true;
    for (std::uint64_t v : got) {
        const auto p = static_cast<std::size_t>(v >> 32);
        const auto seq = static_cast<std::uint32_t>(v);
        if (p >= next.size() || next[p] != seq) {
            in_order = false;
            break;
        }
        ++next[p];
    }
    REQUIRE(in_order);
}

} // namespace

TEST_CASE("mpsc unbounded with 8 producer threads delivers each message once and in order",
          "[sync][mpsc][stress]") {
    auto [tx, rx] = mpsc::unbounded_channel<std::uint64_t>();
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([t = tx, p]() {
            for (std::uint32_t i = 0; i < per_producer; ++i) {
                (void)t.send((std::uint64_t(p) << 32) | i);
            }
        });
    }
    { auto dropped = std::move(tx); }
    std::vector<std::uint64_t> got;
    got.reserve(producers * std::size_t{per_producer});
    while (auto v = block_on(rx.recv())) {
        got.push_back(*v);
    }
    for (auto& t : threads) {
        t.join();
    }
    check_delivery(got);
}

TEST_CASE("mpsc bounded with 8 producer tasks on a multi-thread Runtime delivers each message "
          "once and in order",
          "[sync][mpsc][stress]") {
    Runtime rt(RuntimeOptions{.worker_threads = 4});
    auto [tx, rx] = mpsc::channel<std::uint64_t>(256);
    auto produce = [](mpsc::Sender<std::uint64_t> t, int p) -> Async<> {
        for (std::uint32_t i = 0; i < per_producer; ++i) {
            auto r = co_await t.send((std::uint64_t(p) << 32) | i);
            if (!r) {
                co_return;
            }
        }
    };
    auto consume = [](mpsc::Receiver<std::uint64_t> r) -> Async<std::vector<std::uint64_t>> {
        std::vector<std::uint64_t> got;
        got.reserve(producers * std::size_t{per_producer});
        while (auto v = co_await r.recv()) {
            got.push_back(*v);
        }
        co_return got;
    };
    std::vector<JoinHandle<void>> hs;
    for (int p = 0; p < producers; ++p) {
        hs.push_back(rt.spawn(produce(tx, p)));
    }
    { auto dropped = std::move(tx); }
    auto consumer = rt.spawn(consume(std::move(rx)));
    auto got = rt.block_on(std::move(consumer));
    check_delivery(got);
}
