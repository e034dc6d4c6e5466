// expect-error: pass the future as an rvalue: std::move(f), or pollux::by_ref(f) to keep it
// An lvalue future given to Runtime::spawn.
#include <pollux/core/async.hpp>
#include <pollux/runtime.hpp>

pollux::Async<int> work() {
    co_return 1;
}

int main() {
    pollux::Runtime rt;
    auto f = work();
    auto h = rt.spawn(f);
    return rt.block_on(std::move(h));
}
