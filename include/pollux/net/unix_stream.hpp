#pragma once

/// @file
/// `net::UnixStream`: a readiness-based Unix-domain stream socket (tokio's
/// `UnixStream`), and `UnixConnectFuture`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/split.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <cstddef>
#include <string_view>
#include <utility>

namespace pollux::net {

class UnixConnectFuture;

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

    /// Borrows the stream as two halves (see `TcpStream::split`).
    [[nodiscard]] std::pair<ReadHalf, WriteHalf> split() noexcept {
        return {ReadHalf(*this), WriteHalf(*this)};
    }

    /// The Asio socket. Do not start Asio operations on it, move from it or
    /// close it.
    [[nodiscard]] boost::asio::local::stream_protocol::socket& socket() noexcept;

private:
    Impl* impl_;
};

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

} // namespace pollux::net
