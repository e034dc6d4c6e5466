#include <pollux/net/tcp_listener.hpp>
#include <pollux/net/tcp_stream.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/net/resolve.hpp>
#include <pollux/net/tcp_socket.hpp>

#include "connect.hpp"
#include "endpoint_of.hpp"
#include "from_fd.hpp"
#include "socket_block.hpp"
#include "sockopt.hpp"
#include "tcp_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>

#include <cstring>
#include <netinet/in.h>
#include <optional>
#include <vector>

namespace pollux::net {

using tcp = boost::asio::ip::tcp;

// `tcp_inq`: TCP_INQ is set, so reads tell when they emptied the socket
// (lib/detail/readiness.hpp, "A drained read"). Asked for once per stream,
// on a socket that may not be connected yet.
struct TcpStream::Impl : detail::SocketBlock<tcp::socket> {
    explicit Impl(tcp::socket&& s)
        : SocketBlock(std::move(s)), tcp_inq(pollux::detail::enable_tcp_inq(sock.native_handle())) {
    }
    bool tcp_inq;
};

struct TcpListener::Impl : detail::ListenerBlock<tcp::acceptor> {
    using ListenerBlock::ListenerBlock;
};

namespace {

constexpr int listen_backlog = 1024;

boost::system::error_code invalid_host_port() {
    return make_error_code(boost::asio::error::invalid_argument);
}

// Adopts `fd` as from_fd does: a TCP socket over IPv4 or IPv6, listening
// (`listening`) or not, wrapped in `Sock` (socket or acceptor) on `ex`,
// non-blocking and close-on-exec. `fd` stays the caller's on error.
template <class Sock>
Result<Sock> adopt_tcp_fd(int fd, bool listening, const boost::asio::any_io_executor& ex) {
    auto v6 = detail::check_inet_fd(fd, SOCK_STREAM, IPPROTO_TCP);
    if (!v6) {
        return Result<Sock>(boost::system::in_place_error, v6.error());
    }
    auto acc = detail::get_bool_option(fd, SOL_SOCKET, SO_ACCEPTCONN);
    if (!acc) {
        return Result<Sock>(boost::system::in_place_error, acc.error());
    }
    if (*acc != listening) {
        return Result<Sock>(boost::system::in_place_error, invalid_host_port());
    }
    return detail::assign_fd<Sock>(fd, *v6, ex);
}

} // namespace

// ---- TcpStream ---------------------------------------------------------------

TcpStream& TcpStream::operator=(TcpStream&& o) noexcept {
    if (this != &o) {
        detail::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
    }
    return *this;
}

TcpStream::~TcpStream() {
    detail::destroy_block(impl_);
}

Result<TcpStream> TcpStream::from_socket(tcp::socket sock) {
    boost::system::error_code ec;
    sock.non_blocking(true, ec);
    if (ec) {
        return ec;
    }
    detail::set_cloexec(sock.native_handle());
    return TcpStream(new Impl(std::move(sock)));
}

Result<TcpStream> TcpStream::from_fd(int fd, const boost::asio::any_io_executor& ex) {
    auto s = adopt_tcp_fd<tcp::socket>(fd, false, ex);
    if (!s) {
        return Result<TcpStream>(boost::system::in_place_error, s.error());
    }
    return TcpStream(new Impl(std::move(*s)));
}

Result<TcpStream> TcpStream::from_fd(int fd) {
    return from_fd(fd, detail::executor_or_current(nullptr, "pollux::net::TcpStream::from_fd"));
}

Poll<Result<std::size_t>> TcpStream::poll_read(Context& cx, boost::asio::mutable_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "TcpStream used after it was moved from");
    return detail::stream_poll_read(*impl_, cx, buf, impl_->tcp_inq);
}

Poll<Result<std::size_t>> TcpStream::poll_write(Context& cx, boost::asio::const_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "TcpStream used after it was moved from");
    return detail::stream_poll_write(*impl_, cx, buf);
}

Poll<Result<void>> TcpStream::poll_read_ready(Context& cx) {
    POLLUX_ASSERT(impl_ != nullptr, "TcpStream used after it was moved from");
    return detail::stream_poll_ready(*impl_, detail::Direction::read, cx);
}

Poll<Result<void>> TcpStream::poll_write_ready(Context& cx) {
    POLLUX_ASSERT(impl_ != nullptr, "TcpStream used after it was moved from");
    return detail::stream_poll_ready(*impl_, detail::Direction::write, cx);
}

Result<std::size_t> TcpStream::try_read(boost::asio::mutable_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "TcpStream used after it was moved from");
    return detail::stream_try_read(*impl_, buf, impl_->tcp_inq);
}

Result<std::size_t> TcpStream::try_write(boost::asio::const_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "TcpStream used after it was moved from");
    return detail::stream_try_write(*impl_, buf);
}

Poll<Result<void>> TcpStream::poll_flush(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Poll<Result<void>> TcpStream::poll_shutdown(Context&) {
    POLLUX_ASSERT(impl_ != nullptr, "TcpStream used after it was moved from");
    return detail::stream_poll_shutdown(*impl_);
}

void detail::shutdown_write_now(TcpStream& s) noexcept {
    if (s.impl_ != nullptr) {
        detail::stream_shutdown_write_now(*s.impl_);
    }
}

Result<tcp::endpoint> TcpStream::peer_addr() const {
    return detail::remote_endpoint_of(impl_->sock);
}

Result<tcp::endpoint> TcpStream::local_addr() const {
    return detail::local_endpoint_of(impl_->sock);
}

Result<void> TcpStream::set_nodelay(bool on) {
    boost::system::error_code ec;
    impl_->sock.set_option(tcp::no_delay(on), ec);
    if (ec) {
        return ec;
    }
    return {};
}

Result<bool> TcpStream::nodelay() const {
    boost::system::error_code ec;
    tcp::no_delay opt;
    impl_->sock.get_option(opt, ec);
    if (ec) {
        return Result<bool>(boost::system::in_place_error, ec);
    }
    return opt.value();
}

Result<void> TcpStream::set_linger(std::optional<std::chrono::seconds> linger) {
    return detail::set_linger_option(impl_->sock.native_handle(), linger);
}

Result<std::optional<std::chrono::seconds>> TcpStream::linger() const {
    return detail::get_linger_option(impl_->sock.native_handle());
}

Result<void> TcpStream::set_ttl(std::uint32_t ttl) {
    return detail::set_ttl_option(impl_->sock.native_handle(), ttl);
}

Result<std::uint32_t> TcpStream::ttl() const {
    return detail::get_ttl_option(impl_->sock.native_handle());
}

Result<void> TcpStream::set_keepalive(bool on) {
    return detail::set_int_option(
        impl_->sock.native_handle(), SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
}

Result<bool> TcpStream::keepalive() const {
    return detail::get_bool_option(impl_->sock.native_handle(), SOL_SOCKET, SO_KEEPALIVE);
}

void TcpStream::close_reset() noexcept {
    if (impl_ != nullptr) {
        (void)detail::set_linger_option(impl_->sock.native_handle(), std::chrono::seconds(0));
        detail::destroy_block(std::exchange(impl_, nullptr));
    }
}

tcp::socket& TcpStream::socket() noexcept {
    return impl_->sock;
}

// ---- TcpConnectFuture --------------------------------------------------------

// The connect state machine: [resolving] -> for each endpoint: open ->
// connecting -> connected (Ready) or failed (next endpoint; the last error
// is reported when none is left).
struct TcpConnectFuture::State {
    std::optional<boost::asio::any_io_executor> ex;
    std::optional<ResolveFuture> resolving;
    std::vector<tcp::endpoint> endpoints;
    std::size_t next = 0;
    detail::ConnectAttempt<TcpStream::Impl> attempt;
    boost::system::error_code last_error = make_error_code(boost::asio::error::host_not_found);
    bool done = false;
};

TcpConnectFuture& TcpConnectFuture::operator=(TcpConnectFuture&& o) noexcept {
    if (this != &o) {
        delete st_;
        st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
}

TcpConnectFuture::~TcpConnectFuture() {
    delete st_;
}

Poll<TcpConnectFuture::Output> TcpConnectFuture::poll(Context& cx) {
    POLLUX_ASSERT(st_ != nullptr && !st_->done,
                  "TcpStream::connect polled after it returned Ready");
    State& st = *st_;
    auto fail = [&](boost::system::error_code ec) -> Poll<Output> {
        st.done = true;
        st.attempt.reset();
        return Ready<Output>{Output(boost::system::in_place_error, ec)};
    };
    if (st.resolving) {
        auto p = st.resolving->poll(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        st.resolving.reset();
        if (!p.value()) {
            return fail(p.value().error());
        }
        st.endpoints = std::move(*p.value());
    }
    if (!st.ex) {
        st.ex.emplace(detail::executor_or_current(nullptr, "pollux::net::TcpStream::connect"));
    }
    for (;;) {
        if (!st.attempt.active()) {
            if (st.next >= st.endpoints.size()) {
                return fail(st.last_error);
            }
            auto opened = st.attempt.open(*st.ex, st.endpoints[st.next].protocol());
            if (!opened) {
                st.last_error = opened.error();
                ++st.next;
                continue;
            }
        }
        auto p = st.attempt.poll(cx, st.endpoints[st.next]);
        if (p.is_pending()) {
            return Pending{};
        }
        if (p.value()) {
            st.done = true;
            return Ready<Output>{Output(TcpStream(st.attempt.release()))};
        }
        st.last_error = p.value().error();
        st.attempt.reset();
        ++st.next;
    }
}

TcpConnectFuture detail::connect_socket(tcp::socket s, const tcp::endpoint& ep) {
    auto* st = new TcpConnectFuture::State();
    st->endpoints.push_back(ep);
    st->ex.emplace(s.get_executor());
    st->attempt.adopt(std::move(s));
    return TcpConnectFuture(st);
}

TcpConnectFuture detail::failed_connect(boost::system::error_code ec,
                                        const boost::asio::any_io_executor& ex) {
    auto* st = new TcpConnectFuture::State();
    st->ex.emplace(ex);
    st->last_error = ec; // no endpoint: the first poll reports it
    return TcpConnectFuture(st);
}

TcpConnectFuture TcpStream::connect(const tcp::endpoint& ep) {
    auto* st = new TcpConnectFuture::State();
    st->endpoints.push_back(ep);
    return TcpConnectFuture(st);
}

TcpConnectFuture TcpStream::connect(const tcp::endpoint& ep,
                                    const boost::asio::any_io_executor& ex) {
    auto* st = new TcpConnectFuture::State();
    st->endpoints.push_back(ep);
    st->ex.emplace(ex);
    return TcpConnectFuture(st);
}

TcpConnectFuture TcpStream::connect(std::string_view host_port) {
    auto* st = new TcpConnectFuture::State();
    if (auto hp = split_host_port(host_port)) {
        st->resolving.emplace(resolve(hp->first, hp->second));
    } else {
        st->last_error = invalid_host_port(); // reported by the first poll
    }
    return TcpConnectFuture(st);
}

// ---- TcpListener -------------------------------------------------------------

TcpListener& TcpListener::operator=(TcpListener&& o) noexcept {
    if (this != &o) {
        detail::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
        closed_ = o.closed_;
    }
    return *this;
}

void TcpListener::close() noexcept {
    detail::destroy_block(std::exchange(impl_, nullptr));
    closed_ = true;
}

TcpListener::~TcpListener() {
    detail::destroy_block(impl_);
}

// tokio's defaults: SO_REUSEADDR (a restarted server rebinds a port whose
// old connections are in TIME_WAIT) and a backlog of 1024.
Result<TcpListener> TcpListener::bind(const tcp::endpoint& ep,
                                      const boost::asio::any_io_executor& ex) {
    auto sock = ep.address().is_v6() ? TcpSocket::new_v6(ex) : TcpSocket::new_v4(ex);
    if (!sock) {
        return Result<TcpListener>(boost::system::in_place_error, sock.error());
    }
    auto r = sock->set_reuseaddr(true);
    if (r) {
        r = sock->bind(ep);
    }
    if (!r) {
        return Result<TcpListener>(boost::system::in_place_error, r.error());
    }
    return std::move(*sock).listen(listen_backlog);
}

Result<TcpListener> TcpListener::from_acceptor(tcp::acceptor a) {
    boost::system::error_code ec;
    a.non_blocking(true, ec);
    if (ec) {
        return Result<TcpListener>(boost::system::in_place_error, ec);
    }
    detail::set_cloexec(a.native_handle());
    return TcpListener(new Impl(std::move(a)));
}

Result<TcpListener> TcpListener::from_fd(int fd, const boost::asio::any_io_executor& ex) {
    auto a = adopt_tcp_fd<tcp::acceptor>(fd, true, ex);
    if (!a) {
        return Result<TcpListener>(boost::system::in_place_error, a.error());
    }
    return TcpListener(new Impl(std::move(*a)));
}

Result<TcpListener> TcpListener::from_fd(int fd) {
    return from_fd(fd, detail::executor_or_current(nullptr, "pollux::net::TcpListener::from_fd"));
}

Result<TcpListener> TcpListener::bind(const tcp::endpoint& ep) {
    return bind(ep, detail::executor_or_current(nullptr, "pollux::net::TcpListener::bind"));
}

Result<TcpListener> TcpListener::bind(std::string_view host_port,
                                      const boost::asio::any_io_executor& ex) {
    auto hp = split_host_port(host_port);
    if (!hp) {
        return invalid_host_port();
    }
    boost::system::error_code ec;
    tcp::resolver resolver(ex);
    // A blocking lookup, documented; numeric hosts and ports resolve
    // without one.
    auto results = resolver.resolve(hp->first, hp->second, ec);
    if (ec) {
        return ec;
    }
    boost::system::error_code last = make_error_code(boost::asio::error::host_not_found);
    for (const auto& entry : results) {
        auto l = bind(entry.endpoint(), ex);
        if (l) {
            return l;
        }
        last = l.error();
    }
    return last;
}

Result<TcpListener> TcpListener::bind(std::string_view host_port) {
    return bind(host_port, detail::executor_or_current(nullptr, "pollux::net::TcpListener::bind"));
}

Poll<Result<std::pair<TcpStream, tcp::endpoint>>> TcpListener::poll_accept(Context& cx) {
    using Out = Result<std::pair<TcpStream, tcp::endpoint>>;
    if (impl_ == nullptr && closed_) {
        return Ready<Out>{Out(boost::system::in_place_error, boost::asio::error::bad_descriptor)};
    }
    POLLUX_ASSERT(impl_ != nullptr, "TcpListener used after it was moved from");
    auto p = detail::poll_accept_fd(*impl_, cx);
    if (p.is_pending()) {
        return Pending{};
    }
    if (!p.value()) {
        return Ready<Out>{Out(boost::system::in_place_error, p.value().error())};
    }
    const detail::Accepted& a = *p.value();
    tcp::endpoint peer;
    std::memcpy(peer.data(), &a.addr, std::min<std::size_t>(a.len, peer.capacity()));
    peer.resize(a.len);
    auto s = detail::adopt_fd<tcp::socket>(impl_->sock.get_executor(), peer.protocol(), a.fd);
    if (!s) {
        return Ready<Out>{Out(boost::system::in_place_error, s.error())};
    }
    return Ready<Out>{Out(
        std::pair<TcpStream, tcp::endpoint>(TcpStream(new TcpStream::Impl(std::move(*s))), peer))};
}

Result<tcp::endpoint> TcpListener::local_addr() const {
    if (impl_ == nullptr && closed_) {
        return Result<tcp::endpoint>(boost::system::in_place_error,
                                     boost::asio::error::bad_descriptor);
    }
    return detail::local_endpoint_of(impl_->sock);
}

tcp::acceptor& TcpListener::acceptor() noexcept {
    return impl_->sock;
}

} // namespace pollux::net
