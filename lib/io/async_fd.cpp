#include <pollux/io/async_fd.hpp>

#include "../detail/epoll_check.hpp"
#include "../detail/reopen.hpp"
#include "../detail/retry_eintr.hpp"
#include "../detail/tcp_inq.hpp"
#include "../detail/write_without_sigpipe.hpp"
#include "../net/socket_block.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <cassert>
#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <mutex>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace pollux::io {

namespace {

namespace nd = pollux::net::detail;
using boost::asio::posix::stream_descriptor;

boost::system::error_code sys_error(int e) noexcept {
    return boost::system::error_code(e, boost::asio::error::get_system_category());
}

// Whether epoll accepts `fd` (false for EPERM: a regular file).
Result<bool> is_pollable(int fd) noexcept {
    const boost::system::error_code ec = pollux::detail::epoll_add_error(fd);
    if (!ec) {
        return true;
    }
    if (ec.value() == EPERM) {
        return false;
    }
    return Result<bool>(boost::system::in_place_error, ec);
}

} // namespace

// The SocketBlock of lib/net (a stream_descriptor is a "socket" to it: it
// has native_handle and a reactor registration), so the readiness waits
// and the destruction across the context's lifetime are the net sockets'
// (see lib/net/socket_block.hpp).
//
// Invariant: `read_ready` is false only after a clear_read_ready, a read
// that would block or a read that drained the descriptor (`drains`), that no
// completed read wait has followed yet; the read wait is in flight only
// while `read_ready` is false (the same for writing).
struct AsyncFd::Impl : nd::SocketBlock<stream_descriptor> {
    using SocketBlock::SocketBlock;
    bool read_ready = true;
    bool write_ready = true;
    // How poll_read tells that a read emptied the descriptor, so that it may
    // clear read_ready without the read that would block
    // (lib/detail/readiness.hpp, "A drained read", which says why only these
    // types): a TCP socket by TCP_INQ, which create sets; a pipe or FIFO
    // (not a packet-mode one) by a read shorter than asked. Never for other
    // descriptors (Unix sockets, terminals, devices).
    enum class Drains : std::uint8_t {
        never,
        tcp,
        pipe
    } drains = Drains::never; // A pipe or FIFO: writes block SIGPIPE around write(2) (a pipe has no
    // MSG_NOSIGNAL), so a reader that went away is `broken_pipe`, as for
    // sockets (lib/detail/write_without_sigpipe.hpp).
    bool pipe_writes = false;
};

namespace {

// How reads of `fd` (file status flags `flags`) tell that they emptied it
// (AsyncFd::Impl::drains); sets TCP_INQ on a TCP socket.
AsyncFd::Impl::Drains drains_of(int fd, int flags) noexcept {
    using Drains = AsyncFd::Impl::Drains;
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) {
        return Drains::never;
    }
    if (S_ISFIFO(st.st_mode)) {
        return (flags & O_DIRECT) == 0 ? Drains::pipe : Drains::never;
    }
    if (!S_ISSOCK(st.st_mode)) {
        return Drains::never;
    }
    int type = 0;
    int protocol = 0;
    ::socklen_t len = sizeof(type);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
        return Drains::never;
    }
    len = sizeof(protocol);
    if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) != 0 ||
        protocol != IPPROTO_TCP || !pollux::detail::enable_tcp_inq(fd)) {
        return Drains::never;
    }
    return Drains::tcp;
}

// Steps 1 and 4 of socket_block.hpp's protocol, split in two by the ready
// flag: a poll returns Ready at once while the flag is set, else starts the
// wait (or polls the one in flight) and sets the flag when it completes.
Poll<Result<void>> poll_ready_dir(AsyncFd::Impl& b, nd::Direction d, Context& cx) {
    using State = AsyncFd::Impl::Readiness::State;
    bool& ready = d == nd::Direction::read ? b.read_ready : b.write_ready;
    if (ready) {
        return Ready<Result<void>>{Result<void>()};
    }
    if (b.ready->state(d) == State::idle) {
        b.start_wait(d, cx.waker());
    }
    if (b.wait_in_flight(d, cx.waker())) {
        return Pending{};
    }
    ready = true;
    const boost::system::error_code ec = b.ready->error(d);
    if (!ec || ec == boost::asio::error::operation_aborted) {
        // Only the block's own destruction or release aborts a wait, and
        // neither runs while it is polled; treat it as spurious readiness.
        return Ready<Result<void>>{Result<void>()};
    }
    return Ready<Result<void>>{Result<void>(ec)};
}

// The readiness loop of poll_read/poll_write: `op(bool* emptied)` is the
// syscall, returning -1 with errno on failure; a read sets `*emptied` when
// it emptied the descriptor (Impl::drains).
template <class Op>
Poll<Result<std::size_t>> poll_io_dir(AsyncFd::Impl& b, nd::Direction d, Context& cx, Op op) {
    for (;;) {
        Poll<Result<void>> r = poll_ready_dir(b, d, cx);
        if (r.is_pending()) {
            return Pending{};
        }
        if (!r.value()) {
            return Ready<Result<std::size_t>>{Result<std::size_t>(r.value().error())};
        }
        if (!nd::has_budget(cx)) {
            return Pending{};
        }
        bool emptied = false;
        ssize_t n = op(&emptied);
        if (n >= 0) {
            (void)coop::poll_proceed(cx); // cannot fail: has_budget said so
            if (emptied && b.ready->may_mark_drained()) {
                b.read_ready = false; // the next read waits without the syscall
            }
            return Ready<Result<std::size_t>>{static_cast<std::size_t>(n)};
        }
        boost::system::error_code ec = nd::last_error();
        if (!nd::is_would_block(ec)) {
            (void)coop::poll_proceed(cx);
            return Ready<Result<std::size_t>>{Result<std::size_t>(ec)};
        }
        if (d == nd::Direction::read) {
            b.ready->read_would_block();
        }
        (d == nd::Direction::read ? b.read_ready : b.write_ready) = false;
    }
}

// Registers `fd` (pollable, blocking or not) in a new AsyncFd on `ex`.
// On failure the descriptor stays the caller's.
Result<AsyncFd> register_fd(int fd, const boost::asio::any_io_executor& ex) {
    // Nothing below may close `fd` on failure: it is the caller's until
    // the block exists. The gate (and its service) is made first, so that
    // the block's constructor, which closes its socket argument if it
    // throws, finds it and cannot throw.
    std::optional<stream_descriptor> d;
    try {
        (void)pollux::detail::gate_of_executor(ex);
        d.emplace(ex);
    } catch (...) {
        return sys_error(ENOMEM);
    }
    boost::system::error_code ec;
    d->assign(fd, ec);
    if (ec) {
        return ec;
    }
    AsyncFd::Impl* impl = nullptr;
    try {
        impl = new AsyncFd::Impl(std::move(*d));
    } catch (...) {
        (void)d->release(); // not closed: the caller keeps it
        return sys_error(ENOMEM);
    }
    return Result<AsyncFd>(AsyncFd(impl));
}

} // namespace

Result<AsyncFd> AsyncFd::create(int fd, const boost::asio::any_io_executor& ex) {
    if (::fcntl(fd, F_GETFD) < 0) {
        return nd::last_error(); // EBADF
    }
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        return nd::last_error();
    }
    if ((flags & O_NONBLOCK) == 0) {
        return sys_error(EINVAL);
    }
    Result<bool> pollable = is_pollable(fd);
    if (!pollable) {
        return pollable.error();
    }
    if (!*pollable) {
        return sys_error(EOPNOTSUPP);
    }
    Result<AsyncFd> afd = register_fd(fd, ex);
    if (afd) {
        afd.value().impl_->drains = drains_of(fd, flags);
        struct ::stat st {};
        afd.value().impl_->pipe_writes = ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
    }
    return afd;
}

Result<AsyncFd> AsyncFd::create(int fd) {
    return create(fd, pollux::detail::executor_of_current_task("pollux::io::AsyncFd::create"));
}

AsyncFd& AsyncFd::operator=(AsyncFd&& o) noexcept {
    if (this != &o) {
        nd::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
    }
    return *this;
}

AsyncFd::~AsyncFd() {
    nd::destroy_block(impl_);
}

int AsyncFd::fd() const noexcept {
    return impl_ != nullptr ? impl_->fd : -1;
}

int AsyncFd::release() noexcept {
    return nd::release_block(impl_);
}

Poll<Result<void>> AsyncFd::poll_read_ready(Context& cx) {
    POLLUX_ASSERT(impl_ != nullptr, "AsyncFd used after a move or release");
    return poll_ready_dir(*impl_, nd::Direction::read, cx);
}

Poll<Result<void>> AsyncFd::poll_write_ready(Context& cx) {
    POLLUX_ASSERT(impl_ != nullptr, "AsyncFd used after a move or release");
    return poll_ready_dir(*impl_, nd::Direction::write, cx);
}

void AsyncFd::clear_read_ready() noexcept {
    if (impl_ != nullptr) {
        impl_->read_ready = false;
    }
}

void AsyncFd::clear_write_ready() noexcept {
    if (impl_ != nullptr) {
        impl_->write_ready = false;
    }
}

Poll<Result<std::size_t>> AsyncFd::poll_read(Context& cx, boost::asio::mutable_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "AsyncFd used after a move or release");
    if (buf.size() == 0) {
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    const int fd = impl_->fd;
    const Impl::Drains drains = impl_->drains;
    return poll_io_dir(*impl_, nd::Direction::read, cx, [&](bool* emptied) -> ssize_t {
        if (drains == Impl::Drains::tcp) {
            return pollux::detail::recv_inq(fd, buf.data(), buf.size(), emptied);
        }
        const ssize_t n =
            pollux::detail::retry_eintr([&] { return ::read(fd, buf.data(), buf.size()); });
        *emptied =
            drains == Impl::Drains::pipe && n > 0 && static_cast<std::size_t>(n) < buf.size();
        return n;
    });
}

Poll<Result<std::size_t>> AsyncFd::poll_write(Context& cx, boost::asio::const_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "AsyncFd used after a move or release");
    if (buf.size() == 0) {
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    const int fd = impl_->fd;
    const bool pipe_writes = impl_->pipe_writes;
    return poll_io_dir(*impl_, nd::Direction::write, cx, [&](bool*) {
        if (pipe_writes) {
            return pollux::detail::write_without_sigpipe(fd, buf.data(), buf.size());
        }
        return pollux::detail::retry_eintr([&] { return ::write(fd, buf.data(), buf.size()); });
    });
}

Poll<Result<void>> AsyncFd::poll_flush(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Poll<Result<void>> AsyncFd::poll_shutdown(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

// ---- StdStream ----------------------------------------------------------------
//
// std_stream never changes the flags of the descriptor's open file
// description: that description is shared with the other descriptors that
// dup()ed it (1 and 2 are often the same terminal as 0), with std::cout
// and printf, and with every process that inherited it (the shell). Each
// kind gets its own non-blocking access instead (see StdStream's comment).

namespace {

// A socket's readiness without touching its flags: the reactor's waits
// cannot be made on the socket itself, because a wait may set O_NONBLOCK on
// the descriptor it waits on (Asio's async_wait does, on the portable
// readiness path), and the socket's description is shared. So a private
// epoll instance watches it, level-triggered, for `events`: the instance is
// readable while the socket has them, and the reactor waits on that
// instance instead (its flags are its own). One per direction.
Result<AsyncFd>
watch_socket(int sock, std::uint32_t events, const boost::asio::any_io_executor& ex) {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        return nd::last_error();
    }
    ::epoll_event ev{};
    ev.events = events;
    ev.data.fd = sock;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) != 0) {
        boost::system::error_code ec = nd::last_error();
        ::close(ep);
        return ec;
    }
    Result<AsyncFd> afd = register_fd(ep, ex);
    if (!afd) {
        ::close(ep);
    }
    return afd;
}

// A blocking read(2) or write(2) on a descriptor that is always ready (a
// regular file) or must be written blocking (the fallback): it never waits
// for the reactor, so it spends the task's budget like every completed
// operation, or a task reading a large file would starve the others
// (docs/design.md, the fairness budget).
template <class Op>
Poll<Result<std::size_t>> poll_blocking(Context& cx, Op op) {
    if (!nd::has_budget(cx)) {
        return Pending{};
    }
    (void)coop::poll_proceed(cx); // cannot fail: has_budget said so
    ssize_t n = pollux::detail::retry_eintr(op);
    if (n < 0) {
        return Ready<Result<std::size_t>>{Result<std::size_t>(nd::last_error())};
    }
    return Ready<Result<std::size_t>>{static_cast<std::size_t>(n)};
}

} // namespace

StdStream::StdStream(std::optional<AsyncFd> afd,
                     std::optional<AsyncFd> write_watch,
                     int file_fd,
                     Mode mode) noexcept
    : afd_(std::move(afd)), write_watch_(std::move(write_watch)), file_fd_(file_fd), mode_(mode) {
}

StdStream::StdStream(StdStream&& o) noexcept
    : afd_(std::move(o.afd_)), write_watch_(std::move(o.write_watch_)),
      file_fd_(std::exchange(o.file_fd_, -1)), mode_(o.mode_) {
    o.afd_.reset();
    o.write_watch_.reset();
}

StdStream& StdStream::operator=(StdStream&& o) noexcept {
    if (this != &o) {
        drop();
        afd_ = std::move(o.afd_);
        o.afd_.reset();
        write_watch_ = std::move(o.write_watch_);
        o.write_watch_.reset();
        file_fd_ = std::exchange(o.file_fd_, -1);
        mode_ = o.mode_;
    }
    return *this;
}

StdStream::~StdStream() {
    drop();
}

// The watches first: they are registered on the socket's description.
void StdStream::drop() noexcept {
    afd_.reset();
    write_watch_.reset();
    if (file_fd_ >= 0) {
        ::close(std::exchange(file_fd_, -1));
    }
}

Poll<Result<std::size_t>> StdStream::poll_read(Context& cx, boost::asio::mutable_buffer buf) {
    switch (mode_) {
    case Mode::reopened:
        POLLUX_ASSERT(afd_.has_value(), "StdStream used after a move");
        return afd_->poll_read(cx, buf);
    case Mode::socket: {
        POLLUX_ASSERT(afd_.has_value(), "StdStream used after a move");
        if (buf.size() == 0) {
            return Ready<Result<std::size_t>>{std::size_t{0}};
        }
        const int fd = file_fd_;
        return poll_io_dir(*afd_->impl_, nd::Direction::read, cx, [&](bool*) {
            return pollux::detail::retry_eintr(
                [&] { return ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT); });
        });
    }
    case Mode::file:
        POLLUX_ASSERT(file_fd_ >= 0, "StdStream used after a move");
        return poll_blocking(cx, [&] { return ::read(file_fd_, buf.data(), buf.size()); });
    case Mode::blocking_writes:
        break;
    }
    // A blocking read would stop every task of the loop until input comes.
    return Ready<Result<std::size_t>>{Result<std::size_t>(sys_error(EOPNOTSUPP))};
}

Poll<Result<std::size_t>> StdStream::poll_write(Context& cx, boost::asio::const_buffer buf) {
    switch (mode_) {
    case Mode::reopened:
        POLLUX_ASSERT(afd_.has_value(), "StdStream used after a move");
        return afd_->poll_write(cx, buf);
    case Mode::socket: {
        POLLUX_ASSERT(write_watch_.has_value(), "StdStream used after a move");
        if (buf.size() == 0) {
            return Ready<Result<std::size_t>>{std::size_t{0}};
        }
        // The write watch is readable while the socket is writable.
        const int fd = file_fd_;
        return poll_io_dir(*write_watch_->impl_, nd::Direction::read, cx, [&](bool*) {
            return pollux::detail::retry_eintr(
                [&] { return ::send(fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_NOSIGNAL); });
        });
    }
    case Mode::file:
        break;
    case Mode::blocking_writes:
        // Maybe a pipe that could not be reopened: no SIGPIPE, as above.
        POLLUX_ASSERT(file_fd_ >= 0, "StdStream used after a move");
        return poll_blocking(cx, [&] {
            return pollux::detail::write_without_sigpipe(file_fd_, buf.data(), buf.size());
        });
    }
    POLLUX_ASSERT(file_fd_ >= 0, "StdStream used after a move");
    return poll_blocking(cx, [&] { return ::write(file_fd_, buf.data(), buf.size()); });
}

Poll<Result<void>> StdStream::poll_flush(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Poll<Result<void>> StdStream::poll_shutdown(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Result<StdStream> std_stream(int fd, const boost::asio::any_io_executor& ex) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return nd::last_error(); // EBADF
    }
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        return nd::last_error();
    }
    const int access = flags & O_ACCMODE;
    if (S_ISSOCK(st.st_mode)) {
        // Its own duplicate, flags untouched: recv/send with MSG_DONTWAIT.
        const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup < 0) {
            return nd::last_error();
        }
        Result<AsyncFd> rd = watch_socket(dup, EPOLLIN, ex);
        if (!rd) {
            ::close(dup);
            return rd.error();
        }
        Result<AsyncFd> wr = watch_socket(dup, EPOLLOUT, ex);
        if (!wr) {
            ::close(dup);
            return wr.error();
        }
        return Result<StdStream>(
            StdStream(std::move(*rd), std::move(*wr), dup, StdStream::Mode::socket));
    }
    Result<bool> pollable = is_pollable(fd);
    if (!pollable) {
        return pollable.error();
    }
    if (!*pollable) { // a regular file, a directory, /dev/null
        const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup < 0) {
            return nd::last_error();
        }
        return Result<StdStream>(StdStream(std::nullopt, std::nullopt, dup, StdStream::Mode::file));
    }
    // A terminal, a pipe or FIFO, another pollable device.
    const int own = pollux::detail::reopen_own(fd, access);
    if (own >= 0) {
        Result<AsyncFd> afd = AsyncFd::create(own, ex);
        if (!afd) {
            ::close(own);
            return afd.error();
        }
        return Result<StdStream>(
            StdStream(std::move(*afd), std::nullopt, -1, StdStream::Mode::reopened));
    }
    // Not reopenable (a pty master, an eventfd, no permission to open the
    // terminal, a FIFO's write end without a reader): never the shared
    // flags. Writes block, as libuv's tty falls back to; a read would block
    // the loop, so a read-only descriptor is refused.
    if (access == O_RDONLY) {
        return sys_error(-own);
    }
    const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup < 0) {
        return nd::last_error();
    }
    return Result<StdStream>(
        StdStream(std::nullopt, std::nullopt, dup, StdStream::Mode::blocking_writes));
}

Result<StdStream> std_stream(int fd) {
    return std_stream(fd, pollux::detail::executor_of_current_task("pollux::io::std_stream"));
}

Result<StdStream> stdin() {
    return std_stream(0);
}
Result<StdStream> stdout() {
    return std_stream(1);
}
Result<StdStream> stderr() {
    return std_stream(2);
}

} // namespace pollux::io
