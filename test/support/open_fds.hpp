#pragma once

// The number of descriptors this process has open, for tests that check
// nothing leaked one.

#include <cstddef>
#include <filesystem>

namespace pollux::test {

inline std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

} // namespace pollux::test
