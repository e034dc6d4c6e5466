#pragma once

/// @file
/// `uv::Udp`: libuv's `uv_udp_t` — datagrams sent and received with
/// callbacks.

#include <pollux/core/result.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pollux::detail {
template <class Sink>
class ReadinessOps;
struct CallbackSink;
} // namespace pollux::detail

namespace pollux::uv {

/// A UDP handle. It is active while receiving; sends are requests.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Udp sock(loop);
/// sock.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
/// sock.recv_start([&](auto ec, std::span<const char> d, const auto& from) {
///     if (!ec) sock.send(std::string(d.begin(), d.end()), from);
/// });
/// @endcode
class POLLUX_API Udp final : public Handle {
public:
    /// An IPv4 or IPv6 address and port.
    using Endpoint = boost::asio::ip::udp::endpoint;
    /// `cb(ec)` after a datagram was sent, or with `operation_aborted`.
    using SendCallback = std::function<void(boost::system::error_code)>;
    /// `data` is valid only during the call; `from` is the sender.
    using RecvCallback = std::function<void(
        boost::system::error_code, std::span<const char> data, const Endpoint& from)>;

    /// libuv's `uv_membership`: what `set_membership` does.
    enum class Membership { join_group, leave_group };

    /// A handle on `loop` with no socket yet (`bind` or `send` opens one).
    explicit Udp(Loop& loop);
    /// libuv's `uv_udp_init_ex(loop, udp, AF_INET or AF_INET6)`: a handle
    /// whose socket is opened at once for `protocol`, so that options may
    /// be set before `bind` (which uses this socket).
    /// @par Errors
    /// Throws `boost::system::system_error` if the socket cannot be opened.
    Udp(Loop& loop, const boost::asio::ip::udp& protocol);
    ~Udp();

    /// Opens a socket for `ep`'s protocol (if not open yet) and binds it;
    /// `reuse_address` sets `SO_REUSEADDR`.
    /// @par Errors
    /// `bad_descriptor` if closing; the system's bind error.
    boost::system::error_code bind(const Endpoint& ep, bool reuse_address = false);

    /// libuv's `uv_udp_flags` for `bind`, with libuv's values; combine with `|`.
    enum class BindFlags : unsigned {
        none = 0,
        /// `UV_UDP_IPV6ONLY`: an IPv6 socket that does not take IPv4
        /// datagrams (`IPV6_V6ONLY`). Without it an IPv6 socket bound to
        /// `::` keeps the system's default (dual stack on Linux), as libuv.
        ipv6_only = 1,
        /// `UV_UDP_REUSEADDR`: `SO_REUSEADDR`.
        reuse_address = 4,
    };
    /// `a` and `b` both.
    friend constexpr BindFlags operator|(BindFlags a, BindFlags b) noexcept {
        return static_cast<BindFlags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
    }

    /// libuv's `uv_udp_bind(handle, addr, flags)`: as `bind(ep, bool)`, with
    /// `flags` applied before the bind.
    /// @par Errors
    /// `invalid_argument` for a bit that is not a `BindFlags` value or for
    /// `ipv6_only` with an IPv4 endpoint (libuv's EINVAL; nothing is opened);
    /// `bad_descriptor` if closing; the system's errors.
    boost::system::error_code bind(const Endpoint& ep, BindFlags flags);

    /// libuv's `uv_udp_open`: adopts `fd`, an open UDP socket over IPv4 or
    /// IPv6 (bound, connected or not), makes it non-blocking and sets
    /// `SO_REUSEADDR` (as libuv does). A connected socket makes the handle
    /// connected (see `connect`). On success the handle owns `fd`.
    /// @par Errors
    /// As values, leaving `fd` the caller's: `bad_descriptor` if closing or
    /// `fd` is not open; `device_or_resource_busy` (`UV_EBUSY`) if the
    /// handle already has a socket; `file_exists` (`UV_EEXIST`) if another
    /// handle of this loop watches `fd`; `not_socket`; `invalid_argument`
    /// for a socket that is not UDP over IPv4 or IPv6.
    boost::system::error_code open(int fd);

    /// libuv's `uv_udp_connect`: sets the default peer (an unbound handle is
    /// bound to the any address of `peer`'s family first). Afterwards
    /// datagrams are sent with the `send` overloads that take no address,
    /// and only datagrams from `peer` are received.
    /// @par Errors
    /// `bad_descriptor` if closing; `already_connected` (`UV_EISCONN`) if
    /// connected (call `disconnect` first); the system's `connect` error.
    boost::system::error_code connect(const Endpoint& peer);
    /// libuv's `uv_udp_connect(handle, NULL)`: forgets the peer.
    /// @par Errors
    /// `bad_descriptor` if closing; `not_connected` (`UV_ENOTCONN`) if not
    /// connected.
    boost::system::error_code disconnect();
    /// The peer set by `connect`.
    /// @par Errors
    /// `not_connected`; `bad_descriptor` without a socket.
    [[nodiscard]] Result<Endpoint> getpeername() const;

    /// Sends one datagram to `to` (opening an unbound socket for `to`'s
    /// protocol, as libuv does). `cb(ec)` runs after the kernel took it, or
    /// with `operation_aborted` if the handle is closed first; sends
    /// complete in order.
    /// @par Cancel safety
    /// Closing drops datagrams not yet sent (their callbacks get
    /// `operation_aborted`).
    /// @par Errors
    /// `bad_descriptor` if closing; the system's error when opening. The
    /// callback is then never called.
    boost::system::error_code send(std::string data, const Endpoint& to, SendCallback cb = {});
    boost::system::error_code
    /// As above, owning a `std::vector<char>`.
    send(std::vector<char> data, const Endpoint& to, SendCallback cb = {});
    /// Borrowing send: `data` must stay alive until `cb` runs (or the
    /// handle is destroyed).
    boost::system::error_code
    send(boost::asio::const_buffer data, const Endpoint& to, SendCallback cb = {});

    /// Sends one datagram to the peer set by `connect` (libuv's `uv_udp_send`
    /// with a null address); otherwise as the sends above.
    /// @par Errors
    /// `bad_descriptor` if closing; `destination_address_required`
    /// (`UV_EDESTADDRREQ`) if not connected. The sends with an address give
    /// `already_connected` (`UV_EISCONN`) on a connected handle, as libuv's.
    boost::system::error_code send(std::string data, SendCallback cb = {});
    /// As above, owning a `std::vector<char>`.
    boost::system::error_code send(std::vector<char> data, SendCallback cb = {});
    /// As above, borrowing `data` until `cb` runs (or the handle is destroyed).
    boost::system::error_code send(boost::asio::const_buffer data, SendCallback cb = {});

    // Options (libuv's uv_udp_set_*): each is one setsockopt on the socket,
    // at the IPv4 or IPv6 level by the socket's family. Errors:
    // `bad_descriptor` without a socket (libuv's `UV_EBADF`: no socket is
    // opened for them) or if closing; `invalid_argument` for a value out of
    // range; the system's error.

    /// `SO_BROADCAST`.
    boost::system::error_code set_broadcast(bool on);
    /// `IP_TTL` / `IPV6_UNICAST_HOPS`, 1..255.
    boost::system::error_code set_ttl(int ttl);
    /// `IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS`, 0..255.
    boost::system::error_code set_multicast_ttl(int ttl);
    /// `IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`.
    boost::system::error_code set_multicast_loop(bool on);
    /// The interface multicast leaves from: an IPv4 address, or an IPv6
    /// address whose scope ("fe80::1%eth0") names the interface; empty: the
    /// default (by route).
    /// @par Errors
    /// `invalid_argument` for text that is no IP address.
    boost::system::error_code set_multicast_interface(std::string_view interface_addr);
    /// Joins or leaves the group `multicast_addr` (an IPv4 or IPv6 literal)
    /// on the interface `interface_addr` (empty: by route). An unbound
    /// handle is first bound to the any address with `SO_REUSEADDR`, as
    /// libuv does.
    /// @par Errors
    /// `invalid_argument` for text that is no IP address or a group that is
    /// not multicast; `no_such_device` (`ENODEV`) when no route leads to
    /// the group; `address_not_available` when leaving a group not joined.
    boost::system::error_code set_membership(std::string_view multicast_addr,
                                             std::string_view interface_addr,
                                             Membership membership);
    /// Joins or leaves the group for datagrams from `source_addr` only
    /// (source-specific multicast).
    /// @par Errors
    /// As `set_membership`; `invalid_argument` for a source of the other
    /// family.
    boost::system::error_code set_source_membership(std::string_view multicast_addr,
                                                    std::string_view interface_addr,
                                                    std::string_view source_addr,
                                                    Membership membership);

    /// Starts receiving: `cb(ec, data, from)` per datagram (up to 64 KiB),
    /// until `recv_stop()`. A receive error is reported and receiving goes
    /// on. An unbound handle is first bound to 0.0.0.0, port 0 (libuv's
    /// `uv_udp_recv_start`).
    /// @par Errors
    /// `bad_descriptor` if closing; `already_started` (`EALREADY`) if
    /// receiving (the callback is not replaced); the system's error when
    /// binding.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code recv_start(RecvCallback cb);
    /// Stops receiving at once.
    void recv_stop() noexcept;

    /// Bytes and datagrams queued and not yet sent (`uv_udp_get_send_queue_size/count`).
    [[nodiscard]] std::size_t send_queue_size() const noexcept { return send_queue_size_; }
    /// Datagrams queued and not yet sent.
    [[nodiscard]] std::size_t send_queue_count() const noexcept { return sends_.size(); }

    /// The local address.
    /// @par Errors
    /// `bad_descriptor` if no socket is open; the system's error.
    [[nodiscard]] Result<Endpoint> getsockname() const;

    /// The socket under the handle (see `Tcp::socket`).
    [[nodiscard]] boost::asio::ip::udp::socket& socket() noexcept { return socket_; }

private:
    struct SendReq {
        std::string owned_string;
        std::vector<char> owned_vector;
        boost::asio::const_buffer data;
        Endpoint to;
        bool to_peer = false; // no address: to the connected peer
        SendCallback cb;
    };

    void on_close() noexcept override;
    void on_closed() override;

    boost::system::error_code queue_send(SendReq req);
    boost::system::error_code bind_any(const boost::asio::ip::udp& protocol, bool reuse);
    [[nodiscard]] boost::system::error_code option_error() const noexcept;
    void flush_sends();
    void complete_send(SendCallback cb, boost::system::error_code ec);
    void kick_recv();
    void arm_recv();
    void start_wait(int direction);
    static void on_ready(void* self, int direction);
    void do_recv();

    boost::asio::ip::udp::socket socket_;
    pollux::detail::ReadinessOps<pollux::detail::CallbackSink>* ready_ = nullptr;
    RecvCallback recv_cb_;
    std::unique_ptr<char[]> recv_buf_;
    std::deque<SendReq> sends_;
    std::size_t send_queue_size_ = 0;
    bool receiving_ = false;
    bool connected_ = false; // libuv's UV_HANDLE_UDP_CONNECTED
    bool recv_in_flight_ = false;
    bool send_in_flight_ = false;
    boost::system::error_code wait_failed_[2]; // as uv::Tcp's
};

} // namespace pollux::uv
