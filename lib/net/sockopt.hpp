#pragma once

// Private to lib/net: setsockopt/getsockopt on a descriptor as Results,
// shared by TcpSocket, TcpStream, TcpListener and UdpSocket (each option is
// one system call; nothing is cached, so what the getters report is what
// the kernel holds: e.g. Linux doubles SO_SNDBUF/SO_RCVBUF).

#include <pollux/core/result.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <cerrno>
#include <chrono>
#include <limits>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>

namespace pollux::net::detail {

inline boost::system::error_code errno_code() noexcept {
    return boost::system::error_code(errno, boost::asio::error::get_system_category());
}

inline Result<void> set_int_option(int fd, int level, int name, int value) noexcept {
    if (::setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
        return errno_code();
    }
    return {};
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
    if (::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) != 0) {
        return errno_code();
    }
    return {};
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
