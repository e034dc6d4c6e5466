// expect-error: pass the future as an rvalue: std::move(f), or pollux::by_ref(f) to keep it
// An lvalue future given to select.
#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/time/sleep.hpp>

#include <chrono>

pollux::Async<int> work() {
    co_return 1;
}

pollux::Async<void> caller() {
    auto f = work();
    auto v = co_await pollux::select(f, pollux::time::sleep(std::chrono::seconds(1)));
    (void)v;
}
