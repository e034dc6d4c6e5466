#pragma once

/// @file
/// `net::TcpStream`: a readiness-based TCP connection (tokio's
/// `TcpStream`), and `TcpConnectFuture`, what `TcpStream::connect` returns.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/split.hpp>
#include <pollux/net/owned_split.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

namespace pollux::net {

class TcpConnectFuture;

/// A TCP connection. Move-only; destroying it closes the socket.
///
/// Readiness-based, as DESIGN section 5 says: `poll_read`/`poll_write` try
/// the non-blocking system call (`recv`, `send` with `MSG_NOSIGNAL`) in the
/// poll and, when it would block, start the socket's readiness wait (on
/// epoll it stays registered: no `epoll_ctl` per wait, docs/net.md)
/// whose completion wakes the waker. So buffers are only borrowed during a poll, reads and
/// writes are cancel safe, and the stream may be moved between polls (the
/// socket and its waits live in a separately allocated block). Satisfies
/// `io::AsyncRead` and `io::AsyncWrite`; use the `pollux::io` futures
/// (`io::read`, `io::write_all`, `io::copy`, ...) on it.
///
/// One waker slot per direction: one future may read while another writes
/// (see `split()`), but two futures reading at once take turns stealing the
/// slot.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on the executor
/// it was created on (its task's); it may be destroyed on any thread (the
/// socket is then closed on its executor).
class POLLUX_API TcpStream {
public:
    struct Impl;
    /// The read half `split()` returns.
    using ReadHalf = io::ReadHalf<TcpStream>;
    /// The write half `split()` returns.
    using WriteHalf = io::WriteHalf<TcpStream>;
    /// The owned read half `into_split()` returns.
    using OwnedReadHalf = net::OwnedReadHalf<TcpStream>;
    /// The owned write half `into_split()` returns.
    using OwnedWriteHalf = net::OwnedWriteHalf<TcpStream>;
    /// A TCP address and port.
    using endpoint = boost::asio::ip::tcp::endpoint;

    /// Adopts a block made by the library.
    explicit TcpStream(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s socket; `o` is left holding none, and may only be
    /// destroyed or assigned to (`poll_read`, `poll_write` and
    /// `poll_shutdown` assert).
    TcpStream(TcpStream&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
    /// Closes the socket held, as the destructor does, then takes `o`'s;
    /// `o` is left holding none. Self-assignment does nothing.
    TcpStream& operator=(TcpStream&& o) noexcept;
    ~TcpStream();

    /// Connects to `ep`. The socket is created on the first poll, on the
    /// executor of the current task (or on `ex`). See `TcpConnectFuture`.
    POLLUX_NODISCARD_FUTURE static TcpConnectFuture connect(const endpoint& ep);
    /// As above, with the socket created on `ex`, so the future may be
    /// polled outside a pollux task. See `TcpConnectFuture`.
    POLLUX_NODISCARD_FUTURE static TcpConnectFuture connect(const endpoint& ep,
                                                            const boost::asio::any_io_executor& ex);
    /// Resolves "host:port" (see `net::resolve`), then tries each address in
    /// turn until one connects.
    POLLUX_NODISCARD_FUTURE static TcpConnectFuture connect(std::string_view host_port);

    /// Wraps a connected Asio socket (sets it non-blocking). It keeps its
    /// executor.
    static Result<TcpStream> from_socket(boost::asio::ip::tcp::socket sock);
    /// Adopts `fd`, a connected (or connecting) TCP socket over IPv4 or
    /// IPv6, on the current task's executor, and makes it non-blocking and
    /// close-on-exec (tokio's `TcpStream::from_std`). On success the stream
    /// owns `fd`.
    /// @par Errors
    /// As values, leaving `fd` open and the caller's: `bad_descriptor`,
    /// `not_socket`; `invalid_argument` for a socket that is not TCP or is
    /// listening; the reactor's registration error. Throws
    /// `std::logic_error` outside a task.
    static Result<TcpStream> from_fd(int fd);
    /// As above, on `ex`; callable anywhere.
    static Result<TcpStream> from_fd(int fd, const boost::asio::any_io_executor& ex);

    /// `io::AsyncRead`. Ready(n): n bytes read into the front of `buf`;
    /// Ready(0) for a non-empty buffer: the peer closed its write side.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf);
    /// `io::AsyncWrite`. Ready(n): the kernel took the first n bytes. A
    /// closed peer gives `broken_pipe` or `connection_reset`, never SIGPIPE.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf);
    /// tokio's `poll_read_ready`: Ready(ok) when the socket may be readable
    /// (bytes, end of stream or an error: `try_read` tells which). May be
    /// spurious. Pending, waking the waker at the next readiness, after a
    /// read emptied the socket or `try_read` said `would_block`. One waker
    /// slot, shared with `poll_read`.
    /// @par Errors
    /// The reactor's, when it cannot wait on the socket.
    Poll<Result<void>> poll_read_ready(Context& cx);
    /// tokio's `poll_write_ready`: as `poll_read_ready`, for writing
    /// (Pending after `try_write` said `would_block`).
    Poll<Result<void>> poll_write_ready(Context& cx);

    /// The future `readable()` and `writable()` return.
    class POLLUX_NODISCARD_FUTURE ReadyFuture {
    public:
        using Output = Result<void>;
        ReadyFuture(TcpStream& s, bool write) noexcept : s_(&s), write_(write) {}
        Poll<Result<void>> poll(Context& cx) {
            return write_ ? s_->poll_write_ready(cx) : s_->poll_read_ready(cx);
        }

    private:
        TcpStream* s_;
        bool write_;
    };
    /// tokio's `readable()`: completes when the socket may be readable
    /// (`poll_read_ready`); then `try_read`. Completes spuriously at times:
    /// loop while `try_read` says `would_block`. The stream must outlive it.
    /// @par Cancel safety
    /// Cancel safe: a dropped future consumes nothing (the readiness wait
    /// it started stays for the next one).
    POLLUX_NODISCARD_FUTURE ReadyFuture readable() noexcept { return ReadyFuture(*this, false); }
    /// tokio's `writable()`: as `readable()`, for `try_write`.
    /// @par Cancel safety
    /// Cancel safe, as `readable()`.
    POLLUX_NODISCARD_FUTURE ReadyFuture writable() noexcept { return ReadyFuture(*this, true); }
    /// tokio's `try_read`: one non-blocking `recv` into `buf` now, without
    /// waiting. Ok(n): n bytes read; Ok(0) for a non-empty buffer: the peer
    /// closed its write side. Call it on the stream's executor (where
    /// `poll_read` is polled); `buf` is borrowed only during the call.
    /// @par Errors
    /// `would_block` when nothing is readable: it clears the read
    /// readiness, so the next `readable()` waits for data. Otherwise the
    /// `recv` error (`connection_reset`, ...).
    Result<std::size_t> try_read(boost::asio::mutable_buffer buf);
    /// tokio's `try_write`: one non-blocking `send` (`MSG_NOSIGNAL`) now.
    /// Ok(n): the kernel took the first n bytes.
    /// @par Errors
    /// `would_block` when the send buffer is full: it clears the write
    /// readiness, so the next `writable()` waits. Otherwise the `send`
    /// error (`broken_pipe`, `connection_reset`, ...), never SIGPIPE.
    Result<std::size_t> try_write(boost::asio::const_buffer buf);
    /// Always Ready(ok): a TCP socket buffers nothing in user space.
    Poll<Result<void>> poll_flush(Context& cx);
    /// Sends FIN (`shutdown(SHUT_WR)`); reading goes on. Ready at once.
    Poll<Result<void>> poll_shutdown(Context& cx);

    /// The peer's address.
    /// @par Errors
    /// The `getpeername` error, as a value (e.g. `not_connected`).
    [[nodiscard]] Result<endpoint> peer_addr() const;
    /// The local address of the connection.
    /// @par Errors
    /// The `getsockname` error, as a value.
    [[nodiscard]] Result<endpoint> local_addr() const;
    /// TCP_NODELAY (Nagle's algorithm off when true).
    Result<void> set_nodelay(bool on);
    /// Whether TCP_NODELAY is set (see `set_nodelay`).
    /// @par Errors
    /// The `getsockopt` error, as a value.
    [[nodiscard]] Result<bool> nodelay() const;
    /// `SO_LINGER` (see `TcpSocket::set_linger`): zero makes the close
    /// (the destructor, or `close_reset`) send RST and drop unsent bytes.
    Result<void> set_linger(std::optional<std::chrono::seconds> linger);
    /// `SO_LINGER`: nullopt when off.
    [[nodiscard]] Result<std::optional<std::chrono::seconds>> linger() const;
    /// `IP_TTL` (IPv6: `IPV6_UNICAST_HOPS`) of outgoing packets.
    /// @par Errors `invalid_argument` for a value the kernel refuses (above 255).
    Result<void> set_ttl(std::uint32_t ttl);
    /// `IP_TTL` (IPv6: `IPV6_UNICAST_HOPS`).
    [[nodiscard]] Result<std::uint32_t> ttl() const;
    /// `SO_KEEPALIVE` (its times: `TcpSocket` before connecting, or
    /// `setsockopt` on `socket()`).
    Result<void> set_keepalive(bool on);
    /// Whether `SO_KEEPALIVE` is set.
    [[nodiscard]] Result<bool> keepalive() const;

    /// Closes the connection with a reset: sets `SO_LINGER` to zero and
    /// closes, so the peer's next read or write fails with
    /// `connection_reset` and unsent bytes are dropped (no FIN, no
    /// `TIME_WAIT`). The stream is then as if moved from (it may only be
    /// destroyed or assigned to). Does nothing on a moved-from stream.
    /// @par Cancel safety
    /// Pending reads and writes of this stream are cancelled as by the
    /// destructor.
    void close_reset() noexcept;

    /// Borrows the stream as a read half and a write half, which two futures
    /// may use at once. The stream must outlive them and not move meanwhile.
    [[nodiscard]] std::pair<ReadHalf, WriteHalf> split() noexcept;

    /// Splits the stream into two halves that own it together and may be
    /// moved into two tasks, even on different threads (tokio's
    /// `into_split`); see `net::OwnedReadHalf` and `net::OwnedWriteHalf`.
    /// Dropping the write half shuts the write direction down; `reunite`
    /// puts the stream back together. Costs one allocation.
    /// @par Errors
    /// Throws `std::bad_alloc` (the stream is then unchanged).
    [[nodiscard]] std::pair<OwnedReadHalf, OwnedWriteHalf> into_split() &&;

    /// The Asio socket, for options pollux does not wrap (e.g. SO_LINGER).
    /// Do not start Asio operations on it, move from it or close it.
    [[nodiscard]] boost::asio::ip::tcp::socket& socket() noexcept;

private:
    friend void detail::shutdown_write_now(TcpStream& s) noexcept;
    Impl* impl_;
};

/// The future returned by `TcpStream::connect`. Output: `Result<TcpStream>`.
///
/// Lazy: the first poll creates the socket and starts a non-blocking
/// `connect`; completion is seen by write readiness and `SO_ERROR`. With
/// several addresses (the "host:port" form), each is tried in order and the
/// last error is returned if none connects.
///
/// @par Cancel safety
/// Cancel safe in tokio's sense: dropping it closes the half-open socket, so
/// no connection is leaked; the peer may have seen a connection attempt.
/// Its readiness wait is cancelled (`cancellation_type::terminal`).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// The executor of the task that first polled it (or the one given).
/// @par Errors
/// The connect error (`connection_refused`, `timed_out`, ...), or a resolver
/// error. Throws `std::logic_error` when first polled outside a pollux task
/// with no executor given.
/// @par Preconditions
/// Not polled after Ready (asserts).
/// @par Example
/// @code
/// pollux::Result<pollux::net::TcpStream> s = co_await
/// pollux::net::TcpStream::connect("127.0.0.1:7000"); if (!s) { std::cerr << s.error().message() <<
/// '\n'; }
/// @endcode
// Exported member by member: g++ 12 takes no GNU visibility attribute
// beside the standard [[nodiscard]] on a class head.
class POLLUX_NODISCARD_FUTURE TcpConnectFuture {
public:
    /// What it completes with: the connected stream, or the error.
    using Output = Result<TcpStream>;
    struct State;

    /// Adopts a state made by `TcpStream::connect`.
    explicit TcpConnectFuture(State* st) noexcept : st_(st) {}
    /// Takes `o`'s connection attempt, in flight or not; `o` is left empty
    /// and may only be destroyed or assigned to (polling it asserts).
    TcpConnectFuture(TcpConnectFuture&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
    /// Drops the attempt held (closing its half-open socket, as the
    /// destructor does), then takes `o`'s; `o` is left empty.
    /// Self-assignment does nothing.
    POLLUX_API TcpConnectFuture& operator=(TcpConnectFuture&& o) noexcept;
    POLLUX_API ~TcpConnectFuture();

    /// Polls the operation; see the class for cancel safety and errors.
    POLLUX_API Poll<Output> poll(Context& cx);

private:
    State* st_;
};

inline std::pair<TcpStream::ReadHalf, TcpStream::WriteHalf> TcpStream::split() noexcept {
    return {ReadHalf(*this), WriteHalf(*this)};
}

inline std::pair<TcpStream::OwnedReadHalf, TcpStream::OwnedWriteHalf> TcpStream::into_split() && {
    auto shared = std::make_shared<TcpStream>(std::move(*this));
    return {OwnedReadHalf(shared), OwnedWriteHalf(shared)};
}

} // namespace pollux::net
