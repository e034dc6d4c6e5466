// expect-error: this is a callable, not a future: call it, e.g. spawn(f()) not spawn(f)
// A coroutine function given to spawn instead of the future it returns.
#include <pollux/core/async.hpp>
#include <pollux/spawn.hpp>

pollux::Async<int> work() {
    co_return 1;
}

pollux::Async<void> caller() {
    auto h = pollux::spawn(work);
    co_await h;
}
