#pragma once

// Private to lib/uv: the descriptor checks and adoption Tcp::open and
// Udp::open share (libuv's uv_tcp_open / uv_udp_open).

#include "../net/sockopt.hpp"
#include "fd_in_use.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>

#include <sys/socket.h>

namespace pollux::uv::detail {

/// Adopts `fd` into the closed `socket` of a handle of `loop`, non-blocking.
/// Errors, checked in this order: EBADF / ENOTSOCK (`fd` is no socket);
/// `invalid_argument` unless `fd` is an AF_INET or AF_INET6 socket of the
/// socket's type and protocol (SOCK_STREAM/IPPROTO_TCP for a tcp::socket,
/// SOCK_DGRAM/IPPROTO_UDP for a udp::socket); EEXIST when another handle of
/// `loop` holds `fd` (libuv's uv__fd_exists); then assign's and
/// non_blocking's own. On any error `socket` stays closed and `fd` stays the
/// caller's, open. The caller checks first that the handle is neither
/// closing nor already open (each handle has its own notion of "open").
template <class Socket>
boost::system::error_code adopt_socket_fd(Loop& loop, Socket& socket, int fd) {
    using Protocol = typename Socket::protocol_type;
    auto kind = net::detail::socket_kind(fd);
    if (!kind) {
        return kind.error(); // EBADF, ENOTSOCK
    }
    auto proto = net::detail::get_int_option(fd, SOL_SOCKET, SO_PROTOCOL);
    if (!proto) {
        return proto.error();
    }
    if (kind->type != Protocol::v4().type() ||
        (kind->family != AF_INET && kind->family != AF_INET6) ||
        *proto != Protocol::v4().protocol()) {
        return boost::asio::error::invalid_argument;
    }
    if (fd_in_use(loop, fd)) {
        return boost::system::errc::make_error_code(boost::system::errc::file_exists);
    }
    boost::system::error_code ec;
    socket.assign(kind->family == AF_INET6 ? Protocol::v6() : Protocol::v4(), fd, ec);
    if (ec) {
        return ec; // the descriptor stays the caller's
    }
    socket.non_blocking(true, ec);
    if (ec) {
        (void)socket.release();
    }
    return ec;
}

/// Whether the socket `fd` has a peer (getpeername(2) succeeds).
inline bool socket_has_peer(int fd) noexcept {
    ::sockaddr_storage peer{};
    ::socklen_t len = sizeof(peer);
    return ::getpeername(fd, reinterpret_cast<::sockaddr*>(&peer), &len) == 0;
}

} // namespace pollux::uv::detail
