#pragma once

// Private to the library: which of the two readiness paths this build takes
// (lib/detail/readiness.hpp, scheduler_peek.hpp), decided once, at compile
// time, from Asio's own configuration.
//
// - The epoll fast path: Asio's reactor is its epoll reactor (Linux, unless
//   BOOST_ASIO_DISABLE_EPOLL or io_uring as default). Readiness waits are
//   reactor operations of pollux's own, and the uv loop's poll phase looks
//   at the scheduler's queue; both reach Asio's private members
//   (asio_private.cpp).
// - The portable path: any other reactor (kqueue on macOS and the BSDs,
//   select, /dev/poll, io_uring as default), or the epoll reactor when the
//   build defines POLLUX_FORCE_PORTABLE_READINESS (meson's
//   `-Dreadiness=portable`). Readiness waits are the I/O objects' public
//   `async_wait`, and the uv loop's poll phase drains up to a marker; no
//   private member of Asio is touched.
//
// Asio's configuration macros (BOOST_ASIO_DISABLE_EPOLL and the like)
// change the layout of its types, so the library and every program that
// uses it must be compiled with the same ones; docs/net.md says so.

#include <boost/asio/detail/config.hpp>

#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) &&               \
    !defined(BOOST_ASIO_HAS_IOCP) && !defined(BOOST_ASIO_WINDOWS_RUNTIME) &&                       \
    !defined(POLLUX_FORCE_PORTABLE_READINESS)
#define POLLUX_EPOLL_FAST_PATH 1
#else
#define POLLUX_EPOLL_FAST_PATH 0
#endif
