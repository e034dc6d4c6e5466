#pragma once

// Private to the library: whether epoll accepts a descriptor, for io::AsyncFd,
// io::std_stream and uv::Poll. Asio's reactor silently accepts a descriptor
// that epoll refuses with EPERM (a regular file, a directory) and then fails
// every wait on it with operation_not_supported, so the check asks epoll
// directly, on a private instance, as libuv's uv__io_check_fd does.

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <cerrno>
#include <sys/epoll.h>
#include <unistd.h>

namespace pollux::detail {

/// Empty if epoll accepts `fd`; else epoll_ctl's error (EPERM for a file
/// that cannot be polled), or epoll_create1's.
inline boost::system::error_code epoll_add_error(int fd) noexcept {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        return {errno, boost::asio::error::get_system_category()};
    }
    ::epoll_event ev{};
    ev.events = EPOLLIN;
    const int r = ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    const int e = errno;
    ::close(ep);
    if (r == 0) {
        return {};
    }
    return {e, boost::asio::error::get_system_category()};
}

} // namespace pollux::detail
