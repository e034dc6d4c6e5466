#pragma once

/// @file
/// `detail::LightMutex`: a mutex whose uncontended lock and unlock are one
/// atomic read-modify-write each, inline (Drepper's "Futexes Are Tricky",
/// mutex 2, over C++20 atomic wait/notify). For the scheduler's task
/// registry, taken twice per spawned task (finding 5 of
/// docs/performance.md), where std::mutex cost two calls into libpthread.

#include <atomic>

namespace pollux::detail {

// The word: 0 unlocked; 1 locked, no thread waits; 2 locked, a thread may
// wait. A locker that finds it held sets 2 and sleeps on the word until it
// can take it from 0, setting 2 itself (it cannot know whether others still
// sleep, so an unlock after a contended lock always notifies: at most one
// spurious notify). An unlock that finds 2 notifies one sleeper.
class LightMutex {
public:
    LightMutex() = default;
    LightMutex(const LightMutex&) = delete;
    LightMutex& operator=(const LightMutex&) = delete;

    void lock() noexcept {
        int expected = 0;
        // ORDERING: acquire pairs with unlock's release: the previous
        // holder's writes are visible to this one.
        if (word_.compare_exchange_strong(
                expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
            return;
        }
        lock_contended();
    }

    void unlock() noexcept {
        // ORDERING: release pairs with lock's acquire.
        if (word_.exchange(0, std::memory_order_release) == 2) {
            word_.notify_one();
        }
    }

private:
    void lock_contended() noexcept {
        // ORDERING: acquire, as lock.
        while (word_.exchange(2, std::memory_order_acquire) != 0) {
            word_.wait(2, std::memory_order_relaxed);
        }
    }

    std::atomic<int> word_{0};
};

} // namespace pollux::detail
