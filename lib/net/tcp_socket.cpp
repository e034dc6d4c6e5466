#include <pollux/net/tcp_socket.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include "connect.hpp"
#include "from_fd.hpp"
#include "socket_block.hpp"
#include "sockopt.hpp"
#include "tcp_impl.hpp"

#include <boost/asio/error.hpp>

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

// The socket is a bare descriptor until listen or connect: Asio objects
// register their descriptor with the reactor when opened or assigned, and
// an acceptor cannot take a socket's registration over, so the descriptor
// is wrapped once, in the kind of object it ends as.

namespace pollux::net {

using tcp = boost::asio::ip::tcp;

namespace {

boost::system::error_code bad_fd() {
    return make_error_code(boost::asio::error::bad_descriptor);
}

} // namespace

Result<TcpSocket> TcpSocket::open(bool v6, const boost::asio::any_io_executor& ex) {
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return Result<TcpSocket>(boost::system::in_place_error, detail::errno_code());
    }
    return TcpSocket(fd, v6, ex);
}

Result<TcpSocket> TcpSocket::new_v4(const boost::asio::any_io_executor& ex) {
    return open(false, ex);
}

Result<TcpSocket> TcpSocket::new_v4() {
    return open(false, detail::executor_or_current(nullptr, "pollux::net::TcpSocket::new_v4"));
}

Result<TcpSocket> TcpSocket::new_v6(const boost::asio::any_io_executor& ex) {
    return open(true, ex);
}

Result<TcpSocket> TcpSocket::new_v6() {
    return open(true, detail::executor_or_current(nullptr, "pollux::net::TcpSocket::new_v6"));
}

Result<TcpSocket> TcpSocket::from_fd(int fd, const boost::asio::any_io_executor& ex) {
    using Out = Result<TcpSocket>;
    auto v6 = detail::check_inet_fd(fd, SOCK_STREAM, IPPROTO_TCP);
    if (!v6) {
        return Out(boost::system::in_place_error, v6.error());
    }
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        return Out(boost::system::in_place_error, detail::errno_code());
    }
    detail::set_cloexec(fd);
    return TcpSocket(fd, *v6, ex);
}

Result<TcpSocket> TcpSocket::from_fd(int fd) {
    return from_fd(fd, detail::executor_or_current(nullptr, "pollux::net::TcpSocket::from_fd"));
}

TcpSocket& TcpSocket::operator=(TcpSocket&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) {
            ::close(fd_); // never retried on EINTR (lib/detail/retry_eintr.hpp)
        }
        fd_ = std::exchange(o.fd_, -1);
        v6_ = o.v6_;
        ex_ = std::move(o.ex_);
    }
    return *this;
}

TcpSocket::~TcpSocket() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

// ---- options -------------------------------------------------------------

Result<void> TcpSocket::set_reuseaddr(bool on) {
    return detail::set_int_option(fd_, SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0);
}

Result<bool> TcpSocket::reuseaddr() const {
    return detail::get_bool_option(fd_, SOL_SOCKET, SO_REUSEADDR);
}

Result<void> TcpSocket::set_reuseport(bool on) {
    return detail::set_int_option(fd_, SOL_SOCKET, SO_REUSEPORT, on ? 1 : 0);
}

Result<bool> TcpSocket::reuseport() const {
    return detail::get_bool_option(fd_, SOL_SOCKET, SO_REUSEPORT);
}

Result<void> TcpSocket::set_send_buffer_size(std::uint32_t size) {
    return detail::set_uint_option(fd_, SOL_SOCKET, SO_SNDBUF, size);
}

Result<std::uint32_t> TcpSocket::send_buffer_size() const {
    return detail::get_uint_option(fd_, SOL_SOCKET, SO_SNDBUF);
}

Result<void> TcpSocket::set_recv_buffer_size(std::uint32_t size) {
    return detail::set_uint_option(fd_, SOL_SOCKET, SO_RCVBUF, size);
}

Result<std::uint32_t> TcpSocket::recv_buffer_size() const {
    return detail::get_uint_option(fd_, SOL_SOCKET, SO_RCVBUF);
}

Result<void> TcpSocket::set_nodelay(bool on) {
    return detail::set_int_option(fd_, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

Result<bool> TcpSocket::nodelay() const {
    return detail::get_bool_option(fd_, IPPROTO_TCP, TCP_NODELAY);
}

Result<void> TcpSocket::set_keepalive(bool on) {
    return detail::set_int_option(fd_, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
}

Result<bool> TcpSocket::keepalive() const {
    return detail::get_bool_option(fd_, SOL_SOCKET, SO_KEEPALIVE);
}

Result<void> TcpSocket::set_keepalive_idle(std::chrono::seconds idle) {
    return detail::set_seconds_option(fd_, IPPROTO_TCP, TCP_KEEPIDLE, idle);
}

Result<std::chrono::seconds> TcpSocket::keepalive_idle() const {
    return detail::get_seconds_option(fd_, IPPROTO_TCP, TCP_KEEPIDLE);
}

Result<void> TcpSocket::set_keepalive_interval(std::chrono::seconds interval) {
    return detail::set_seconds_option(fd_, IPPROTO_TCP, TCP_KEEPINTVL, interval);
}

Result<std::chrono::seconds> TcpSocket::keepalive_interval() const {
    return detail::get_seconds_option(fd_, IPPROTO_TCP, TCP_KEEPINTVL);
}

Result<void> TcpSocket::set_keepalive_retries(std::uint32_t retries) {
    return detail::set_uint_option(fd_, IPPROTO_TCP, TCP_KEEPCNT, retries);
}

Result<std::uint32_t> TcpSocket::keepalive_retries() const {
    return detail::get_uint_option(fd_, IPPROTO_TCP, TCP_KEEPCNT);
}

Result<void> TcpSocket::set_linger(std::optional<std::chrono::seconds> linger) {
    return detail::set_linger_option(fd_, linger);
}

Result<std::optional<std::chrono::seconds>> TcpSocket::linger() const {
    return detail::get_linger_option(fd_);
}

// ---- bind, listen, connect -------------------------------------------------

Result<void> TcpSocket::bind(const endpoint& ep) {
    if (::bind(fd_, ep.data(), static_cast<::socklen_t>(ep.size())) != 0) {
        return detail::errno_code();
    }
    return {};
}

Result<tcp::endpoint> TcpSocket::local_addr() const {
    endpoint ep;
    ::socklen_t len = static_cast<::socklen_t>(ep.capacity());
    if (::getsockname(fd_, ep.data(), &len) != 0) {
        return Result<endpoint>(boost::system::in_place_error, detail::errno_code());
    }
    ep.resize(len);
    return ep;
}

Result<TcpListener> TcpSocket::listen(std::uint32_t backlog) && {
    using Out = Result<TcpListener>;
    TcpSocket self(std::move(*this)); // consumed: closed on every error below
    if (self.fd_ < 0) {
        return Out(boost::system::in_place_error, bad_fd());
    }
    const int n =
        backlog > static_cast<std::uint32_t>(INT_MAX) ? INT_MAX : static_cast<int>(backlog);
    if (::listen(self.fd_, n) != 0) {
        return Out(boost::system::in_place_error, detail::errno_code());
    }
    tcp::acceptor a(self.ex_);
    boost::system::error_code ec;
    a.assign(self.v6_ ? tcp::v6() : tcp::v4(), self.fd_, ec);
    if (ec) {
        return Out(boost::system::in_place_error, ec);
    }
    (void)self.release(); // the acceptor owns it now
    return TcpListener::from_acceptor(std::move(a));
}

TcpConnectFuture TcpSocket::connect(const endpoint& ep) && {
    TcpSocket self(std::move(*this));
    if (self.fd_ < 0) {
        return detail::failed_connect(bad_fd(), self.ex_);
    }
    tcp::socket s(self.ex_);
    boost::system::error_code ec;
    s.assign(self.v6_ ? tcp::v6() : tcp::v4(), self.fd_, ec);
    if (ec) {
        return detail::failed_connect(ec, self.ex_);
    }
    (void)self.release();
    return detail::connect_socket(std::move(s), ep);
}

} // namespace pollux::net
