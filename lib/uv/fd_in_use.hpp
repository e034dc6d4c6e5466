#pragma once

// Private to lib/uv: libuv's uv__fd_exists, for Tcp::open and Udp::open.

#include <pollux/uv/loop.hpp>

namespace pollux::uv::detail {

/// Whether an open handle of `loop` (a Tcp, Udp, Pipe or Poll) holds `fd`.
/// Asio's epoll reactor refuses a second registration of a descriptor by
/// itself (EEXIST), its select reactor does not: without this check two
/// handles could own one descriptor and close it twice.
bool fd_in_use(Loop& loop, int fd);

} // namespace pollux::uv::detail
