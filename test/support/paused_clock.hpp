#pragma once

// `PausedClock`: pauses pollux's process-wide clock for the length of a
// test, and leaves it unpaused afterwards even when the test fails (or
// resumed it itself), so one test's pause never leaks into the next.

#include <pollux/time/pause.hpp>

namespace pollux::test {

struct PausedClock {
    PausedClock() { time::pause(); }
    ~PausedClock() {
        if (time::is_paused()) {
            time::resume();
        }
    }
    PausedClock(const PausedClock&) = delete;
    PausedClock& operator=(const PausedClock&) = delete;
};

} // namespace pollux::test
