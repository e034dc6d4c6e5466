#include <pollux/sim/tcp_listener.hpp>
#include <pollux/sim/tcp_stream.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/sim/runtime.hpp>

#include "network_state.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <stdexcept>

namespace pollux::sim {

namespace {

using boost::asio::ip::tcp;
namespace error = boost::asio::error;

// An Asio error as an error_code: basic_errors, an unscoped enum, would
// also convert to a Result<std::size_t>'s value.
boost::system::error_code err(error::basic_errors e) noexcept {
    return make_error_code(e);
}

detail::NetworkState& current_network(const char* what) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) {
        throw std::logic_error(std::string(what) + " used outside a pollux::sim simulation");
    }
    return rt->network().state();
}

void store_waker(Waker& slot, Context& cx) {
    if (!slot.will_wake(cx.waker())) {
        slot = cx.waker();
    }
}

// Closes side 0 of a connection whose connect future was dropped after the
// listener took it, so that the accepting side reads end of stream.
struct HalfOpenGuard {
    std::shared_ptr<detail::Connection> conn;
    HalfOpenGuard() = default;
    HalfOpenGuard(const HalfOpenGuard&) = delete;
    HalfOpenGuard& operator=(const HalfOpenGuard&) = delete;
    ~HalfOpenGuard() {
        if (conn && conn->net != nullptr && !conn->net->shut_down) {
            conn->net->close_end(conn, 0);
        }
    }
};

} // namespace

// The handshake: the SYN crosses to the destination host; with no listener
// there, a RST comes back (connection_refused); else the connection joins the
// listener's backlog and the SYN-ACK comes back. Each crossing obeys the
// link's latency, loss and partitions.
Async<Result<TcpStream>> TcpStream::connect(endpoint ep) {
    detail::NetworkState& net = current_network("pollux::sim::TcpStream::connect");
    const HostId me = Runtime::current_host();
    HostId dst = me;
    if (!ep.address().is_loopback()) {
        auto h = net.find_host(ep.address());
        if (!h) {
            co_return Result<TcpStream>(err(error::host_unreachable));
        }
        dst = *h;
    }
    const bool arrived = co_await net.cross(me, dst, nullptr, 0);
    (void)arrived; // a SYN has no connection to be reset
    auto it = net.listeners.find({dst, ep.port()});
    if (it == net.listeners.end()) {
        co_await net.cross(dst, me, nullptr, 0); // the RST
        co_return Result<TcpStream>(err(error::connection_refused));
    }
    detail::Listener& l = *it->second;
    HalfOpenGuard guard;
    guard.conn = std::make_shared<detail::Connection>();
    auto& c = *guard.conn;
    c.net = &net;
    c.host[0] = me;
    c.host[1] = dst;
    const auto local_ip = ep.address().is_loopback() ? ep.address() : net.hosts[me];
    c.ep[0] = endpoint(local_ip, net.ephemeral_port(me));
    c.ep[1] = ep;
    net.add_connection(guard.conn);
    l.backlog.push_back(guard.conn);
    std::exchange(l.acceptor, Waker::noop()).wake();
    co_await net.cross(dst, me, guard.conn, 1); // the SYN-ACK
    if (c.reset) {
        co_return Result<TcpStream>(err(error::connection_reset));
    }
    co_return Result<TcpStream>(TcpStream(std::move(guard.conn), 0));
}

TcpStream::TcpStream(std::shared_ptr<detail::Connection> conn, int side) noexcept
    : conn_(std::move(conn)), side_(side) {
}

TcpStream& TcpStream::operator=(TcpStream&& o) noexcept {
    if (this != &o) {
        close();
        conn_ = std::move(o.conn_);
        side_ = o.side_;
    }
    return *this;
}

TcpStream::~TcpStream() {
    close();
}

void TcpStream::close() noexcept {
    if (!conn_) {
        return;
    }
    auto conn = std::move(conn_);
    if (conn->net != nullptr && !conn->net->shut_down) {
        conn->net->close_end(conn, side_);
    } else {
        conn->closed[side_] = true;
    }
}

Poll<Result<std::size_t>> TcpStream::poll_read(Context& cx, boost::asio::mutable_buffer buf) {
    if (!conn_) {
        return Ready(Result<std::size_t>(err(error::bad_descriptor)));
    }
    detail::Connection& c = *conn_;
    if (c.reset) {
        return Ready(Result<std::size_t>(err(error::connection_reset)));
    }
    detail::Direction& in = c.dir[1 - side_];
    if (buf.size() == 0) {
        return Ready(Result<std::size_t>(std::size_t{0}));
    }
    if (!in.readable.empty()) {
        const std::size_t n = std::min(buf.size(), in.readable.size());
        auto* out = static_cast<char*>(buf.data());
        std::copy_n(in.readable.begin(), n, out);
        in.readable.erase(in.readable.begin(),
                          in.readable.begin() + static_cast<std::ptrdiff_t>(n));
        in.unread -= n;
        std::exchange(in.writer, Waker::noop()).wake(); // the window reopened
        return Ready(Result<std::size_t>(n));
    }
    if (in.eof) {
        return Ready(Result<std::size_t>(std::size_t{0}));
    }
    store_waker(in.reader, cx);
    return Pending{};
}

Poll<Result<std::size_t>> TcpStream::poll_write(Context& cx, boost::asio::const_buffer buf) {
    if (!conn_) {
        return Ready(Result<std::size_t>(err(error::bad_descriptor)));
    }
    detail::Connection& c = *conn_;
    if (c.reset) {
        return Ready(Result<std::size_t>(err(error::connection_reset)));
    }
    detail::Direction& out = c.dir[side_];
    if (out.fin_sent || c.closed[1 - side_] || c.net == nullptr) {
        return Ready(Result<std::size_t>(err(error::broken_pipe)));
    }
    if (buf.size() == 0) {
        return Ready(Result<std::size_t>(std::size_t{0}));
    }
    const std::size_t space = Network::window - out.unread;
    if (space == 0) {
        store_waker(out.writer, cx);
        return Pending{};
    }
    const std::size_t n = std::min(buf.size(), space);
    const auto* p = static_cast<const char*>(buf.data());
    for (std::size_t off = 0; off < n; off += Network::mss) {
        const std::size_t len = std::min(Network::mss, n - off);
        detail::Segment seg{out.next_seq, std::vector<char>(p + off, p + off + len), false};
        out.next_seq += len;
        c.net->send(conn_, side_, std::move(seg));
    }
    out.unread += n;
    return Ready(Result<std::size_t>(n));
}

Poll<Result<void>> TcpStream::poll_flush(Context&) {
    if (!conn_) {
        return Ready(Result<void>(err(error::bad_descriptor)));
    }
    if (conn_->reset) {
        return Ready(Result<void>(err(error::connection_reset)));
    }
    return Ready(Result<void>());
}

Poll<Result<void>> TcpStream::poll_shutdown(Context&) {
    if (!conn_) {
        return Ready(Result<void>(err(error::bad_descriptor)));
    }
    detail::Connection& c = *conn_;
    if (c.reset) {
        return Ready(Result<void>(err(error::connection_reset)));
    }
    detail::Direction& out = c.dir[side_];
    if (!out.fin_sent && c.net != nullptr) {
        out.fin_sent = true;
        c.net->send(conn_, side_, detail::Segment{out.next_seq, {}, true});
    }
    return Ready(Result<void>());
}

Result<TcpStream::endpoint> TcpStream::peer_addr() const {
    if (!conn_) {
        return err(error::bad_descriptor);
    }
    return conn_->ep[1 - side_];
}

Result<TcpStream::endpoint> TcpStream::local_addr() const {
    if (!conn_) {
        return err(error::bad_descriptor);
    }
    return conn_->ep[side_];
}

// TcpListener.

TcpListener::TcpListener(std::shared_ptr<detail::Listener> l) noexcept : l_(std::move(l)) {
}

TcpListener& TcpListener::operator=(TcpListener&& o) noexcept {
    if (this != &o) {
        close();
        l_ = std::move(o.l_);
    }
    return *this;
}

TcpListener::~TcpListener() {
    close();
}

// Unbinds, and resets the connections nobody accepted (their connect, if
// still waiting for the SYN-ACK, reports connection_reset).
void TcpListener::close() noexcept {
    if (!l_) {
        return;
    }
    auto l = std::move(l_);
    l->closed = true;
    if (l->net != nullptr) {
        l->net->listeners.erase({l->host, l->ep.port()});
    }
    for (auto& c : l->backlog) {
        c->reset = true;
        c->wake_all();
    }
    l->backlog.clear();
}

Result<TcpListener> TcpListener::bind(const endpoint& ep) {
    detail::NetworkState& net = current_network("pollux::sim::TcpListener::bind");
    const HostId me = Runtime::current_host();
    const auto& addr = ep.address();
    if (!addr.is_loopback() && !addr.is_unspecified() && addr != net.hosts[me]) {
        return boost::system::errc::make_error_code(boost::system::errc::address_not_available);
    }
    std::uint16_t port = ep.port();
    if (port == 0) {
        port = net.ephemeral_port(me);
    } else if (net.listeners.count({me, port}) != 0) {
        return err(error::address_in_use);
    }
    auto l = std::make_shared<detail::Listener>();
    l->net = &net;
    l->host = me;
    l->ep = endpoint(addr, port);
    net.listeners[{me, port}] = l.get();
    return TcpListener(std::move(l));
}

Poll<Result<std::pair<TcpStream, TcpListener::endpoint>>> TcpListener::poll_accept(Context& cx) {
    using Out = Result<std::pair<TcpStream, endpoint>>;
    if (!l_) {
        return Ready(Out(err(error::bad_descriptor)));
    }
    while (!l_->backlog.empty()) {
        std::shared_ptr<detail::Connection> c = std::move(l_->backlog.front());
        l_->backlog.pop_front();
        if (c->reset) {
            continue; // reset while queued: accept skips it, as Linux does
        }
        endpoint peer = c->ep[0];
        return Ready(Out(std::pair<TcpStream, endpoint>(TcpStream(std::move(c), 1), peer)));
    }
    store_waker(l_->acceptor, cx);
    return Pending{};
}

Result<TcpListener::endpoint> TcpListener::local_addr() const {
    if (!l_) {
        return err(error::bad_descriptor);
    }
    return l_->ep;
}

} // namespace pollux::sim
