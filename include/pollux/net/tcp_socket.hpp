#pragma once

/// @file
/// `net::TcpSocket`: a TCP socket not yet listening or connected, on which
/// options are set before `bind`, `listen` or `connect` (tokio's
/// `TcpSocket`).

#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/net/tcp_listener.hpp>
#include <pollux/net/tcp_stream.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

namespace pollux::net {

/// A TCP socket being configured: made with `new_v4()`/`new_v6()` (or
/// adopted with `from_fd`), given its options, optionally bound, then
/// turned into a `TcpListener` by `listen` or a `TcpStream` by `connect`.
/// Move-only; destroying it closes the socket.
///
/// Each setter is one `setsockopt` and each getter one `getsockopt` on the
/// socket, so a getter reports what the kernel holds (Linux doubles the
/// buffer sizes it is given). The socket is non-blocking and close-on-exec
/// from the start. Unlike `TcpListener::bind`, nothing is set for you:
/// call `set_reuseaddr(true)` for a server that must rebind a port in
/// `TIME_WAIT`.
///
/// @par Errors
/// Every call returns the system call's error as a value; a moved-from
/// socket (or one consumed by `listen`/`connect`) gives `bad_descriptor`.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Example
/// @code
/// auto sock = pollux::net::TcpSocket::new_v4().value();
/// (void)sock.set_reuseport(true);
/// (void)sock.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
/// pollux::net::TcpListener listener = std::move(sock).listen(1024).value();
/// @endcode
class POLLUX_API TcpSocket {
public:
    /// A TCP address and port.
    using endpoint = boost::asio::ip::tcp::endpoint;

    /// An IPv4 socket on the current task's executor.
    /// @par Errors
    /// `socket(2)`'s (`EMFILE`, ...) as a value. Throws `std::logic_error`
    /// outside a pollux task.
    static Result<TcpSocket> new_v4();
    /// As above, on `ex`; callable anywhere.
    static Result<TcpSocket> new_v4(const boost::asio::any_io_executor& ex);
    /// An IPv6 socket on the current task's executor (as `new_v4`).
    static Result<TcpSocket> new_v6();
    /// As above, on `ex`; callable anywhere.
    static Result<TcpSocket> new_v6(const boost::asio::any_io_executor& ex);
    /// Adopts `fd`, an IPv4 or IPv6 stream socket in any state that
    /// `listen` or `connect` accept (fresh or bound), and makes it
    /// non-blocking and close-on-exec. On success the TcpSocket owns `fd`.
    /// @par Errors
    /// As values, leaving `fd` open and the caller's: `bad_descriptor` for a
    /// closed one; `not_socket`; `invalid_argument` for a socket that is not
    /// a TCP/IP stream. Throws `std::logic_error` outside a task.
    static Result<TcpSocket> from_fd(int fd);
    /// As above, on `ex`; callable anywhere.
    static Result<TcpSocket> from_fd(int fd, const boost::asio::any_io_executor& ex);

    /// Takes `o`'s socket; `o` is left holding none.
    TcpSocket(TcpSocket&& o) noexcept
        : fd_(std::exchange(o.fd_, -1)), v6_(o.v6_), ex_(std::move(o.ex_)) {}
    /// Closes the socket held, then takes `o`'s. Self-assignment does nothing.
    TcpSocket& operator=(TcpSocket&& o) noexcept;
    ~TcpSocket();

    /// `SO_REUSEADDR`: bind a local address in `TIME_WAIT`.
    Result<void> set_reuseaddr(bool on);
    /// Whether `SO_REUSEADDR` is set.
    [[nodiscard]] Result<bool> reuseaddr() const;
    /// `SO_REUSEPORT`: several sockets (of the same user) bind the same
    /// address and port; the kernel spreads incoming connections over the
    /// listeners among them (one listener per thread).
    Result<void> set_reuseport(bool on);
    /// Whether `SO_REUSEPORT` is set.
    [[nodiscard]] Result<bool> reuseport() const;
    /// `SO_SNDBUF`. @par Errors `invalid_argument` above `INT_MAX`.
    Result<void> set_send_buffer_size(std::uint32_t size);
    /// `SO_SNDBUF` as the kernel holds it (Linux: twice what was set).
    [[nodiscard]] Result<std::uint32_t> send_buffer_size() const;
    /// `SO_RCVBUF`. @par Errors `invalid_argument` above `INT_MAX`.
    Result<void> set_recv_buffer_size(std::uint32_t size);
    /// `SO_RCVBUF` as the kernel holds it (Linux: twice what was set).
    [[nodiscard]] Result<std::uint32_t> recv_buffer_size() const;
    /// `TCP_NODELAY` (Nagle's algorithm off when true); the stream keeps it.
    Result<void> set_nodelay(bool on);
    /// Whether `TCP_NODELAY` is set.
    [[nodiscard]] Result<bool> nodelay() const;
    /// `SO_KEEPALIVE`: probe an idle connection (see the times below).
    Result<void> set_keepalive(bool on);
    /// Whether `SO_KEEPALIVE` is set.
    [[nodiscard]] Result<bool> keepalive() const;
    /// `TCP_KEEPIDLE`: idle time before the first probe.
    /// @par Errors `invalid_argument` below one second.
    Result<void> set_keepalive_idle(std::chrono::seconds idle);
    /// `TCP_KEEPIDLE`.
    [[nodiscard]] Result<std::chrono::seconds> keepalive_idle() const;
    /// `TCP_KEEPINTVL`: time between probes.
    /// @par Errors `invalid_argument` below one second.
    Result<void> set_keepalive_interval(std::chrono::seconds interval);
    /// `TCP_KEEPINTVL`.
    [[nodiscard]] Result<std::chrono::seconds> keepalive_interval() const;
    /// `TCP_KEEPCNT`: unanswered probes before the connection is dropped.
    /// @par Errors `invalid_argument` for 0 or above 127 (the kernel's).
    Result<void> set_keepalive_retries(std::uint32_t retries);
    /// `TCP_KEEPCNT`.
    [[nodiscard]] Result<std::uint32_t> keepalive_retries() const;
    /// `SO_LINGER`: `nullopt` (the default) closes at once and lets the
    /// kernel send what is queued; a duration makes close wait up to that
    /// long (whole seconds) for it; zero makes close reset the connection
    /// (RST), dropping what is queued.
    Result<void> set_linger(std::optional<std::chrono::seconds> linger);
    /// `SO_LINGER`: nullopt when off.
    [[nodiscard]] Result<std::optional<std::chrono::seconds>> linger() const;

    /// Binds to `ep` (port 0: the kernel picks one, see `local_addr`).
    /// @par Errors
    /// `bind(2)`'s: `address_in_use`, `access_denied`, `invalid_argument`
    /// (already bound, or an address of the other family), ...
    Result<void> bind(const endpoint& ep);
    /// The bound address (0.0.0.0:0 before `bind`).
    [[nodiscard]] Result<endpoint> local_addr() const;

    /// Listens with `backlog` (unbound: on an ephemeral port) and becomes a
    /// `TcpListener` on this socket's executor. Consumes the socket: on
    /// success and on error alike it is closed or handed over, as tokio's
    /// `TcpSocket::listen` takes `self`.
    /// @par Errors
    /// `listen(2)`'s (`address_in_use` when another socket listens on the
    /// port without `SO_REUSEPORT` on both), as a value.
    Result<TcpListener> listen(std::uint32_t backlog) &&;
    /// Connects to `ep` from this socket (so its options and `bind` apply:
    /// bind before connect picks the source address and port). Consumes the
    /// socket; see `TcpConnectFuture` for cancel safety and errors.
    POLLUX_NODISCARD_FUTURE TcpConnectFuture connect(const endpoint& ep) &&;

    /// The descriptor (-1 if none), still owned by the TcpSocket.
    [[nodiscard]] int native_handle() const noexcept { return fd_; }
    /// Gives up the descriptor (the caller closes it); -1 if none.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

private:
    TcpSocket(int fd, bool v6, boost::asio::any_io_executor ex) noexcept
        : fd_(fd), v6_(v6), ex_(std::move(ex)) {}
    static Result<TcpSocket> open(bool v6, const boost::asio::any_io_executor& ex);

    int fd_;
    bool v6_;
    boost::asio::any_io_executor ex_;
};

} // namespace pollux::net
