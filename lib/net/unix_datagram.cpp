#include <pollux/net/unix_datagram.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include "../detail/retry_eintr.hpp"
#include "endpoint_of.hpp"
#include "socket_block.hpp"
#include "unix_fds.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace pollux::net {

using datagram_protocol = boost::asio::local::datagram_protocol;

struct UnixDatagram::Impl : detail::SocketBlock<datagram_protocol::socket> {
    using SocketBlock::SocketBlock;
};

namespace {

Result<datagram_protocol::endpoint> endpoint_of(std::string_view path) {
    try {
        return datagram_protocol::endpoint(path);
    } catch (const boost::system::system_error& e) {
        return e.code(); // name_too_long
    }
}

// A new non-blocking, close-on-exec datagram socket on `ex`, made so in
// one call (no window for a fork to inherit it).
Result<datagram_protocol::socket> new_socket(const boost::asio::any_io_executor& ex) {
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return detail::last_error();
    }
    return detail::adopt_fd<datagram_protocol::socket>(ex, datagram_protocol(), fd);
}

// The sender's address recvfrom reported. Linux gives an unbound sender's
// as the family alone, or as nothing at all (length 0), which Asio's
// resize would take for a negative path length: both are the empty path.
datagram_protocol::endpoint endpoint_from(const ::sockaddr_storage& from, ::socklen_t len) {
    datagram_protocol::endpoint ep;
    if (len <= offsetof(::sockaddr_un, sun_path)) {
        return ep;
    }
    const std::size_t n = std::min<std::size_t>(len, ep.capacity());
    std::memcpy(ep.data(), &from, n);
    ep.resize(n);
    return ep;
}

} // namespace

UnixDatagram& UnixDatagram::operator=(UnixDatagram&& o) noexcept {
    if (this != &o) {
        detail::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
    }
    return *this;
}

UnixDatagram::~UnixDatagram() {
    detail::destroy_block(impl_);
}

Result<UnixDatagram> UnixDatagram::bind(std::string_view path,
                                        const boost::asio::any_io_executor& ex) {
    auto ep = endpoint_of(path);
    if (!ep) {
        return ep.error();
    }
    auto s = new_socket(ex);
    if (!s) {
        return s.error();
    }
    boost::system::error_code ec;
    s->bind(*ep, ec);
    if (ec) {
        return ec;
    }
    return UnixDatagram(new Impl(std::move(*s)));
}

Result<UnixDatagram> UnixDatagram::bind(std::string_view path) {
    return bind(path, detail::executor_or_current(nullptr, "pollux::net::UnixDatagram::bind"));
}

Result<UnixDatagram> UnixDatagram::unbound(const boost::asio::any_io_executor& ex) {
    auto s = new_socket(ex);
    if (!s) {
        return s.error();
    }
    return UnixDatagram(new Impl(std::move(*s)));
}

Result<UnixDatagram> UnixDatagram::unbound() {
    return unbound(detail::executor_or_current(nullptr, "pollux::net::UnixDatagram::unbound"));
}

Result<std::pair<UnixDatagram, UnixDatagram>>
UnixDatagram::pair(const boost::asio::any_io_executor& ex) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        return detail::last_error();
    }
    auto a = detail::adopt_fd<datagram_protocol::socket>(ex, datagram_protocol(), fds[0]);
    if (!a) {
        // Never retried on EINTR (see lib/detail/retry_eintr.hpp).
        ::close(fds[1]);
        return a.error();
    }
    auto b = detail::adopt_fd<datagram_protocol::socket>(ex, datagram_protocol(), fds[1]);
    if (!b) {
        return b.error();
    }
    return std::pair<UnixDatagram, UnixDatagram>(UnixDatagram(new Impl(std::move(*a))),
                                                 UnixDatagram(new Impl(std::move(*b))));
}

Result<std::pair<UnixDatagram, UnixDatagram>> UnixDatagram::pair() {
    return pair(detail::executor_or_current(nullptr, "pollux::net::UnixDatagram::pair"));
}

Result<void> UnixDatagram::connect(const endpoint& peer) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixDatagram used after it was moved from");
    // A datagram connect only records the peer, so making it again after
    // EINTR is safe.
    if (pollux::detail::retry_eintr([&] {
            return ::connect(
                impl_->sock.native_handle(), peer.data(), static_cast<::socklen_t>(peer.size()));
        }) != 0) {
        return detail::last_error();
    }
    return {};
}

Result<void> UnixDatagram::connect(std::string_view path) {
    auto ep = endpoint_of(path);
    if (!ep) {
        return ep.error();
    }
    return connect(*ep);
}

UnixDatagramSendToFuture UnixDatagram::send_to(boost::asio::const_buffer buf,
                                               std::string_view path) noexcept {
    auto ep = endpoint_of(path);
    if (!ep) {
        return UnixDatagramSendToFuture({this, buf, endpoint(), ep.error()});
    }
    return UnixDatagramSendToFuture({this, buf, *ep, {}});
}

Poll<Result<std::size_t>>
UnixDatagram::poll_send_to(Context& cx, boost::asio::const_buffer buf, const endpoint& to) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixDatagram used after it was moved from");
    return detail::datagram_poll_send_to(*impl_, cx, buf, to);
}

Poll<Result<std::pair<std::size_t, datagram_protocol::endpoint>>>
UnixDatagram::poll_recv_from(Context& cx, boost::asio::mutable_buffer buf) {
    using R = Result<std::pair<std::size_t, endpoint>>;
    POLLUX_ASSERT(impl_ != nullptr, "UnixDatagram used after it was moved from");
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
        return std::pair<std::size_t, endpoint>(static_cast<std::size_t>(n),
                                                endpoint_from(from, len));
    });
}

Poll<Result<std::size_t>> UnixDatagram::poll_send(Context& cx, boost::asio::const_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixDatagram used after it was moved from");
    return detail::datagram_poll_send(*impl_, cx, buf);
}

Poll<Result<std::size_t>> UnixDatagram::poll_recv(Context& cx, boost::asio::mutable_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixDatagram used after it was moved from");
    return detail::datagram_poll_recv(*impl_, cx, buf);
}

Poll<Result<std::size_t>> UnixDatagram::poll_send_with_fds(Context& cx,
                                                           boost::asio::const_buffer buf,
                                                           std::span<const int> fds) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixDatagram used after it was moved from");
    return detail::poll_io(*impl_, detail::Direction::write, cx, [&] {
        return detail::send_with_fds(impl_->sock.native_handle(), buf, fds);
    });
}

Poll<Result<RecvFds>> UnixDatagram::poll_recv_with_fds(Context& cx,
                                                       boost::asio::mutable_buffer buf,
                                                       std::size_t max_fds) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixDatagram used after it was moved from");
    return detail::poll_io(*impl_, detail::Direction::read, cx, [&] {
        return detail::recv_with_fds(impl_->sock.native_handle(), buf, max_fds);
    });
}

Result<datagram_protocol::endpoint> UnixDatagram::local_addr() const {
    return detail::local_endpoint_of(impl_->sock);
}

Result<datagram_protocol::endpoint> UnixDatagram::peer_addr() const {
    return detail::remote_endpoint_of(impl_->sock);
}

Result<UCred> UnixDatagram::peer_cred() const {
    return detail::peer_cred(impl_->sock.native_handle());
}

datagram_protocol::socket& UnixDatagram::socket() noexcept {
    return impl_->sock;
}

} // namespace pollux::net
