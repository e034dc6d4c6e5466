#include <pollux/uv/pipe.hpp>
// Own header first: this proves it is self-contained.

#include "../detail/retry_eintr.hpp"
#include "loop_impl.hpp"
#include "stream_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/errc.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <utility>

// A Pipe's descriptor lives in a posix::stream_descriptor whatever it is (a
// UNIX-domain socket, a pipe end, a terminal): the readiness waits use it,
// and Stream makes the system calls on its descriptor. An IPC pipe reads
// with recvmsg(2) and queues the descriptors that come with the bytes
// (libuv's uv__stream_recv_cmsg).

namespace pollux::uv {

namespace {

// Descriptors one recvmsg may bring (more are closed by the kernel:
// MSG_CTRUNC). libuv's read buffer for them is as large.
constexpr std::size_t max_fds_per_read = 64;

boost::system::error_code errno_code(int e = errno) {
    return {e, boost::system::system_category()};
}

// A sockaddr_un for `name`: a path (NUL-terminated) or an abstract name
// (leading '\0', exact length). False if it does not fit.
bool make_addr(std::string_view name, ::sockaddr_un& addr, ::socklen_t& len) {
    addr = {};
    addr.sun_family = AF_UNIX;
    const bool abstract = !name.empty() && name[0] == '\0';
    const std::size_t room = sizeof(addr.sun_path) - (abstract ? 0 : 1);
    if (name.empty() || name.size() > room) {
        return false;
    }
    std::memcpy(addr.sun_path, name.data(), name.size());
    len = static_cast<::socklen_t>(offsetof(::sockaddr_un, sun_path) + name.size() +
                                   (abstract ? 0 : 1));
    return true;
}

// The name in an address getsockname/getpeername filled: a path without its
// NUL, an abstract name with its leading '\0', or empty (unnamed).
std::string addr_name(const ::sockaddr_un& addr, ::socklen_t len) {
    const std::size_t off = offsetof(::sockaddr_un, sun_path);
    if (len <= off) {
        return {};
    }
    std::size_t n = std::min<std::size_t>(len - off, sizeof(addr.sun_path));
    if (addr.sun_path[0] != '\0') {
        n = ::strnlen(addr.sun_path, n);
    }
    return std::string(addr.sun_path, n);
}

boost::system::error_code set_nonblock(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        return errno_code();
    }
    return {};
}

// libuv's uv__handle_type: what a received descriptor is.
HandleType handle_type(int fd) {
    ::sockaddr_storage ss{};
    ::socklen_t len = sizeof(ss);
    if (::getsockname(fd, reinterpret_cast<::sockaddr*>(&ss), &len) != 0) {
        return HandleType::unknown;
    }
    int type = 0;
    len = sizeof(type);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
        return HandleType::unknown;
    }
    if (type == SOCK_STREAM) {
        if (ss.ss_family == AF_UNIX) {
            return HandleType::named_pipe;
        }
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            return HandleType::tcp;
        }
    }
    if (type == SOCK_DGRAM && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
        return HandleType::udp;
    }
    return HandleType::unknown;
}

} // namespace

Pipe::Pipe(Loop& loop, bool ipc) : Stream(loop, Kind::pipe), fd_(loop.io_context()), ipc_(ipc) {
}

Pipe::~Pipe() {
    destroy_stream();
    close_pending();
}

int Pipe::stream_fd() const noexcept {
    return fd_.is_open() ? const_cast<boost::asio::posix::stream_descriptor&>(fd_).native_handle()
                         : -1;
}

void Pipe::start_stream_wait(int direction) {
    start_ready_wait(fd_, direction);
}

void Pipe::close_pending() noexcept {
    for (const int fd : pending_) {
        // Never retried on EINTR (see lib/detail/retry_eintr.hpp).
        ::close(fd);
    }
    pending_.clear();
}

// Released, then closed, as Tcp's (tcp.cpp): the descriptor leaves the
// epoll set even when a copy of it lives on (sent by write2, inherited).
void Pipe::close_descriptor() noexcept {
    if (fd_.is_open()) {
        ::close(fd_.release()); // never retried on EINTR (lib/detail/retry_eintr.hpp)
    }
    close_pending();
    if (!bound_path_.empty()) {
        // libuv's uv__pipe_close: the socket file goes with the handle.
        ::unlink(bound_path_.c_str());
        bound_path_.clear();
    }
}

boost::system::error_code Pipe::adopt_descriptor(int fd) {
    boost::system::error_code ec;
    fd_.assign(fd, ec);
    if (ec) {
        ::close(fd);
    }
    return ec;
}

boost::system::error_code Pipe::before_listen() {
    // libuv's uv_pipe_listen: EINVAL when closing, unbound or IPC.
    if (is_closing() || !fd_.is_open() || ipc_) {
        return boost::asio::error::invalid_argument;
    }
    return {};
}

// ---- opening, binding, connecting ----------------------------------------

boost::system::error_code Pipe::open(int fd) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (fd_.is_open() || stream() || listening()) {
        return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
    }
    const int mode = ::fcntl(fd, F_GETFL);
    if (mode < 0) {
        return errno_code(); // EBADF
    }
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) {
        return errno_code();
    }
    boost::system::error_code ec;
    fd_.assign(fd, ec);
    if (ec) {
        return ec; // the descriptor stays the caller's
    }
    ec = set_nonblock(fd);
    if (ec) {
        (void)fd_.release();
        return ec;
    }
    const int acc = mode & O_ACCMODE;
    // A pipe's O_DIRECT (packet mode) is the open file description's, set
    // by pipe2 only: `mode` shows it (readiness.hpp, "A drained read", (a)).
    short_read_drains_ = S_ISFIFO(st.st_mode) && (mode & O_DIRECT) == 0;
    stream_opened(acc != O_WRONLY, acc != O_RDONLY, !S_ISSOCK(st.st_mode));
    return {};
}

boost::system::error_code Pipe::bind(std::string_view name) {
    if (is_closing() || fd_.is_open() || stream()) {
        return boost::asio::error::invalid_argument;
    }
    ::sockaddr_un addr{};
    ::socklen_t len = 0;
    if (!make_addr(name, addr, len)) {
        return boost::asio::error::invalid_argument;
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return errno_code();
    }
    if (::bind(fd, reinterpret_cast<const ::sockaddr*>(&addr), len) != 0) {
        int e = errno;
        ::close(fd);
        if (e == ENOENT) {
            e = EACCES; // libuv's uv_pipe_bind, for compatibility with Windows
        }
        return errno_code(e);
    }
    boost::system::error_code ec;
    fd_.assign(fd, ec);
    if (ec) {
        ::close(fd);
        ::unlink(std::string(name).c_str());
        return ec;
    }
    if (name[0] != '\0') {
        bound_path_ = std::string(name);
    }
    return {};
}

// As libuv's uv_pipe_connect: connect(2) at once (a UNIX-domain connect
// does not wait: it succeeds, or fails with EAGAIN when the backlog is
// full); the callback runs later, with the result. EINPROGRESS (other
// socket families opened with `open`) is taken as success: the first read
// or write reports a failure.
boost::system::error_code Pipe::connect(std::string_view name, StatusCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Pipe::connect needs a callback");
    if (const auto ec = check_connect()) {
        return ec;
    }
    boost::system::error_code err;
    if (!fd_.is_open()) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            err = errno_code();
        } else {
            fd_.assign(fd, err);
            if (err) {
                ::close(fd);
            }
        }
    }
    if (!err) {
        ::sockaddr_un addr{};
        ::socklen_t len = 0;
        if (!make_addr(name, addr, len)) {
            err = boost::asio::error::invalid_argument;
        } else if (::connect(stream_fd(), reinterpret_cast<const ::sockaddr*>(&addr), len) != 0 &&
                   errno != EINPROGRESS) {
            // EINTR: a UNIX-domain connect never sleeps, so it is not
            // interrupted; were it, the error is reported (see
            // lib/detail/retry_eintr.hpp on connect).
            err = errno_code();
        }
    }
    connect_started();
    boost::asio::post(loop().io_context(), [a = anchor(), cb = std::move(cb), err]() mutable {
        Pipe* self = from_anchor<Pipe>(a);
        if (self != nullptr) {
            self->connect_finished(cb, err, /*stream_on_error=*/false);
        }
    });
    return {};
}

boost::system::error_code Pipe::chmod(int flags) {
    if (flags != readable && flags != writable && flags != (readable | writable)) {
        return boost::asio::error::invalid_argument;
    }
    if (!fd_.is_open()) {
        return boost::asio::error::bad_descriptor;
    }
    if (bound_path_.empty()) {
        return boost::asio::error::invalid_argument;
    }
    struct ::stat st {};
    if (::stat(bound_path_.c_str(), &st) != 0) {
        return errno_code();
    }
    ::mode_t mode = st.st_mode & 07777;
    if ((flags & readable) != 0) {
        mode |= S_IRUSR | S_IRGRP | S_IROTH;
    }
    if ((flags & writable) != 0) {
        mode |= S_IWUSR | S_IWGRP | S_IWOTH;
    }
    if (::chmod(bound_path_.c_str(), mode) != 0) {
        return errno_code();
    }
    return {};
}

Result<std::string> Pipe::getsockname() const {
    if (!fd_.is_open()) {
        return boost::system::error_code(boost::asio::error::bad_descriptor);
    }
    ::sockaddr_un addr{};
    ::socklen_t len = sizeof(addr);
    if (::getsockname(stream_fd(), reinterpret_cast<::sockaddr*>(&addr), &len) != 0) {
        return errno_code();
    }
    return addr_name(addr, len);
}

Result<std::string> Pipe::getpeername() const {
    if (!fd_.is_open()) {
        return boost::system::error_code(boost::asio::error::bad_descriptor);
    }
    ::sockaddr_un addr{};
    ::socklen_t len = sizeof(addr);
    if (::getpeername(stream_fd(), reinterpret_cast<::sockaddr*>(&addr), &len) != 0) {
        return errno_code();
    }
    return addr_name(addr, len);
}

// ---- IPC ------------------------------------------------------------------

boost::system::error_code
Pipe::write2(boost::asio::const_buffer data, Stream& send_handle, StatusCallback cb) {
    // libuv's uv_write2: EBADF, EPIPE, then EINVAL unless an IPC pipe, then
    // EBADF for a handle without a descriptor.
    if (const auto ec = Stream::writable()) {
        return ec;
    }
    if (!ipc_ || data.size() == 0) {
        return boost::asio::error::invalid_argument;
    }
    const int send_fd = fd_of(send_handle);
    if (send_fd < 0) {
        return boost::asio::error::bad_descriptor;
    }
    WriteReq req;
    req.size = data.size();
    req.borrowed = data;
    req.send_fd = send_fd;
    req.cb = std::move(cb);
    return queue_write(std::move(req));
}

HandleType Pipe::pending_type() const {
    if (pending_.empty()) {
        return HandleType::unknown;
    }
    return handle_type(pending_.front());
}

std::optional<Stream::Kind> Pipe::pending_kind() const {
    if (pending_.empty()) {
        return std::nullopt;
    }
    switch (handle_type(pending_.front())) {
    case HandleType::tcp:
        return Kind::tcp;
    case HandleType::named_pipe:
        return Kind::pipe;
    default:
        return Kind::other;
    }
}

int Pipe::take_pending() {
    const int fd = pending_.front();
    pending_.pop_front();
    return fd;
}

std::size_t Pipe::read_some(char* buf, std::size_t size, boost::system::error_code& ec) {
    if (!ipc_) {
        const std::size_t n = Stream::read_some(buf, size, ec);
        // Bytes (n > 0 without an error), fewer than asked, from a pipe:
        // it is empty ("A drained read", (a); do_read checks (b)).
        read_emptied_ = short_read_drains_ && !ec && n < size;
        return n;
    }
    ::iovec iov{buf, size};
    ::msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(::cmsghdr) char control[CMSG_SPACE(max_fds_per_read * sizeof(int))];
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n =
        pollux::detail::retry_eintr([&] { return ::recvmsg(stream_fd(), &msg, MSG_CMSG_CLOEXEC); });
    if (n < 0) {
        ec = errno_code();
        return 0;
    }
    for (::cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (is_closing()) {
                ::close(fd);
            } else {
                pending_.push_back(fd);
            }
        }
    }
    if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
    }
    ec.clear();
    return static_cast<std::size_t>(n);
}

// ---- pipe() and socketpair() ----------------------------------------------

namespace {

Result<std::array<int, 2>> finish_pair(int fds[2], int flags0, int flags1) {
    const int flags[2] = {flags0, flags1};
    for (int i = 0; i < 2; ++i) {
        if ((flags[i] & nonblock_pipe) != 0) {
            if (const auto ec = set_nonblock(fds[i])) {
                ::close(fds[0]);
                ::close(fds[1]);
                return ec;
            }
        }
    }
    return std::array<int, 2>{fds[0], fds[1]};
}

} // namespace

Result<std::array<int, 2>> pipe(int read_flags, int write_flags) {
    if (((read_flags | write_flags) & ~nonblock_pipe) != 0) {
        return boost::system::error_code(boost::asio::error::invalid_argument);
    }
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return errno_code();
    }
    return finish_pair(fds, read_flags, write_flags);
}

Result<std::array<int, 2>> socketpair(int flags0, int flags1) {
    if (((flags0 | flags1) & ~nonblock_pipe) != 0) {
        return boost::system::error_code(boost::asio::error::invalid_argument);
    }
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        return errno_code();
    }
    return finish_pair(fds, flags0, flags1);
}

} // namespace pollux::uv
