#pragma once

/// @file
/// Recording where a task's coroutine is suspended: the `co_await` of every
/// pollux coroutine stores its `std::source_location` on the task being
/// polled, for dumps (docs/debugging.md). Private to async.hpp and the task.

#include <pollux/detail/config.hpp>

#include <atomic>
#include <source_location>

namespace pollux::detail {

// The await-site slot of the task whose poll runs on this thread (null
// outside a task poll). Set by CurrentTaskScope. `constinit` lets code
// outside the library read it without the TLS wrapper call; initial-exec
// makes the read one load at a fixed offset (see lib/task/task.cpp).
extern POLLUX_API thread_local constinit std::atomic<std::source_location>* current_await_site
    [[gnu::tls_model("initial-exec")]];

/// Stores `site` as the current task's await site. One thread-local load
/// and one relaxed store; nothing outside a task poll. Compiled out with
/// POLLUX_NO_TASK_DEBUG (which must then be defined for the library too).
inline void record_await_site([[maybe_unused]] const std::source_location& site) noexcept {
#if !defined(POLLUX_NO_TASK_DEBUG)
    if (std::atomic<std::source_location>* slot = current_await_site) {
        // ORDERING: relaxed: only this (polling) thread writes the slot;
        // dumps on other threads need an untorn value, not an order.
        slot->store(site, std::memory_order_relaxed);
    }
#endif
}

} // namespace pollux::detail
