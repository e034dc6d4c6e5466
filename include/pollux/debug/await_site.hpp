#pragma once

/// @file
/// Recording where a task's coroutine is suspended: the `co_await` of every
/// pollux coroutine stores its `std::source_location` on the task being
/// polled, for dumps (docs/debugging.md). Private to async.hpp and the task.

#include <pollux/detail/config.hpp>

#include <atomic>
#include <source_location>

namespace pollux::detail {

/// The part of a task that its coroutines write while it is polled: where
/// it is suspended. TaskHeader derives from it, so the thread-local naming
/// the task being polled can have this type, and recording an await site
/// needs no other header and no second thread-local (one TLS load instead
/// of a save and restore of two per poll: docs/performance.md).
struct AwaitSiteSlot {
    std::atomic<std::source_location> await_site_{};
};

// The task whose poll runs on this thread (null outside a task poll), as
// its AwaitSiteSlot base; detail::current_task() gives the TaskHeader. Set
// by the poll and by CurrentTaskScope. `constinit` lets code outside the
// library read it without the TLS wrapper call; initial-exec makes the read
// one load at a fixed offset (see lib/task/task.cpp).
extern POLLUX_API thread_local constinit AwaitSiteSlot* current_task_slot
    [[gnu::tls_model("initial-exec")]];

/// Stores `site` as the current task's await site. One thread-local load
/// and one relaxed store; nothing outside a task poll. Compiled out with
/// POLLUX_NO_TASK_DEBUG (which must then be defined for the library too).
inline void record_await_site([[maybe_unused]] const std::source_location& site) noexcept {
#if !defined(POLLUX_NO_TASK_DEBUG)
    if (AwaitSiteSlot* task = current_task_slot) {
        // ORDERING: relaxed: only this (polling) thread writes the slot;
        // dumps on other threads need an untorn value, not an order.
        task->await_site_.store(site, std::memory_order_relaxed);
    }
#endif
}

} // namespace pollux::detail
