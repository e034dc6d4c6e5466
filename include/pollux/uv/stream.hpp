#pragma once

/// @file
/// `uv::Stream`: libuv's `uv_stream_t` — what `uv::Tcp`, `uv::Pipe` and
/// `uv::Tty` share: reading, writing, shutting down, listening and
/// accepting on a stream descriptor, driven by callbacks.

#include <pollux/core/result.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pollux::detail {
template <class Sink>
class ReadinessOps;
struct CallbackSink;
} // namespace pollux::detail

namespace pollux::uv {

/// The base of stream handles (libuv's `uv_stream_t`): `uv::Tcp`,
/// `uv::Pipe` (and `uv::Tty`). Not made on its own: a subclass opens or
/// connects the descriptor. The handle is active while listening or
/// reading; writes, connects and shutdowns are requests (they keep the loop
/// alive until their callback ran, even on an unreferenced handle).
///
/// I/O is readiness based, as libuv's: reads, writes and accepts try the
/// non-blocking system call and wait for readiness only after `EAGAIN`,
/// or, reading, after a read the kernel says emptied the descriptor (a
/// `Tcp` by `TCP_INQ`, a `Pipe` on a pipe by a short read: the read loop
/// waits after that read's callback; docs/callbacks.md).
/// The handle never buffers on its own: `write_queue_size()` is what
/// callers queued and the kernel has not taken yet — stop reading (or
/// writing) while it grows, as with libuv.
///
/// Reads use one buffer owned by the loop (64 KiB, made on the first read),
/// lent to the read callback for the duration of the call; so an idle
/// stream holds no read buffer (issue 22).
///
/// Writes to a socket go out with `MSG_NOSIGNAL` (a peer that closed gives
/// `broken_pipe`, never SIGPIPE). Writes to a pipe or terminal use
/// `writev(2)`: as with libuv, a write to a pipe whose reader closed raises
/// SIGPIPE unless the application ignores or blocks it (the library never
/// changes signal dispositions).
///
/// Accept errors: per-connection errors (`ECONNABORTED`, `EPROTO`,
/// `ECONNRESET`) are skipped at once; any other error (`EMFILE`, `ENFILE`,
/// `ENOBUFS`, `ENOMEM`, ...) is reported to the connection callback and
/// accepting pauses for 100 ms on a timer, so the loop never spins.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
class POLLUX_API Stream : public Handle {
public:
    /// Status callbacks: connect, write, shutdown, and "a connection is
    /// waiting" for `listen`.
    using StatusCallback = std::function<void(boost::system::error_code)>;
    /// `data` is valid only during the call (it is the loop's read buffer,
    /// lent for the call). `ec` is `boost::asio::error::eof` at the end of
    /// the stream (with empty `data`); after eof or an error, reading has
    /// stopped.
    using ReadCallback = std::function<void(boost::system::error_code, std::span<const char> data)>;

    /// Starts listening for connections on a bound socket. `cb(ec)` runs each
    /// time a connection is waiting: call `accept` in it. If it does not
    /// accept, accepting pauses until `accept` is called (libuv's
    /// behaviour). `cb` gets an error for resource errors (see the class
    /// comment). `uv::Tcp::listen` also binds an ephemeral port first.
    ///
    /// @par Cancel safety
    /// Closing the handle drops connections accepted from the kernel but not
    /// yet handed to `accept` (their peers see a reset).
    /// @par Errors
    /// `uv::Tcp`: `bad_descriptor` if closing or connected; `address_in_use`
    /// kept by `bind`. `uv::Pipe`: `invalid_argument` if closing, not bound
    /// or IPC (libuv's `uv_pipe_listen`). Then the system's listen error.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code listen(int backlog, StatusCallback cb);

    /// Moves the waiting connection into `client` (which becomes a connected
    /// stream, not yet reading) and resumes accepting. On an IPC `uv::Pipe`
    /// with a received descriptor pending, that descriptor is moved into
    /// `client` instead (see `uv::Pipe::pending_type`).
    /// @par Errors
    /// `boost::asio::error::would_block` when no connection is waiting;
    /// `bad_descriptor` if this handle or `client` is closing;
    /// `invalid_argument` if `client` is not of the server's kind (a
    /// `uv::Pipe` for a TCP connection, ...); `device_or_resource_busy`
    /// (libuv's `UV_EBUSY`) if `client` already has a descriptor.
    /// @par Preconditions
    /// `client` is on the same loop (asserts).
    boost::system::error_code accept(Stream& client);

    /// Starts reading: `cb(ec, data)` runs for each chunk read, until
    /// `read_stop()`, eof or an error. Reading is fair: at most 32 reads per
    /// readiness event before other handlers run. While connecting, reading
    /// starts once connected.
    /// @par Errors
    /// `bad_descriptor` if closing; `already_started` (`EALREADY`) if
    /// reading; `not_connected` if not readable (a fresh, bound or listening
    /// handle, the write end of a pipe) or after a read error, as libuv's
    /// `uv_read_start`. After eof, reading may start again (it reads eof
    /// again, as libuv's).
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code read_start(ReadCallback cb);
    /// Stops reading at once: no read callback runs until the next
    /// `read_start`; data stays in the kernel.
    void read_stop() noexcept;
    /// True between `read_start` and `read_stop` (or the end of reading).
    [[nodiscard]] bool is_reading() const noexcept { return reading_; }
    /// libuv's `uv_is_readable`: a connected (or connecting) stream opened
    /// for reading, without a read error (eof does not count), so
    /// `read_start` may be called. False for a fresh, bound, listening or
    /// closing handle.
    [[nodiscard]] bool is_readable() const noexcept {
        return !is_closing() && stream() && can_read_ && !read_failed_;
    }
    /// libuv's `uv_is_writable`: `write` would be accepted — a connected
    /// (or connecting) stream opened for writing, not shut down, without a
    /// read error, not closing.
    [[nodiscard]] bool is_writable() const noexcept { return !writable(); }

    /// Queues `data` (owned by the handle until `cb` ran) for writing.
    /// `cb(ec)` runs once it was all written, with the error if it failed,
    /// or with `operation_aborted` if the handle is closed first. Writes
    /// complete in the order they were queued. An immediate completion is
    /// deferred to the loop's pending phase. While connecting, writes wait
    /// for the connection.
    ///
    /// @par Cancel safety
    /// Not cancel safe: closing the handle may leave part of the data
    /// written.
    /// @par Errors
    /// `bad_descriptor` if closing or without a descriptor; `broken_pipe`
    /// if not connected or connecting (a bound or listening handle), not
    /// opened for writing (the read end of a pipe), after `shutdown`, or
    /// after a read error (libuv's `UV_EPIPE`). After a failed connect,
    /// writes are accepted and fail in their callbacks. The callback is then
    /// never called.
    boost::system::error_code write(std::string data, StatusCallback cb = {});
    /// As above, owning a `std::vector<char>`.
    boost::system::error_code write(std::vector<char> data, StatusCallback cb = {});
    /// Borrowing write: the caller keeps `data` alive and unchanged until
    /// `cb` runs (or the handle is destroyed).
    boost::system::error_code write(boost::asio::const_buffer data, StatusCallback cb = {});
    /// libuv's `uv_write` with several buffers: they are written in order,
    /// as one request (one `writev`/`sendmsg` while the kernel takes them).
    /// The list is copied; the bytes are borrowed: the caller keeps them
    /// alive and unchanged until `cb` runs (or the handle is destroyed).
    /// Errors as `write`; `invalid_argument` for an empty list (libuv's
    /// `uv_write` with `nbufs` 0 asserts).
    boost::system::error_code write(std::span<const boost::asio::const_buffer> bufs,
                                    StatusCallback cb = {});
    /// libuv's `uv_try_write`: writes as much of `data` as the kernel takes
    /// now, without queuing anything and without a callback; returns the
    /// number of bytes written (the caller still owns `data`, and writes
    /// the rest, if any, with `write`). An echo server that tries this
    /// first makes no allocation for a write the kernel takes whole.
    ///
    /// @par Cancel safety
    /// Nothing is in flight after it returns.
    /// @par Errors
    /// As `write`; `boost::asio::error::would_block` if connecting, if the
    /// kernel takes nothing now or if writes are queued (they go first, so
    /// bytes keep their order); the system's send error (`broken_pipe`,
    /// `connection_reset`, ...).
    /// @par Example
    /// @code
    /// auto n = tcp.try_write(boost::asio::buffer(msg));
    /// std::size_t sent = n ? *n : 0; // would_block: nothing sent
    /// if (sent < msg.size()) {
    ///     tcp.write(msg.substr(sent), cb); // queue a copy of the rest
    /// }
    /// @endcode
    Result<std::size_t> try_write(boost::asio::const_buffer data);
    /// `try_write` of several buffers, in order (one `writev`/`sendmsg`).
    Result<std::size_t> try_write(std::span<const boost::asio::const_buffer> bufs);
    /// libuv's `uv_stream_set_blocking`: makes the descriptor blocking (or
    /// non-blocking again). While blocking, `try_write` and `write` wait in
    /// the kernel until it took everything (the loop stalls meanwhile);
    /// meant for a stream written just before the process exits, as
    /// libuv's.
    /// @par Errors
    /// `bad_descriptor` if closing or without a descriptor; the system's
    /// `fcntl` error.
    boost::system::error_code set_blocking(bool blocking);
    /// Bytes queued and not yet taken by the kernel.
    [[nodiscard]] std::size_t write_queue_size() const noexcept { return write_queue_size_; }

    /// Shuts the write side down once every queued write is done (a socket's
    /// `shutdown(SHUT_WR)`: TCP FIN, eof for a UNIX-domain peer); `cb(ec)`
    /// runs afterwards with `shutdown(2)`'s error (`ENOTSOCK` on a
    /// pipe, as libuv's), or with `operation_aborted` if the handle is
    /// closed first. While connecting, the shutdown waits for the
    /// connection.
    /// @par Errors
    /// `bad_descriptor` if closing; `not_connected` if not connected or
    /// connecting (a fresh, bound or listening handle), not opened for
    /// writing, if already shut down, or after a read error (libuv's
    /// `UV_ENOTCONN`). The callback is then never called.
    boost::system::error_code shutdown(StatusCallback cb = {});

    // The protected members are the interface between Stream and the
    // stream types pollux defines (Tcp, Pipe, Tty); not for users.
protected:
    // What a descriptor of a subclass is; accept() moves a connection only
    // between handles of the same kind.
    // `other`: a received descriptor no stream can take (UDP, unknown).
    enum class Kind : unsigned char { tcp, pipe, tty, other };

    // A queued write. Its bytes are found from the owned storage each time
    // (fill_iov), not through a pointer taken once, so a request may move
    // (a moved std::string may move its characters: small-string
    // optimisation).
    struct WriteReq {
        std::string owned_string;
        std::vector<char> owned_vector;
        boost::asio::const_buffer borrowed;
        std::vector<boost::asio::const_buffer> borrowed_many;
        std::size_t size = 0;    // all bytes of the request
        std::size_t written = 0; // bytes the kernel took
        int send_fd = -1;        // write2: sent with the first bytes, not owned
        StatusCallback cb;

        // Fills up to `max` iovecs with what is left; returns how many.
        int fill_iov(void* iov, int max) const noexcept;
    };

    Stream(Loop& loop, Kind kind);
    ~Stream();

    // Called first by every subclass destructor (instead of destroy_handle):
    // closes the handle silently, then cuts the readiness waits off before
    // the subclass's descriptors close.
    void destroy_stream() noexcept;

    // The descriptor under the stream (-1 if none).
    [[nodiscard]] virtual int stream_fd() const noexcept = 0;
    // Starts a readiness wait on the descriptor: a subclass calls
    // start_ready_wait(io, direction) with the Asio object that owns it.
    virtual void start_stream_wait(int direction) = 0;
    // Closes the descriptor (on close); cancels what waits on it.
    virtual void close_descriptor() noexcept = 0;
    // accept(): takes `fd` (a fresh connection or a received descriptor of
    // this handle's kind; owned from now on, even on error). The default (a
    // kind nothing is accepted into, as a terminal) closes it and refuses.
    virtual boost::system::error_code adopt_descriptor(int fd);
    // accept() on an IPC pipe: the kind of the first received descriptor
    // (nullopt if none is pending), and taking it (owned by the caller).
    [[nodiscard]] virtual std::optional<Kind> pending_kind() const { return std::nullopt; }
    virtual int take_pending() { return -1; }
    // The descriptor of another stream (write2's handle to send).
    [[nodiscard]] static int fd_of(const Stream& s) noexcept { return s.stream_fd(); }
    // The read system call: read(2) by default; an IPC pipe receives
    // descriptors along (recvmsg). An override may set read_emptied_ when
    // the read returned bytes and the kernel said nothing is left after
    // them (lib/detail/readiness.hpp, "A drained read", (a)): a TCP handle,
    // by TCP_INQ. do_read clears it before each read. (read_emptied_ is
    // declared after ready_, beside waiting_: no padding of its own.)
    virtual std::size_t read_some(char* buf, std::size_t size, boost::system::error_code& ec);
    // listen(): the subclass's checks and preparation, made first (Tcp
    // opens a socket, which listen(2) binds to an ephemeral port).
    virtual boost::system::error_code before_listen() { return {}; }

    // Template helper for start_stream_wait: defined in lib/uv/stream_impl.hpp.
    template <class IoObject>
    void start_ready_wait(IoObject& io, int direction);

    // The descriptor became a connected stream (accept, open): `readable`/
    // `writable` as opened (a pipe end may be one only); `plain_fd` for a
    // descriptor that is not a socket (a pipe, a terminal: writev, not
    // sendmsg).
    void stream_opened(bool readable, bool writable, bool plain_fd) noexcept;
    // A connect was started: writes, reads and a shutdown wait for it.
    // Errors as for Tcp::connect (checked before).
    [[nodiscard]] boost::system::error_code check_connect() const noexcept;
    void connect_started() noexcept;
    // The connect completed (or failed): runs `cb` then what waited. A
    // failed TCP connect leaves a stream (`stream_on_error`, as libuv's);
    // a failed pipe connect does not.
    void
    connect_finished(StatusCallback& cb, boost::system::error_code ec, bool stream_on_error = true);

    [[nodiscard]] boost::system::error_code writable() const noexcept;
    boost::system::error_code queue_write(WriteReq req);

    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    // A stream: connected, connecting, or a connect failed (libuv keeps
    // UV_HANDLE_READABLE | UV_HANDLE_WRITABLE then; I/O fails with the
    // descriptor's errors).
    [[nodiscard]] bool stream() const noexcept {
        return connected_ || connecting_ || connect_failed_;
    }
    [[nodiscard]] bool listening() const noexcept { return listening_; }
    [[nodiscard]] bool connecting() const noexcept { return connecting_; }
    [[nodiscard]] bool connected() const noexcept { return connected_; }
    // shutdown() was called (libuv's UV_HANDLE_SHUTTING, which is never
    // cleared): close_reset refuses then.
    [[nodiscard]] bool shutdown_requested() const noexcept { return shutdown_requested_; }

    // The readiness waits of the descriptor (lib/detail/readiness.hpp).
    // Made on first use; the handle holds one reference.
    pollux::detail::ReadinessOps<pollux::detail::CallbackSink>* ready_ = nullptr;
    bool read_emptied_ = false; // see read_some
    static void on_ready(void* self, int direction);

private:
    // First of the private members: it fills the word read_emptied_ starts.
    int waiting_ = -1; // an accepted connection, not yet handed out

    // A write that finished (or failed), waiting for its callback to run in
    // the pending phase.
    struct DoneWrite {
        StatusCallback cb;
        boost::system::error_code ec;
    };

    void on_close() noexcept override;
    void on_closed() override;

    [[nodiscard]] bool writes_empty() const noexcept;
    WriteReq& front_write() noexcept;
    void pop_write() noexcept;
    void flush_writes();
    // One writev/sendmsg of what is left of `w` (with its descriptor the
    // first time); returns the bytes written.
    std::size_t write_some(const WriteReq& w, boost::system::error_code& ec);
    void fail_writes(boost::system::error_code ec);
    void complete_write(StatusCallback cb, boost::system::error_code ec);
    void run_done_writes();
    void arm_write();
    void maybe_shutdown();
    // Reads and writes may be tried now (not while connecting).
    [[nodiscard]] bool io_ready() const noexcept { return connected_ || connect_failed_; }

    void kick_read();
    void arm_read();
    void do_read();

    void kick_accept();
    void arm_accept();
    void do_accept();
    void close_waiting() noexcept;

    void update_active() noexcept { set_active(reading_ || listening_); }

    // What only a listening stream uses (its callback and the back-off
    // timer), made by listen(); and the write queue and the shutdown's
    // callback, made by the first write (try_write does not queue) or
    // shutdown, and kept: a steady write allocates nothing. Out of line so
    // that an idle connection is no bigger than it must be (issue 22).
    struct ListenState;
    struct WriteState;
    std::unique_ptr<ListenState> listen_state_;
    std::unique_ptr<WriteState> wq_;
    WriteState& write_state();

    ReadCallback read_cb_;
    std::size_t write_queue_size_ = 0;
    bool done_deferred_ = false;

    Kind kind_;
    bool connected_ = false;
    bool connecting_ = false;
    bool connect_failed_ = false;
    // As opened (libuv's UV_HANDLE_READABLE/UV_HANDLE_WRITABLE at open): a
    // pipe's read end is not writable, its write end not readable.
    bool can_read_ = true;
    bool can_write_ = true;
    // writev(2) rather than sendmsg(2) (a pipe or a terminal).
    bool plain_fd_ = false;
    // A read error: read_start and shutdown give not_connected, write
    // broken_pipe (libuv's uv__read clears UV_HANDLE_READABLE and
    // UV_HANDLE_WRITABLE; eof clears neither).
    bool read_failed_ = false;
    bool listening_ = false;
    bool reading_ = false;
    bool read_in_flight_ = false;   // a kick or a wait will call do_read
    bool accept_in_flight_ = false; // a kick, a wait or the backoff will call do_accept
    bool write_in_flight_ = false;  // a wait for writability will call flush_writes
    // Per direction: the reactor refused the last readiness wait (Asio's
    // select reactor past FD_SETSIZE), so the next would-block is reported
    // as that error (the wait's, which ready_ keeps until the direction's
    // next wait starts) instead of waiting again at once (a busy loop).
    bool wait_failed_[2] = {false, false};
    // The error of a refused wait for `direction`, once (empty if none).
    boost::system::error_code take_wait_failure(int direction) noexcept;
    bool shutdown_requested_ = false;
    bool shutdown_queued_ = false;
};

} // namespace pollux::uv
