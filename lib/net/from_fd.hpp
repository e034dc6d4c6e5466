#pragma once

// Private to lib/net: what the IP sockets' from_fd do before and while
// adopting a descriptor (TcpSocket, TcpStream, TcpListener, UdpSocket).
// On every error the descriptor is left as it was, the caller's to close
// (unlike socket_block.hpp's adopt_fd, for accepted descriptors, which
// closes it).

#include <pollux/core/result.hpp>

#include "connect.hpp"
#include "sockopt.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <sys/socket.h>
#include <utility>

namespace pollux::net::detail {

/// Checks that `fd` is a socket of `type` (SOCK_STREAM, SOCK_DGRAM) and
/// `protocol` (IPPROTO_TCP, IPPROTO_UDP) over IPv4 or IPv6, and returns
/// whether it is IPv6. Errors: getsockopt's (bad_descriptor, not_socket)
/// where `fd` cannot be asked; invalid_argument where it is another kind
/// of socket. Reads only: `fd` is not changed.
inline Result<bool> check_inet_fd(int fd, int type, int protocol) noexcept {
    auto kind = socket_kind(fd);
    if (!kind) {
        return Result<bool>(boost::system::in_place_error, kind.error());
    }
    auto proto = get_int_option(fd, SOL_SOCKET, SO_PROTOCOL);
    if (!proto) {
        return Result<bool>(boost::system::in_place_error, proto.error());
    }
    if (kind->type != type || (kind->family != AF_INET && kind->family != AF_INET6) ||
        *proto != protocol) {
        return Result<bool>(boost::system::in_place_error,
                            make_error_code(boost::asio::error::invalid_argument));
    }
    return kind->family == AF_INET6;
}

/// Wraps `fd`, checked by check_inet_fd, in an Asio object of type `Sock`
/// (an ip::tcp or ip::udp socket or acceptor) on `ex`, for IPv6 when `v6`;
/// then it is non-blocking and close-on-exec. On error `fd` is released
/// from the Asio object again, still open.
template <class Sock>
Result<Sock> assign_fd(int fd, bool v6, const boost::asio::any_io_executor& ex) {
    using Protocol = typename Sock::protocol_type;
    Sock s(ex);
    boost::system::error_code ec;
    s.assign(v6 ? Protocol::v6() : Protocol::v4(), fd, ec);
    if (ec) {
        return Result<Sock>(boost::system::in_place_error, ec);
    }
    s.non_blocking(true, ec);
    if (ec) {
        (void)s.release();
        return Result<Sock>(boost::system::in_place_error, ec);
    }
    set_cloexec(fd);
    return Result<Sock>(std::move(s));
}

} // namespace pollux::net::detail
