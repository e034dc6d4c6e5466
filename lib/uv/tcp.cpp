#include <pollux/uv/tcp.hpp>
// Own header first: this proves it is self-contained.

#include <pollux/net/resolve.hpp>

#include "../detail/readiness.hpp"
#include "../detail/retry_eintr.hpp"
#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <charconv>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

// How a Tcp handle does I/O (libuv's stream.c, on Asio's reactor):
//
// Readiness, not completion: reads, accepts and writes try the non-blocking
// system call on the loop thread, and only after EAGAIN start a readiness
// wait (lib/detail/readiness.hpp: it stays registered with Asio's
// edge-triggered reactor and costs no epoll_ctl to queue), whose completion
// tries again. So `read_stop` stops at once with no data taken, and the
// kernel, not this handle, buffers what nobody reads.
//
// In-flight bookkeeping: each kick (a posted retry), wait, connect and
// deferred callback is counted by op_started()/op_finished(); the close
// callback waits until none is left. Each handler holds the anchor and does
// nothing once the handle is destroyed (a readiness wait's sink is cut off
// by the destructor instead). The `*_in_flight_` flags make sure
// at most one kick-or-wait per direction is outstanding.

namespace pollux::uv {

namespace {

// libuv reads at most 32 times per readiness event before it lets the rest
// of the loop run; so do we (for accepts too).
constexpr int max_io_per_turn = 32;
constexpr std::size_t read_buffer_size = 64 * 1024;
constexpr auto accept_backoff = std::chrono::milliseconds(100);

// Asio reports EAGAIN (EWOULDBLOCK on Linux) in the system category. Tested
// on every read and accept: the value first, which spares the comparison
// of categories for success and for every other error.
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

} // namespace

Tcp::Tcp(Loop& loop) : Handle(loop), socket_(loop.io_context()) {
}

// Delegating: once Tcp(loop) returned, a throw here runs ~Tcp, which
// unregisters the handle.
Tcp::Tcp(Loop& loop, const boost::asio::ip::tcp& protocol) : Tcp(loop) {
    boost::system::error_code ec;
    socket_.open(protocol, ec);
    if (ec) {
        throw boost::system::system_error(ec, "uv::Tcp");
    }
}

Tcp::~Tcp() {
    destroy_handle();
    pollux::detail::drop_callback_readiness(ready_); // before the sockets close
}

template <class Socket>
void Tcp::start_wait(int direction, Socket& s) {
    pollux::detail::start_callback_wait(
        ready_, s, static_cast<pollux::detail::Direction>(direction), &Tcp::on_ready, this);
}

// A readiness wait completed (or was aborted by a close): the handler of
// arm_read, arm_write or arm_accept.
void Tcp::on_ready(void* p, int direction) {
    Tcp* self = static_cast<Tcp*>(p);
    const auto d = static_cast<pollux::detail::Direction>(direction);
    self->wait_failed_[direction] = pollux::detail::wait_failure(self->ready_->error(d));
    self->ready_->consume(d);
    self->op_finished();
    if (d == pollux::detail::Direction::write) {
        self->write_in_flight_ = false;
        if (self->is_closing()) {
            return; // on_closed() aborts what is queued
        }
        self->flush_writes();
    } else if (self->acceptor_) {
        self->accept_in_flight_ = false;
        self->do_accept();
    } else {
        self->read_in_flight_ = false;
        // An error here (operation_aborted) comes with a close; otherwise
        // the read reports it.
        self->do_read();
    }
}

// ---- setup --------------------------------------------------------------

boost::system::error_code Tcp::bind(const Endpoint& ep) {
    if (is_closing() || listening_ || connected_ || connecting_) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    if (!socket_.is_open()) {
        socket_.open(ep.protocol(), ec);
        if (ec) {
            return ec;
        }
    }
    // libuv sets SO_REUSEADDR on every bound TCP socket (one opened early
    // too).
    socket_.set_option(boost::asio::socket_base::reuse_address(true), ec);
    if (ec) {
        return ec;
    }
    socket_.bind(ep, ec);
    if (ec == boost::asio::error::address_in_use) {
        // libuv's uv__tcp_bind: the error waits for listen or connect, so
        // that a caller binds the same way on every platform.
        delayed_error_ = ec;
        return {};
    }
    return ec;
}

boost::system::error_code Tcp::bind(std::string_view host_port) {
    auto hp = net::split_host_port(host_port);
    if (!hp) {
        return boost::asio::error::invalid_argument;
    }
    const std::string& port_text = hp->second;
    unsigned port = 0;
    const char* end = port_text.data() + port_text.size();
    auto [ptr, err] = std::from_chars(port_text.data(), end, port);
    if (err != std::errc() || ptr != end || port > 65535) {
        return boost::asio::error::invalid_argument;
    }
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(hp->first, ec);
    if (ec) {
        return boost::asio::error::invalid_argument;
    }
    return bind(Endpoint(addr, static_cast<unsigned short>(port)));
}

boost::system::error_code Tcp::listen(int backlog, StatusCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Tcp::listen needs a callback");
    if (is_closing() || connected_ || connecting_) {
        return boost::asio::error::bad_descriptor;
    }
    if (delayed_error_) {
        return delayed_error_;
    }
    if (listening_) {
        listen_cb_ = std::move(cb);
        return {};
    }
    boost::system::error_code ec;
    if (!socket_.is_open()) {
        socket_.open(boost::asio::ip::tcp::v4(), ec);
        if (ec) {
            return ec;
        }
    }
    const auto protocol = socket_.local_endpoint(ec).protocol();
    if (ec) {
        return ec;
    }
    // listen(2) on the handle's own socket first, so that a failure (a
    // port another socket listens on) leaves the handle as it was, and the
    // next listen reports it again, as libuv's.
    if (::listen(socket_.native_handle(), backlog) != 0) {
        return {errno, boost::system::system_category()};
    }
    // The listening socket becomes the acceptor: same descriptor.
    boost::asio::ip::tcp::acceptor acceptor(loop().io_context());
    const int fd = socket_.release(ec);
    if (ec) {
        return ec;
    }
    acceptor.assign(protocol, fd, ec);
    if (ec) {
        // Never retried on EINTR (see lib/detail/retry_eintr.hpp).
        ::close(fd);
        return ec;
    }
    acceptor.non_blocking(true, ec);
    if (ec) {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        return ec;
    }
    acceptor_.emplace(std::move(acceptor));
    listen_cb_ = std::move(cb);
    listening_ = true;
    update_active();
    kick_accept();
    return {};
}

boost::system::error_code Tcp::accept(Tcp& client) {
    POLLUX_ASSERT(&client.loop() == &loop(), "uv::Tcp::accept: client on another loop");
    if (is_closing() || client.is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (client.socket_.is_open() || client.listening_ || client.stream()) {
        // libuv's uv__stream_open on a handle that has a descriptor.
        return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
    }
    if (!waiting_) {
        return boost::asio::error::would_block;
    }
    client.socket_ = std::move(*waiting_);
    waiting_.reset();
    boost::system::error_code ec;
    client.socket_.non_blocking(true, ec);
    client.connected_ = true;
    if (listening_ && !accept_in_flight_) {
        kick_accept();
    }
    return ec;
}

boost::system::error_code Tcp::connect(const Endpoint& ep, StatusCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Tcp::connect needs a callback");
    if (is_closing() || listening_) {
        return boost::asio::error::bad_descriptor;
    }
    if (connecting_) {
        return boost::asio::error::already_started;
    }
    if (connected_) {
        return boost::asio::error::already_connected;
    }
    connecting_ = true;
    connect_failed_ = false;
    req_started();
    op_started();
    if (delayed_error_) {
        // bind's address_in_use, reported as libuv's uv__io_feed does: by
        // the connect callback, in the poll phase.
        boost::asio::post(loop().io_context(),
                          [a = anchor(), cb = std::move(cb), ec = delayed_error_]() mutable {
                              Tcp* self = from_anchor<Tcp>(a);
                              if (self != nullptr) {
                                  self->delayed_error_.clear();
                                  self->on_connected(cb, ec);
                              }
                          });
        return {};
    }
    socket_.async_connect(ep,
                          [a = anchor(), cb = std::move(cb)](boost::system::error_code ec) mutable {
                              Tcp* self = from_anchor<Tcp>(a);
                              if (self != nullptr) {
                                  self->on_connected(cb, ec);
                              }
                          });
    return {};
}

// The connect completed. Order, as libuv's uv__stream_connect: the connect
// callback first; then what waited for the connection. Queued writes go out
// (their callbacks run in a pending phase) or, if the connect failed, fail
// with operation_aborted (libuv's UV_ECANCELED); a started read makes its
// first try (a failed socket reads eof or its error); a requested shutdown
// runs after the writes (and fails with not_connected on a failed socket).
// A failed handle stays a stream, as libuv's: a later write is accepted and
// fails in its callback (broken_pipe), a later read_start reads eof.
void Tcp::on_connected(StatusCallback& cb, boost::system::error_code ec) {
    op_finished();
    req_finished();
    connecting_ = false;
    if (is_closing()) {
        ec = boost::asio::error::operation_aborted;
    } else if (!ec) {
        connected_ = true;
        socket_.non_blocking(true, ec);
    } else {
        // Still a stream, as libuv's: later reads and writes are tried on
        // the failed socket (eof, EPIPE), which must not block.
        connect_failed_ = true;
        boost::system::error_code ignored;
        socket_.non_blocking(true, ignored);
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

// ---- reading ------------------------------------------------------------

boost::system::error_code Tcp::read_start(ReadCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Tcp::read_start needs a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    // libuv's uv_read_start: EALREADY, then ENOTCONN unless readable.
    if (reading_) {
        return boost::asio::error::already_started;
    }
    if (!stream() || read_failed_) {
        return boost::asio::error::not_connected;
    }
    read_cb_ = std::move(cb);
    if (!read_buf_) {
        // Not make_unique: its zero fill would make all 64 KiB resident at
        // once, for every connection, read from or not.
        read_buf_ = std::make_unique_for_overwrite<char[]>(read_buffer_size);
    }
    reading_ = true;
    update_active();
    if (!read_in_flight_ && io_ready()) {
        // Never read inside read_start (rule 2), and never arm a wait before
        // trying (see the top of this file): post a first try.
        kick_read();
    }
    return {};
}

void Tcp::read_stop() noexcept {
    reading_ = false;
    update_active();
}

void Tcp::kick_read() {
    read_in_flight_ = true;
    op_started();
    boost::asio::post(loop().io_context(), [a = anchor()] {
        Tcp* self = from_anchor<Tcp>(a);
        if (self == nullptr) {
            return;
        }
        self->op_finished();
        self->read_in_flight_ = false;
        self->do_read();
    });
}

void Tcp::arm_read() {
    start_wait(static_cast<int>(pollux::detail::Direction::read), socket_);
    read_in_flight_ = true;
    op_started();
}

void Tcp::do_read() {
    for (int i = 0; i < max_io_per_turn; ++i) {
        if (!reading_ || is_closing() || read_in_flight_) {
            return;
        }
        boost::system::error_code ec;
        const std::size_t n = pollux::detail::retry_eintr(ec, [&](boost::system::error_code& e) {
            return socket_.read_some(boost::asio::buffer(read_buf_.get(), read_buffer_size), e);
        });
        if (would_block(ec)) {
            ec = std::exchange(wait_failed_[static_cast<int>(pollux::detail::Direction::read)], {});
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
        if (!invoke(
                read_cb_, boost::system::error_code{}, std::span<const char>(read_buf_.get(), n))) {
            return;
        }
    }
    // Still readable after a full turn: let the rest of the loop run first.
    if (reading_ && !is_closing() && !read_in_flight_) {
        kick_read();
    }
}

// ---- accepting ----------------------------------------------------------

void Tcp::kick_accept() {
    accept_in_flight_ = true;
    op_started();
    boost::asio::post(loop().io_context(), [a = anchor()] {
        Tcp* self = from_anchor<Tcp>(a);
        if (self == nullptr) {
            return;
        }
        self->op_finished();
        self->accept_in_flight_ = false;
        self->do_accept();
    });
}

void Tcp::arm_accept() {
    start_wait(static_cast<int>(pollux::detail::Direction::read), *acceptor_);
    accept_in_flight_ = true;
    op_started();
}

void Tcp::do_accept() {
    for (int i = 0; i < max_io_per_turn; ++i) {
        if (!listening_ || is_closing() || accept_in_flight_ || waiting_) {
            // A connection nobody took yet pauses accepting until accept().
            return;
        }
        boost::asio::ip::tcp::socket s(loop().io_context());
        boost::system::error_code ec;
        pollux::detail::retry_eintr(ec,
                                    [&](boost::system::error_code& e) { acceptor_->accept(s, e); });
        if (would_block(ec)) {
            ec = std::exchange(wait_failed_[static_cast<int>(pollux::detail::Direction::read)], {});
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
            if (!invoke(listen_cb_, ec)) {
                return;
            }
            if (!listening_ || is_closing() || accept_in_flight_) {
                return;
            }
            if (!backoff_) {
                backoff_.emplace(loop().io_context());
            }
            accept_in_flight_ = true;
            op_started();
            backoff_->expires_after(accept_backoff);
            backoff_->async_wait([a = anchor()](const boost::system::error_code&) {
                Tcp* self = from_anchor<Tcp>(a);
                if (self == nullptr) {
                    return;
                }
                self->op_finished();
                self->accept_in_flight_ = false;
                self->do_accept();
            });
            return;
        }
        waiting_.emplace(std::move(s));
        if (!invoke(listen_cb_, boost::system::error_code{})) {
            return;
        }
    }
    if (listening_ && !is_closing() && !accept_in_flight_ && !waiting_) {
        kick_accept();
    }
}

// ---- writing ------------------------------------------------------------

boost::asio::const_buffer Tcp::WriteReq::remaining() const noexcept {
    boost::asio::const_buffer all = borrowed;
    if (!owned_string.empty()) {
        all = boost::asio::buffer(owned_string);
    } else if (!owned_vector.empty()) {
        all = boost::asio::buffer(owned_vector);
    }
    return all + written;
}

boost::system::error_code Tcp::write(std::string data, StatusCallback cb) {
    WriteReq req;
    req.owned_string = std::move(data);
    req.cb = std::move(cb);
    return queue_write(std::move(req));
}

boost::system::error_code Tcp::write(std::vector<char> data, StatusCallback cb) {
    WriteReq req;
    req.owned_vector = std::move(data);
    req.cb = std::move(cb);
    return queue_write(std::move(req));
}

boost::system::error_code Tcp::write(boost::asio::const_buffer data, StatusCallback cb) {
    WriteReq req;
    req.borrowed = data;
    req.cb = std::move(cb);
    return queue_write(std::move(req));
}

Result<std::size_t> Tcp::try_write(boost::asio::const_buffer data) {
    if (const auto ec = writable()) {
        return ec;
    }
    // libuv's uv_try_write: EAGAIN while connecting or with writes queued.
    if (connecting_ || !writes_empty()) {
        return boost::system::error_code(boost::asio::error::would_block);
    }
    boost::system::error_code ec;
    const std::size_t n = pollux::detail::retry_eintr(
        ec, [&](boost::system::error_code& e) { return socket_.write_some(data, e); });
    if (would_block(ec)) {
        return boost::system::error_code(boost::asio::error::would_block);
    }
    if (ec) {
        return ec;
    }
    return n;
}

// libuv's uv_write2: EBADF without a descriptor, EPIPE unless writable (a
// stream not shut down, without a read error).
boost::system::error_code Tcp::writable() const noexcept {
    if (is_closing() || (!socket_.is_open() && !listening_)) {
        return boost::asio::error::bad_descriptor;
    }
    if (!stream() || shutdown_requested_ || read_failed_) {
        return boost::asio::error::broken_pipe;
    }
    return {};
}

boost::system::error_code Tcp::queue_write(WriteReq req) {
    if (const auto ec = writable()) {
        return ec;
    }
    const bool was_empty = writes_empty();
    const std::size_t size = req.remaining().size();
    writes_.push_back(std::move(req));
    write_queue_size_ += size;
    req_started();
    // While connecting, writes wait for on_connected.
    if (io_ready() && !write_in_flight_ && was_empty) {
        // libuv writes at once when nothing is queued; the callback is
        // deferred all the same.
        flush_writes();
    }
    return {};
}

void Tcp::pop_write() noexcept {
    // Release the request's bytes now, not when the queue is next cleared.
    writes_[writes_head_] = WriteReq{};
    ++writes_head_;
    if (writes_empty()) {
        writes_.clear();
        writes_head_ = 0;
    } else if (writes_head_ >= 16 && writes_head_ * 2 >= writes_.size()) {
        // A queue that never drains: drop the finished half (amortised O(1)).
        writes_.erase(writes_.begin(), writes_.begin() + static_cast<std::ptrdiff_t>(writes_head_));
        writes_head_ = 0;
    }
}

void Tcp::flush_writes() {
    while (!writes_empty()) {
        WriteReq& w = front_write();
        for (boost::asio::const_buffer rest = w.remaining(); rest.size() > 0;
             rest = w.remaining()) {
            boost::system::error_code ec;
            // Asio's send passes MSG_NOSIGNAL on Linux: a closed peer gives
            // EPIPE, never SIGPIPE.
            const std::size_t n = pollux::detail::retry_eintr(
                ec, [&](boost::system::error_code& e) { return socket_.write_some(rest, e); });
            if (would_block(ec)) {
                ec = std::exchange(wait_failed_[static_cast<int>(pollux::detail::Direction::write)],
                                   {});
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

void Tcp::fail_writes(boost::system::error_code ec) {
    while (!writes_empty()) {
        StatusCallback cb = std::move(front_write().cb);
        write_queue_size_ -= front_write().remaining().size();
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
void Tcp::complete_write(StatusCallback cb, boost::system::error_code ec) {
    done_writes_.push_back(DoneWrite{std::move(cb), ec});
    if (!done_deferred_) {
        done_deferred_ = true;
        defer([this] { run_done_writes(); });
    }
}

// Writes that complete while these callbacks run (a callback that writes)
// go to a new batch, which runs in the next pending phase. An exception
// from a callback leaves the rest of the batch to the handle's destructor
// (the loop is then only fit to be destroyed, docs/callbacks.md).
void Tcp::run_done_writes() {
    done_deferred_ = false;
    running_done_writes_.swap(done_writes_);
    for (std::size_t i = 0; i < running_done_writes_.size(); ++i) {
        StatusCallback cb = std::move(running_done_writes_[i].cb);
        const boost::system::error_code ec = running_done_writes_[i].ec;
        req_finished();
        if (cb && !guarded([&] { cb(ec); })) {
            return; // destroyed, with the rest of the batch
        }
    }
    running_done_writes_.clear();
}

void Tcp::arm_write() {
    start_wait(static_cast<int>(pollux::detail::Direction::write), socket_);
    write_in_flight_ = true;
    op_started();
}

boost::system::error_code Tcp::shutdown(StatusCallback cb) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    // libuv's uv_shutdown: ENOTCONN unless writable and not shut down.
    if (!stream() || shutdown_requested_ || read_failed_) {
        return boost::asio::error::not_connected;
    }
    shutdown_requested_ = true;
    shutdown_cb_ = std::move(cb);
    req_started();
    maybe_shutdown();
    return {};
}

void Tcp::maybe_shutdown() {
    if (!shutdown_requested_ || shutdown_queued_ || connecting_ || !writes_empty()) {
        return;
    }
    shutdown_queued_ = true;
    defer([this] {
        boost::system::error_code ec;
        if (is_closing()) {
            ec = boost::asio::error::operation_aborted;
        } else {
            socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
        }
        StatusCallback cb = std::move(shutdown_cb_);
        shutdown_cb_ = nullptr;
        req_finished();
        if (cb) {
            (void)guarded([&] { cb(ec); });
        }
    });
}

// ---- closing ------------------------------------------------------------

void Tcp::on_close() noexcept {
    reading_ = false;
    listening_ = false;
    update_active();
    boost::system::error_code ignored;
    // Closing the descriptors cancels the waits and the connect: their
    // handlers come back with operation_aborted (counted in flight).
    if (backoff_) {
        backoff_->cancel();
    }
    if (acceptor_) {
        acceptor_->close(ignored);
    }
    waiting_.reset();
    socket_.close(ignored);
}

void Tcp::on_closed() {
    // Writes that never finished, then a shutdown that never ran.
    while (!writes_empty()) {
        StatusCallback cb = std::move(front_write().cb);
        write_queue_size_ -= front_write().remaining().size();
        pop_write();
        req_finished();
        if (cb && !guarded([&] { cb(boost::asio::error::operation_aborted); })) {
            return;
        }
    }
    if (shutdown_requested_ && !shutdown_queued_) {
        shutdown_queued_ = true;
        StatusCallback cb = std::move(shutdown_cb_);
        shutdown_cb_ = nullptr;
        req_finished();
        if (cb) {
            (void)guarded([&] { cb(boost::asio::error::operation_aborted); });
        }
    }
}

// ---- options and names --------------------------------------------------

boost::system::error_code Tcp::nodelay(bool enable) {
    if (!socket_.is_open()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    socket_.set_option(boost::asio::ip::tcp::no_delay(enable), ec);
    return ec;
}

boost::system::error_code Tcp::keepalive(bool enable, std::chrono::seconds delay) {
    if (!socket_.is_open()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    socket_.set_option(boost::asio::socket_base::keep_alive(enable), ec);
    if (!ec && enable) {
        using KeepIdle = boost::asio::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPIDLE>;
        socket_.set_option(KeepIdle(static_cast<int>(delay.count())), ec);
    }
    return ec;
}

Result<Tcp::Endpoint> Tcp::getsockname() const {
    if (delayed_error_) {
        return delayed_error_; // libuv's uv_tcp_getsockname
    }
    boost::system::error_code ec;
    Endpoint ep = acceptor_ ? acceptor_->local_endpoint(ec) : socket_.local_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

Result<Tcp::Endpoint> Tcp::getpeername() const {
    if (acceptor_) {
        // A listener has no peer (libuv: ENOTCONN, from getpeername(2)).
        return boost::system::error_code(boost::asio::error::not_connected);
    }
    boost::system::error_code ec;
    Endpoint ep = socket_.remote_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

} // namespace pollux::uv
