#include <pollux/uv/stream.hpp>
// Own header first: this proves it is self-contained.

#include "../detail/readiness.hpp"
#include "../detail/retry_eintr.hpp"
#include "loop_impl.hpp"
#include "stream_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/errc.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <utility>

// How a stream handle does I/O (libuv's stream.c, on Asio's reactor):
//
// Readiness, not completion: reads, accepts and writes make the
// non-blocking system call on the loop thread, and only after EAGAIN start a
// readiness wait (lib/detail/readiness.hpp: it stays registered with Asio's
// edge-triggered reactor and costs no epoll_ctl to queue), whose completion
// tries again. So `read_stop` stops at once with no data taken, and the
// kernel, not this handle, buffers what nobody reads. The system calls are
// made on the descriptor directly (read(2), sendmsg(2) or writev(2),
// accept4(2)), so one path serves sockets, pipes and terminals; the subclass
// owns the descriptor (in its Asio object, which the readiness waits use).
//
// In-flight bookkeeping: each kick (a posted retry), wait, connect and
// deferred callback is counted by op_started()/op_finished(); the close
// callback waits until none is left. Each handler holds the anchor and does
// nothing once the handle is destroyed (a readiness wait's sink is cut off
// by the destructor instead). The `*_in_flight_` flags make sure at most one
// kick-or-wait per direction is outstanding.

namespace pollux::uv {

namespace {

// libuv reads at most 32 times per readiness event before it lets the rest
// of the loop run; so do we (for accepts too).
constexpr int max_io_per_turn = 32;
constexpr std::size_t read_buffer_size = 64 * 1024;
constexpr auto accept_backoff = std::chrono::milliseconds(100);
// iovecs per writev/sendmsg; the rest of a longer list goes in the next.
constexpr int max_iov = 64;

boost::system::error_code errno_code(int e = errno) {
    return {e, boost::system::system_category()};
}

// EAGAIN (EWOULDBLOCK on Linux) from a system call of this file. Tested on
// every read and accept: the value first, which spares the comparison of
// categories for success and for every other error.
bool would_block(const boost::system::error_code& ec) {
    static_assert(EAGAIN == EWOULDBLOCK);
    return ec.value() == EAGAIN && ec.category() == boost::asio::error::get_system_category();
}

// Errors of one connection that accept() may return and that do not stop
// accepting (DESIGN.md section 8). EINTR never gets here: every system call
// of this file goes through detail::retry_eintr.
bool per_connection_error(const boost::system::error_code& ec) {
    return ec == boost::asio::error::connection_aborted ||
           ec == boost::asio::error::connection_reset ||
           ec == boost::system::error_code(EPROTO, boost::system::system_category());
}

// Fills iovecs from `bufs`, skipping the first `skip` bytes.
int fill_from(std::span<const boost::asio::const_buffer> bufs,
              std::size_t skip,
              ::iovec* iov,
              int max) noexcept {
    int n = 0;
    for (const auto& b : bufs) {
        if (n == max) {
            break;
        }
        if (skip >= b.size()) {
            skip -= b.size();
            continue;
        }
        iov[n].iov_base = const_cast<char*>(static_cast<const char*>(b.data()) + skip);
        iov[n].iov_len = b.size() - skip;
        skip = 0;
        ++n;
    }
    return n;
}

// One writev (a pipe or terminal) or sendmsg with MSG_NOSIGNAL (a socket;
// with `send_fd` as SCM_RIGHTS when it is not -1).
std::size_t send_iov(
    int fd, bool plain_fd, ::iovec* iov, int iovcnt, int send_fd, boost::system::error_code& ec) {
    ssize_t n = 0;
    if (plain_fd && send_fd < 0) {
        n = pollux::detail::retry_eintr([&] { return ::writev(fd, iov, iovcnt); });
    } else {
        ::msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
        alignas(::cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        if (send_fd >= 0) {
            msg.msg_control = control;
            msg.msg_controllen = sizeof(control);
            ::cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(c), &send_fd, sizeof(int));
        }
        n = pollux::detail::retry_eintr([&] { return ::sendmsg(fd, &msg, MSG_NOSIGNAL); });
    }
    if (n < 0) {
        ec = errno_code();
        return 0;
    }
    ec.clear();
    return static_cast<std::size_t>(n);
}

} // namespace

// A listening stream's own state (Stream::listen makes it).
struct Stream::ListenState {
    StatusCallback cb;
    // Accepting pauses on it after a resource error (made on the first).
    std::optional<boost::asio::steady_timer> backoff;
};

// The write queue: writes[head..] in order. A vector whose capacity is kept
// (cleared when drained, compacted when half of it is done) rather than a
// deque, which allocates and frees a block every few writes: in steady
// state, queuing a write allocates nothing. Made by the first write or
// shutdown (write_state()) and kept until the handle goes.
struct Stream::WriteState {
    std::vector<WriteReq> writes;
    std::size_t head = 0;
    // Completed writes whose callbacks one deferred call (done_deferred_)
    // will run, and the batch it is running; both keep their capacity.
    std::vector<DoneWrite> done;
    std::vector<DoneWrite> running;
    StatusCallback shutdown_cb;
};

Stream::WriteState& Stream::write_state() {
    if (wq_ == nullptr) {
        wq_ = std::make_unique<WriteState>();
    }
    return *wq_;
}

bool Stream::writes_empty() const noexcept {
    return wq_ == nullptr || wq_->head == wq_->writes.size();
}

Stream::WriteReq& Stream::front_write() noexcept {
    return wq_->writes[wq_->head];
}

boost::system::error_code Stream::take_wait_failure(int direction) noexcept {
    if (!std::exchange(wait_failed_[direction], false)) {
        return {};
    }
    return ready_->error(static_cast<pollux::detail::Direction>(direction));
}

// uv_handle_type: tcp, named_pipe or tty by kind (Tty sets its own too).
Stream::Stream(Loop& loop, Kind kind)
    : Handle(loop,
             kind == Kind::tcp    ? HandleType::tcp
             : kind == Kind::pipe ? HandleType::named_pipe
             : kind == Kind::tty  ? HandleType::tty
                                  : HandleType::stream),
      kind_(kind) {
}

Stream::~Stream() {
    // destroy_stream() ran (Handle's destructor asserts that destroy_handle
    // did); a connection accepted after on_close cannot exist.
    close_waiting();
}

void Stream::destroy_stream() noexcept {
    destroy_handle();
    pollux::detail::drop_callback_readiness(ready_); // before the descriptor's object goes
}

void Stream::close_waiting() noexcept {
    if (waiting_ >= 0) {
        // Never retried on EINTR (see lib/detail/retry_eintr.hpp).
        ::close(std::exchange(waiting_, -1));
    }
}

// A readiness wait completed (or was aborted by a close): the handler of
// arm_read, arm_write or arm_accept.
void Stream::on_ready(void* p, int direction) {
    Stream* self = static_cast<Stream*>(p);
    const auto d = static_cast<pollux::detail::Direction>(direction);
    self->wait_failed_[direction] =
        static_cast<bool>(pollux::detail::wait_failure(self->ready_->error(d)));
    self->ready_->consume(d);
    self->op_finished();
    if (d == pollux::detail::Direction::write) {
        self->write_in_flight_ = false;
        if (self->is_closing()) {
            return; // on_closed() aborts what is queued
        }
        self->flush_writes();
    } else if (self->listening_) {
        self->accept_in_flight_ = false;
        self->do_accept();
    } else {
        self->read_in_flight_ = false;
        // An error here (operation_aborted) comes with a close; otherwise
        // the read reports it.
        self->do_read();
    }
}

// ---- opening and connecting ---------------------------------------------

void Stream::stream_opened(bool readable, bool writable, bool plain_fd) noexcept {
    connected_ = true;
    can_read_ = readable;
    can_write_ = writable;
    plain_fd_ = plain_fd;
}

boost::system::error_code Stream::check_connect() const noexcept {
    if (is_closing() || listening_) {
        return boost::asio::error::bad_descriptor;
    }
    if (connecting_) {
        return boost::asio::error::already_started;
    }
    if (connected_) {
        return boost::asio::error::already_connected;
    }
    return {};
}

void Stream::connect_started() noexcept {
    connecting_ = true;
    connect_failed_ = false;
    plain_fd_ = false;
    req_started();
    op_started();
}

// The connect completed. Order, as libuv's uv__stream_connect: the connect
// callback first; then what waited for the connection. Queued writes go out
// (their callbacks run in a pending phase) or, if the connect failed, fail
// with operation_aborted (libuv's UV_ECANCELED); a started read makes its
// first try (a failed socket reads eof or its error); a requested shutdown
// runs after the writes (and fails with not_connected on a failed socket).
// A failed handle stays a stream, as libuv's: a later write is accepted and
// fails in its callback (broken_pipe), a later read_start reads eof. The
// subclass made the descriptor non-blocking.
void Stream::connect_finished(StatusCallback& cb,
                              boost::system::error_code ec,
                              bool stream_on_error) {
    op_finished();
    req_finished();
    connecting_ = false;
    if (is_closing()) {
        ec = boost::asio::error::operation_aborted;
    } else if (!ec) {
        connected_ = true;
    } else {
        connect_failed_ = stream_on_error;
    }
    if (!guarded([&] { cb(ec); }) || is_closing()) {
        return; // destroyed; or closed, and on_closed() aborts what waits
    }
    if (ec) {
        fail_writes(boost::asio::error::operation_aborted);
    } else if (!writes_empty() && !write_in_flight_) {
        flush_writes();
    } else {
        maybe_shutdown();
    }
    if (reading_ && !read_in_flight_) {
        kick_read();
    }
}

// ---- listening and accepting --------------------------------------------

boost::system::error_code Stream::listen(int backlog, StatusCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Stream::listen needs a callback");
    // The subclass's checks first (libuv's uv_tcp_listen and
    // uv_pipe_listen check and report differently).
    if (const auto ec = before_listen()) {
        return ec;
    }
    if (is_closing() || connected_ || connecting_) {
        return boost::asio::error::bad_descriptor;
    }
    if (listening_) {
        listen_state_->cb = std::move(cb);
        return {};
    }
    const int fd = stream_fd();
    if (fd < 0) {
        return boost::asio::error::bad_descriptor;
    }
    // A failure (a port another socket listens on) leaves the handle as it
    // was, and the next listen reports it again, as libuv's.
    if (::listen(fd, backlog) != 0) {
        return errno_code();
    }
    // accept4 must not block: the listening descriptor is non-blocking
    // (the connections it gives are made so by accept4 itself).
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        return errno_code();
    }
    if (listen_state_ == nullptr) {
        listen_state_ = std::make_unique<ListenState>();
    }
    listen_state_->cb = std::move(cb);
    listening_ = true;
    update_active();
    kick_accept();
    return {};
}

boost::system::error_code Stream::adopt_descriptor(int fd) {
    ::close(fd); // never retried on EINTR (lib/detail/retry_eintr.hpp)
    return boost::asio::error::invalid_argument;
}

boost::system::error_code Stream::accept(Stream& client) {
    POLLUX_ASSERT(&client.loop() == &loop(), "uv::Stream::accept: client on another loop");
    if (is_closing() || client.is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (client.stream_fd() >= 0 || client.listening_ || client.stream()) {
        // libuv's uv__stream_open on a handle that has a descriptor.
        return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
    }
    boost::system::error_code ec;
    if (const auto pending = pending_kind()) {
        // An IPC pipe's received descriptor (libuv's uv_accept on a pipe
        // with pending handles): it stays pending if `client` cannot take
        // it.
        if (*pending != client.kind_) {
            return boost::asio::error::invalid_argument;
        }
        ec = client.adopt_descriptor(take_pending());
        // A server socket (bound, or listening already) stays one: the
        // client may `listen` on it, as libuv's uv_accept + uv_listen
        // (test-ipc.c's ipc_listen_* tests). Only a connected one is a
        // stream.
        ::sockaddr_storage peer{};
        ::socklen_t peer_len = sizeof(peer);
        if (!ec && (::getpeername(
                        client.stream_fd(), reinterpret_cast<::sockaddr*>(&peer), &peer_len) == 0 ||
                    errno != ENOTCONN)) {
            client.stream_opened(true, true, false);
        }
        return ec;
    }
    if (waiting_ < 0) {
        return boost::asio::error::would_block;
    }
    if (client.kind_ != kind_) {
        return boost::asio::error::invalid_argument;
    }
    ec = client.adopt_descriptor(std::exchange(waiting_, -1));
    if (!ec) {
        client.stream_opened(true, true, false);
    }
    if (listening_ && !accept_in_flight_) {
        kick_accept();
    }
    return ec;
}

void Stream::kick_accept() {
    accept_in_flight_ = true;
    op_started();
    boost::asio::post(loop().io_context(), [a = anchor()] {
        Stream* self = from_anchor<Stream>(a);
        if (self == nullptr) {
            return;
        }
        self->op_finished();
        self->accept_in_flight_ = false;
        self->do_accept();
    });
}

void Stream::arm_accept() {
    start_stream_wait(static_cast<int>(pollux::detail::Direction::read));
    accept_in_flight_ = true;
    op_started();
}

void Stream::do_accept() {
    for (int i = 0; i < max_io_per_turn; ++i) {
        if (!listening_ || is_closing() || accept_in_flight_ || waiting_ >= 0) {
            // A connection nobody took yet pauses accepting until accept().
            return;
        }
        const int fd = pollux::detail::retry_eintr(
            [&] { return ::accept4(stream_fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); });
        boost::system::error_code ec;
        if (fd < 0) {
            ec = errno_code();
        }
        if (would_block(ec)) {
            ec = take_wait_failure(static_cast<int>(pollux::detail::Direction::read));
            if (!ec) {
                arm_accept();
                return;
            }
        }
        if (per_connection_error(ec)) {
            continue;
        }
        if (ec) {
            // Out of descriptors or memory (or worse): report, then pause on
            // a timer so that the loop does not spin on a listener that
            // stays readable.
            if (!invoke(listen_state_->cb, ec)) {
                return;
            }
            if (!listening_ || is_closing() || accept_in_flight_) {
                return;
            }
            std::optional<boost::asio::steady_timer>& backoff = listen_state_->backoff;
            if (!backoff) {
                backoff.emplace(loop().io_context());
            }
            accept_in_flight_ = true;
            op_started();
            backoff->expires_after(accept_backoff);
            backoff->async_wait([a = anchor()](const boost::system::error_code&) {
                Stream* self = from_anchor<Stream>(a);
                if (self == nullptr) {
                    return;
                }
                self->op_finished();
                self->accept_in_flight_ = false;
                self->do_accept();
            });
            return;
        }
        waiting_ = fd;
        if (!invoke(listen_state_->cb, boost::system::error_code{})) {
            return;
        }
    }
    if (listening_ && !is_closing() && !accept_in_flight_ && waiting_ < 0) {
        kick_accept();
    }
}

// ---- reading ------------------------------------------------------------

boost::system::error_code Stream::read_start(ReadCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Stream::read_start needs a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    // libuv's uv_read_start: EALREADY, then ENOTCONN unless readable.
    if (reading_) {
        return boost::asio::error::already_started;
    }
    if (!stream() || !can_read_ || read_failed_) {
        return boost::asio::error::not_connected;
    }
    read_cb_ = std::move(cb);
    reading_ = true;
    update_active();
    if (!read_in_flight_ && io_ready()) {
        // Never read inside read_start (rule 2), and never arm a wait before
        // trying (see the top of this file): post a first try.
        kick_read();
    }
    return {};
}

void Stream::read_stop() noexcept {
    reading_ = false;
    update_active();
}

void Stream::kick_read() {
    read_in_flight_ = true;
    op_started();
    boost::asio::post(loop().io_context(), [a = anchor()] {
        Stream* self = from_anchor<Stream>(a);
        if (self == nullptr) {
            return;
        }
        self->op_finished();
        self->read_in_flight_ = false;
        self->do_read();
    });
}

void Stream::arm_read() {
    start_stream_wait(static_cast<int>(pollux::detail::Direction::read));
    read_in_flight_ = true;
    op_started();
}

std::size_t Stream::read_some(char* buf, std::size_t size, boost::system::error_code& ec) {
    const ssize_t n = pollux::detail::retry_eintr([&] { return ::read(stream_fd(), buf, size); });
    if (n < 0) {
        ec = errno_code();
        return 0;
    }
    if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
    }
    return static_cast<std::size_t>(n);
}

// The loop's read buffer is lent to one callback at a time: a read callback
// cannot read synchronously (reads are posted, never made inside
// read_start), so no other read of this loop runs until it returns, and
// the data it was given is valid only during the call (ReadCallback).
void Stream::do_read() {
    for (int i = 0; i < max_io_per_turn; ++i) {
        if (!reading_ || is_closing() || read_in_flight_) {
            return;
        }
        std::unique_ptr<char[]>& buf = impl().stream_read_buffer;
        if (!buf) {
            // Not make_unique: its zero fill would make all 64 KiB resident
            // before anything was read.
            buf = std::make_unique_for_overwrite<char[]>(read_buffer_size);
        }
        boost::system::error_code ec;
        read_emptied_ = false;
        const std::size_t n = read_some(buf.get(), read_buffer_size, ec);
        if (would_block(ec)) {
            if (ready_ != nullptr) {
                ready_->read_would_block();
            }
            ec = take_wait_failure(static_cast<int>(pollux::detail::Direction::read));
            if (!ec) {
                arm_read();
                return;
            }
        }
        if (ec) {
            // End of stream or error: reading stops (libuv's uv__stream_eof
            // and uv__read). After eof, read_start may start again (and
            // reads eof again, as libuv's); after an error, read_start,
            // write and shutdown are refused.
            reading_ = false;
            read_failed_ = ec != boost::asio::error::eof;
            update_active();
            (void)invoke(read_cb_, ec, std::span<const char>{});
            return;
        }
        // The read drained the descriptor (readiness.hpp, "A drained
        // read"): after the callback, wait without the read that would only
        // say would-block. No wait consumed yet (ready_ null): nothing to
        // distrust.
        const bool drained = read_emptied_ && (ready_ == nullptr || ready_->may_mark_drained());
        if (!invoke(read_cb_, boost::system::error_code{}, std::span<const char>(buf.get(), n))) {
            return;
        }
        if (drained) {
            if (reading_ && !is_closing() && !read_in_flight_) {
                arm_read();
            }
            return;
        }
    }
    // Still readable after a full turn: let the rest of the loop run first.
    if (reading_ && !is_closing() && !read_in_flight_) {
        kick_read();
    }
}

// ---- writing ------------------------------------------------------------

int Stream::WriteReq::fill_iov(void* out, int max) const noexcept {
    auto* iov = static_cast<::iovec*>(out);
    if (!borrowed_many.empty()) {
        return fill_from(borrowed_many, written, iov, max);
    }
    boost::asio::const_buffer all = borrowed;
    if (!owned_string.empty()) {
        all = boost::asio::buffer(owned_string);
    } else if (!owned_vector.empty()) {
        all = boost::asio::buffer(owned_vector);
    }
    return fill_from(std::span<const boost::asio::const_buffer>(&all, 1), written, iov, max);
}

boost::system::error_code Stream::write(std::string data, StatusCallback cb) {
    WriteReq req;
    req.size = data.size();
    req.owned_string = std::move(data);
    req.cb = std::move(cb);
    return queue_write(std::move(req));
}

boost::system::error_code Stream::write(std::vector<char> data, StatusCallback cb) {
    WriteReq req;
    req.size = data.size();
    req.owned_vector = std::move(data);
    req.cb = std::move(cb);
    return queue_write(std::move(req));
}

boost::system::error_code Stream::write(boost::asio::const_buffer data, StatusCallback cb) {
    WriteReq req;
    req.size = data.size();
    req.borrowed = data;
    req.cb = std::move(cb);
    return queue_write(std::move(req));
}

boost::system::error_code Stream::write(std::span<const boost::asio::const_buffer> bufs,
                                        StatusCallback cb) {
    if (bufs.empty()) {
        return boost::asio::error::invalid_argument;
    }
    if (const auto ec = writable()) {
        return ec; // before copying the list
    }
    WriteReq req;
    for (const auto& b : bufs) {
        req.size += b.size();
    }
    if (bufs.size() == 1) {
        req.borrowed = bufs[0];
    } else {
        req.borrowed_many.assign(bufs.begin(), bufs.end());
    }
    req.cb = std::move(cb);
    return queue_write(std::move(req));
}

Result<std::size_t> Stream::try_write(boost::asio::const_buffer data) {
    return try_write(std::span<const boost::asio::const_buffer>(&data, 1));
}

Result<std::size_t> Stream::try_write(std::span<const boost::asio::const_buffer> bufs) {
    if (const auto ec = writable()) {
        return ec;
    }
    // libuv's uv_try_write: EAGAIN while connecting or with writes queued.
    if (connecting_ || !writes_empty()) {
        return boost::system::error_code(boost::asio::error::would_block);
    }
    ::iovec iov[max_iov];
    const int n_iov = fill_from(bufs, 0, iov, max_iov);
    if (n_iov == 0) {
        return std::size_t{0};
    }
    boost::system::error_code ec;
    const std::size_t n = send_iov(stream_fd(), plain_fd_, iov, n_iov, -1, ec);
    if (would_block(ec)) {
        return boost::system::error_code(boost::asio::error::would_block);
    }
    if (ec) {
        return ec;
    }
    return n;
}

boost::system::error_code Stream::set_blocking(bool blocking) {
    const int fd = stream_fd();
    if (is_closing() || fd < 0) {
        return boost::asio::error::bad_descriptor;
    }
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 ||
        ::fcntl(fd, F_SETFL, blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK)) != 0) {
        return errno_code();
    }
    return {};
}

// libuv's uv_write2: EBADF without a descriptor, EPIPE unless writable (a
// stream opened for writing, not shut down, without a read error).
boost::system::error_code Stream::writable() const noexcept {
    if (is_closing() || (stream_fd() < 0 && !listening_)) {
        return boost::asio::error::bad_descriptor;
    }
    if (!stream() || !can_write_ || shutdown_requested_ || read_failed_) {
        return boost::asio::error::broken_pipe;
    }
    return {};
}

boost::system::error_code Stream::queue_write(WriteReq req) {
    if (const auto ec = writable()) {
        return ec;
    }
    const bool was_empty = writes_empty();
    const std::size_t size = req.size;
    write_state().writes.push_back(std::move(req));
    write_queue_size_ += size;
    req_started();
    // While connecting, writes wait for connect_finished.
    if (io_ready() && !write_in_flight_ && was_empty) {
        // libuv writes at once when nothing is queued; the callback is
        // deferred all the same.
        flush_writes();
    }
    return {};
}

void Stream::pop_write() noexcept {
    // Release the request's bytes now, not when the queue is next cleared.
    WriteState& q = *wq_;
    q.writes[q.head] = WriteReq{};
    ++q.head;
    if (writes_empty()) {
        q.writes.clear();
        q.head = 0;
    } else if (q.head >= 16 && q.head * 2 >= q.writes.size()) {
        // A queue that never drains: drop the finished half (amortised O(1)).
        q.writes.erase(q.writes.begin(), q.writes.begin() + static_cast<std::ptrdiff_t>(q.head));
        q.head = 0;
    }
}

std::size_t Stream::write_some(const WriteReq& w, boost::system::error_code& ec) {
    ::iovec iov[max_iov];
    const int n_iov = w.fill_iov(iov, max_iov);
    // The descriptor of a write2 goes with the request's first bytes
    // (libuv's uv__write sends it with the first sendmsg, then forgets it).
    const int send_fd = w.written == 0 ? w.send_fd : -1;
    return send_iov(stream_fd(), plain_fd_, iov, n_iov, send_fd, ec);
}

void Stream::flush_writes() {
    while (!writes_empty()) {
        WriteReq& w = front_write();
        while (w.written < w.size) {
            boost::system::error_code ec;
            const std::size_t n = write_some(w, ec);
            if (would_block(ec)) {
                ec = take_wait_failure(static_cast<int>(pollux::detail::Direction::write));
                if (!ec) {
                    arm_write();
                    return;
                }
            }
            if (ec) {
                fail_writes(ec);
                return;
            }
            w.written += n;
            write_queue_size_ -= n;
        }
        StatusCallback cb = std::move(w.cb);
        pop_write();
        complete_write(std::move(cb), {});
    }
    maybe_shutdown();
}

void Stream::fail_writes(boost::system::error_code ec) {
    while (!writes_empty()) {
        StatusCallback cb = std::move(front_write().cb);
        write_queue_size_ -= front_write().size - front_write().written;
        pop_write();
        complete_write(std::move(cb), ec);
    }
    maybe_shutdown();
}

// Deferred to the pending phase: write() may be on the stack. Completions
// are batched: one deferred call (which captures only `this`, so it fits in
// std::function's small buffer) runs the callbacks of every write that
// completed before it runs, in order, so a completion allocates nothing in
// steady state.
void Stream::complete_write(StatusCallback cb, boost::system::error_code ec) {
    write_state().done.push_back(DoneWrite{std::move(cb), ec});
    if (!done_deferred_) {
        done_deferred_ = true;
        defer([this] { run_done_writes(); });
    }
}

// Writes that complete while these callbacks run (a callback that writes)
// go to a new batch, which runs in the next pending phase. An exception
// from a callback leaves the rest of the batch to the handle's destructor
// (the loop is then only fit to be destroyed, docs/callbacks.md).
void Stream::run_done_writes() {
    done_deferred_ = false;
    WriteState& q = *wq_; // made by complete_write; kept until the handle goes
    q.running.swap(q.done);
    for (std::size_t i = 0; i < q.running.size(); ++i) {
        StatusCallback cb = std::move(q.running[i].cb);
        const boost::system::error_code ec = q.running[i].ec;
        req_finished();
        if (cb && !guarded([&] { cb(ec); })) {
            return; // destroyed, with the rest of the batch
        }
    }
    q.running.clear();
}

void Stream::arm_write() {
    start_stream_wait(static_cast<int>(pollux::detail::Direction::write));
    write_in_flight_ = true;
    op_started();
}

boost::system::error_code Stream::shutdown(StatusCallback cb) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    // libuv's uv_shutdown: ENOTCONN unless writable and not shut down.
    if (!stream() || !can_write_ || shutdown_requested_ || read_failed_) {
        return boost::asio::error::not_connected;
    }
    shutdown_requested_ = true;
    write_state().shutdown_cb = std::move(cb);
    req_started();
    maybe_shutdown();
    return {};
}

void Stream::maybe_shutdown() {
    if (!shutdown_requested_ || shutdown_queued_ || connecting_ || !writes_empty()) {
        return;
    }
    shutdown_queued_ = true;
    defer([this] {
        boost::system::error_code ec;
        if (is_closing()) {
            ec = boost::asio::error::operation_aborted;
        } else if (::shutdown(stream_fd(), SHUT_WR) != 0) {
            ec = errno_code();
        }
        StatusCallback cb = std::move(wq_->shutdown_cb);
        wq_->shutdown_cb = nullptr;
        req_finished();
        if (cb) {
            (void)guarded([&] { cb(ec); });
        }
    });
}

// ---- closing ------------------------------------------------------------

void Stream::on_close() noexcept {
    reading_ = false;
    listening_ = false;
    update_active();
    // Closing the descriptor cancels the waits and a connect: their
    // handlers come back with operation_aborted (counted in flight).
    if (listen_state_ != nullptr && listen_state_->backoff) {
        listen_state_->backoff->cancel();
    }
    close_waiting();
    close_descriptor();
}

void Stream::on_closed() {
    // Writes that never finished, then a shutdown that never ran.
    while (!writes_empty()) {
        StatusCallback cb = std::move(front_write().cb);
        write_queue_size_ -= front_write().size - front_write().written;
        pop_write();
        req_finished();
        if (cb && !guarded([&] { cb(boost::asio::error::operation_aborted); })) {
            return;
        }
    }
    if (shutdown_requested_ && !shutdown_queued_) {
        shutdown_queued_ = true;
        StatusCallback cb = std::move(wq_->shutdown_cb);
        wq_->shutdown_cb = nullptr;
        req_finished();
        if (cb) {
            (void)guarded([&] { cb(boost::asio::error::operation_aborted); });
        }
    }
}

} // namespace pollux::uv
