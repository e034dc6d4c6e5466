#pragma once

// Private to lib/process: the process-wide reaper (see spawn.hpp, "Two
// parts", and lib/process/reaper.cpp).

#include "spawn.hpp"

#include <boost/system/error_code.hpp>

namespace pollux::detail::process {

/// Starts the reaper (its thread, epoll instance and eventfd) if it is not
/// running yet. spawn() calls it before the clone, so that a child is never
/// started without a reaper. Thread-safe.
boost::system::error_code reaper_start() noexcept;

/// Hands `child` to the reaper (which must be started), which holds a
/// reference until the child is reaped. Never fails: a child whose pidfd
/// cannot join the epoll set is polled instead. Thread-safe.
void reaper_watch(const ChildPtr& child) noexcept;

} // namespace pollux::detail::process
