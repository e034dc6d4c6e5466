#pragma once

/// @file
/// `block_on`: run a future to completion on the calling thread, with no
/// event loop (futures-rs's `executor::block_on`).

#include <pollux/core/future.hpp>
#include <pollux/detail/arc_wake.hpp>

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace pollux {

namespace detail {

// The waker of one block_on call. `notified_` is the only state:
//   0 = no wake since the last park, 1 = woken.
// wake (any thread): exchange to 1; if it was 0, notify the futex.
// park (the blocking thread): wait while 0, then consume the 1.
// A wake that lands between a Pending poll and park() leaves 1 behind, so
// park returns at once: no wake is lost.
class ThreadParker final : public ArcWake<ThreadParker> {
public:
    void wake() const noexcept {
        // ORDERING: release pairs with the acquire exchange in park(), so what
        // the waking thread wrote before waking is visible to the next poll.
        if (notified_.exchange(1, std::memory_order_release) == 0) {
            notified_.notify_one();
        }
    }

    void park() noexcept {
        // ORDERING: acquire pairs with the release exchange in wake().
        while (notified_.exchange(0, std::memory_order_acquire) == 0) {
            notified_.wait(0, std::memory_order_relaxed);
        }
    }

private:
    mutable std::atomic<std::uint32_t> notified_{0};
};

template <class F>
output_t<F> block_on_in_place(F& fut) {
    // A fresh parker per call, so nested block_on calls never steal each
    // other's wakes.
    auto parker = make_arc<ThreadParker>();
    const Waker waker = parker->waker();
    Context cx(waker);
    for (;;) {
        auto p = fut.poll(cx);
        if (p.is_ready()) {
            if constexpr (std::is_void_v<output_t<F>>) {
                return;
            } else {
                return std::move(p).value();
            }
        }
        parker->park();
    }
}

} // namespace detail

/// Polls `f` on the calling thread until it is ready, parking the thread
/// between polls; a wake from any thread unparks it. Returns the output, or
/// rethrows what `poll` threw.
///
/// @par Cancel safety
/// Not applicable: it returns only when `f` has completed.
/// @par Thread safety
/// Any thread may call it; the future is polled only on the calling thread.
/// Do not call it from inside a task that a single-threaded loop drives: it
/// blocks that loop.
/// @par Errors
/// Rethrows what `f`'s `poll` throws (for a `JoinHandle`, what the task
/// threw, or `TaskCancelled`). Operations that need a task (`time::sleep`,
/// `net` sockets without an executor) throw `std::logic_error` when polled
/// under plain `block_on`.
/// @par Example
/// @code
/// int v = pollux::block_on(pollux::ready(42));
/// @endcode
template <Future F>
output_t<F> block_on(F&& f) {
    // An lvalue is polled in place (the caller keeps it); an rvalue is moved
    // into this frame first.
    if constexpr (std::is_lvalue_reference_v<F>) {
        return detail::block_on_in_place(f);
    } else {
        std::remove_cvref_t<F> owned(std::move(f));
        return detail::block_on_in_place(owned);
    }
}

} // namespace pollux
