#include <pollux/io/async_fd.hpp>

#include "../detail/epoll_check.hpp"
#include "../detail/retry_eintr.hpp"
#include "../detail/tcp_inq.hpp"
#include "../net/socket_block.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <cassert>
#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <mutex>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

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
    enum class Drains : std::uint8_t { never, tcp, pipe } drains = Drains::never;
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
    Impl* impl = nullptr;
    try {
        impl = new Impl(std::move(*d));
    } catch (...) {
        (void)d->release(); // not closed: the caller keeps it
        return sys_error(ENOMEM);
    }
    impl->drains = drains_of(fd, flags);
    return Result<AsyncFd>(AsyncFd(impl));
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
    Impl* b = std::exchange(impl_, nullptr);
    if (b == nullptr) {
        return -1;
    }
    const int fd = b->fd;
    {
        pollux::detail::GatePass pass(b->gate.get());
        if (pass) {
            // As the destructor would, minus the close: release()
            // deregisters the descriptor, which aborts the queued waits.
            (void)b->sock.release();
        }
    }
    // Refused: the service may be deleted, so `sock` is left alone, and
    // abandon_closed must not close the descriptor given back.
    b->fd = -1;
    nd::destroy_block(b);
    return fd;
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
    return poll_io_dir(*impl_, nd::Direction::write, cx, [&](bool*) {
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

namespace {

// The O_NONBLOCK flags std_stream set, put back when the last StdStream
// that set one is dropped. Process-wide because the flag belongs to the
// open file description, which 1 and 2 often share.
struct FlagsRegistry {
    std::mutex mutex;
    std::size_t holders = 0;                // StdStreams with set_flags_
    std::vector<std::pair<int, int>> saved; // (duplicate fd, flags before)
};

FlagsRegistry& flags_registry() {
    static FlagsRegistry* r = new FlagsRegistry(); // never destroyed: used at exit
    return *r;
}

} // namespace

StdStream::StdStream(std::optional<AsyncFd> afd, int file_fd, bool set_flags) noexcept
    : afd_(std::move(afd)), file_fd_(file_fd), set_flags_(set_flags) {
}

StdStream::StdStream(StdStream&& o) noexcept
    : afd_(std::move(o.afd_)), file_fd_(std::exchange(o.file_fd_, -1)),
      set_flags_(std::exchange(o.set_flags_, false)) {
    o.afd_.reset();
}

StdStream& StdStream::operator=(StdStream&& o) noexcept {
    if (this != &o) {
        drop();
        afd_ = std::move(o.afd_);
        o.afd_.reset();
        file_fd_ = std::exchange(o.file_fd_, -1);
        set_flags_ = std::exchange(o.set_flags_, false);
    }
    return *this;
}

StdStream::~StdStream() {
    drop();
}

void StdStream::drop() noexcept {
    if (set_flags_) {
        set_flags_ = false;
        FlagsRegistry& reg = flags_registry();
        std::lock_guard<std::mutex> lock(reg.mutex);
        if (--reg.holders == 0) {
            // Through the saved duplicates, which are still open here (each
            // is closed below, after its flags went back).
            for (auto it = reg.saved.rbegin(); it != reg.saved.rend(); ++it) {
                (void)::fcntl(it->first, F_SETFL, it->second);
                ::close(it->first);
            }
            reg.saved.clear();
        }
    }
    afd_.reset();
    if (file_fd_ >= 0) {
        ::close(std::exchange(file_fd_, -1));
    }
}

Poll<Result<std::size_t>> StdStream::poll_read(Context& cx, boost::asio::mutable_buffer buf) {
    if (afd_) {
        return afd_->poll_read(cx, buf);
    }
    POLLUX_ASSERT(file_fd_ >= 0, "StdStream used after a move");
    // A regular file is always ready, so this poll never waits: it spends
    // the task's budget like every completed operation, or a task reading a
    // large file would starve the others (docs/design.md, the fairness
    // budget).
    if (!nd::has_budget(cx)) {
        return Pending{};
    }
    (void)coop::poll_proceed(cx); // cannot fail: has_budget said so
    ssize_t n =
        pollux::detail::retry_eintr([&] { return ::read(file_fd_, buf.data(), buf.size()); });
    if (n < 0) {
        return Ready<Result<std::size_t>>{Result<std::size_t>(nd::last_error())};
    }
    return Ready<Result<std::size_t>>{static_cast<std::size_t>(n)};
}

Poll<Result<std::size_t>> StdStream::poll_write(Context& cx, boost::asio::const_buffer buf) {
    if (afd_) {
        return afd_->poll_write(cx, buf);
    }
    POLLUX_ASSERT(file_fd_ >= 0, "StdStream used after a move");
    if (!nd::has_budget(cx)) { // always ready, as poll_read
        return Pending{};
    }
    (void)coop::poll_proceed(cx);
    ssize_t n =
        pollux::detail::retry_eintr([&] { return ::write(file_fd_, buf.data(), buf.size()); });
    if (n < 0) {
        return Ready<Result<std::size_t>>{Result<std::size_t>(nd::last_error())};
    }
    return Ready<Result<std::size_t>>{static_cast<std::size_t>(n)};
}

Poll<Result<void>> StdStream::poll_flush(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Poll<Result<void>> StdStream::poll_shutdown(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Result<StdStream> std_stream(int fd, const boost::asio::any_io_executor& ex) {
    const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup < 0) {
        return nd::last_error();
    }
    Result<bool> pollable = is_pollable(dup);
    if (!pollable) {
        ::close(dup);
        return pollable.error();
    }
    if (!*pollable) {
        return Result<StdStream>(StdStream(std::nullopt, dup, false));
    }
    bool set_flags = false;
    {
        FlagsRegistry& reg = flags_registry();
        std::lock_guard<std::mutex> lock(reg.mutex);
        const int flags = ::fcntl(dup, F_GETFL);
        if (flags < 0) {
            boost::system::error_code ec = nd::last_error();
            ::close(dup);
            return ec;
        }
        if ((flags & O_NONBLOCK) == 0) {
            // A second duplicate, kept by the registry, to put the flags
            // back through even after this stream's is closed.
            const int keep = ::fcntl(dup, F_DUPFD_CLOEXEC, 3);
            if (keep < 0 || ::fcntl(dup, F_SETFL, flags | O_NONBLOCK) < 0) {
                boost::system::error_code ec = nd::last_error();
                if (keep >= 0) {
                    ::close(keep);
                }
                ::close(dup);
                return ec;
            }
            try {
                reg.saved.emplace_back(keep, flags);
            } catch (...) {
                (void)::fcntl(keep, F_SETFL, flags);
                ::close(keep);
                ::close(dup);
                return sys_error(ENOMEM);
            }
            set_flags = true;
        }
        if (set_flags || reg.holders > 0) {
            // A stream over a description another one made non-blocking
            // also holds the flags (so they stay while it lives).
            set_flags = true;
            ++reg.holders;
        }
    }
    Result<AsyncFd> afd = AsyncFd::create(dup, ex);
    if (!afd) {
        ::close(dup);
        StdStream undo(std::nullopt, -1, set_flags); // releases the count
        return afd.error();
    }
    return Result<StdStream>(StdStream(std::move(*afd), -1, set_flags));
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
