#pragma once

// Private to the library: a look at the front of an io_context's scheduler
// queue, for the uv loop's poll phase (lib/uv/loop.cpp). Asio has no public
// way to run "what is ready now, up to the reactor's next turn"; a marker
// handler posted behind the reactor does it too, but costs a post and a
// non-blocking epoll_wait per loop iteration (docs/performance.md,
// finding 4). Implemented in asio_private.cpp.

#include <boost/asio/io_context.hpp>

namespace pollux::detail {

/// Makes sure the reactor of `io` exists, so that its turn (the scheduler's
/// task operation) is in the queue whenever no thread is inside epoll_wait.
void start_reactor(boost::asio::io_context& io);

/// Whether the reactor's turn is at the front of `io`'s queue: every
/// handler that was ready before it has run. Takes the scheduler's lock.
bool reactor_is_next(boost::asio::io_context& io);

} // namespace pollux::detail
