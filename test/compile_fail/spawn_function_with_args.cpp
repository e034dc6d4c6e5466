// expect-error: this is a callable, not a future: call it, e.g. spawn(f()) not spawn(f)
// A coroutine function that takes arguments, given to spawn by name.
#include <pollux/core/async.hpp>
#include <pollux/spawn.hpp>

pollux::Async<int> serve(int connection) {
    co_return connection;
}

pollux::Async<void> caller() {
    auto h = pollux::spawn(serve);
    co_await h;
}
