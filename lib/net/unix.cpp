#include <pollux/net/unix_listener.hpp>
#include <pollux/net/unix_stream.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include "connect.hpp"
#include "socket_block.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <sys/socket.h>

namespace pollux::net {

using stream_protocol = boost::asio::local::stream_protocol;

struct UnixStream::Impl : detail::SocketBlock<stream_protocol::socket> {
    using SocketBlock::SocketBlock;
};

struct UnixListener::Impl : detail::ListenerBlock<stream_protocol::acceptor> {
    using ListenerBlock::ListenerBlock;
};

// ---- UnixStream --------------------------------------------------------------

UnixStream& UnixStream::operator=(UnixStream&& o) noexcept {
    if (this != &o) {
        detail::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
    }
    return *this;
}

UnixStream::~UnixStream() {
    detail::destroy_block(impl_);
}

Result<std::pair<UnixStream, UnixStream>> UnixStream::pair(const boost::asio::any_io_executor& ex) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        return detail::last_error();
    }
    auto a = detail::adopt_fd<stream_protocol::socket>(ex, stream_protocol(), fds[0]);
    if (!a) {
        // Never retried on EINTR (see lib/detail/retry_eintr.hpp).
        ::close(fds[1]);
        return a.error();
    }
    auto b = detail::adopt_fd<stream_protocol::socket>(ex, stream_protocol(), fds[1]);
    if (!b) {
        return b.error();
    }
    return std::pair<UnixStream, UnixStream>(UnixStream(new Impl(std::move(*a))),
                                             UnixStream(new Impl(std::move(*b))));
}

Result<std::pair<UnixStream, UnixStream>> UnixStream::pair() {
    return pair(detail::executor_or_current(nullptr, "pollux::net::UnixStream::pair"));
}

Poll<Result<std::size_t>> UnixStream::poll_read(Context& cx, boost::asio::mutable_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixStream used after it was moved from");
    return detail::stream_poll_read(*impl_, cx, buf, /*tcp_inq=*/false);
}

Poll<Result<std::size_t>> UnixStream::poll_write(Context& cx, boost::asio::const_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixStream used after it was moved from");
    return detail::stream_poll_write(*impl_, cx, buf);
}

Poll<Result<void>> UnixStream::poll_flush(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Poll<Result<void>> UnixStream::poll_shutdown(Context&) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixStream used after it was moved from");
    return detail::stream_poll_shutdown(*impl_);
}

Result<UnixStream::endpoint> UnixStream::peer_addr() const {
    boost::system::error_code ec;
    auto ep = impl_->sock.remote_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

Result<UnixStream::endpoint> UnixStream::local_addr() const {
    boost::system::error_code ec;
    auto ep = impl_->sock.local_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

stream_protocol::socket& UnixStream::socket() noexcept {
    return impl_->sock;
}

// ---- UnixConnectFuture -------------------------------------------------------

struct UnixConnectFuture::State {
    std::string path;
    std::optional<boost::asio::any_io_executor> ex;
    detail::ConnectAttempt<UnixStream::Impl> attempt;
    bool done = false;
};

UnixConnectFuture& UnixConnectFuture::operator=(UnixConnectFuture&& o) noexcept {
    if (this != &o) {
        delete st_;
        st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
}

UnixConnectFuture::~UnixConnectFuture() {
    delete st_;
}

Poll<UnixConnectFuture::Output> UnixConnectFuture::poll(Context& cx) {
    POLLUX_ASSERT(st_ != nullptr && !st_->done,
                  "UnixStream::connect polled after it returned Ready");
    State& st = *st_;
    auto fail = [&](boost::system::error_code ec) -> Poll<Output> {
        st.done = true;
        st.attempt.reset();
        return Ready<Output>{Output(boost::system::in_place_error, ec)};
    };
    if (!st.ex) {
        st.ex.emplace(detail::executor_or_current(nullptr, "pollux::net::UnixStream::connect"));
    }
    if (!st.attempt.active()) {
        auto opened = st.attempt.open(*st.ex, stream_protocol());
        if (!opened) {
            return fail(opened.error());
        }
    }
    stream_protocol::endpoint ep;
    try {
        ep = stream_protocol::endpoint(st.path);
    } catch (const boost::system::system_error& e) {
        return fail(e.code()); // the path is too long
    }
    auto p = st.attempt.poll(cx, ep);
    if (p.is_pending()) {
        return Pending{};
    }
    if (!p.value()) {
        return fail(p.value().error());
    }
    st.done = true;
    return Ready<Output>{Output(UnixStream(st.attempt.release()))};
}

UnixConnectFuture UnixStream::connect(std::string_view path) {
    auto* st = new UnixConnectFuture::State();
    st->path = std::string(path);
    return UnixConnectFuture(st);
}

UnixConnectFuture UnixStream::connect(std::string_view path,
                                      const boost::asio::any_io_executor& ex) {
    auto* st = new UnixConnectFuture::State();
    st->path = std::string(path);
    st->ex.emplace(ex);
    return UnixConnectFuture(st);
}

// ---- UnixListener ------------------------------------------------------------

UnixListener& UnixListener::operator=(UnixListener&& o) noexcept {
    if (this != &o) {
        detail::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
    }
    return *this;
}

UnixListener::~UnixListener() {
    detail::destroy_block(impl_);
}

Result<UnixListener> UnixListener::bind(std::string_view path,
                                        const boost::asio::any_io_executor& ex) {
    stream_protocol::endpoint ep;
    try {
        ep = stream_protocol::endpoint(path);
    } catch (const boost::system::system_error& e) {
        return e.code();
    }
    stream_protocol::acceptor a(ex);
    boost::system::error_code ec;
    a.open(stream_protocol(), ec);
    if (ec) {
        return ec;
    }
    detail::set_cloexec(a.native_handle());
    a.bind(ep, ec);
    if (!ec) {
        a.listen(1024, ec);
    }
    if (!ec) {
        a.non_blocking(true, ec);
    }
    if (ec) {
        return ec;
    }
    return UnixListener(new Impl(std::move(a)));
}

Result<UnixListener> UnixListener::bind(std::string_view path) {
    return bind(path, detail::executor_or_current(nullptr, "pollux::net::UnixListener::bind"));
}

Poll<Result<std::pair<UnixStream, stream_protocol::endpoint>>>
UnixListener::poll_accept(Context& cx) {
    using Out = Result<std::pair<UnixStream, stream_protocol::endpoint>>;
    POLLUX_ASSERT(impl_ != nullptr, "UnixListener used after it was moved from");
    auto p = detail::poll_accept_fd(*impl_, cx);
    if (p.is_pending()) {
        return Pending{};
    }
    if (!p.value()) {
        return Ready<Out>{Out(boost::system::in_place_error, p.value().error())};
    }
    const detail::Accepted& a = *p.value();
    stream_protocol::endpoint peer;
    std::memcpy(peer.data(), &a.addr, std::min<std::size_t>(a.len, peer.capacity()));
    peer.resize(a.len);
    auto s = detail::adopt_fd<stream_protocol::socket>(
        impl_->sock.get_executor(), stream_protocol(), a.fd);
    if (!s) {
        return Ready<Out>{Out(boost::system::in_place_error, s.error())};
    }
    return Ready<Out>{Out(std::pair<UnixStream, stream_protocol::endpoint>(
        UnixStream(new UnixStream::Impl(std::move(*s))), peer))};
}

Result<stream_protocol::endpoint> UnixListener::local_addr() const {
    boost::system::error_code ec;
    auto ep = impl_->sock.local_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

} // namespace pollux::net
