#pragma once

/// @file
/// `sim::TcpStream`: a TCP connection between simulated hosts, with the
/// shape of `pollux::net::TcpStream` (an `io::AsyncRead` and
/// `io::AsyncWrite`), so generic pollux I/O code runs on it unmodified.

#include <pollux/core/async.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/split.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <memory>
#include <utility>

namespace pollux::sim {

namespace detail {
struct Connection;
}

/// One end of a simulated TCP connection. Move-only; destroying it closes
/// the connection (sends FIN after the data written so far).
///
/// Bytes cross the simulated network as segments that obey the link's
/// faults (see `sim::LinkFaults`): they arrive after the link's latency, and
/// loss, reordering and partitions delay them but never corrupt, drop or
/// reorder the byte stream a reader sees. Errors use `pollux::net`'s error
/// codes: `connection_refused` from `connect` when nobody listens,
/// `connection_reset` after `Network::reset`, and `broken_pipe` for a write
/// after this end's `shutdown` or after the peer closed its stream.
///
/// Satisfies `io::AsyncRead` and `io::AsyncWrite`; use the `pollux::io`
/// futures (`io::read`, `io::write_all`, `io::copy`, ...) on it. One waker
/// slot per direction, as `net::TcpStream`.
///
/// @par Cancel safety
/// `poll_read` and `poll_write` are cancel safe: a read that returned
/// Pending took no byte, and a write that returned Pending sent none.
/// @par Thread safety
/// Only on the simulation's thread (see `sim::Runtime`).
class POLLUX_API TcpStream {
public:
    /// The read half that `split` returns.
    using ReadHalf = io::ReadHalf<TcpStream>;
    /// The write half that `split` returns.
    using WriteHalf = io::WriteHalf<TcpStream>;
    /// A TCP address and port.
    using endpoint = boost::asio::ip::tcp::endpoint;

    /// End `side` (0: connecting, 1: accepting) of `conn`; made by the
    /// library.
    TcpStream(std::shared_ptr<detail::Connection> conn, int side) noexcept;
    /// Takes over `o`'s connection; `o` is left without one.
    TcpStream(TcpStream&& o) noexcept = default;
    /// Closes its own connection (as destroying it does), then takes over
    /// `o`'s.
    TcpStream& operator=(TcpStream&& o) noexcept;
    ~TcpStream();

    /// Connects, from the host of the current simulation task, to `ep`:
    /// the SYN crosses the link (latency, loss and partitions apply), and
    /// the answer comes back the same way. A loopback address means the
    /// current host.
    ///
    /// @par Cancel safety
    /// Cancel safe in tokio's sense: dropping it before it is Ready leaves
    /// no connection on this side; the listener may already have accepted
    /// one, which then reads end of stream.
    /// @par Errors
    /// `connection_refused` if no listener is bound at `ep` when the SYN
    /// arrives; `host_unreachable` if no host has `ep`'s address. Throws
    /// `std::logic_error` when polled outside a simulation task.
    POLLUX_NODISCARD_FUTURE static Async<Result<TcpStream>> connect(endpoint ep);

    /// `io::AsyncRead`. Ready(n): n bytes read; Ready(0) for a non-empty
    /// buffer: the peer closed its write side. `connection_reset` after a
    /// reset.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf);
    /// `io::AsyncWrite`. Ready(n): the first n bytes were sent; Pending
    /// while the peer has `Network::window` bytes unread.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf);
    /// Ready at once: nothing is buffered on this side.
    Poll<Result<void>> poll_flush(Context& cx);
    /// Sends FIN after the data written so far; reading goes on. Ready at once.
    Poll<Result<void>> poll_shutdown(Context& cx);

    /// The peer's address and port; `bad_descriptor` for a moved-from stream.
    [[nodiscard]] Result<endpoint> peer_addr() const;
    /// This end's address and port; `bad_descriptor` for a moved-from stream.
    [[nodiscard]] Result<endpoint> local_addr() const;

    /// Borrows the stream as a read half and a write half, which two
    /// futures may use at once. The stream must outlive them and not move.
    [[nodiscard]] std::pair<ReadHalf, WriteHalf> split() noexcept {
        return {ReadHalf(*this), WriteHalf(*this)};
    }

private:
    void close() noexcept;

    std::shared_ptr<detail::Connection> conn_;
    int side_;
};

} // namespace pollux::sim
