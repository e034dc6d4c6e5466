#pragma once

/// @file
/// `net::UnixStream`: a readiness-based Unix-domain stream socket (tokio's
/// `UnixStream`), with descriptor passing and peer credentials, and
/// `UnixConnectFuture`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/op_future.hpp>
#include <pollux/io/split.hpp>
#include <pollux/net/owned_split.hpp>
#include <pollux/net/unix_fd.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace pollux::net {

class UnixConnectFuture;
class UnixStream;

namespace detail {
struct UnixSendFdsOp {
    using Output = Result<std::size_t>;
    UnixStream* self;
    boost::asio::const_buffer buf;
    std::span<const int> fds;
    Poll<Output> operator()(Context& cx);
};
struct UnixRecvFdsOp {
    using Output = Result<RecvFds>;
    UnixStream* self;
    boost::asio::mutable_buffer buf;
    std::size_t max_fds;
    Poll<Output> operator()(Context& cx);
};
} // namespace detail

/// The future returned by `UnixStream::send_with_fds`: Output
/// `Result<std::size_t>`; it polls `poll_send_with_fds`, whose cancel safety
/// and errors it has.
using UnixSendFdsFuture = pollux::detail::OpFuture<detail::UnixSendFdsOp>;
/// The future returned by `UnixStream::recv_with_fds`: Output
/// `Result<RecvFds>`; it polls `poll_recv_with_fds`.
using UnixRecvFdsFuture = pollux::detail::OpFuture<detail::UnixRecvFdsOp>;

/// A Unix-domain stream connection: `TcpStream` without the TCP options.
/// Readiness-based (`recv`, `send` with `MSG_NOSIGNAL`), movable between
/// polls, `io::AsyncRead` and `io::AsyncWrite`; reads and writes are cancel
/// safe (see `TcpStream`).
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API UnixStream {
public:
    struct Impl;
    /// The read half `split()` returns.
    using ReadHalf = io::ReadHalf<UnixStream>;
    /// The write half `split()` returns.
    using WriteHalf = io::WriteHalf<UnixStream>;
    /// The owned read half `into_split()` returns.
    using OwnedReadHalf = net::OwnedReadHalf<UnixStream>;
    /// The owned write half `into_split()` returns.
    using OwnedWriteHalf = net::OwnedWriteHalf<UnixStream>;
    /// A Unix-domain socket address (a path).
    using endpoint = boost::asio::local::stream_protocol::endpoint;

    /// Adopts a block made by the library.
    explicit UnixStream(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s socket; `o` is left holding none, and may only be
    /// destroyed or assigned to (`poll_read`, `poll_write` and
    /// `poll_shutdown` assert).
    UnixStream(UnixStream&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
    /// Closes the socket held, as the destructor does, then takes `o`'s;
    /// `o` is left holding none. Self-assignment does nothing.
    UnixStream& operator=(UnixStream&& o) noexcept;
    ~UnixStream();

    /// Connects to the socket at `path`, on the current task's executor (or
    /// `ex`). See `UnixConnectFuture`.
    POLLUX_NODISCARD_FUTURE static UnixConnectFuture connect(std::string_view path);
    /// As above, with the socket created on `ex`, so the future may be
    /// polled outside a pollux task. See `UnixConnectFuture`.
    POLLUX_NODISCARD_FUTURE static UnixConnectFuture
    connect(std::string_view path, const boost::asio::any_io_executor& ex);

    /// Two connected streams (`socketpair`), on the current task's executor
    /// (or `ex`).
    ///
    /// @par Errors
    /// `socketpair`'s, as a value; throws `std::logic_error` outside a task
    /// when no executor is given.
    static Result<std::pair<UnixStream, UnixStream>> pair();
    /// As above, on `ex`; callable anywhere.
    /// @par Errors
    /// `socketpair`'s, or the error of wrapping its descriptors in Asio
    /// sockets, as a value; no descriptor is leaked.
    static Result<std::pair<UnixStream, UnixStream>> pair(const boost::asio::any_io_executor& ex);

    /// As `TcpStream::poll_read`.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf);
    /// As `TcpStream::poll_write`.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf);
    /// Always Ready(ok).
    Poll<Result<void>> poll_flush(Context& cx);
    /// `shutdown(SHUT_WR)`; Ready at once.
    Poll<Result<void>> poll_shutdown(Context& cx);

    /// The peer's address (empty when the peer socket is unnamed).
    /// @par Errors
    /// The `getpeername` error, as a value.
    [[nodiscard]] Result<endpoint> peer_addr() const;
    /// This end's address (empty when it is unnamed, as a connecting or
    /// `pair()` socket is).
    /// @par Errors
    /// The `getsockname` error, as a value.
    [[nodiscard]] Result<endpoint> local_addr() const;

    /// The credentials of the peer process (`SO_PEERCRED`): for a
    /// connection, of the process that connected (seen from the listener's
    /// side) or that called `listen` (seen from the client's); for `pair()`,
    /// this process.
    /// @par Errors
    /// The `getsockopt` error, as a value.
    [[nodiscard]] Result<UCred> peer_cred() const;

    /// Sends bytes of `buf` with the descriptors `fds` attached
    /// (`SCM_RIGHTS`): the peer receives duplicates of them with the first
    /// byte of this send, through `recv_with_fds`. Output: bytes sent, which
    /// may be fewer than `buf.size()` (the rest is to be sent with `write`,
    /// without descriptors). The caller still owns `fds` and may close them
    /// once it completes. Both `buf` and `fds` are borrowed until the future
    /// completes or is dropped.
    [[nodiscard]] UnixSendFdsFuture send_with_fds(boost::asio::const_buffer buf,
                                                  std::span<const int> fds) noexcept {
        return UnixSendFdsFuture({this, buf, fds});
    }
    /// Reads bytes into `buf` and the descriptors sent with them, at most
    /// `max_fds` of them (253 at most: Linux's `SCM_MAX_FD`). See
    /// `poll_recv_with_fds`.
    [[nodiscard]] UnixRecvFdsFuture recv_with_fds(boost::asio::mutable_buffer buf,
                                                  std::size_t max_fds) noexcept {
        return UnixRecvFdsFuture({this, buf, max_fds});
    }

    /// The poll function behind `send_with_fds`: one `sendmsg`
    /// (`MSG_NOSIGNAL`) with the descriptors as `SCM_RIGHTS`, or Pending with
    /// the waker registered while the socket is not writable.
    /// @par Cancel safety
    /// Cancel safe: the bytes and the descriptors are sent together by the
    /// poll that returns Ready, or not at all.
    /// @par Errors
    /// As values: `invalid_argument` for an empty `buf` with descriptors (a
    /// stream cannot carry descriptors without a byte) or more than 253
    /// descriptors; `sendmsg`'s (`bad_descriptor` for a closed one,
    /// `broken_pipe` when the peer is gone, ...).
    Poll<Result<std::size_t>>
    poll_send_with_fds(Context& cx, boost::asio::const_buffer buf, std::span<const int> fds);
    /// The poll function behind `recv_with_fds`: one `recvmsg`
    /// (`MSG_CMSG_CLOEXEC`) into `buf`, with the descriptors that came with
    /// those bytes, or Pending with the waker registered while nothing is
    /// queued. A read never spans two sends that carried descriptors, so
    /// each send's descriptors arrive with its first byte. `bytes == 0`
    /// (and no descriptor) is the end of stream.
    /// @par Cancel safety
    /// Cancel safe: bytes and descriptors are taken together by the poll
    /// that returns them, or stay queued in the kernel.
    /// @par Errors
    /// As values: `invalid_argument` for an empty `buf`;
    /// `no_buffer_space` (`ENOBUFS`) when more descriptors came than
    /// `max_fds` or than the process may open (`MSG_CTRUNC`): the kernel
    /// dropped those that did not fit, pollux closes those that did, and
    /// the bytes read with them are lost too; `recvmsg`'s.
    Poll<Result<RecvFds>>
    poll_recv_with_fds(Context& cx, boost::asio::mutable_buffer buf, std::size_t max_fds);

    /// Borrows the stream as two halves (see `TcpStream::split`).
    [[nodiscard]] std::pair<ReadHalf, WriteHalf> split() noexcept {
        return {ReadHalf(*this), WriteHalf(*this)};
    }

    /// Splits the stream into two halves that own it together and may be
    /// moved into two tasks, even on different threads (tokio's
    /// `into_split`); see `net::OwnedReadHalf` and `net::OwnedWriteHalf`.
    /// Dropping the write half shuts the write direction down; `reunite`
    /// puts the stream back together. Costs one allocation.
    /// @par Errors
    /// Throws `std::bad_alloc` (the stream is then unchanged).
    [[nodiscard]] std::pair<OwnedReadHalf, OwnedWriteHalf> into_split() &&;

    /// The Asio socket. Do not start Asio operations on it, move from it or
    /// close it.
    [[nodiscard]] boost::asio::local::stream_protocol::socket& socket() noexcept;

private:
    friend void detail::shutdown_write_now(UnixStream& s) noexcept;
    Impl* impl_;
};

inline Poll<detail::UnixSendFdsOp::Output> detail::UnixSendFdsOp::operator()(Context& cx) {
    return self->poll_send_with_fds(cx, buf, fds);
}
inline Poll<detail::UnixRecvFdsOp::Output> detail::UnixRecvFdsOp::operator()(Context& cx) {
    return self->poll_recv_with_fds(cx, buf, max_fds);
}

/// The future returned by `UnixStream::connect`. Output: `Result<UnixStream>`.
///
/// @par Cancel safety
/// Cancel safe: dropping it closes the half-open socket.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// The executor of the task that first polled it (or the one given).
/// @par Errors
/// `connect`'s: `no_such_file_or_directory` (ENOENT), `connection_refused`,
/// `try_again` when the listener's backlog is full (Unix sockets do not
/// connect asynchronously). Throws `std::logic_error` when first polled
/// outside a task with no executor given.
/// @par Preconditions
/// Not polled after Ready (asserts).
/// @par Example
/// @code
/// auto s = co_await pollux::net::UnixStream::connect("/tmp/app.sock");
/// @endcode
// Exported member by member: g++ 12 takes no GNU visibility attribute
// beside the standard [[nodiscard]] on a class head.
class POLLUX_NODISCARD_FUTURE UnixConnectFuture {
public:
    /// What it completes with: the connected stream, or the error.
    using Output = Result<UnixStream>;
    struct State;

    /// Adopts a state made by `UnixStream::connect`.
    explicit UnixConnectFuture(State* st) noexcept : st_(st) {}
    /// Takes `o`'s connection attempt, in flight or not; `o` is left empty
    /// and may only be destroyed or assigned to (polling it asserts).
    UnixConnectFuture(UnixConnectFuture&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
    /// Drops the attempt held (closing its half-open socket, as the
    /// destructor does), then takes `o`'s; `o` is left empty.
    /// Self-assignment does nothing.
    POLLUX_API UnixConnectFuture& operator=(UnixConnectFuture&& o) noexcept;
    POLLUX_API ~UnixConnectFuture();

    /// Polls the operation; see the class for cancel safety and errors.
    POLLUX_API Poll<Output> poll(Context& cx);

private:
    State* st_;
};

inline std::pair<UnixStream::OwnedReadHalf, UnixStream::OwnedWriteHalf>
UnixStream::into_split() && {
    auto shared = std::make_shared<UnixStream>(std::move(*this));
    return {OwnedReadHalf(shared), OwnedWriteHalf(shared)};
}

} // namespace pollux::net
