#include <pollux/net/unix_listener.hpp>
#include <pollux/net/unix_stream.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/net/unix_fd.hpp>

#include "../detail/retry_eintr.hpp"
#include "connect.hpp"
#include "endpoint_of.hpp"
#include "socket_block.hpp"
#include "unix_fds.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

namespace pollux::net {

using stream_protocol = boost::asio::local::stream_protocol;

struct UnixStream::Impl : detail::SocketBlock<stream_protocol::socket> {
    using SocketBlock::SocketBlock;
};

struct UnixListener::Impl : detail::ListenerBlock<stream_protocol::acceptor> {
    using ListenerBlock::ListenerBlock;
};

// ---- OwnedFd and the descriptor-passing calls (unix_fds.hpp) ------------------

void OwnedFd::reset(int fd) noexcept {
    if (int old = std::exchange(fd_, fd); old >= 0) {
        // Never retried on EINTR (see lib/detail/retry_eintr.hpp).
        ::close(old);
    }
}

namespace detail {

namespace {

// Control-message room for this many descriptors lives on the stack; more
// goes to the heap.
constexpr std::size_t stack_fds = 16;

union StackControl {
    ::cmsghdr align;
    char bytes[CMSG_SPACE(stack_fds * sizeof(int))];
};

// `space` bytes of control buffer, aligned for cmsghdr: `stack` when it
// fits, else `heap` (zeroed).
void* control_buffer(std::size_t space, StackControl& stack, std::vector<::cmsghdr>& heap) {
    if (space == 0) {
        return nullptr;
    }
    if (space <= sizeof(stack)) {
        std::memset(&stack, 0, sizeof(stack));
        return &stack;
    }
    heap.resize((space + sizeof(::cmsghdr) - 1) / sizeof(::cmsghdr));
    return heap.data();
}

} // namespace

Result<std::size_t>
send_with_fds(int sock, boost::asio::const_buffer buf, std::span<const int> fds) {
    if (fds.size() > max_fds_per_message) {
        return make_error_code(boost::asio::error::invalid_argument);
    }
    ::iovec iov{const_cast<void*>(buf.data()), buf.size()};
    ::msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    StackControl stack;
    std::vector<::cmsghdr> heap;
    if (!fds.empty()) {
        const std::size_t space = CMSG_SPACE(fds.size() * sizeof(int));
        msg.msg_control = control_buffer(space, stack, heap);
        msg.msg_controllen = space;
        ::cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
        std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
    }
    // MSG_NOSIGNAL: a peer that closed gives EPIPE, never SIGPIPE. An
    // interrupted sendmsg sent nothing, so it is made again.
    ssize_t n = pollux::detail::retry_eintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); });
    if (n < 0) {
        return last_error();
    }
    return static_cast<std::size_t>(n);
}

Result<RecvFds> recv_with_fds(int sock, boost::asio::mutable_buffer buf, std::size_t max_fds) {
    max_fds = std::min(max_fds, max_fds_per_message);
    const std::size_t space = max_fds == 0 ? 0 : CMSG_SPACE(max_fds * sizeof(int));
    StackControl stack;
    std::vector<::cmsghdr> heap;
    void* control = control_buffer(space, stack, heap);
    RecvFds out;
    // Every allocation is made before recvmsg, so that no descriptor it
    // installs can be lost to a throw: the vector has room for as many as
    // the control buffer holds (CMSG_SPACE rounds up, so that may be one
    // more than max_fds).
    out.fds.reserve(space == 0 ? 0 : (space - CMSG_LEN(0)) / sizeof(int));
    ::iovec iov{buf.data(), buf.size()};
    ::msghdr msg{};
    ssize_t n = pollux::detail::retry_eintr([&] {
        msg = ::msghdr{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = space;
        return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    });
    if (n < 0) {
        return last_error();
    }
    if (space != 0) {
        for (::cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            const unsigned char* data = CMSG_DATA(c);
            for (std::size_t i = 0; i < count && out.fds.size() < out.fds.capacity(); ++i) {
                int fd;
                std::memcpy(&fd, data + i * sizeof(int), sizeof(int));
                out.fds.emplace_back(fd);
            }
        }
    }
    // Truncated: the kernel dropped what did not fit (or could not be
    // installed); `out` closes what did. A rounded-up extra counts too, so
    // that max_fds is a bound the caller can rely on.
    if ((msg.msg_flags & MSG_CTRUNC) != 0 || out.fds.size() > max_fds) {
        return boost::system::error_code(ENOBUFS, boost::asio::error::get_system_category());
    }
    out.bytes = static_cast<std::size_t>(n);
    return out;
}

Result<UCred> peer_cred(int sock) {
    ::ucred cred{};
    ::socklen_t len = sizeof(cred);
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return last_error();
    }
    return UCred{cred.pid, cred.uid, cred.gid};
}

} // namespace detail

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

void detail::shutdown_write_now(UnixStream& s) noexcept {
    if (s.impl_ != nullptr) {
        detail::stream_shutdown_write_now(*s.impl_);
    }
}

Poll<Result<void>> UnixStream::poll_shutdown(Context&) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixStream used after it was moved from");
    return detail::stream_poll_shutdown(*impl_);
}

Result<UnixStream::endpoint> UnixStream::peer_addr() const {
    return detail::remote_endpoint_of(impl_->sock);
}

Result<UnixStream::endpoint> UnixStream::local_addr() const {
    return detail::local_endpoint_of(impl_->sock);
}

Result<UCred> UnixStream::peer_cred() const {
    POLLUX_ASSERT(impl_ != nullptr, "UnixStream used after it was moved from");
    return detail::peer_cred(impl_->sock.native_handle());
}

Poll<Result<std::size_t>> UnixStream::poll_send_with_fds(Context& cx,
                                                         boost::asio::const_buffer buf,
                                                         std::span<const int> fds) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixStream used after it was moved from");
    if (buf.size() == 0) {
        // A stream sends descriptors with a byte, or not at all.
        if (!fds.empty()) {
            return Ready<Result<std::size_t>>{
                Result<std::size_t>(make_error_code(boost::asio::error::invalid_argument))};
        }
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    return detail::poll_io(*impl_, detail::Direction::write, cx, [&] {
        return detail::send_with_fds(impl_->sock.native_handle(), buf, fds);
    });
}

Poll<Result<RecvFds>>
UnixStream::poll_recv_with_fds(Context& cx, boost::asio::mutable_buffer buf, std::size_t max_fds) {
    POLLUX_ASSERT(impl_ != nullptr, "UnixStream used after it was moved from");
    if (buf.size() == 0) {
        // recvmsg would return 0 at once, which reads as the end of stream.
        return Ready<Result<RecvFds>>{
            Result<RecvFds>(make_error_code(boost::asio::error::invalid_argument))};
    }
    return detail::poll_io(*impl_, detail::Direction::read, cx, [&] {
        return detail::recv_with_fds(impl_->sock.native_handle(), buf, max_fds);
    });
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
    return detail::local_endpoint_of(impl_->sock);
}

} // namespace pollux::net
