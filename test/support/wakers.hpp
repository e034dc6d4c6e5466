#pragma once

// Test wakers: a counting waker whose vtable records every clone, drop and
// wake (futures-test's WakeCounter), and a waker that fails the test when
// woken (futures-test's panic_waker).

#include <pollux/core/waker.hpp>

#include <atomic>
#include <cstddef>
#include <stdexcept>

namespace pollux::test {

/// The waker a test expects never to be woken.
inline const Waker& noop_waker() {
    return Waker::noop();
}

/// Owns the counters behind a counting waker. Keep it alive longer than
/// every waker made from it; `live()` is clones minus drops, and is 0 once
/// every waker made from it is gone.
class CountingWaker {
public:
    CountingWaker() = default;
    CountingWaker(const CountingWaker&) = delete;
    CountingWaker& operator=(const CountingWaker&) = delete;

    /// A new waker; counts as one reference (as if cloned).
    [[nodiscard]] Waker waker() const {
        created_.fetch_add(1);
        return Waker::from_raw(RawWaker{this, &vtable});
    }

    std::size_t wakes() const { return wakes_.load(); }
    std::size_t clones() const { return clones_.load(); }
    std::size_t drops() const { return drops_.load(); }
    /// References alive now: created + clones - drops - consuming wakes.
    std::ptrdiff_t live() const {
        return static_cast<std::ptrdiff_t>(created_.load() + clones_.load()) -
               static_cast<std::ptrdiff_t>(drops_.load() + consumed_.load());
    }

private:
    static const CountingWaker& self(const void* p) {
        return *static_cast<const CountingWaker*>(p);
    }
    static RawWaker clone(const void* p) {
        self(p).clones_.fetch_add(1);
        return RawWaker{p, &vtable};
    }
    static void wake(const void* p) {
        self(p).wakes_.fetch_add(1);
        self(p).consumed_.fetch_add(1);
    }
    static void wake_by_ref(const void* p) { self(p).wakes_.fetch_add(1); }
    static void drop(const void* p) { self(p).drops_.fetch_add(1); }
    static constexpr RawWakerVTable vtable{&clone, &wake, &wake_by_ref, &drop};

    mutable std::atomic<std::size_t> created_{0}, clones_{0}, drops_{0}, wakes_{0}, consumed_{0};
};

namespace detail_wakers {
struct Panicking {
    static RawWaker clone(const void*) { return RawWaker{nullptr, &vtable}; }
    static void wake(const void*) { throw std::logic_error("panicking_waker was woken"); }
    static void drop(const void*) {}
    static constexpr RawWakerVTable vtable{&clone, &wake, &wake, &drop};
};
} // namespace detail_wakers

/// A waker that throws `std::logic_error` when woken: for futures that must
/// complete without ever waking (tokio-test's panicking waker).
inline const Waker& panicking_waker() {
    static const Waker* w =
        new Waker(Waker::from_raw(RawWaker{nullptr, &detail_wakers::Panicking::vtable}));
    return *w;
}

} // namespace pollux::test
