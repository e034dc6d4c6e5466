#include <pollux/uv/udp.hpp>

#include "../detail/readiness.hpp"
#include "../detail/retry_eintr.hpp"
#include "../net/sockopt.hpp"
#include "adopt_fd.hpp"
#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <utility>

// Readiness-based, like tcp.cpp (see the comment at its top): sends and
// receives try the non-blocking call first and start a readiness wait only after
// EAGAIN; every kick, wait and deferred callback is counted in flight.

namespace pollux::uv {

namespace {

constexpr int max_io_per_turn = 32;
constexpr std::size_t recv_buffer_size = 64 * 1024;

bool would_block(const boost::system::error_code& ec) {
    return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}

} // namespace

Udp::Udp(Loop& loop) : Handle(loop, HandleType::udp), socket_(loop.io_context()) {
}

// Delegating: once Udp(loop) returned, a throw here runs ~Udp.
Udp::Udp(Loop& loop, const boost::asio::ip::udp& protocol) : Udp(loop) {
    boost::system::error_code ec;
    socket_.open(protocol, ec);
    if (!ec) {
        socket_.non_blocking(true, ec);
    }
    if (ec) {
        throw boost::system::system_error(ec, "uv::Udp");
    }
}

Udp::~Udp() {
    destroy_handle();
    pollux::detail::drop_callback_readiness(ready_); // before the socket closes
}

// The readiness waits of the socket (lib/detail/readiness.hpp: no
// epoll_ctl per wait), made on first use.
void Udp::start_wait(int direction) {
    pollux::detail::start_callback_wait(
        ready_, socket_, static_cast<pollux::detail::Direction>(direction), &Udp::on_ready, this);
}

// A readiness wait completed (or was aborted by a close).
void Udp::on_ready(void* p, int direction) {
    Udp* self = static_cast<Udp*>(p);
    const auto d = static_cast<pollux::detail::Direction>(direction);
    self->wait_failed_[direction] = pollux::detail::wait_failure(self->ready_->error(d));
    self->ready_->consume(d);
    self->op_finished();
    if (d == pollux::detail::Direction::write) {
        self->send_in_flight_ = false;
        if (!self->is_closing()) {
            self->flush_sends();
        }
    } else {
        self->recv_in_flight_ = false;
        self->do_recv();
    }
}

boost::system::error_code Udp::bind(const Endpoint& ep, bool reuse_address) {
    return bind(ep, reuse_address ? BindFlags::reuse_address : BindFlags::none);
}

boost::system::error_code Udp::bind(const Endpoint& ep, BindFlags flags) {
    const auto bits = static_cast<unsigned>(flags);
    const bool ipv6_only = (bits & static_cast<unsigned>(BindFlags::ipv6_only)) != 0;
    const bool reuse_address = (bits & static_cast<unsigned>(BindFlags::reuse_address)) != 0;
    // libuv's uv__udp_bind checks both before touching the socket.
    if ((bits & ~static_cast<unsigned>(BindFlags::ipv6_only | BindFlags::reuse_address)) != 0 ||
        (ipv6_only && !ep.address().is_v6())) {
        return boost::asio::error::invalid_argument;
    }
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    if (!socket_.is_open()) {
        socket_.open(ep.protocol(), ec);
        if (!ec) {
            socket_.non_blocking(true, ec);
        }
        if (ec) {
            return ec;
        }
    }
    if (reuse_address) {
        socket_.set_option(boost::asio::socket_base::reuse_address(true), ec);
        if (ec) {
            return ec;
        }
    }
    if (ipv6_only) {
        socket_.set_option(boost::asio::ip::v6_only(true), ec);
        if (ec) {
            return ec;
        }
    }
    socket_.bind(ep, ec);
    return ec;
}

boost::system::error_code Udp::bind_any(const boost::asio::ip::udp& protocol, bool reuse) {
    return bind(Endpoint(protocol, 0), reuse);
}

boost::system::error_code Udp::open(int fd) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (socket_.is_open()) {
        return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
    }
    if (auto ec = detail::adopt_socket_fd(loop(), socket_, fd)) {
        return ec;
    }
    auto r = net::detail::set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (!r) {
        (void)socket_.release(); // the descriptor stays the caller's
        return r.error();
    }
    connected_ = detail::socket_has_peer(fd);
    return {};
}

boost::system::error_code Udp::connect(const Endpoint& peer) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (connected_) {
        return boost::asio::error::already_connected;
    }
    if (!socket_.is_open()) {
        if (const auto ec = bind_any(peer.protocol(), false)) {
            return ec;
        }
    }
    // A datagram connect only records the peer: made again after EINTR.
    if (pollux::detail::retry_eintr([&] {
            return ::connect(
                socket_.native_handle(), peer.data(), static_cast<::socklen_t>(peer.size()));
        }) != 0) {
        return net::detail::errno_code();
    }
    connected_ = true;
    return {};
}

boost::system::error_code Udp::disconnect() {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (!connected_) {
        return boost::asio::error::not_connected;
    }
    ::sockaddr_storage unspec{};
    unspec.ss_family = AF_UNSPEC;
    const int r = pollux::detail::retry_eintr([&] {
        return ::connect(
            socket_.native_handle(), reinterpret_cast<::sockaddr*>(&unspec), sizeof(unspec));
    });
    // Linux reports EAFNOSUPPORT for an AF_UNSPEC connect of some sockets
    // after dissolving the association anyway (libuv ignores it too).
    if (r != 0 && errno != EAFNOSUPPORT) {
        return net::detail::errno_code();
    }
    connected_ = false;
    return {};
}

Result<Udp::Endpoint> Udp::getpeername() const {
    if (!socket_.is_open()) {
        return boost::system::error_code(boost::asio::error::bad_descriptor);
    }
    boost::system::error_code ec;
    Endpoint ep = socket_.remote_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

// ---- options --------------------------------------------------------------

namespace {

bool is_v6(int fd) {
    auto fam = net::detail::get_int_option(fd, SOL_SOCKET, SO_DOMAIN);
    return fam && *fam == AF_INET6;
}

boost::system::error_code as_code(const Result<void>& r) {
    return r ? boost::system::error_code() : r.error();
}

} // namespace

boost::system::error_code Udp::option_error() const noexcept {
    if (is_closing() || !socket_.is_open()) {
        return boost::asio::error::bad_descriptor;
    }
    return {};
}

boost::system::error_code Udp::set_broadcast(bool on) {
    if (const auto ec = option_error()) {
        return ec;
    }
    return as_code(
        net::detail::set_int_option(socket_.native_handle(), SOL_SOCKET, SO_BROADCAST, on ? 1 : 0));
}

boost::system::error_code Udp::set_ttl(int ttl) {
    if (const auto ec = option_error()) {
        return ec;
    }
    if (ttl < 1 || ttl > 255) {
        return boost::asio::error::invalid_argument;
    }
    return as_code(
        net::detail::set_ttl_option(socket_.native_handle(), static_cast<unsigned>(ttl)));
}

boost::system::error_code Udp::set_multicast_ttl(int ttl) {
    if (const auto ec = option_error()) {
        return ec;
    }
    if (ttl < 0 || ttl > 255) {
        return boost::asio::error::invalid_argument;
    }
    const int fd = socket_.native_handle();
    return as_code(is_v6(fd)
                       ? net::detail::set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl)
                       : net::detail::set_int_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl));
}

boost::system::error_code Udp::set_multicast_loop(bool on) {
    if (const auto ec = option_error()) {
        return ec;
    }
    const int fd = socket_.native_handle();
    const int v = on ? 1 : 0;
    return as_code(is_v6(fd) ? net::detail::set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, v)
                             : net::detail::set_int_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, v));
}

boost::system::error_code Udp::set_multicast_interface(std::string_view interface_addr) {
    if (const auto ec = option_error()) {
        return ec;
    }
    const int fd = socket_.native_handle();
    if (interface_addr.empty()) {
        if (is_v6(fd)) {
            return as_code(net::detail::set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, 0));
        }
        return as_code(net::detail::multicast_interface_v4(fd, boost::asio::ip::address_v4::any()));
    }
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(std::string(interface_addr), ec);
    if (ec) {
        return boost::asio::error::invalid_argument;
    }
    if (addr.is_v4()) {
        return as_code(net::detail::multicast_interface_v4(fd, addr.to_v4()));
    }
    return as_code(net::detail::set_int_option(
        fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, static_cast<int>(addr.to_v6().scope_id())));
}

boost::system::error_code Udp::set_membership(std::string_view multicast_addr,
                                              std::string_view interface_addr,
                                              Membership membership) {
    return set_source_membership(multicast_addr, interface_addr, {}, membership);
}

boost::system::error_code Udp::set_source_membership(std::string_view multicast_addr,
                                                     std::string_view interface_addr,
                                                     std::string_view source_addr,
                                                     Membership membership) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    const auto group = boost::asio::ip::make_address(std::string(multicast_addr), ec);
    if (ec) {
        return boost::asio::error::invalid_argument;
    }
    std::optional<boost::asio::ip::address> iface;
    if (!interface_addr.empty()) {
        iface = boost::asio::ip::make_address(std::string(interface_addr), ec);
        if (ec || iface->is_v4() != group.is_v4()) {
            return boost::asio::error::invalid_argument;
        }
    }
    std::optional<boost::asio::ip::address> source;
    if (!source_addr.empty()) {
        source = boost::asio::ip::make_address(std::string(source_addr), ec);
        if (ec || source->is_v4() != group.is_v4()) {
            return boost::asio::error::invalid_argument;
        }
    }
    // libuv's uv__udp_maybe_deferred_bind: a handle not bound yet is bound
    // to the any address, with SO_REUSEADDR, so that several may join.
    const auto protocol = group.is_v4() ? boost::asio::ip::udp::v4() : boost::asio::ip::udp::v6();
    bool bound = false;
    if (socket_.is_open()) {
        boost::system::error_code ignored;
        bound = socket_.local_endpoint(ignored).port() != 0;
    }
    if (!bound) {
        if (const auto bec = bind_any(protocol, true)) {
            return bec;
        }
    }
    const int fd = socket_.native_handle();
    const bool join = membership == Membership::join_group;
    if (group.is_v6()) {
        const unsigned index = iface ? static_cast<unsigned>(iface->to_v6().scope_id()) : 0;
        if (source) {
            return as_code(
                net::detail::source_membership_v6(fd, group.to_v6(), index, source->to_v6(), join));
        }
        return as_code(net::detail::membership_v6(fd, group.to_v6(), index, join));
    }
    const auto if4 = iface ? iface->to_v4() : boost::asio::ip::address_v4::any();
    if (source) {
        return as_code(
            net::detail::source_membership_v4(fd, group.to_v4(), if4, source->to_v4(), join));
    }
    return as_code(net::detail::membership_v4(fd, group.to_v4(), if4, join));
}

// ---- sending ------------------------------------------------------------

boost::system::error_code Udp::send(std::string data, const Endpoint& to, SendCallback cb) {
    SendReq req;
    req.owned_string = std::move(data);
    req.to = to;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code Udp::send(std::vector<char> data, const Endpoint& to, SendCallback cb) {
    SendReq req;
    req.owned_vector = std::move(data);
    req.to = to;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code
Udp::send(boost::asio::const_buffer data, const Endpoint& to, SendCallback cb) {
    SendReq req;
    req.data = data;
    req.to = to;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code Udp::send(std::string data, SendCallback cb) {
    SendReq req;
    req.owned_string = std::move(data);
    req.to_peer = true;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code Udp::send(std::vector<char> data, SendCallback cb) {
    SendReq req;
    req.owned_vector = std::move(data);
    req.to_peer = true;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code Udp::send(boost::asio::const_buffer data, SendCallback cb) {
    SendReq req;
    req.data = data;
    req.to_peer = true;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code Udp::queue_send(SendReq req) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    // libuv's uv_udp_send: an address on a connected handle is EISCONN, none
    // on an unconnected one EDESTADDRREQ.
    if (req.to_peer && !connected_) {
        return boost::system::errc::make_error_code(
            boost::system::errc::destination_address_required);
    }
    if (!req.to_peer && connected_) {
        return boost::asio::error::already_connected;
    }
    boost::system::error_code ec;
    if (!socket_.is_open()) {
        // libuv binds an unbound socket on first send.
        socket_.open(req.to.protocol(), ec);
        if (!ec) {
            socket_.non_blocking(true, ec);
        }
        if (ec) {
            return ec;
        }
    }
    sends_.push_back(std::move(req));
    // Point at the owned bytes in their final place (see Tcp::queue_write).
    SendReq& s = sends_.back();
    if (!s.owned_string.empty()) {
        s.data = boost::asio::buffer(s.owned_string);
    } else if (!s.owned_vector.empty()) {
        s.data = boost::asio::buffer(s.owned_vector);
    }
    send_queue_size_ += s.data.size();
    req_started();
    if (!send_in_flight_ && sends_.size() == 1) {
        flush_sends();
    }
    return {};
}

void Udp::flush_sends() {
    while (!sends_.empty()) {
        SendReq& s = sends_.front();
        boost::system::error_code ec;
        // EINTR is retried: a signal is no fault of this datagram.
        pollux::detail::retry_eintr(ec, [&](boost::system::error_code& e) {
            return s.to_peer ? socket_.send(s.data, 0, e) : socket_.send_to(s.data, s.to, 0, e);
        });
        if (would_block(ec)) {
            ec =
                std::exchange(wait_failed_[static_cast<int>(pollux::detail::Direction::write)], {});
            if (!ec) {
                start_wait(static_cast<int>(pollux::detail::Direction::write));
                send_in_flight_ = true;
                op_started();
                return;
            }
        }
        // A datagram is sent whole or not at all; an error belongs to this
        // datagram only.
        send_queue_size_ -= s.data.size();
        SendCallback cb = std::move(s.cb);
        sends_.pop_front();
        complete_send(std::move(cb), ec);
    }
}

void Udp::complete_send(SendCallback cb, boost::system::error_code ec) {
    defer([this, cb = std::move(cb), ec] {
        req_finished();
        if (cb) {
            (void)guarded([&] { cb(ec); });
        }
    });
}

// ---- receiving ----------------------------------------------------------

boost::system::error_code Udp::recv_start(RecvCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Udp::recv_start needs a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    // libuv's uv_udp_recv_start: EALREADY while receiving; an unbound
    // handle is bound to 0.0.0.0, port 0, first.
    if (receiving_) {
        return boost::asio::error::already_started;
    }
    if (!socket_.is_open()) {
        if (const auto ec = bind(Endpoint(boost::asio::ip::udp::v4(), 0))) {
            return ec;
        }
    }
    recv_cb_ = std::move(cb);
    if (!recv_buf_) {
        recv_buf_ = std::make_unique<char[]>(recv_buffer_size);
    }
    receiving_ = true;
    set_active(true);
    if (!recv_in_flight_) {
        kick_recv();
    }
    return {};
}

void Udp::recv_stop() noexcept {
    receiving_ = false;
    set_active(false);
}

void Udp::kick_recv() {
    recv_in_flight_ = true;
    op_started();
    boost::asio::post(loop().io_context(), [a = anchor()] {
        Udp* self = from_anchor<Udp>(a);
        if (self == nullptr) {
            return;
        }
        self->op_finished();
        self->recv_in_flight_ = false;
        self->do_recv();
    });
}

void Udp::arm_recv() {
    start_wait(static_cast<int>(pollux::detail::Direction::read));
    recv_in_flight_ = true;
    op_started();
}

void Udp::do_recv() {
    for (int i = 0; i < max_io_per_turn; ++i) {
        if (!receiving_ || is_closing() || recv_in_flight_) {
            return;
        }
        Endpoint from;
        boost::system::error_code ec;
        const std::size_t n = pollux::detail::retry_eintr(ec, [&](boost::system::error_code& e) {
            return socket_.receive_from(
                boost::asio::buffer(recv_buf_.get(), recv_buffer_size), from, 0, e);
        });
        if (would_block(ec)) {
            ec = std::exchange(wait_failed_[static_cast<int>(pollux::detail::Direction::read)], {});
            if (!ec) {
                arm_recv();
                return;
            }
            // Every wait would fail the same way: report it and stop, or
            // the handle would report it again and again.
            receiving_ = false;
            set_active(false);
        }
        std::span<const char> data;
        if (!ec) {
            data = std::span<const char>(recv_buf_.get(), n);
        }
        if (!invoke(recv_cb_, ec, data, from)) {
            return;
        }
        if (ec) {
            // Report once, then wait for the socket to become readable again.
            if (receiving_ && !is_closing() && !recv_in_flight_) {
                arm_recv();
            }
            return;
        }
    }
    if (receiving_ && !is_closing() && !recv_in_flight_) {
        kick_recv();
    }
}

// ---- closing ------------------------------------------------------------

void Udp::on_close() noexcept {
    receiving_ = false;
    set_active(false);
    boost::system::error_code ignored;
    socket_.close(ignored);
    connected_ = false;
}

void Udp::on_closed() {
    while (!sends_.empty()) {
        SendCallback cb = std::move(sends_.front().cb);
        send_queue_size_ -= sends_.front().data.size();
        sends_.pop_front();
        req_finished();
        if (cb && !guarded([&] { cb(boost::asio::error::operation_aborted); })) {
            return;
        }
    }
}

Result<Udp::Endpoint> Udp::getsockname() const {
    boost::system::error_code ec;
    Endpoint ep = socket_.local_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

} // namespace pollux::uv
