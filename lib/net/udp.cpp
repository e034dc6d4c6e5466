#include <pollux/net/udp_socket.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/net/resolve.hpp>

#include "../detail/retry_eintr.hpp"
#include "connect.hpp"
#include "endpoint_of.hpp"
#include "from_fd.hpp"
#include "socket_block.hpp"
#include "sockopt.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <cstring>
#include <netinet/in.h>

namespace pollux::net {

using udp = boost::asio::ip::udp;

struct UdpSocket::Impl : detail::SocketBlock<udp::socket> {
    using SocketBlock::SocketBlock;
};

UdpSocket& UdpSocket::operator=(UdpSocket&& o) noexcept {
    if (this != &o) {
        detail::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
    }
    return *this;
}

UdpSocket::~UdpSocket() {
    detail::destroy_block(impl_);
}

Result<UdpSocket> UdpSocket::bind(const endpoint& ep, const boost::asio::any_io_executor& ex) {
    auto s = detail::open_socket<udp::socket>(ex, ep.protocol());
    if (!s) {
        return s.error();
    }
    boost::system::error_code ec;
    s->bind(ep, ec);
    if (ec) {
        return ec;
    }
    return UdpSocket(new Impl(std::move(*s)));
}

Result<UdpSocket> UdpSocket::bind(const endpoint& ep) {
    return bind(ep, detail::executor_or_current(nullptr, "pollux::net::UdpSocket::bind"));
}

Result<UdpSocket> UdpSocket::bind(std::string_view host_port,
                                  const boost::asio::any_io_executor& ex) {
    auto hp = split_host_port(host_port);
    if (!hp) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    boost::system::error_code ec;
    udp::resolver resolver(ex);
    auto results = resolver.resolve(hp->first, hp->second, ec);
    if (ec) {
        return ec;
    }
    boost::system::error_code last = make_error_code(boost::asio::error::host_not_found);
    for (const auto& entry : results) {
        auto s = bind(entry.endpoint(), ex);
        if (s) {
            return s;
        }
        last = s.error();
    }
    return last;
}

Result<UdpSocket> UdpSocket::bind(std::string_view host_port) {
    return bind(host_port, detail::executor_or_current(nullptr, "pollux::net::UdpSocket::bind"));
}

Result<void> UdpSocket::connect(const endpoint& peer) {
    // Unlike a stream connect, a datagram connect only records the peer, so
    // making it again after EINTR is safe.
    if (pollux::detail::retry_eintr([&] {
            return ::connect(
                impl_->sock.native_handle(), peer.data(), static_cast<::socklen_t>(peer.size()));
        }) != 0) {
        return detail::last_error();
    }
    return {};
}

Poll<Result<std::size_t>>
UdpSocket::poll_send_to(Context& cx, boost::asio::const_buffer buf, const endpoint& to) {
    POLLUX_ASSERT(impl_ != nullptr, "UdpSocket used after it was moved from");
    return detail::datagram_poll_send_to(*impl_, cx, buf, to);
}

Poll<Result<std::pair<std::size_t, udp::endpoint>>>
UdpSocket::poll_recv_from(Context& cx, boost::asio::mutable_buffer buf) {
    using R = Result<std::pair<std::size_t, udp::endpoint>>;
    POLLUX_ASSERT(impl_ != nullptr, "UdpSocket used after it was moved from");
    return detail::poll_io(*impl_, detail::Direction::read, cx, [&]() -> R {
        ::sockaddr_storage from{};
        ::socklen_t len = sizeof(from);
        ssize_t n = pollux::detail::retry_eintr([&] {
            len = sizeof(from); // recvfrom may have changed it before failing
            return ::recvfrom(impl_->sock.native_handle(),
                              buf.data(),
                              buf.size(),
                              0,
                              reinterpret_cast<::sockaddr*>(&from),
                              &len);
        });
        if (n < 0) {
            return detail::last_error();
        }
        udp::endpoint ep;
        std::memcpy(ep.data(), &from, std::min<std::size_t>(len, ep.capacity()));
        ep.resize(len);
        return std::pair<std::size_t, udp::endpoint>(static_cast<std::size_t>(n), ep);
    });
}

Poll<Result<std::size_t>> UdpSocket::poll_send(Context& cx, boost::asio::const_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "UdpSocket used after it was moved from");
    return detail::datagram_poll_send(*impl_, cx, buf);
}

Poll<Result<std::size_t>> UdpSocket::poll_recv(Context& cx, boost::asio::mutable_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "UdpSocket used after it was moved from");
    return detail::datagram_poll_recv(*impl_, cx, buf);
}

Result<udp::endpoint> UdpSocket::local_addr() const {
    return detail::local_endpoint_of(impl_->sock);
}

Result<udp::endpoint> UdpSocket::peer_addr() const {
    return detail::remote_endpoint_of(impl_->sock);
}

Result<UdpSocket> UdpSocket::from_fd(int fd, const boost::asio::any_io_executor& ex) {
    using Out = Result<UdpSocket>;
    auto v6 = detail::check_inet_fd(fd, SOCK_DGRAM, IPPROTO_UDP);
    if (!v6) {
        return Out(boost::system::in_place_error, v6.error());
    }
    auto s = detail::assign_fd<udp::socket>(fd, *v6, ex);
    if (!s) {
        return Out(boost::system::in_place_error, s.error());
    }
    return UdpSocket(new Impl(std::move(*s)));
}

Result<UdpSocket> UdpSocket::from_fd(int fd) {
    return from_fd(fd, detail::executor_or_current(nullptr, "pollux::net::UdpSocket::from_fd"));
}

Result<void> UdpSocket::set_broadcast(bool on) {
    return detail::set_int_option(
        impl_->sock.native_handle(), SOL_SOCKET, SO_BROADCAST, on ? 1 : 0);
}

Result<bool> UdpSocket::broadcast() const {
    return detail::get_bool_option(impl_->sock.native_handle(), SOL_SOCKET, SO_BROADCAST);
}

Result<void> UdpSocket::set_ttl(std::uint32_t ttl) {
    return detail::set_ttl_option(impl_->sock.native_handle(), ttl);
}

Result<std::uint32_t> UdpSocket::ttl() const {
    return detail::get_ttl_option(impl_->sock.native_handle());
}

Result<void> UdpSocket::set_multicast_loop_v4(bool on) {
    return detail::set_int_option(
        impl_->sock.native_handle(), IPPROTO_IP, IP_MULTICAST_LOOP, on ? 1 : 0);
}

Result<bool> UdpSocket::multicast_loop_v4() const {
    return detail::get_bool_option(impl_->sock.native_handle(), IPPROTO_IP, IP_MULTICAST_LOOP);
}

Result<void> UdpSocket::set_multicast_ttl_v4(std::uint32_t ttl) {
    return detail::set_uint_option(impl_->sock.native_handle(), IPPROTO_IP, IP_MULTICAST_TTL, ttl);
}

Result<std::uint32_t> UdpSocket::multicast_ttl_v4() const {
    return detail::get_uint_option(impl_->sock.native_handle(), IPPROTO_IP, IP_MULTICAST_TTL);
}

Result<void> UdpSocket::set_multicast_loop_v6(bool on) {
    return detail::set_int_option(
        impl_->sock.native_handle(), IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on ? 1 : 0);
}

Result<bool> UdpSocket::multicast_loop_v6() const {
    return detail::get_bool_option(impl_->sock.native_handle(), IPPROTO_IPV6, IPV6_MULTICAST_LOOP);
}

Result<void> UdpSocket::join_multicast_v4(const boost::asio::ip::address_v4& multiaddr,
                                          const boost::asio::ip::address_v4& interface) {
    return detail::membership_v4(impl_->sock.native_handle(), multiaddr, interface, true);
}

Result<void> UdpSocket::leave_multicast_v4(const boost::asio::ip::address_v4& multiaddr,
                                           const boost::asio::ip::address_v4& interface) {
    return detail::membership_v4(impl_->sock.native_handle(), multiaddr, interface, false);
}

Result<void> UdpSocket::join_multicast_v6(const boost::asio::ip::address_v6& multiaddr,
                                          std::uint32_t interface) {
    return detail::membership_v6(impl_->sock.native_handle(), multiaddr, interface, true);
}

Result<void> UdpSocket::leave_multicast_v6(const boost::asio::ip::address_v6& multiaddr,
                                           std::uint32_t interface) {
    return detail::membership_v6(impl_->sock.native_handle(), multiaddr, interface, false);
}

udp::socket& UdpSocket::socket() noexcept {
    return impl_->sock;
}

} // namespace pollux::net
