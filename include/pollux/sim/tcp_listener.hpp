#pragma once

/// @file
/// `sim::TcpListener`: listens for simulated TCP connections on a host of
/// a `sim::Runtime`, with the shape of `pollux::net::TcpListener`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/op_future.hpp>
#include <pollux/sim/tcp_stream.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <utility>

namespace pollux::sim {

class TcpListener;

namespace detail {
struct Listener;

struct TcpAcceptOp {
    using Output = Result<std::pair<TcpStream, boost::asio::ip::tcp::endpoint>>;
    TcpListener* self;
    Poll<Output> operator()(Context& cx);
};
} // namespace detail

/// The future returned by `sim::TcpListener::accept`.
using TcpAcceptFuture = pollux::detail::OpFuture<detail::TcpAcceptOp>;

/// A simulated listening socket. Move-only; destroying it unbinds the
/// address and resets the connections waiting in its backlog.
///
/// @par Thread safety
/// Only on the simulation's thread (see `sim::Runtime`).
class POLLUX_API TcpListener {
public:
    /// A TCP address and port.
    using endpoint = boost::asio::ip::tcp::endpoint;

    /// Wraps the bound listener `l`; made by the library (see `bind`).
    explicit TcpListener(std::shared_ptr<detail::Listener> l) noexcept;
    /// Takes over the binding of the moved-from listener, left unbound.
    TcpListener(TcpListener&&) noexcept = default;
    /// Unbinds its own address (as destroying it does), then takes over `o`'s.
    TcpListener& operator=(TcpListener&& o) noexcept;
    ~TcpListener();

    /// Binds `ep` on the host of the current simulation task. The address
    /// may be that host's own, a loopback or the unspecified address (all
    /// mean this host); port 0 picks a free port (see `local_addr`).
    ///
    /// @par Errors
    /// `address_in_use` if a listener holds the port on this host;
    /// `address_not_available` for another host's address. Throws
    /// `std::logic_error` outside a simulation task.
    static Result<TcpListener> bind(const endpoint& ep);

    /// Waits for the next connection; Output
    /// `Result<std::pair<sim::TcpStream, endpoint>>` (the peer's endpoint).
    ///
    /// @par Cancel safety
    /// Cancel safe: a connection is taken from the backlog only by the poll
    /// that returns it.
    /// @par Errors
    /// None in the simulation so far; the Result keeps `net::TcpListener`'s
    /// shape.
    [[nodiscard]] TcpAcceptFuture accept() noexcept { return TcpAcceptFuture({this}); }

    /// The poll function behind `accept()`.
    Poll<Result<std::pair<TcpStream, endpoint>>> poll_accept(Context& cx);

    /// The bound address (with the chosen port when bound to port 0).
    [[nodiscard]] Result<endpoint> local_addr() const;

private:
    void close() noexcept;

    std::shared_ptr<detail::Listener> l_;
};

inline Poll<detail::TcpAcceptOp::Output> detail::TcpAcceptOp::operator()(Context& cx) {
    return self->poll_accept(cx);
}

} // namespace pollux::sim
