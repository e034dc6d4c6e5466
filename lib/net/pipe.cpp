#include <pollux/net/pipe.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include "../detail/retry_eintr.hpp"
#include "../detail/write_without_sigpipe.hpp"
#include "socket_block.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <optional>
#include <pthread.h>
#include <string>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>

namespace pollux::net::pipe {

namespace {

namespace nd = pollux::net::detail;
using boost::asio::posix::stream_descriptor;

boost::system::error_code sys_error(int e) noexcept {
    return boost::system::error_code(e, boost::asio::error::get_system_category());
}

} // namespace

// Each end is the SocketBlock of lib/net over an Asio stream_descriptor (as
// io::AsyncFd is), so the readiness waits and the destruction across the
// context's lifetime are the sockets' (lib/net/socket_block.hpp).
struct Sender::Impl : nd::SocketBlock<stream_descriptor> {
    using SocketBlock::SocketBlock;
};

struct Receiver::Impl : nd::SocketBlock<stream_descriptor> {
    using SocketBlock::SocketBlock;
    // A read shorter than asked emptied the descriptor, so poll_read may mark
    // the read direction drained (lib/detail/readiness.hpp, "A drained
    // read", (a)): set by adopt for a pipe or FIFO without O_DIRECT (a
    // packet-mode pipe returns one packet per read). False for what
    // from_fd_unchecked adopts that is neither (a socket, a terminal): those
    // read until would-block.
    bool short_read_drains = false;
};

namespace {

// What from_fd checks: `access` is O_WRONLY or O_RDONLY (O_RDWR passes
// either), or -1 for no check at all (from_fd_unchecked, and pipe()'s own
// descriptors).
//
// Nothing here closes `fd` on failure: it is the caller's until the block
// exists. Its flags are put back if O_NONBLOCK was added and the adoption
// then failed. The gate (and its service) is made before the block, so that
// the block's constructor, which leaves its argument to the caller if it
// throws, finds it made.
template <class Block>
Result<Block*> adopt(int fd, const boost::asio::any_io_executor& ex, int access) {
    if (::fcntl(fd, F_GETFD) < 0) {
        return nd::last_error(); // EBADF
    }
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        return nd::last_error();
    }
    if (access >= 0) {
        struct ::stat st {};
        if (::fstat(fd, &st) != 0) {
            return nd::last_error();
        }
        const int mode = flags & O_ACCMODE;
        if (!S_ISFIFO(st.st_mode) || (mode != O_RDWR && mode != access)) {
            return sys_error(EINVAL);
        }
    }
    std::optional<stream_descriptor> d;
    try {
        (void)pollux::detail::gate_of_executor(ex);
        d.emplace(ex);
    } catch (...) {
        return sys_error(ENOMEM);
    }
    const bool set_nonblock = (flags & O_NONBLOCK) == 0;
    if (set_nonblock && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        return nd::last_error();
    }
    auto restore = [&] {
        if (set_nonblock) {
            (void)::fcntl(fd, F_SETFL, flags);
        }
    };
    boost::system::error_code ec;
    d->assign(fd, ec);
    if (ec) {
        restore();
        return ec;
    }
    try {
        auto* b = new Block(std::move(*d));
        if constexpr (std::is_same_v<Block, Receiver::Impl>) {
            struct ::stat st {};
            b->short_read_drains =
                ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && (flags & O_DIRECT) == 0;
        }
        return b;
    } catch (...) {
        (void)d->release(); // not closed: the caller keeps it
        restore();
        return sys_error(ENOMEM);
    }
}

template <class End>
Result<End> open_fifo(std::string_view path,
                      const boost::asio::any_io_executor& ex,
                      int access,
                      bool unchecked) {
    if (path.find('\0') != std::string_view::npos) {
        return sys_error(EINVAL);
    }
    const std::string p(path);
    const int fd = pollux::detail::retry_eintr(
        [&] { return ::open(p.c_str(), access | O_NONBLOCK | O_CLOEXEC); });
    if (fd < 0) {
        return nd::last_error();
    }
    Result<End> r = unchecked ? End::from_fd_unchecked(fd, ex) : End::from_fd(fd, ex);
    if (!r) {
        ::close(fd); // never retried on EINTR (lib/detail/retry_eintr.hpp)
    }
    return r;
}

} // namespace

// ---- pipe() ------------------------------------------------------------------

Result<std::pair<Sender, Receiver>> pipe(const boost::asio::any_io_executor& ex) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        return nd::last_error();
    }
    auto w = adopt<Sender::Impl>(fds[1], ex, -1);
    if (!w) {
        ::close(fds[0]);
        ::close(fds[1]);
        return w.error();
    }
    Sender sender(*w);
    auto r = adopt<Receiver::Impl>(fds[0], ex, -1);
    if (!r) {
        ::close(fds[0]); // the Sender closes fds[1]
        return r.error();
    }
    return std::pair<Sender, Receiver>(std::move(sender), Receiver(*r));
}

Result<std::pair<Sender, Receiver>> pipe() {
    return pipe(nd::executor_or_current(nullptr, "pollux::net::pipe::pipe"));
}

// ---- Sender ------------------------------------------------------------------

Sender& Sender::operator=(Sender&& o) noexcept {
    if (this != &o) {
        nd::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
    }
    return *this;
}

Sender::~Sender() {
    nd::destroy_block(impl_);
}

Result<Sender> Sender::from_fd(int fd, const boost::asio::any_io_executor& ex) {
    auto b = adopt<Impl>(fd, ex, O_WRONLY);
    if (!b) {
        return b.error();
    }
    return Sender(*b);
}

Result<Sender> Sender::from_fd(int fd) {
    return from_fd(fd, nd::executor_or_current(nullptr, "pollux::net::pipe::Sender::from_fd"));
}

Result<Sender> Sender::from_fd_unchecked(int fd, const boost::asio::any_io_executor& ex) {
    auto b = adopt<Impl>(fd, ex, -1);
    if (!b) {
        return b.error();
    }
    return Sender(*b);
}

Poll<Result<std::size_t>> Sender::poll_write(Context& cx, boost::asio::const_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "pipe::Sender used after it was moved from");
    if (buf.size() == 0) {
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    return nd::poll_io(*impl_, nd::Direction::write, cx, [&]() -> Result<std::size_t> {
        const ssize_t n = pollux::detail::write_without_sigpipe(
            impl_->sock.native_handle(), buf.data(), buf.size());
        if (n < 0) {
            return nd::last_error();
        }
        return static_cast<std::size_t>(n);
    });
}

Poll<Result<void>> Sender::poll_flush(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Poll<Result<void>> Sender::poll_shutdown(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

int Sender::fd() const noexcept {
    return impl_ != nullptr ? impl_->fd : -1;
}

int Sender::release() noexcept {
    return nd::release_block(impl_);
}

// ---- Receiver ----------------------------------------------------------------

Receiver& Receiver::operator=(Receiver&& o) noexcept {
    if (this != &o) {
        nd::destroy_block(std::exchange(impl_, std::exchange(o.impl_, nullptr)));
    }
    return *this;
}

Receiver::~Receiver() {
    nd::destroy_block(impl_);
}

Result<Receiver> Receiver::from_fd(int fd, const boost::asio::any_io_executor& ex) {
    auto b = adopt<Impl>(fd, ex, O_RDONLY);
    if (!b) {
        return b.error();
    }
    return Receiver(*b);
}

Result<Receiver> Receiver::from_fd(int fd) {
    return from_fd(fd, nd::executor_or_current(nullptr, "pollux::net::pipe::Receiver::from_fd"));
}

Result<Receiver> Receiver::from_fd_unchecked(int fd, const boost::asio::any_io_executor& ex) {
    auto b = adopt<Impl>(fd, ex, -1);
    if (!b) {
        return b.error();
    }
    return Receiver(*b);
}

Poll<Result<std::size_t>> Receiver::poll_read(Context& cx, boost::asio::mutable_buffer buf) {
    POLLUX_ASSERT(impl_ != nullptr, "pipe::Receiver used after it was moved from");
    if (buf.size() == 0) {
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    // A read shorter than asked took everything the pipe had (pipe_read
    // copies until the size asked or an empty pipe), so the next read poll
    // starts the wait without the read that would say would-block, unless a
    // hang-up edge was consumed since the last would-block
    // (may_mark_drained; lib/detail/readiness.hpp, "A drained read"). End of
    // stream (n == 0) marks nothing.
    Impl& b = *impl_;
    return nd::poll_io(b, nd::Direction::read, cx, [&]() -> Result<std::size_t> {
        const ssize_t n = pollux::detail::retry_eintr(
            [&] { return ::read(b.sock.native_handle(), buf.data(), buf.size()); });
        if (n < 0) {
            return nd::last_error();
        }
        b.read_drained = b.short_read_drains && n > 0 && static_cast<std::size_t>(n) < buf.size() &&
                         b.ready->may_mark_drained();
        return static_cast<std::size_t>(n);
    });
}

int Receiver::fd() const noexcept {
    return impl_ != nullptr ? impl_->fd : -1;
}

int Receiver::release() noexcept {
    return nd::release_block(impl_);
}

// ---- OpenOptions -------------------------------------------------------------

Result<Receiver> OpenOptions::open_receiver(std::string_view path,
                                            const boost::asio::any_io_executor& ex) const {
    return open_fifo<Receiver>(path, ex, read_write_ ? O_RDWR : O_RDONLY, unchecked_);
}

Result<Receiver> OpenOptions::open_receiver(std::string_view path) const {
    return open_receiver(
        path, nd::executor_or_current(nullptr, "pollux::net::pipe::OpenOptions::open_receiver"));
}

Result<Sender> OpenOptions::open_sender(std::string_view path,
                                        const boost::asio::any_io_executor& ex) const {
    return open_fifo<Sender>(path, ex, read_write_ ? O_RDWR : O_WRONLY, unchecked_);
}

Result<Sender> OpenOptions::open_sender(std::string_view path) const {
    return open_sender(
        path, nd::executor_or_current(nullptr, "pollux::net::pipe::OpenOptions::open_sender"));
}

} // namespace pollux::net::pipe
