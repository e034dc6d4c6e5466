#pragma once

/// @file
/// `uv::Tcp`: libuv's `uv_tcp_t` — a listening or connected TCP socket
/// driven by callbacks; the stream calls (`read_start`, `write`, `listen`,
/// `accept`, ...) are `uv::Stream`'s.

#include <pollux/core/result.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/stream.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pollux::uv {

/// A TCP handle: a server (`bind` + `listen` + `accept`) or a stream
/// (`connect`, or `accept`ed), with libuv's readiness-based I/O; reading,
/// writing, shutting down, listening and accepting are `uv::Stream`'s (see
/// there for the rules they share with `uv::Pipe`).
///
/// TCP's part of `listen`: without `bind`, it binds an IPv4 ephemeral
/// port; `address_in_use` kept by `bind` is returned. `accept` takes a
/// `uv::Tcp` client (`invalid_argument` for another kind).
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Tcp server(loop);
/// server.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
/// server.listen(128, [&](boost::system::error_code ec) {
///     if (ec) return;
///     auto conn = std::make_unique<uv::Tcp>(loop);
///     server.accept(*conn);
///     ...
/// });
/// @endcode
class POLLUX_API Tcp final : public Stream {
public:
    /// An IPv4 or IPv6 address and port.
    using Endpoint = boost::asio::ip::tcp::endpoint;
    // StatusCallback and ReadCallback are Stream's (Tcp::ReadCallback still
    // names them).

    /// A handle on `loop` with no socket yet (`bind` or `connect` opens one).
    explicit Tcp(Loop& loop);
    /// libuv's `uv_tcp_init_ex(loop, tcp, AF_INET or AF_INET6)`: a handle
    /// whose socket is opened at once for `protocol` (`tcp::v4()` or
    /// `tcp::v6()`), so that `nodelay`, `keepalive` and `getsockname` work
    /// before `bind`, `listen` or `connect` (which use this socket).
    /// @par Errors
    /// Throws `boost::system::system_error` if the socket cannot be opened
    /// (`EMFILE`, ...).
    Tcp(Loop& loop, const boost::asio::ip::tcp& protocol);
    ~Tcp();

    /// Opens a socket for `ep`'s protocol (if not open yet) with
    /// `SO_REUSEADDR`, and binds it.
    ///
    /// As libuv's `uv_tcp_bind`, a port already in use is not an error
    /// here: `address_in_use` is kept and reported by the next `listen`
    /// (returned) or `connect` (passed to its callback).
    /// @par Errors
    /// `bad_descriptor` if closing or already listening/connected; the
    /// system's bind error (`invalid_argument` for an IPv4 address on an
    /// IPv6 socket opened early, `address_not_available`, ...) except
    /// `address_in_use`.
    boost::system::error_code bind(const Endpoint& ep);
    /// Binds "address:port" ("127.0.0.1:0", "[::1]:8080", "0.0.0.0:7000"),
    /// as `bind(Endpoint)`. The address is an IP literal, as for libuv's
    /// `uv_ip4_addr`/`uv_ip6_addr`: no name lookup runs on the loop thread
    /// (resolve a name with `uv::getaddrinfo` first).
    /// @par Errors
    /// `invalid_argument` when `host_port` has no ':', an empty or
    /// non-numeric port, a port above 65535, an address that is not an IP
    /// literal, or an IPv6 address without brackets ("::1:80" is itself an
    /// address); then as `bind(Endpoint)`.
    boost::system::error_code bind(std::string_view host_port);

    /// Connects to `ep`; `cb(ec)` runs when connected or failed
    /// (`connection_refused`, `address_in_use` kept by `bind`, ...), or with
    /// `operation_aborted` if the handle is closed first.
    ///
    /// While connecting, `write`, `read_start` and `shutdown` are accepted
    /// and wait for the connection, as with libuv: queued writes go out
    /// once connected (after the connect callback was called), and fail
    /// with `operation_aborted` if the connect fails; reading starts once
    /// connected; a shutdown runs after the queued writes.
    /// @par Errors
    /// `bad_descriptor` if closing or listening; `already_started` if a
    /// connect is in flight; `already_connected`. The callback is then never
    /// called.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code connect(const Endpoint& ep, StatusCallback cb);
    /// Connects to "address:port" ("127.0.0.1:7000", "[::1]:7000"), as
    /// `connect(Endpoint, cb)`. The address is an IP literal, as for
    /// `bind(string_view)`: no name lookup runs on the loop thread.
    /// @par Errors
    /// `invalid_argument` (the callback is then never called) when
    /// `host_port` has no ':', an empty or non-numeric port, a port above
    /// 65535, an address that is not an IP literal, or an IPv6 address
    /// without brackets; then as `connect(Endpoint, cb)`.
    boost::system::error_code connect(std::string_view host_port, StatusCallback cb);

    /// libuv's `uv_tcp_open`: adopts `fd`, an open TCP socket (fresh,
    /// bound, listening or connected), and makes it non-blocking. A
    /// connected socket is a stream at once (`read_start`, `write`); a
    /// fresh or bound one may then `connect` or `listen`. On success the
    /// handle owns `fd` and closes it on close.
    /// @par Errors
    /// As values, leaving `fd` the caller's: `bad_descriptor` if closing or
    /// `fd` is not open; `device_or_resource_busy` (`UV_EBUSY`) if the
    /// handle already has a socket; `file_exists` (`UV_EEXIST`) if another
    /// handle of this loop already watches `fd`; `not_socket`;
    /// `invalid_argument` for a socket that is not TCP over IPv4 or IPv6.
    boost::system::error_code open(int fd);

    /// libuv's `uv_tcp_close_reset`: closes the handle as `close(cb)` does,
    /// after setting `SO_LINGER` to zero, so the peer gets RST instead of
    /// FIN and unsent data is dropped; pending writes get
    /// `operation_aborted`, as with `close`.
    /// @par Errors
    /// `invalid_argument` (`UV_EINVAL`) if `shutdown` was called on the
    /// handle (libuv refuses a reset after a FIN was asked for) and
    /// `bad_descriptor` if closing or without a socket; the handle is then
    /// not closed and `cb` never called. A `setsockopt` refused with
    /// `EINVAL` (a socket already shut down by `shutdown(2)`) is ignored, as
    /// libuv does, and the handle closes.
    boost::system::error_code close_reset(CloseCallback cb = {});

    /// `TCP_NODELAY`. @par Errors `bad_descriptor` if no socket is open.
    boost::system::error_code nodelay(bool enable);
    /// `SO_KEEPALIVE`, and `TCP_KEEPIDLE` = `delay` when enabling.
    /// @par Errors `bad_descriptor` if no socket is open.
    boost::system::error_code keepalive(bool enable,
                                        std::chrono::seconds delay = std::chrono::seconds(60));

    /// libuv's `uv_tcp_simultaneous_accepts`: a Windows-only tuning; a
    /// no-op returning success here, as on libuv's Unix.
    boost::system::error_code simultaneous_accepts(bool enable) noexcept {
        (void)enable;
        return {};
    }

    /// The local address.
    /// @par Errors
    /// `bad_descriptor` if no socket is open; `address_in_use` kept by
    /// `bind` (until `connect` reported it), as libuv's
    /// `uv_tcp_getsockname`; the system's error.
    [[nodiscard]] Result<Endpoint> getsockname() const;
    /// The peer's address.
    /// @par Errors
    /// `bad_descriptor` if no socket is open; `not_connected` (a listener
    /// too); the system's error.
    [[nodiscard]] Result<Endpoint> getpeername() const;

    /// The stream socket under the handle, for interop with Asio or
    /// `pollux::use_future` (its operations complete on the loop's
    /// io_context). Do not interleave its writes with the handle's, nor its
    /// reads with `read_start`; do not close it.
    [[nodiscard]] boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }

private:
    [[nodiscard]] int stream_fd() const noexcept override;
    void start_stream_wait(int direction) override;
    void close_descriptor() noexcept override;
    boost::system::error_code adopt_descriptor(int fd) override;
    boost::system::error_code before_listen() override;
    std::size_t read_some(char* buf, std::size_t size, boost::system::error_code& ec) override;
    void connected_socket(StatusCallback& cb, boost::system::error_code ec);

    boost::asio::ip::tcp::socket socket_;
    // bind's address_in_use, reported by listen and connect (libuv's
    // delayed_error; the only error bind delays).
    bool bind_in_use_ = false;
    // TCP_INQ was asked for on the socket (on the first read), and granted.
    bool tcp_inq_asked_ = false;
    bool tcp_inq_ = false;
};

} // namespace pollux::uv
