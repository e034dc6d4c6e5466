#pragma once

/// @file
/// `net::UnixDatagram`: a readiness-based Unix-domain datagram socket
/// (tokio's `UnixDatagram`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/op_future.hpp>
#include <pollux/net/unix_fd.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/local/datagram_protocol.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace pollux::net {

class UnixDatagram;

namespace detail {
struct UnixDgramSendToOp {
    using Output = Result<std::size_t>;
    UnixDatagram* self;
    boost::asio::const_buffer buf;
    boost::asio::local::datagram_protocol::endpoint to;
    boost::system::error_code bad_path; // set when the path given cannot be an address
    Poll<Output> operator()(Context& cx);
};
struct UnixDgramRecvFromOp {
    using Output = Result<std::pair<std::size_t, boost::asio::local::datagram_protocol::endpoint>>;
    UnixDatagram* self;
    boost::asio::mutable_buffer buf;
    Poll<Output> operator()(Context& cx);
};
struct UnixDgramSendOp {
    using Output = Result<std::size_t>;
    UnixDatagram* self;
    boost::asio::const_buffer buf;
    Poll<Output> operator()(Context& cx);
};
struct UnixDgramRecvOp {
    using Output = Result<std::size_t>;
    UnixDatagram* self;
    boost::asio::mutable_buffer buf;
    Poll<Output> operator()(Context& cx);
};
struct UnixDgramSendFdsOp {
    using Output = Result<std::size_t>;
    UnixDatagram* self;
    boost::asio::const_buffer buf;
    std::span<const int> fds;
    Poll<Output> operator()(Context& cx);
};
struct UnixDgramRecvFdsOp {
    using Output = Result<RecvFds>;
    UnixDatagram* self;
    boost::asio::mutable_buffer buf;
    std::size_t max_fds;
    Poll<Output> operator()(Context& cx);
};
} // namespace detail

/// The future returned by `UnixDatagram::send_to`: Output
/// `Result<std::size_t>`; it polls `poll_send_to`, whose cancel safety and
/// errors it has.
using UnixDatagramSendToFuture = pollux::detail::OpFuture<detail::UnixDgramSendToOp>;
/// The future returned by `UnixDatagram::recv_from`; it polls
/// `poll_recv_from`.
using UnixDatagramRecvFromFuture = pollux::detail::OpFuture<detail::UnixDgramRecvFromOp>;
/// The future returned by `UnixDatagram::send`; it polls `poll_send`.
using UnixDatagramSendFuture = pollux::detail::OpFuture<detail::UnixDgramSendOp>;
/// The future returned by `UnixDatagram::recv`; it polls `poll_recv`.
using UnixDatagramRecvFuture = pollux::detail::OpFuture<detail::UnixDgramRecvOp>;
/// The future returned by `UnixDatagram::send_with_fds`; it polls
/// `poll_send_with_fds`.
using UnixDatagramSendFdsFuture = pollux::detail::OpFuture<detail::UnixDgramSendFdsOp>;
/// The future returned by `UnixDatagram::recv_with_fds`; it polls
/// `poll_recv_with_fds`.
using UnixDatagramRecvFdsFuture = pollux::detail::OpFuture<detail::UnixDgramRecvFdsOp>;

/// A Unix-domain datagram socket: `UdpSocket` with paths for addresses.
/// Move-only; destroying it closes the socket but does not remove the path
/// it is bound to (as in tokio; unlink it yourself).
///
/// Every operation is readiness-based like `UdpSocket`'s: the poll tries the
/// system call (`MSG_NOSIGNAL` on sends) and starts the socket's readiness
/// wait when it would block. One waker slot per direction. Datagrams keep
/// their boundaries; a 0-byte datagram is a datagram (received as 0 bytes);
/// one larger than the receive buffer is truncated, the rest discarded.
///
/// Addresses: a path, or a name in Linux's abstract namespace when the
/// string starts with '\\0' (e.g. `std::string_view("\0name", 5)`; nothing
/// on the file system, gone with the last socket). An unbound sender's
/// address is empty.
///
/// Cancel safety of the futures: receives are cancel safe (a datagram is
/// taken only by the poll that returns it); sends are cancel safe (a
/// datagram is sent whole by the poll that returns Ready, or not at all).
///
/// Backpressure: a `connect`ed socket waits for room in its peer's queue.
/// `send_to` an unconnected peer whose queue is full cannot: Linux reports
/// the sender writable all the same, so the future retries on each turn of
/// the reactor (a busy wait) until the peer drains its queue.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API UnixDatagram {
public:
    struct Impl;
    /// A Unix-domain datagram address (a path, or an abstract name).
    using endpoint = boost::asio::local::datagram_protocol::endpoint;

    /// Adopts a block made by the library.
    explicit UnixDatagram(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s socket; `o` is left holding none, and may only be
    /// destroyed or assigned to (its poll functions assert).
    UnixDatagram(UnixDatagram&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
    /// Closes the socket held, as the destructor does, then takes `o`'s;
    /// `o` is left holding none. Self-assignment does nothing.
    UnixDatagram& operator=(UnixDatagram&& o) noexcept;
    ~UnixDatagram();

    /// A socket bound to `path`, on the current task's executor (or `ex`).
    ///
    /// @par Errors
    /// As values: `address_in_use` when `path` exists, `name_too_long`
    /// for a path longer than a socket address holds (107 bytes), other
    /// `bind` errors. Throws `std::logic_error` outside a task when no
    /// executor is given.
    static Result<UnixDatagram> bind(std::string_view path);
    /// As above, on `ex`; callable anywhere.
    static Result<UnixDatagram> bind(std::string_view path, const boost::asio::any_io_executor& ex);
    /// A socket bound to no address: it can send (with `send_to`, or after
    /// `connect`), but nothing can address it except through `pair()` or a
    /// socket it connected to.
    /// @par Errors
    /// The `socket` error, as a value. Throws `std::logic_error` outside a
    /// task.
    static Result<UnixDatagram> unbound();
    /// As above, on `ex`; callable anywhere.
    static Result<UnixDatagram> unbound(const boost::asio::any_io_executor& ex);
    /// Two unnamed sockets connected to each other (`socketpair`), on the
    /// current task's executor (or `ex`).
    /// @par Errors
    /// `socketpair`'s, as a value; no descriptor is leaked. Throws
    /// `std::logic_error` outside a task when no executor is given.
    static Result<std::pair<UnixDatagram, UnixDatagram>> pair();
    /// As above, on `ex`; callable anywhere.
    static Result<std::pair<UnixDatagram, UnixDatagram>>
    pair(const boost::asio::any_io_executor& ex);

    /// Sets the default peer for `send`/`recv` and receives only its
    /// datagrams from then on. Immediate (Unix sockets have no handshake).
    /// @par Errors
    /// As values: `name_too_long`; `connect`'s (`no_such_file_or_directory`,
    /// `connection_refused` when nothing is bound there).
    Result<void> connect(std::string_view path);
    /// As above, with an address.
    Result<void> connect(const endpoint& peer);
    /// As `connect(std::string_view)` (Asio's endpoint converts from these
    /// too, and could only throw for a path too long).
    Result<void> connect(const std::string& path) { return connect(std::string_view(path)); }
    /// As `connect(std::string_view)`.
    Result<void> connect(const char* path) { return connect(std::string_view(path)); }

    /// Sends one datagram to `to`. Output: bytes sent (the whole datagram).
    /// The buffer is borrowed until the future completes or is dropped. See
    /// `poll_send_to`.
    [[nodiscard]] UnixDatagramSendToFuture send_to(boost::asio::const_buffer buf,
                                                   const endpoint& to) noexcept {
        return UnixDatagramSendToFuture({this, buf, to, {}});
    }
    /// As above, to the socket at `path`; a path that cannot be an address
    /// makes the future complete with `name_too_long`.
    [[nodiscard]] UnixDatagramSendToFuture send_to(boost::asio::const_buffer buf,
                                                   std::string_view path) noexcept;
    /// As `send_to(buf, std::string_view)`.
    [[nodiscard]] UnixDatagramSendToFuture send_to(boost::asio::const_buffer buf,
                                                   const std::string& path) noexcept {
        return send_to(buf, std::string_view(path));
    }
    /// As `send_to(buf, std::string_view)`.
    [[nodiscard]] UnixDatagramSendToFuture send_to(boost::asio::const_buffer buf,
                                                   const char* path) noexcept {
        return send_to(buf, std::string_view(path));
    }
    /// Receives one datagram: its size (truncated to the buffer) and its
    /// sender's address (empty when the sender is unbound).
    [[nodiscard]] UnixDatagramRecvFromFuture recv_from(boost::asio::mutable_buffer buf) noexcept {
        return UnixDatagramRecvFromFuture({this, buf});
    }
    /// Sends one datagram to the connected peer.
    [[nodiscard]] UnixDatagramSendFuture send(boost::asio::const_buffer buf) noexcept {
        return UnixDatagramSendFuture({this, buf});
    }
    /// Receives one datagram (from the connected peer, once connected).
    [[nodiscard]] UnixDatagramRecvFuture recv(boost::asio::mutable_buffer buf) noexcept {
        return UnixDatagramRecvFuture({this, buf});
    }
    /// Sends one datagram to the connected peer with the descriptors `fds`
    /// attached (`SCM_RIGHTS`; see `UnixStream::send_with_fds`). A 0-byte
    /// datagram may carry descriptors.
    [[nodiscard]] UnixDatagramSendFdsFuture send_with_fds(boost::asio::const_buffer buf,
                                                          std::span<const int> fds) noexcept {
        return UnixDatagramSendFdsFuture({this, buf, fds});
    }
    /// Receives one datagram and the descriptors it carried, at most
    /// `max_fds` (see `UnixStream::recv_with_fds`).
    [[nodiscard]] UnixDatagramRecvFdsFuture recv_with_fds(boost::asio::mutable_buffer buf,
                                                          std::size_t max_fds) noexcept {
        return UnixDatagramRecvFdsFuture({this, buf, max_fds});
    }

    /// The poll function behind `send_to`: tries `sendto` now; Pending, with
    /// the waker registered on a write-readiness wait, while it would block
    /// (or the task's budget is spent).
    /// @par Cancel safety
    /// Cancel safe: the datagram is sent whole by the poll that returns
    /// Ready, or not at all.
    /// @par Errors
    /// `sendto`'s, as a value: `no_such_file_or_directory` when nothing is
    /// at the path, `connection_refused` when the socket there is closed,
    /// `message_size` for a datagram larger than the socket's send buffer.
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
    /// by `connect` (or `pair()`).
    /// @par Cancel safety
    /// Cancel safe, as `poll_send_to`.
    /// @par Errors
    /// `send`'s, as a value: `not_connected` when there is no peer,
    /// `connection_refused` when the peer closed.
    Poll<Result<std::size_t>> poll_send(Context& cx, boost::asio::const_buffer buf);
    /// The poll function behind `recv`: as `poll_recv_from`, without the
    /// sender's address.
    /// @par Cancel safety
    /// Cancel safe, as `poll_recv_from`.
    /// @par Errors
    /// `recv`'s, as a value.
    Poll<Result<std::size_t>> poll_recv(Context& cx, boost::asio::mutable_buffer buf);
    /// The poll function behind `send_with_fds`: one `sendmsg` to the
    /// connected peer.
    /// @par Cancel safety
    /// Cancel safe: the datagram and its descriptors are sent together by
    /// the poll that returns Ready, or not at all.
    /// @par Errors
    /// As values: `invalid_argument` for more than 253 descriptors;
    /// `sendmsg`'s (`bad_descriptor` for a closed descriptor, ...).
    Poll<Result<std::size_t>>
    poll_send_with_fds(Context& cx, boost::asio::const_buffer buf, std::span<const int> fds);
    /// The poll function behind `recv_with_fds`: one `recvmsg`
    /// (`MSG_CMSG_CLOEXEC`) of a datagram and its descriptors.
    /// @par Cancel safety
    /// Cancel safe: a datagram and its descriptors are taken together by the
    /// poll that returns them, or stay queued.
    /// @par Errors
    /// As values: `no_buffer_space` (`ENOBUFS`) when more descriptors came
    /// than `max_fds` or than the process may open: the datagram is
    /// consumed and the descriptors that arrived are closed; `recvmsg`'s.
    Poll<Result<RecvFds>>
    poll_recv_with_fds(Context& cx, boost::asio::mutable_buffer buf, std::size_t max_fds);

    /// The address it is bound to (empty when unbound).
    /// @par Errors
    /// The `getsockname` error, as a value.
    [[nodiscard]] Result<endpoint> local_addr() const;
    /// The connected peer's address (empty for an unbound peer).
    /// @par Errors
    /// `not_connected` when not connected, as a value.
    [[nodiscard]] Result<endpoint> peer_addr() const;
    /// The credentials of the connected peer's process (`SO_PEERCRED`; for
    /// `pair()`, this process).
    /// @par Errors
    /// The `getsockopt` error, as a value.
    [[nodiscard]] Result<UCred> peer_cred() const;

    /// The Asio socket, for options pollux does not wrap. Do not start Asio
    /// operations on it, move from it or close it.
    [[nodiscard]] boost::asio::local::datagram_protocol::socket& socket() noexcept;

private:
    Impl* impl_;
};

inline Poll<detail::UnixDgramSendToOp::Output> detail::UnixDgramSendToOp::operator()(Context& cx) {
    if (bad_path) {
        return Ready<Output>{Output(bad_path)};
    }
    return self->poll_send_to(cx, buf, to);
}
inline Poll<detail::UnixDgramRecvFromOp::Output>
detail::UnixDgramRecvFromOp::operator()(Context& cx) {
    return self->poll_recv_from(cx, buf);
}
inline Poll<detail::UnixDgramSendOp::Output> detail::UnixDgramSendOp::operator()(Context& cx) {
    return self->poll_send(cx, buf);
}
inline Poll<detail::UnixDgramRecvOp::Output> detail::UnixDgramRecvOp::operator()(Context& cx) {
    return self->poll_recv(cx, buf);
}
inline Poll<detail::UnixDgramSendFdsOp::Output>
detail::UnixDgramSendFdsOp::operator()(Context& cx) {
    return self->poll_send_with_fds(cx, buf, fds);
}
inline Poll<detail::UnixDgramRecvFdsOp::Output>
detail::UnixDgramRecvFdsOp::operator()(Context& cx) {
    return self->poll_recv_with_fds(cx, buf, max_fds);
}

} // namespace pollux::net
