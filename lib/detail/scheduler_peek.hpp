#pragma once

// Private to the library: a look at the front of an io_context's scheduler
// queue, for the uv loop's poll phase (lib/uv/loop.cpp). Asio has no public
// way to run "what is ready now, up to the reactor's next turn"; a marker
// handler posted behind the reactor does it too, but costs a post and a
// non-blocking epoll_wait per loop iteration (docs/performance.md,
// finding 4). Implemented in asio_private.cpp, on the epoll fast path only
// (readiness_path.hpp): on the portable path scheduler_with_reactor gives
// null and the loop keeps the marker, so no private member of the
// scheduler is read.

#include "readiness_path.hpp"

#include <boost/asio/detail/scheduler.hpp>
#include <boost/asio/io_context.hpp>

namespace pollux::detail {

/// The scheduler of `io`, with its reactor made, so that the reactor's turn
/// (the scheduler's task operation) is in the queue whenever no thread is
/// inside epoll_wait; null on the portable path, where its queue cannot be
/// looked at (drain up to a marker instead). A service lookup: keep the
/// result.
boost::asio::detail::scheduler* scheduler_with_reactor(boost::asio::io_context& io);

/// Whether the reactor's turn is at the front of the scheduler's queue:
/// every handler that was ready before it has run. Only for a scheduler
/// that the calling thread alone runs, between its handlers (no lock is
/// taken; asio_private.cpp says why none is needed), and that
/// scheduler_with_reactor gave.
bool reactor_is_next(boost::asio::detail::scheduler& s) noexcept;

} // namespace pollux::detail
