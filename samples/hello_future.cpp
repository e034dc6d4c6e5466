// hello_future: the first steps of Rust-style async, in pollux.
//
// Shows, in order:
//   1. a future written by hand: a `poll` state machine that returns Pending
//      and arranges its own wake-up (here from a helper thread);
//   2. `block_on`: driving a future to completion on this thread, no loop;
//   3. an `async fn`: a coroutine returning `pollux::Async<T>` that awaits
//      other futures;
//   4. `join`: running two futures concurrently inside one task.
//
// Run:   meson compile -C build hello_future && ./build/samples/hello_future
// Prints:
//   1. hand-written future: ready after 3 polls
//   2. block_on(ready(41)) + 1 = 42
//   3. async fn: fetched "pollux" in 2 steps
//   4. join: (1, "two") after both finished
#include <pollux/pollux.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

// 1. A future written by hand. Each poll either finishes or returns Pending,
// and before returning Pending it hands the waker to someone who will call
// it: here a short-lived thread. Forgetting that is the classic bug: the
// task would never be polled again.
class Countdown {
public:
    using Output = int;

    explicit Countdown(int polls_needed) : remaining_(polls_needed) {}
    Countdown(Countdown&&) = default;
    ~Countdown() {
        for (auto& t : wakers_) {
            t.join();
        }
    }

    pollux::Poll<int> poll(pollux::Context& cx) {
        ++polls_;
        if (--remaining_ <= 0) {
            return pollux::Ready{polls_};
        }
        // Wake the task from another thread after a moment: wakers are
        // thread-safe, and block_on sleeps until one fires.
        wakers_.emplace_back([waker = cx.waker()]() mutable {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            std::move(waker).wake();
        });
        return pollux::Pending{};
    }

private:
    int remaining_;
    int polls_ = 0;
    std::vector<std::thread> wakers_; // joined on destruction
};

// 3. An async fn: it awaits other futures and co_returns a value. Nothing
// runs until it is polled (futures are lazy).
pollux::Async<std::string> fetch_name() {
    int steps = 0;
    std::string name = co_await pollux::lazy([&] {
        ++steps;
        return std::string("pol");
    });
    name += co_await pollux::map(pollux::ready(std::string("lux")), [&](std::string s) {
        ++steps;
        return s;
    });
    std::printf("3. async fn: fetched \"%s\" in %d steps\n", name.c_str(), steps);
    co_return name;
}

pollux::Async<int> one() {
    co_return 1;
}
pollux::Async<std::string> two() {
    co_await Countdown(2); // pending once: join keeps polling one() meanwhile
    co_return "two";
}

} // namespace

int main() {
    // 1 and 2: block_on polls the hand-written future, parking the thread
    // between polls until the waker fires.
    int polls = pollux::block_on(Countdown(3));
    std::printf("1. hand-written future: ready after %d polls\n", polls);

    int v = pollux::block_on(pollux::ready(41)) + 1;
    std::printf("2. block_on(ready(41)) + 1 = %d\n", v);

    // 3.
    std::string name = pollux::block_on(fetch_name());

    // 4. join polls both futures in one task and finishes when both have.
    auto [a, b] = pollux::block_on(pollux::join(one(), two()));
    std::printf("4. join: (%d, \"%s\") after both finished\n", a, b.c_str());
    return name == "pollux" && a == 1 && b == "two" ? 0 : 1;
}
