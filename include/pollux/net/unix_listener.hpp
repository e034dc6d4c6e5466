#pragma once

/// @file
/// `net::UnixListener`: a listening Unix-domain stream socket (tokio's
/// `UnixListener`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/op_future.hpp>
#include <pollux/net/incoming.hpp>
#include <pollux/net/unix_stream.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <string_view>
#include <utility>

namespace pollux::net {

class UnixListener;

namespace detail {
struct UnixAcceptOp {
    using Output = Result<std::pair<UnixStream, boost::asio::local::stream_protocol::endpoint>>;
    UnixListener* self;
    Poll<Output> operator()(Context& cx);
};
} // namespace detail

/// The future returned by `UnixListener::accept`.
using UnixAcceptFuture = pollux::detail::OpFuture<detail::UnixAcceptOp>;

/// A Unix-domain socket listening at a path. Move-only; destroying it closes
/// the socket but does not remove the path (as in tokio; unlink it
/// yourself). Accept errors are handled as `TcpListener` handles them.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API UnixListener {
public:
    struct Impl;
    /// A Unix-domain socket address (a path).
    using endpoint = boost::asio::local::stream_protocol::endpoint;

    /// Adopts a block made by the library.
    explicit UnixListener(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s socket; `o` is left holding none, and may only be
    /// destroyed or assigned to (`poll_accept` asserts).
    UnixListener(UnixListener&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
    /// Closes the socket held, as the destructor does (the path stays),
    /// then takes `o`'s; `o` is left holding none. Self-assignment does
    /// nothing.
    UnixListener& operator=(UnixListener&& o) noexcept;
    ~UnixListener();

    /// Binds and listens at `path` (backlog 1024) on the current task's
    /// executor (or `ex`).
    ///
    /// @par Errors
    /// `address_in_use` when `path` exists, and other `bind` errors, as
    /// values. Throws `std::logic_error` outside a task when no executor is
    /// given.
    static Result<UnixListener> bind(std::string_view path);
    /// As above, on `ex`; callable anywhere.
    /// @par Errors
    /// As above, as values; a path too long for a socket address gives
    /// `name_too_long`.
    static Result<UnixListener> bind(std::string_view path, const boost::asio::any_io_executor& ex);

    /// The next connection and its peer's address (usually unnamed).
    ///
    /// @par Cancel safety
    /// Cancel safe, as `TcpListener::accept`.
    /// @par Thread safety
    /// Distinct objects: safe. Shared objects: unsafe.
    /// @par Wakes / resumes on
    /// The listener's executor.
    /// @par Errors
    /// As `TcpListener::accept`.
    /// @par Preconditions
    /// The listener outlives the future. Not polled after Ready (asserts).
    [[nodiscard]] UnixAcceptFuture accept() noexcept { return UnixAcceptFuture({this}); }

    /// The connections this listener accepts, as a `Stream` of
    /// `Result<UnixStream>`; it borrows the listener. Cancel safe, as `accept()`.
    /// See `net::Incoming`.
    [[nodiscard]] Incoming<UnixListener, UnixStream> incoming() noexcept {
        return Incoming<UnixListener, UnixStream>(*this);
    }

    /// The poll function behind `accept()`.
    Poll<Result<std::pair<UnixStream, endpoint>>> poll_accept(Context& cx);

    /// The path it listens at.
    /// @par Errors
    /// The `getsockname` error, as a value.
    [[nodiscard]] Result<endpoint> local_addr() const;

private:
    Impl* impl_;
};

inline Poll<detail::UnixAcceptOp::Output> detail::UnixAcceptOp::operator()(Context& cx) {
    return self->poll_accept(cx);
}

} // namespace pollux::net
