#pragma once

// For the process tests: the zombies among this process's children, found
// the way ps(1) finds them (every /proc/<pid>/stat whose ppid is ours and
// whose state is 'Z'), and a wait for a condition with a generous hang guard.

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

namespace pollux::test {

/// How many children of this process are zombies right now.
inline int zombie_children() {
    const pid_t self = ::getpid();
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = e.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream in(e.path() / "stat");
        std::string stat;
        if (!std::getline(in, stat)) {
            continue; // gone meanwhile
        }
        // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
        const std::size_t close = stat.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream rest(stat.substr(close + 1));
        char state = 0;
        long ppid = 0;
        rest >> state >> ppid;
        if (ppid == self && state == 'Z') {
            ++n;
        }
    }
    return n;
}

/// Polls `done()` every millisecond until it holds or `guard` passed (a
/// hang guard, not a bound); returns its last value.
template <class Pred>
bool eventually(Pred done, std::chrono::seconds guard = std::chrono::seconds(30)) {
    const auto end = std::chrono::steady_clock::now() + guard;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) {
            return done();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

} // namespace pollux::test
