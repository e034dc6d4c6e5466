#pragma once

/// @file
/// `net::UdpSocket`: a readiness-based UDP socket (tokio's `UdpSocket`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/op_future.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/asio/ip/udp.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace pollux::net {

class UdpSocket;

namespace detail {
struct UdpSendToOp {
    using Output = Result<std::size_t>;
    UdpSocket* self;
    boost::asio::const_buffer buf;
    boost::asio::ip::udp::endpoint to;
    Poll<Output> operator()(Context& cx);
};
struct UdpRecvFromOp {
    using Output = Result<std::pair<std::size_t, boost::asio::ip::udp::endpoint>>;
    UdpSocket* self;
    boost::asio::mutable_buffer buf;
    Poll<Output> operator()(Context& cx);
};
struct UdpSendOp {
    using Output = Result<std::size_t>;
    UdpSocket* self;
    boost::asio::const_buffer buf;
    Poll<Output> operator()(Context& cx);
};
struct UdpRecvOp {
    using Output = Result<std::size_t>;
    UdpSocket* self;
    boost::asio::mutable_buffer buf;
    Poll<Output> operator()(Context& cx);
};
} // namespace detail

/// The future returned by `UdpSocket::send_to`: Output `Result<std::size_t>`;
/// it polls `poll_send_to`, whose cancel safety and errors it has.
using UdpSendToFuture = pollux::detail::OpFuture<detail::UdpSendToOp>;
/// The future returned by `UdpSocket::recv_from`: Output
/// `Result<std::pair<std::size_t, UdpSocket::endpoint>>`; it polls
/// `poll_recv_from`.
using UdpRecvFromFuture = pollux::detail::OpFuture<detail::UdpRecvFromOp>;
/// The future returned by `UdpSocket::send`: Output `Result<std::size_t>`;
/// it polls `poll_send`.
using UdpSendFuture = pollux::detail::OpFuture<detail::UdpSendOp>;
/// The future returned by `UdpSocket::recv`: Output `Result<std::size_t>`;
/// it polls `poll_recv`.
using UdpRecvFuture = pollux::detail::OpFuture<detail::UdpRecvOp>;

/// A UDP socket. Move-only; destroying it closes the socket.
///
/// Every operation is readiness-based like `TcpStream`'s: the poll tries
/// `sendto`/`recvfrom` (`MSG_NOSIGNAL`) and starts the socket's readiness
/// wait when it would block. One waker slot per direction.
///
/// Cancel safety of the futures: `recv_from`/`recv` are cancel safe (a
/// datagram is taken only by the poll that returns it); `send_to`/`send` are
/// cancel safe (a datagram is sent whole by the poll that returns Ready, or
/// not at all).
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API UdpSocket {
public:
    struct Impl;
    /// A UDP address and port.
    using endpoint = boost::asio::ip::udp::endpoint;

    /// Adopts a block made by the library.
    explicit UdpSocket(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s socket; `o` is left holding none, and may only be
    /// destroyed or assigned to (its poll functions assert).
    UdpSocket(UdpSocket&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
    /// Closes the socket held, as the destructor does, then takes `o`'s;
    /// `o` is left holding none. Self-assignment does nothing.
    UdpSocket& operator=(UdpSocket&& o) noexcept;
    ~UdpSocket();

    /// Binds to `ep` on the current task's executor (port 0: any).
    ///
    /// @par Errors
    /// The bind error as a value; throws `std::logic_error` outside a task.
    static Result<UdpSocket> bind(const endpoint& ep);
    /// As above, on `ex`; callable anywhere.
    /// @par Errors
    /// The socket's `open` or `bind` error, as a value.
    static Result<UdpSocket> bind(const endpoint& ep, const boost::asio::any_io_executor& ex);
    /// Binds "host:port" (see `TcpListener::bind`).
    static Result<UdpSocket> bind(std::string_view host_port);
    /// As above, on `ex`; callable anywhere. A host that is not an IP
    /// literal is looked up with a blocking resolve, and each address is
    /// tried until one binds.
    /// @par Errors
    /// As values: `invalid_argument` when `host_port` has no ':' or no port,
    /// the resolver's error, or the last address's bind error.
    static Result<UdpSocket> bind(std::string_view host_port,
                                  const boost::asio::any_io_executor& ex);

    /// Adopts `fd`, a UDP socket over IPv4 or IPv6 (bound or not), on the
    /// current task's executor, and makes it non-blocking and close-on-exec
    /// (tokio's `UdpSocket::from_std`). On success the UdpSocket owns `fd`.
    /// @par Errors
    /// As values, leaving `fd` open and the caller's: `bad_descriptor`,
    /// `not_socket`; `invalid_argument` for a socket that is not UDP over
    /// IP; the reactor's registration error. Throws `std::logic_error`
    /// outside a task.
    static Result<UdpSocket> from_fd(int fd);
    /// As above, on `ex`; callable anywhere.
    static Result<UdpSocket> from_fd(int fd, const boost::asio::any_io_executor& ex);

    /// Sets the default peer for `send`/`recv` and filters incoming
    /// datagrams to it. Immediate (UDP has no handshake).
    Result<void> connect(const endpoint& peer);

    /// Sends one datagram to `to`. Output: bytes sent (the whole datagram).
    /// See the class comment for cancel safety. Wakes on the socket's
    /// executor when writable. Errors: `sendto`'s (`message_size`, ...).
    /// The buffer is borrowed until the future completes or is dropped.
    [[nodiscard]] UdpSendToFuture send_to(boost::asio::const_buffer buf,
                                          const endpoint& to) noexcept {
        return UdpSendToFuture({this, buf, to});
    }
    /// Receives one datagram: its size (truncated to the buffer) and sender.
    [[nodiscard]] UdpRecvFromFuture recv_from(boost::asio::mutable_buffer buf) noexcept {
        return UdpRecvFromFuture({this, buf});
    }
    /// `send_to` the connected peer; `not_connected`-style errors otherwise.
    [[nodiscard]] UdpSendFuture send(boost::asio::const_buffer buf) noexcept {
        return UdpSendFuture({this, buf});
    }
    /// `recv_from` the connected peer.
    [[nodiscard]] UdpRecvFuture recv(boost::asio::mutable_buffer buf) noexcept {
        return UdpRecvFuture({this, buf});
    }

    /// The poll function behind `send_to`, for hand-written futures: tries
    /// `sendto` now; Pending, with the waker registered on a write-readiness
    /// wait, while the socket is not writable (or the task's budget is spent).
    /// @par Cancel safety
    /// Cancel safe: the datagram is sent whole by the poll that returns
    /// Ready, or not at all.
    /// @par Errors
    /// `sendto`'s, as a value (`message_size`, ...).
    Poll<Result<std::size_t>>
    poll_send_to(Context& cx, boost::asio::const_buffer buf, const endpoint& to);
    /// The poll function behind `recv_from`: Ready with one datagram's size
    /// (truncated to `buf`) and its sender; Pending, with the waker
    /// registered, while none is queued.
    /// @par Cancel safety
    /// Cancel safe: a datagram is taken only by the poll that returns it.
    /// @par Errors
    /// `recvfrom`'s, as a value.
    Poll<Result<std::pair<std::size_t, endpoint>>> poll_recv_from(Context& cx,
                                                                  boost::asio::mutable_buffer buf);
    /// The poll function behind `send`: as `poll_send_to`, to the peer set
    /// by `connect`.
    /// @par Cancel safety
    /// Cancel safe, as `poll_send_to`.
    /// @par Errors
    /// `send`'s, as a value (`EDESTADDRREQ` when `connect` was not called).
    Poll<Result<std::size_t>> poll_send(Context& cx, boost::asio::const_buffer buf);
    /// The poll function behind `recv`: as `poll_recv_from`, without the
    /// sender's address.
    /// @par Cancel safety
    /// Cancel safe, as `poll_recv_from`.
    /// @par Errors
    /// `recv`'s, as a value.
    Poll<Result<std::size_t>> poll_recv(Context& cx, boost::asio::mutable_buffer buf);

    /// The address it is bound to (the port the kernel picked for port 0).
    /// @par Errors
    /// The `getsockname` error, as a value.
    [[nodiscard]] Result<endpoint> local_addr() const;
    /// The peer set by `connect`.
    /// @par Errors
    /// `not_connected` when `connect` was not called, as a value.
    [[nodiscard]] Result<endpoint> peer_addr() const;

    // Options. Each is one setsockopt/getsockopt (errors as values: the
    // system's, `invalid_argument` for a value out of range or a group that
    // is not a multicast address; `bad_descriptor` is never reached on a
    // live socket). The `_v4` ones need an IPv4 socket and the `_v6` ones
    // an IPv6 socket (the system's `ENOPROTOOPT` or `EINVAL` otherwise).

    /// `SO_BROADCAST`: may send to a broadcast address (`EACCES` otherwise).
    Result<void> set_broadcast(bool on);
    /// Whether `SO_BROADCAST` is set.
    [[nodiscard]] Result<bool> broadcast() const;
    /// `IP_TTL` (IPv6: `IPV6_UNICAST_HOPS`) of unicast datagrams, 1..255.
    Result<void> set_ttl(std::uint32_t ttl);
    /// `IP_TTL` (IPv6: `IPV6_UNICAST_HOPS`).
    [[nodiscard]] Result<std::uint32_t> ttl() const;
    /// `IP_MULTICAST_LOOP`: multicast sent is also delivered to local
    /// members (on by default).
    Result<void> set_multicast_loop_v4(bool on);
    /// Whether `IP_MULTICAST_LOOP` is set.
    [[nodiscard]] Result<bool> multicast_loop_v4() const;
    /// `IP_MULTICAST_TTL`, 0..255 (1 by default: the local network).
    Result<void> set_multicast_ttl_v4(std::uint32_t ttl);
    /// `IP_MULTICAST_TTL`.
    [[nodiscard]] Result<std::uint32_t> multicast_ttl_v4() const;
    /// `IPV6_MULTICAST_LOOP`.
    Result<void> set_multicast_loop_v6(bool on);
    /// Whether `IPV6_MULTICAST_LOOP` is set.
    [[nodiscard]] Result<bool> multicast_loop_v6() const;
    /// Joins the IPv4 multicast group `multiaddr` on the interface whose
    /// address is `interface` (0.0.0.0: the kernel picks by route, and
    /// reports `ENODEV` when no route leads to the group).
    Result<void> join_multicast_v4(const boost::asio::ip::address_v4& multiaddr,
                                   const boost::asio::ip::address_v4& interface);
    /// Leaves a group joined with `join_multicast_v4` (`EADDRNOTAVAIL` if
    /// not joined).
    Result<void> leave_multicast_v4(const boost::asio::ip::address_v4& multiaddr,
                                    const boost::asio::ip::address_v4& interface);
    /// Joins the IPv6 multicast group `multiaddr` on interface index
    /// `interface` (0: by route).
    Result<void> join_multicast_v6(const boost::asio::ip::address_v6& multiaddr,
                                   std::uint32_t interface);
    /// Leaves a group joined with `join_multicast_v6`.
    Result<void> leave_multicast_v6(const boost::asio::ip::address_v6& multiaddr,
                                    std::uint32_t interface);

    /// The Asio socket, for options pollux does not wrap. Do not start Asio
    /// operations on it, move from it or close it.
    [[nodiscard]] boost::asio::ip::udp::socket& socket() noexcept;

private:
    Impl* impl_;
};

inline Poll<detail::UdpSendToOp::Output> detail::UdpSendToOp::operator()(Context& cx) {
    return self->poll_send_to(cx, buf, to);
}
inline Poll<detail::UdpRecvFromOp::Output> detail::UdpRecvFromOp::operator()(Context& cx) {
    return self->poll_recv_from(cx, buf);
}
inline Poll<detail::UdpSendOp::Output> detail::UdpSendOp::operator()(Context& cx) {
    return self->poll_send(cx, buf);
}
inline Poll<detail::UdpRecvOp::Output> detail::UdpRecvOp::operator()(Context& cx) {
    return self->poll_recv(cx, buf);
}

} // namespace pollux::net
