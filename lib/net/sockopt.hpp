#pragma once

// Private to lib/net: setsockopt/getsockopt on a descriptor as Results,
// shared by TcpSocket, TcpStream, TcpListener and UdpSocket (each option is
// one system call; nothing is cached, so what the getters report is what
// the kernel holds: e.g. Linux doubles SO_SNDBUF/SO_RCVBUF).

#include <pollux/core/result.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/system/error_code.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>

namespace pollux::net::detail {

inline boost::system::error_code errno_code() noexcept {
    return boost::system::error_code(errno, boost::asio::error::get_system_category());
}

/// setsockopt of `value` as the option's whole argument (an int, or the
/// struct the option takes: linger, ip_mreq, ...).
template <class T>
Result<void> set_option_value(int fd, int level, int name, const T& value) noexcept {
    if (::setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
        return errno_code();
    }
    return {};
}

inline Result<void> set_int_option(int fd, int level, int name, int value) noexcept {
    return set_option_value(fd, level, name, value);
}

inline Result<int> get_int_option(int fd, int level, int name) noexcept {
    int value = 0;
    ::socklen_t len = sizeof(value);
    if (::getsockopt(fd, level, name, &value, &len) != 0) {
        return Result<int>(boost::system::in_place_error, errno_code());
    }
    return value;
}

inline Result<bool> get_bool_option(int fd, int level, int name) noexcept {
    auto r = get_int_option(fd, level, name);
    if (!r) {
        return Result<bool>(boost::system::in_place_error, r.error());
    }
    return *r != 0;
}

/// A non-negative int option as an unsigned value (buffer sizes, TTLs,
/// counts); a negative value would be refused by the kernel anyway, but a
/// value above INT_MAX is refused here (invalid_argument) rather than
/// wrapped.
inline Result<void> set_uint_option(int fd, int level, int name, unsigned value) noexcept {
    if (value > static_cast<unsigned>(std::numeric_limits<int>::max())) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    return set_int_option(fd, level, name, static_cast<int>(value));
}

inline Result<unsigned> get_uint_option(int fd, int level, int name) noexcept {
    auto r = get_int_option(fd, level, name);
    if (!r) {
        return Result<unsigned>(boost::system::in_place_error, r.error());
    }
    return static_cast<unsigned>(*r);
}

/// SO_LINGER: nullopt turns it off (close returns at once, the kernel
/// sends what is queued); a duration (rounded down to seconds) makes
/// close wait for the queue to drain up to that long; zero makes close
/// reset the connection (RST) and drop what is queued.
inline Result<void> set_linger_option(int fd, std::optional<std::chrono::seconds> d) noexcept {
    ::linger l{};
    l.l_onoff = d ? 1 : 0;
    l.l_linger = d ? static_cast<int>(d->count()) : 0;
    if (d && (d->count() < 0 || d->count() > std::numeric_limits<int>::max())) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    return set_option_value(fd, SOL_SOCKET, SO_LINGER, l);
}

inline Result<std::optional<std::chrono::seconds>> get_linger_option(int fd) noexcept {
    using Out = Result<std::optional<std::chrono::seconds>>;
    ::linger l{};
    ::socklen_t len = sizeof(l);
    if (::getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len) != 0) {
        return Out(boost::system::in_place_error, errno_code());
    }
    if (l.l_onoff == 0) {
        return Out(std::nullopt);
    }
    return Out(std::chrono::seconds(l.l_linger));
}

/// A duration option counted in whole seconds (TCP_KEEPIDLE,
/// TCP_KEEPINTVL): below one second, or above INT_MAX, is invalid_argument.
inline Result<void>
set_seconds_option(int fd, int level, int name, std::chrono::seconds d) noexcept {
    if (d.count() < 1 || d.count() > std::numeric_limits<int>::max()) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    return set_int_option(fd, level, name, static_cast<int>(d.count()));
}

inline Result<std::chrono::seconds> get_seconds_option(int fd, int level, int name) noexcept {
    auto r = get_int_option(fd, level, name);
    if (!r) {
        return Result<std::chrono::seconds>(boost::system::in_place_error, r.error());
    }
    return std::chrono::seconds(*r);
}

/// The unicast TTL (IP_TTL) or hop limit (IPV6_UNICAST_HOPS), by the
/// socket's family.
inline Result<void> set_ttl_option(int fd, unsigned ttl) noexcept {
    auto fam = get_int_option(fd, SOL_SOCKET, SO_DOMAIN);
    if (!fam) {
        return fam.error();
    }
    if (*fam == AF_INET6) {
        return set_uint_option(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
    }
    return set_uint_option(fd, IPPROTO_IP, IP_TTL, ttl);
}

inline Result<unsigned> get_ttl_option(int fd) noexcept {
    auto fam = get_int_option(fd, SOL_SOCKET, SO_DOMAIN);
    if (!fam) {
        return Result<unsigned>(boost::system::in_place_error, fam.error());
    }
    if (*fam == AF_INET6) {
        return get_uint_option(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS);
    }
    return get_uint_option(fd, IPPROTO_IP, IP_TTL);
}

/// IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP: `group` must be a multicast
/// address (invalid_argument otherwise); `iface` 0.0.0.0 lets the kernel
/// pick the interface by route (ENODEV when there is none).
inline Result<void> membership_v4(int fd,
                                  const boost::asio::ip::address_v4& group,
                                  const boost::asio::ip::address_v4& iface,
                                  bool join) noexcept {
    if (!group.is_multicast()) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    ::ip_mreq m{};
    m.imr_multiaddr.s_addr = htonl(group.to_uint());
    m.imr_interface.s_addr = htonl(iface.to_uint());
    return set_option_value(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, m);
}

/// IPV6_ADD_MEMBERSHIP / IPV6_DROP_MEMBERSHIP on interface index `iface`
/// (0: by route).
inline Result<void> membership_v6(int fd,
                                  const boost::asio::ip::address_v6& group,
                                  unsigned iface,
                                  bool join) noexcept {
    if (!group.is_multicast()) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    ::ipv6_mreq m{};
    const auto bytes = group.to_bytes();
    std::memcpy(&m.ipv6mr_multiaddr, bytes.data(), bytes.size());
    m.ipv6mr_interface = iface;
    return set_option_value(fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, m);
}

/// IP_ADD_SOURCE_MEMBERSHIP / IP_DROP_SOURCE_MEMBERSHIP (source-specific
/// multicast, IPv4).
inline Result<void> source_membership_v4(int fd,
                                         const boost::asio::ip::address_v4& group,
                                         const boost::asio::ip::address_v4& iface,
                                         const boost::asio::ip::address_v4& source,
                                         bool join) noexcept {
    if (!group.is_multicast()) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    ::ip_mreq_source m{};
    m.imr_multiaddr.s_addr = htonl(group.to_uint());
    m.imr_interface.s_addr = htonl(iface.to_uint());
    m.imr_sourceaddr.s_addr = htonl(source.to_uint());
    return set_option_value(
        fd, IPPROTO_IP, join ? IP_ADD_SOURCE_MEMBERSHIP : IP_DROP_SOURCE_MEMBERSHIP, m);
}

/// MCAST_JOIN_SOURCE_GROUP / MCAST_LEAVE_SOURCE_GROUP (source-specific
/// multicast, IPv6) on interface index `iface`.
inline Result<void> source_membership_v6(int fd,
                                         const boost::asio::ip::address_v6& group,
                                         unsigned iface,
                                         const boost::asio::ip::address_v6& source,
                                         bool join) noexcept {
    if (!group.is_multicast()) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    ::group_source_req r{};
    r.gsr_interface = iface;
    auto put = [](::sockaddr_storage& ss, const boost::asio::ip::address_v6& a) {
        ::sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        const auto bytes = a.to_bytes();
        std::memcpy(&sin6.sin6_addr, bytes.data(), bytes.size());
        std::memcpy(&ss, &sin6, sizeof(sin6));
    };
    put(r.gsr_group, group);
    put(r.gsr_source, source);
    return set_option_value(
        fd, IPPROTO_IPV6, join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP, r);
}

/// IP_MULTICAST_IF: the interface (by its address) multicast leaves from.
inline Result<void> multicast_interface_v4(int fd,
                                           const boost::asio::ip::address_v4& iface) noexcept {
    ::in_addr a{};
    a.s_addr = htonl(iface.to_uint());
    return set_option_value(fd, IPPROTO_IP, IP_MULTICAST_IF, a);
}

/// The socket's SO_TYPE and address family, to check a descriptor before
/// adopting it.
struct SocketKind {
    int type = 0;
    int family = 0;
};

inline Result<SocketKind> socket_kind(int fd) noexcept {
    SocketKind k;
    auto t = get_int_option(fd, SOL_SOCKET, SO_TYPE);
    if (!t) {
        return Result<SocketKind>(boost::system::in_place_error, t.error());
    }
    k.type = *t;
    auto f = get_int_option(fd, SOL_SOCKET, SO_DOMAIN);
    if (!f) {
        return Result<SocketKind>(boost::system::in_place_error, f.error());
    }
    k.family = *f;
    return k;
}

} // namespace pollux::net::detail
