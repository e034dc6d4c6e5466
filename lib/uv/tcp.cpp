#include <pollux/uv/tcp.hpp>
// Own header first: this proves it is self-contained.

#include <pollux/net/resolve.hpp>

#include "../detail/retry_eintr.hpp"
#include "../detail/tcp_inq.hpp"
#include "../net/sockopt.hpp"
#include "adopt_fd.hpp"
#include "loop_impl.hpp"
#include "stream_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <charconv>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

// TCP's part of a Tcp handle: the socket (an Asio ip::tcp::socket, which
// the readiness waits use and socket() lends), bind, connect and the
// options. Reading, writing, listening and accepting are Stream's
// (stream.cpp); a listening socket stays in socket_ (accept4(2) is made on
// its descriptor).

namespace pollux::uv {

Tcp::Tcp(Loop& loop) : Stream(loop, Kind::tcp), socket_(loop.io_context()) {
}

// Delegating: once Tcp(loop) returned, a throw here runs ~Tcp, which
// unregisters the handle.
Tcp::Tcp(Loop& loop, const boost::asio::ip::tcp& protocol) : Tcp(loop) {
    boost::system::error_code ec;
    socket_.open(protocol, ec);
    if (ec) {
        throw boost::system::system_error(ec, "uv::Tcp");
    }
}

Tcp::~Tcp() {
    destroy_stream();
}

int Tcp::stream_fd() const noexcept {
    return socket_.is_open() ? const_cast<boost::asio::ip::tcp::socket&>(socket_).native_handle()
                             : -1;
}

void Tcp::start_stream_wait(int direction) {
    start_ready_wait(socket_, direction);
}

// Released, then closed: release() takes the descriptor out of the epoll
// set (EPOLL_CTL_DEL), which close() of a socket Asio opened itself leaves
// to the kernel. The kernel removes it only once no descriptor refers to the
// socket any more: a copy sent by an IPC pipe's write2 (or inherited by a
// child) would keep a stale registration under this number, and the next
// descriptor given this number for the same socket (a received copy) could
// not be registered (EEXIST).
void Tcp::close_descriptor() noexcept {
    if (!socket_.is_open()) {
        return;
    }
    boost::system::error_code ec;
    const int fd = socket_.release(ec);
    if (ec) {
        socket_.close(ec);
        return;
    }
    ::close(fd); // never retried on EINTR (lib/detail/retry_eintr.hpp)
}

// recvmsg with TCP_INQ (asked for on the first read), so that a read that
// drained the socket says so (lib/detail/readiness.hpp, "A drained read").
std::size_t Tcp::read_some(char* buf, std::size_t size, boost::system::error_code& ec) {
    const int fd = stream_fd();
    if (!tcp_inq_asked_) {
        tcp_inq_asked_ = true;
        tcp_inq_ = pollux::detail::enable_tcp_inq(fd);
    }
    if (!tcp_inq_) {
        return Stream::read_some(buf, size, ec);
    }
    const ssize_t n = pollux::detail::recv_inq(fd, buf, size, &read_emptied_);
    if (n < 0) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
    }
    if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
    }
    return static_cast<std::size_t>(n);
}

boost::system::error_code Tcp::adopt_descriptor(int fd) {
    ::sockaddr_storage ss{};
    ::socklen_t len = sizeof(ss);
    if (::getsockname(fd, reinterpret_cast<::sockaddr*>(&ss), &len) != 0) {
        const int e = errno;
        ::close(fd);
        return {e, boost::system::system_category()};
    }
    boost::system::error_code ec;
    socket_.assign(
        ss.ss_family == AF_INET6 ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(), fd, ec);
    if (ec) {
        ::close(fd);
        return ec;
    }
    // Asio's own flag too, so that its synchronous calls on socket() report
    // would_block rather than wait.
    socket_.non_blocking(true, ec);
    return ec;
}

boost::system::error_code Tcp::before_listen() {
    if (is_closing() || connected() || connecting()) {
        return boost::asio::error::bad_descriptor;
    }
    if (bind_in_use_) {
        return boost::asio::error::address_in_use;
    }
    if (!socket_.is_open()) {
        // listen(2) on an unbound socket binds an ephemeral port.
        boost::system::error_code ec;
        socket_.open(boost::asio::ip::tcp::v4(), ec);
        if (ec) {
            return ec;
        }
    }
    return {};
}

// ---- setup --------------------------------------------------------------

boost::system::error_code Tcp::bind(const Endpoint& ep) {
    if (is_closing() || listening() || connected() || connecting()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    if (!socket_.is_open()) {
        socket_.open(ep.protocol(), ec);
        if (ec) {
            return ec;
        }
    }
    // libuv sets SO_REUSEADDR on every bound TCP socket (one opened early
    // too).
    socket_.set_option(boost::asio::socket_base::reuse_address(true), ec);
    if (ec) {
        return ec;
    }
    socket_.bind(ep, ec);
    if (ec == boost::asio::error::address_in_use) {
        // libuv's uv__tcp_bind: the error waits for listen or connect, so
        // that a caller binds the same way on every platform.
        bind_in_use_ = true;
        return {};
    }
    return ec;
}

namespace {

// "address:port" with an IP literal ("[v6]:port") and a decimal port up to
// 65535.
std::optional<Tcp::Endpoint> parse_endpoint(std::string_view host_port) {
    auto hp = net::split_host_port(host_port);
    if (!hp) {
        return std::nullopt;
    }
    const std::string& port_text = hp->second;
    unsigned port = 0;
    const char* end = port_text.data() + port_text.size();
    auto [ptr, err] = std::from_chars(port_text.data(), end, port);
    if (port_text.empty() || err != std::errc() || ptr != end || port > 65535) {
        return std::nullopt;
    }
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(hp->first, ec);
    // An IPv6 address goes in brackets: "::1:80" is itself an address, so
    // without them the port is a guess.
    if (ec || (addr.is_v6() && host_port.front() != '[')) {
        return std::nullopt;
    }
    return Tcp::Endpoint(addr, static_cast<unsigned short>(port));
}

} // namespace

boost::system::error_code Tcp::bind(std::string_view host_port) {
    auto ep = parse_endpoint(host_port);
    if (!ep) {
        return boost::asio::error::invalid_argument;
    }
    return bind(*ep);
}

boost::system::error_code Tcp::connect(std::string_view host_port, StatusCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Tcp::connect needs a callback");
    auto ep = parse_endpoint(host_port);
    if (!ep) {
        return boost::asio::error::invalid_argument;
    }
    return connect(*ep, std::move(cb));
}

boost::system::error_code Tcp::open(int fd) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (socket_.is_open() || stream() || listening()) {
        return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
    }
    if (auto ec = detail::adopt_socket_fd(loop(), socket_, fd)) {
        return ec;
    }
    if (detail::socket_has_peer(fd)) {
        stream_opened(true, true, false);
    }
    return {};
}

boost::system::error_code Tcp::close_reset(CloseCallback cb) {
    if (is_closing() || !socket_.is_open()) {
        return boost::asio::error::bad_descriptor;
    }
    if (shutdown_requested()) {
        return boost::asio::error::invalid_argument;
    }
    auto r = net::detail::set_linger_option(stream_fd(), std::chrono::seconds(0));
    if (!r && r.error() != boost::asio::error::invalid_argument) {
        return r.error();
    }
    close(std::move(cb));
    return {};
}

boost::system::error_code Tcp::connect(const Endpoint& ep, StatusCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Tcp::connect needs a callback");
    if (const auto ec = check_connect()) {
        return ec;
    }
    connect_started();
    if (bind_in_use_) {
        // bind's address_in_use, reported as libuv's uv__io_feed does: by
        // the connect callback, in the poll phase.
        boost::asio::post(loop().io_context(), [a = anchor(), cb = std::move(cb)]() mutable {
            Tcp* self = from_anchor<Tcp>(a);
            if (self != nullptr) {
                self->bind_in_use_ = false;
                self->connected_socket(cb, boost::asio::error::address_in_use);
            }
        });
        return {};
    }
    socket_.async_connect(ep,
                          [a = anchor(), cb = std::move(cb)](boost::system::error_code ec) mutable {
                              Tcp* self = from_anchor<Tcp>(a);
                              if (self != nullptr) {
                                  self->connected_socket(cb, ec);
                              }
                          });
    return {};
}

// A failed handle stays a stream, as libuv's: later reads and writes are
// tried on the failed socket (eof, EPIPE), which must not block either.
void Tcp::connected_socket(StatusCallback& cb, boost::system::error_code ec) {
    if (!is_closing()) {
        boost::system::error_code nb;
        socket_.non_blocking(true, nb);
        if (!ec) {
            ec = nb;
        }
    }
    connect_finished(cb, ec);
}

// ---- options and names --------------------------------------------------

boost::system::error_code Tcp::nodelay(bool enable) {
    if (!socket_.is_open()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    socket_.set_option(boost::asio::ip::tcp::no_delay(enable), ec);
    return ec;
}

boost::system::error_code Tcp::keepalive(bool enable, std::chrono::seconds delay) {
    if (!socket_.is_open()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    socket_.set_option(boost::asio::socket_base::keep_alive(enable), ec);
    if (!ec && enable) {
        using KeepIdle = boost::asio::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPIDLE>;
        socket_.set_option(KeepIdle(static_cast<int>(delay.count())), ec);
    }
    return ec;
}

Result<Tcp::Endpoint> Tcp::getsockname() const {
    if (bind_in_use_) {
        return boost::asio::error::address_in_use; // libuv's uv_tcp_getsockname
    }
    boost::system::error_code ec;
    Endpoint ep = socket_.local_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

Result<Tcp::Endpoint> Tcp::getpeername() const {
    if (listening()) {
        // A listener has no peer (libuv: ENOTCONN, from getpeername(2)).
        return boost::system::error_code(boost::asio::error::not_connected);
    }
    boost::system::error_code ec;
    Endpoint ep = socket_.remote_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

} // namespace pollux::uv
