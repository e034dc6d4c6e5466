// expect-error: this is a callable, not a future: call it, e.g. spawn(f()) not spawn(f)
// A coroutine function given to time::timeout instead of its future.
#include <pollux/core/async.hpp>
#include <pollux/time/timeout.hpp>

#include <chrono>

pollux::Async<int> work() {
    co_return 1;
}

pollux::Async<void> caller() {
    auto r = co_await pollux::time::timeout(std::chrono::seconds(1), work);
    (void)r;
}
