// installed_program: built by scripts/ci_package.sh against an installed
// pollux, with nothing but `pkg-config --cflags --libs pollux`.
//
// What it shows: the installed headers and library are enough for a task
// that spawns another, sleeps and joins it on a `pollux::Runtime`.
//
// Prints: `installed pollux: 42`; exits 0, or 1 if the result is wrong.

#include <pollux/pollux.hpp>

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;

namespace {

pollux::Async<int> answer() {
    co_await pollux::time::sleep(1ms);
    co_return 42;
}

pollux::Async<int> async_main() {
    auto handle = pollux::spawn(answer());
    co_return co_await std::move(handle);
}

} // namespace

int main() {
    int v = pollux::run(async_main());
    std::cout << "installed pollux: " << v << '\n';
    return v == 42 ? 0 : 1;
}
