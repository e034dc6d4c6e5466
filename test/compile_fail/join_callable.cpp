// expect-error: this is a callable, not a future: call it, e.g. spawn(f()) not spawn(f)
// A lambda returning a future given to join instead of that future.
#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/ready.hpp>

pollux::Async<void> caller() {
    auto make = [] { return pollux::ready(1); };
    auto [a, b] = co_await pollux::join(make, pollux::ready(2));
    (void)a;
    (void)b;
}
