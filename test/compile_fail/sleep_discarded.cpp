// expect-warning: futures do nothing unless awaited or spawned
// A future returned by a pollux call and dropped unused.
#include <pollux/time/sleep.hpp>

#include <chrono>

void caller() {
    pollux::time::sleep(std::chrono::seconds(1));
}
