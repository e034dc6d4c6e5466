#pragma once

/// @file
/// `net::TcpListener`: a listening TCP socket (tokio's `TcpListener`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/op_future.hpp>
#include <pollux/net/incoming.hpp>
#include <pollux/net/tcp_stream.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <string_view>
#include <utility>

namespace pollux::net {

class TcpListener;

namespace detail {
struct TcpAcceptOp {
    using Output = Result<std::pair<TcpStream, boost::asio::ip::tcp::endpoint>>;
    TcpListener* self;
    Poll<Output> operator()(Context& cx);
};
} // namespace detail

/// The future returned by `TcpListener::accept`.
using TcpAcceptFuture = pollux::detail::OpFuture<detail::TcpAcceptOp>;

/// A TCP socket listening for connections. Move-only; destroying it closes
/// the socket (connections in its backlog are reset by the kernel).
///
/// `bind` sets `SO_REUSEADDR` (as tokio does on Unix), listens with a
/// backlog of 1024 and makes the socket non-blocking and close-on-exec;
/// for other options (`SO_REUSEPORT`, a backlog, buffer sizes) build it
/// with `net::TcpSocket`.
/// Accepted sockets are non-blocking and close-on-exec too.
///
/// Accept errors (DESIGN section 8, docs/net.md): per-connection errors
/// (`ECONNABORTED`, `EPROTO`, `ECONNRESET`, and the pending network errors
/// Linux reports through accept) are retried at once and never reported;
/// resource errors (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) are not
/// reported either: the listener backs off on a timer, 10 ms doubling to
/// 1 s, reset by the next success, so a loop of `accept()` never spins and
/// resumes once descriptors are free. Other errors are returned.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API TcpListener {
public:
    struct Impl;
    /// A TCP address and port.
    using endpoint = boost::asio::ip::tcp::endpoint;

    /// Adopts a block made by the library.
    explicit TcpListener(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s socket; `o` is left holding none, and may only be
    /// destroyed or assigned to (`poll_accept` asserts).
    TcpListener(TcpListener&& o) noexcept
        : impl_(std::exchange(o.impl_, nullptr)), closed_(o.closed_) {}
    /// Closes the socket held, as the destructor does, then takes `o`'s;
    /// `o` is left holding none. Self-assignment does nothing.
    TcpListener& operator=(TcpListener&& o) noexcept;
    ~TcpListener();

    /// Binds and listens on `ep` (port 0: the kernel picks one; see
    /// `local_addr()`), on the executor of the current task.
    ///
    /// @par Errors
    /// `address_in_use`, `access_denied`, ... as values. Throws
    /// `std::logic_error` when called outside a pollux task.
    static Result<TcpListener> bind(const endpoint& ep);
    /// As above, on `ex`; callable anywhere.
    static Result<TcpListener> bind(const endpoint& ep, const boost::asio::any_io_executor& ex);
    /// Binds "host:port" ("127.0.0.1:0", "[::1]:8080", "localhost:80"). A
    /// host that is not an IP literal is resolved with a blocking lookup,
    /// and each address is tried until one binds.
    static Result<TcpListener> bind(std::string_view host_port);
    /// As above, on `ex`; callable anywhere.
    /// @par Errors
    /// As values: `invalid_argument` when `host_port` has no ':' or no port,
    /// the resolver's error, or the last address's bind error.
    static Result<TcpListener> bind(std::string_view host_port,
                                    const boost::asio::any_io_executor& ex);

    /// Adopts `fd`, a listening TCP socket over IPv4 or IPv6 (inherited
    /// from a supervisor, say), on the current task's executor, and makes it
    /// non-blocking and close-on-exec (tokio's `TcpListener::from_std`). For
    /// other options before listening, use `TcpSocket`. On success the
    /// listener owns `fd`.
    /// @par Errors
    /// As values, leaving `fd` open and the caller's: `bad_descriptor`,
    /// `not_socket`; `invalid_argument` for a socket that is not TCP or not
    /// listening; the reactor's registration error. Throws
    /// `std::logic_error` outside a task.
    static Result<TcpListener> from_fd(int fd);
    /// As above, on `ex`; callable anywhere.
    static Result<TcpListener> from_fd(int fd, const boost::asio::any_io_executor& ex);
    /// Wraps a listening Asio acceptor (sets it non-blocking and
    /// close-on-exec). It keeps its executor.
    /// @par Errors
    /// The `non_blocking` error as a value (`bad_descriptor` for a closed
    /// acceptor).
    static Result<TcpListener> from_acceptor(boost::asio::ip::tcp::acceptor a);

    /// The next connection and its peer's address.
    ///
    /// @par Cancel safety
    /// Cancel safe: a connection is taken from the kernel only inside the
    /// poll that returns it, so dropping the future (e.g. the losing branch
    /// of a `select`) loses no connection. Its readiness wait stays with the
    /// listener until the next accept or the listener's destruction
    /// (`cancellation_type::terminal`).
    /// @par Thread safety
    /// Distinct objects: safe. Shared objects: unsafe.
    /// @par Wakes / resumes on
    /// The listener's executor, when a connection is pending or a back-off
    /// timer fires.
    /// @par Errors
    /// Errors other than the retried ones above, e.g. `bad_descriptor` or
    /// `invalid_argument` for a socket that is not listening.
    /// @par Preconditions
    /// The listener outlives the future. Not polled after Ready (asserts).
    /// @par Example
    /// @code
    /// auto listener = pollux::net::TcpListener::bind("127.0.0.1:0").value();
    /// for (;;) {
    ///     auto conn = co_await listener.accept();
    ///     if (conn) { pollux::spawn(serve(std::move(conn->first))); }
    /// }
    /// @endcode
    [[nodiscard]] TcpAcceptFuture accept() noexcept { return TcpAcceptFuture({this}); }

    /// The connections this listener accepts, as a `Stream` of
    /// `Result<TcpStream>`; it borrows the listener. Cancel safe, as `accept()`.
    /// See `net::Incoming`.
    [[nodiscard]] Incoming<TcpListener, TcpStream> incoming() noexcept {
        return Incoming<TcpListener, TcpStream>(*this);
    }

    /// Closes the listening socket now, as the destructor would, while the
    /// listener object lives on (e.g. a member of a server that stops
    /// accepting but keeps serving its connections). When it returns the
    /// port is free and connections still in the backlog have been reset by
    /// the kernel. Afterwards `is_open()` is false, and `accept()` and
    /// `local_addr()` report `bad_descriptor`. Closing again does nothing.
    ///
    /// @par Cancel safety
    /// A pending `accept()` future of this listener is cancelled
    /// (`cancellation_type::terminal`) and not woken: its next poll reports
    /// `bad_descriptor`. To stop a task that is suspended in `accept()`,
    /// race the accept against a shutdown signal with `select` and close in
    /// that task, as tokio code drops the listener.
    /// @par Thread safety
    /// Distinct objects: safe. Shared objects: unsafe. Call it on the
    /// listener's executor.
    void close() noexcept;

    /// False once `close()` was called (or the listener was moved from).
    [[nodiscard]] bool is_open() const noexcept { return impl_ != nullptr; }

    /// The poll function behind `accept()`, for hand-written futures.
    Poll<Result<std::pair<TcpStream, endpoint>>> poll_accept(Context& cx);

    /// The address it listens on (the port the kernel picked for port 0).
    /// @par Errors
    /// The `getsockname` error, as a value.
    [[nodiscard]] Result<endpoint> local_addr() const;

    /// The Asio acceptor, for options pollux does not wrap. Do not start
    /// Asio operations on it, move from it or close it (`close()` does).
    /// @par Preconditions
    /// `is_open()`.
    [[nodiscard]] boost::asio::ip::tcp::acceptor& acceptor() noexcept;

private:
    Impl* impl_;
    bool closed_ = false; // close() was called: report bad_descriptor, not a moved-from misuse
};

inline Poll<detail::TcpAcceptOp::Output> detail::TcpAcceptOp::operator()(Context& cx) {
    return self->poll_accept(cx);
}

} // namespace pollux::net
