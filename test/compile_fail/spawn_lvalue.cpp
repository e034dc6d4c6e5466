// expect-error: pass the future as an rvalue: std::move(f), or pollux::by_ref(f) to keep it
// An lvalue future given to spawn, which moves its future in.
#include <pollux/core/async.hpp>
#include <pollux/spawn.hpp>

pollux::Async<int> work() {
    co_return 1;
}

pollux::Async<void> caller() {
    auto f = work();
    auto h = pollux::spawn(f);
    co_await h;
}
