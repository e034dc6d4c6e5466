#pragma once

/// @file
/// Build configuration shared by every pollux header: symbol export and
/// debug assertions.

#include <cstdio>
#include <cstdlib>

// The library is built with -fvisibility=hidden; only names marked
// POLLUX_API are exported from libpollux.
#if defined(POLLUX_BUILDING_LIBRARY)
#define POLLUX_API __attribute__((visibility("default")))
#else
#define POLLUX_API
#endif

// A member of a POLLUX_API class that only libpollux calls: hidden, so the
// library's calls to it are direct (no PLT) and may be inlined.
#if defined(POLLUX_BUILDING_LIBRARY)
#define POLLUX_LOCAL __attribute__((visibility("hidden")))
#else
#define POLLUX_LOCAL
#endif

namespace pollux::detail {

[[noreturn]] inline void
assert_fail(const char* expr, const char* msg, const char* file, int line) noexcept {
    std::fprintf(stderr, "%s:%d: pollux contract violation: %s (%s)\n", file, line, msg, expr);
    std::abort();
}

} // namespace pollux::detail

/// Checks a precondition in debug builds (when NDEBUG is not defined). A
/// failed check prints the message and aborts: breaking a precondition is a
/// bug in the caller, not an error to handle.
#if defined(NDEBUG)
#define POLLUX_ASSERT(expr, msg) ((void)0)
#else
#define POLLUX_ASSERT(expr, msg)                                                                   \
    ((expr) ? (void)0 : ::pollux::detail::assert_fail(#expr, msg, __FILE__, __LINE__))
#endif

/// The attribute every future type pollux returns carries, so that a call
/// whose future is dropped unused warns (`-Wunused-result`) with this message
/// (futures-rs's `#[must_use]`). `JoinHandle` deliberately has none: dropping
/// it detaches the task, as `tokio::spawn(...);` does.
#define POLLUX_NODISCARD_FUTURE [[nodiscard("futures do nothing unless awaited or spawned")]]
