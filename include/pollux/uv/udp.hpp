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

    /// A handle on `loop` with no socket yet (`bind` or `send` opens one).
    explicit Udp(Loop& loop);
    ~Udp();

    /// Opens a socket for `ep`'s protocol (if not open yet) and binds it;
    /// `reuse_address` sets `SO_REUSEADDR`.
    /// @par Errors
    /// `bad_descriptor` if closing; the system's bind error.
    boost::system::error_code bind(const Endpoint& ep, bool reuse_address = false);

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
        SendCallback cb;
    };

    void on_close() noexcept override;
    void on_closed() override;

    boost::system::error_code queue_send(SendReq req);
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
    bool recv_in_flight_ = false;
    bool send_in_flight_ = false;
    boost::system::error_code wait_failed_[2]; // as uv::Tcp's
};

} // namespace pollux::uv
