#include <pollux/uv/guess_handle.hpp>
#include <pollux/uv/tty.hpp>

#include "../detail/reopen.hpp"
#include "../detail/retry_eintr.hpp"
#include "stream_impl.hpp"
#include "tty_termios.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace pollux::uv {

namespace {

boost::system::error_code errno_error(int e) noexcept {
    return {e, boost::system::system_category()};
}

[[noreturn]] void fail(boost::system::error_code ec) {
    throw boost::system::system_error(ec, "uv::Tty");
}

} // namespace

Tty::Tty(Loop& loop) : Stream(loop, Kind::tty), desc_(loop.io_context()) {
    set_type(HandleType::tty);
}

// Delegating: once Tty(loop) returned, a throw here runs ~Tty, which
// unregisters the handle.
Tty::Tty(Loop& loop, int fd) : Tty(loop) {
    const HandleType t = guess_handle(fd);
    if (t == HandleType::file || t == HandleType::unknown) {
        fail(boost::asio::error::invalid_argument); // libuv's UV_EINVAL
    }
    const int flags = pollux::detail::retry_eintr([&] { return ::fcntl(fd, F_GETFL); });
    if (flags < 0) {
        fail(errno_error(errno));
    }
    const int access = flags & O_ACCMODE;
    int own = pollux::detail::reopen_own(fd, access);
    if (own < 0) {
        // libuv's fallback: blocking writes. On a duplicate, so the shared
        // description keeps its flags; reads see read_some below.
        own = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (own < 0) {
            fail(errno_error(errno));
        }
        blocking_ = true;
    }
    boost::system::error_code ec;
    desc_.assign(own, ec);
    if (ec) {
        ::close(own);
        fail(ec);
    }
    stream_opened(access != O_WRONLY, access != O_RDONLY, /*plain_fd=*/true);
}

Tty::~Tty() {
    destroy_stream();
}

int Tty::stream_fd() const noexcept {
    return desc_.is_open()
               ? const_cast<boost::asio::posix::stream_descriptor&>(desc_).native_handle()
               : -1;
}

void Tty::start_stream_wait(int direction) {
    start_ready_wait(desc_, direction);
}

void Tty::close_descriptor() noexcept {
    boost::system::error_code ignored;
    desc_.close(ignored);
}

// A terminal never listens, so accept() never gives it a connection; the
// descriptor is owned from the call on, so it is closed.
boost::system::error_code Tty::adopt_descriptor(int fd) {
    ::close(fd);
    return boost::asio::error::invalid_argument;
}

// Reopened: Stream's non-blocking read(2). In the blocking fallback, a
// read(2) of more than is there would block the loop until the next input,
// so it reads only what poll(2) says is readable and FIONREAD says is
// there: all of it may be less than `size`, and readable with nothing
// there is end of input (Ctrl-D at the start of a line, a hang-up), which
// read(2) returns at once.
std::size_t Tty::read_some(char* buf, std::size_t size, boost::system::error_code& ec) {
    if (blocking_) {
        const int fd = stream_fd();
        ::pollfd p{fd, POLLIN, 0};
        const int r = pollux::detail::retry_eintr([&] { return ::poll(&p, 1, 0); });
        if (r < 0) {
            ec = errno_error(errno);
            return 0;
        }
        if (r == 0 || (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) == 0) {
            ec = boost::asio::error::would_block;
            return 0;
        }
        int avail = 0;
        if (::ioctl(fd, FIONREAD, &avail) == 0 && avail > 0) {
            size = std::min(size, static_cast<std::size_t>(avail));
        }
    }
    return Stream::read_some(buf, size, ec);
}

boost::system::error_code Tty::set_mode(TtyMode mode) noexcept {
    const int fd = stream_fd();
    if (is_closing() || fd < 0) {
        return boost::asio::error::bad_descriptor;
    }
    return termios_.set_mode(fd, mode);
}

boost::system::error_code Tty::get_winsize(int& width, int& height) const noexcept {
    const int fd = stream_fd();
    if (is_closing() || fd < 0) {
        return boost::asio::error::bad_descriptor;
    }
    return detail::get_winsize(fd, width, height);
}

} // namespace pollux::uv
