#pragma once

/// @file
/// `uv::Tcp`: libuv's `uv_tcp_t` (and the `uv_stream_t` calls on it) — a
/// listening or connected TCP socket driven by callbacks.

#include <pollux/core/result.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pollux::detail {
template <class Sink>
class ReadinessOps;
struct CallbackSink;
} // namespace pollux::detail

namespace pollux::uv {

/// A TCP handle: a server (`bind` + `listen` + `accept`) or a stream
/// (`connect`, or `accept`ed), with libuv's readiness-based I/O. The handle
/// is active while listening or reading; writes, connects and shutdowns
/// are requests (they keep the loop alive until their callback ran, even on
/// an unreferenced handle).
///
/// Writes go out with `MSG_NOSIGNAL` (a peer that closed gives
/// `broken_pipe`, never SIGPIPE). The handle never buffers on its own:
/// `write_queue_size()` is what callers queued and the kernel has not
/// taken yet — stop reading (or writing) while it grows, as with libuv.
///
/// Accept errors: per-connection errors (`ECONNABORTED`, `EPROTO`,
/// `ECONNRESET`) are skipped at once; any other error (`EMFILE`, `ENFILE`,
/// `ENOBUFS`, `ENOMEM`, ...) is reported to the connection callback and
/// accepting pauses for 100 ms on a timer, so the loop never spins.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Tcp server(loop);
/// server.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
/// server.listen(128, [&](boost::system::error_code ec) {
///     if (ec) return;
///     auto conn = std::make_unique<uv::Tcp>(loop);
///     server.accept(*conn);
///     ...
/// });
/// @endcode
class POLLUX_API Tcp final : public Handle {
public:
    /// An IPv4 or IPv6 address and port.
    using Endpoint = boost::asio::ip::tcp::endpoint;
    /// Status callbacks: connect, write, shutdown, and "a connection is
    /// waiting" for `listen`.
    using StatusCallback = std::function<void(boost::system::error_code)>;
    /// `data` is valid only during the call. `ec` is `boost::asio::error::eof`
    /// at the end of the stream (with empty `data`); after eof or an error,
    /// reading has stopped.
    using ReadCallback = std::function<void(boost::system::error_code, std::span<const char> data)>;

    /// A handle on `loop` with no socket yet (`bind` or `connect` opens one).
    explicit Tcp(Loop& loop);
    /// libuv's `uv_tcp_init_ex(loop, tcp, AF_INET or AF_INET6)`: a handle
    /// whose socket is opened at once for `protocol` (`tcp::v4()` or
    /// `tcp::v6()`), so that `nodelay`, `keepalive` and `getsockname` work
    /// before `bind`, `listen` or `connect` (which use this socket).
    /// @par Errors
    /// Throws `boost::system::system_error` if the socket cannot be opened
    /// (`EMFILE`, ...).
    Tcp(Loop& loop, const boost::asio::ip::tcp& protocol);
    ~Tcp();

    /// Opens a socket for `ep`'s protocol (if not open yet) with
    /// `SO_REUSEADDR`, and binds it.
    ///
    /// As libuv's `uv_tcp_bind`, a port already in use is not an error
    /// here: `address_in_use` is kept and reported by the next `listen`
    /// (returned) or `connect` (passed to its callback).
    /// @par Errors
    /// `bad_descriptor` if closing or already listening/connected; the
    /// system's bind error (`invalid_argument` for an IPv4 address on an
    /// IPv6 socket opened early, `address_not_available`, ...) except
    /// `address_in_use`.
    boost::system::error_code bind(const Endpoint& ep);
    /// Binds "address:port" ("127.0.0.1:0", "[::1]:8080", "0.0.0.0:7000"),
    /// as `bind(Endpoint)`. The address is an IP literal, as for libuv's
    /// `uv_ip4_addr`/`uv_ip6_addr`: no name lookup runs on the loop thread
    /// (resolve a name with `uv::getaddrinfo` first).
    /// @par Errors
    /// `invalid_argument` when `host_port` has no ':', an empty or
    /// non-numeric port, a port above 65535, or an address that is not an IP
    /// literal; then as `bind(Endpoint)`.
    boost::system::error_code bind(std::string_view host_port);

    /// Starts listening (binding an IPv4 ephemeral port if `bind` was not
    /// called). `cb(ec)` runs each time a connection is waiting: call
    /// `accept` in it. If it does not accept, accepting pauses until
    /// `accept` is called (libuv's behaviour). `cb` gets an error for
    /// resource errors (see the class comment).
    ///
    /// @par Cancel safety
    /// Closing the handle drops connections accepted from the kernel but not
    /// yet handed to `accept` (their peers see a reset).
    /// @par Errors
    /// `bad_descriptor` if closing or connected; `address_in_use` kept by
    /// `bind`; the system's listen error.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code listen(int backlog, StatusCallback cb);

    /// Moves the waiting connection into `client` (which becomes a connected
    /// stream, not yet reading) and resumes accepting.
    /// @par Errors
    /// `boost::asio::error::would_block` when no connection is waiting;
    /// `bad_descriptor` if this handle or `client` is closing;
    /// `device_or_resource_busy` (libuv's `UV_EBUSY`) if `client` already
    /// has a socket (opened early, bound, connected or listening).
    /// @par Preconditions
    /// `client` is on the same loop (asserts).
    boost::system::error_code accept(Tcp& client);

    /// Connects to `ep`; `cb(ec)` runs when connected or failed
    /// (`connection_refused`, `address_in_use` kept by `bind`, ...), or with
    /// `operation_aborted` if the handle is closed first.
    ///
    /// While connecting, `write`, `read_start` and `shutdown` are accepted
    /// and wait for the connection, as with libuv: queued writes go out
    /// once connected (after the connect callback was called), and fail
    /// with `operation_aborted` if the connect fails; reading starts once
    /// connected; a shutdown runs after the queued writes.
    /// @par Errors
    /// `bad_descriptor` if closing; `already_started` if a connect is in
    /// flight; `already_connected`. The callback is then never called.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code connect(const Endpoint& ep, StatusCallback cb);

    /// Starts reading: `cb(ec, data)` runs for each chunk read, until
    /// `read_stop()`, eof or an error. Reading is fair: at most 32 reads per
    /// readiness event before other handlers run. While connecting, reading
    /// starts once connected.
    /// @par Errors
    /// `bad_descriptor` if closing; `already_started` (`EALREADY`) if
    /// reading; `not_connected` if not connected or connecting (a fresh,
    /// bound or listening handle) or after a read error, as libuv's
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
    /// libuv's `uv_is_readable`: a connected (or connecting) stream without
    /// a read error (eof does not count), so `read_start` may be called.
    /// False for a fresh, bound, listening or closing handle.
    [[nodiscard]] bool is_readable() const noexcept {
        return !is_closing() && stream() && !read_failed_;
    }
    /// libuv's `uv_is_writable`: `write` would be accepted — a connected
    /// (or connecting) stream, not shut down, without a read error, not
    /// closing.
    [[nodiscard]] bool is_writable() const noexcept { return !writable(); }

    /// Queues `data` (owned by the handle until `cb` ran) for writing.
    /// `cb(ec)` runs once it was all written, with the error if it failed,
    /// or with `operation_aborted` if the handle is closed first. Writes
    /// complete in the order they were queued. An immediate completion is
    /// deferred to the loop's pending phase. While connecting, writes wait
    /// for the connection (see `connect`).
    ///
    /// @par Cancel safety
    /// Not cancel safe: closing the handle may leave part of the data
    /// written.
    /// @par Errors
    /// `bad_descriptor` if closing or without a socket; `broken_pipe` if
    /// not connected or connecting (a bound or listening handle), after
    /// `shutdown`, or after a read error (libuv's `UV_EPIPE`). After a
    /// failed connect, writes are accepted and fail in their callbacks. The callback is then never
    /// called.
    boost::system::error_code write(std::string data, StatusCallback cb = {});
    /// As above, owning a `std::vector<char>`.
    boost::system::error_code write(std::vector<char> data, StatusCallback cb = {});
    /// Borrowing write: the caller keeps `data` alive and unchanged until
    /// `cb` runs (or the handle is destroyed).
    boost::system::error_code write(boost::asio::const_buffer data, StatusCallback cb = {});
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
    /// Bytes queued and not yet taken by the kernel.
    [[nodiscard]] std::size_t write_queue_size() const noexcept { return write_queue_size_; }

    /// Shuts the write side down once every queued write is done (TCP FIN);
    /// `cb(ec)` runs afterwards, or with `operation_aborted` if the handle is
    /// closed first.
    /// While connecting, the shutdown waits for the connection (and gets
    /// the error of `shutdown(2)`, `not_connected`, if it fails).
    /// @par Errors
    /// `bad_descriptor` if closing; `not_connected` if not connected or
    /// connecting (a fresh, bound or listening handle), if already shut
    /// down, or after a read error (libuv's `UV_ENOTCONN`). The callback is
    /// then never called.
    boost::system::error_code shutdown(StatusCallback cb = {});

    /// `TCP_NODELAY`. @par Errors `bad_descriptor` if no socket is open.
    boost::system::error_code nodelay(bool enable);
    /// `SO_KEEPALIVE`, and `TCP_KEEPIDLE` = `delay` when enabling.
    /// @par Errors `bad_descriptor` if no socket is open.
    boost::system::error_code keepalive(bool enable,
                                        std::chrono::seconds delay = std::chrono::seconds(60));

    /// The local address.
    /// @par Errors
    /// `bad_descriptor` if no socket is open; `address_in_use` kept by
    /// `bind` (until `connect` reported it), as libuv's
    /// `uv_tcp_getsockname`; the system's error.
    [[nodiscard]] Result<Endpoint> getsockname() const;
    /// The peer's address.
    /// @par Errors
    /// `bad_descriptor` if no socket is open; `not_connected` (a listener
    /// too); the system's error.
    [[nodiscard]] Result<Endpoint> getpeername() const;

    /// The stream socket under the handle, for interop with Asio or
    /// `pollux::use_future` (its operations complete on the loop's
    /// io_context). Do not interleave its writes with the handle's, nor its
    /// reads with `read_start`; do not close it.
    [[nodiscard]] boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }

private:
    // A queued write. Its bytes are found from the owned storage each time
    // (`remaining()`), not through a pointer taken once, so a request may move
    // (a moved std::string may move its characters: small-string
    // optimisation).
    struct WriteReq {
        std::string owned_string;
        std::vector<char> owned_vector;
        boost::asio::const_buffer borrowed;
        std::size_t written = 0;
        StatusCallback cb;

        [[nodiscard]] boost::asio::const_buffer remaining() const noexcept;
    };
    // A write that finished (or failed), waiting for its callback to run in
    // the pending phase.
    struct DoneWrite {
        StatusCallback cb;
        boost::system::error_code ec;
    };

    void on_close() noexcept override;
    void on_closed() override;

    [[nodiscard]] boost::system::error_code writable() const noexcept;
    boost::system::error_code queue_write(WriteReq req);
    [[nodiscard]] bool writes_empty() const noexcept { return writes_head_ == writes_.size(); }
    WriteReq& front_write() noexcept { return writes_[writes_head_]; }
    void pop_write() noexcept;
    void flush_writes();
    void fail_writes(boost::system::error_code ec);
    void complete_write(StatusCallback cb, boost::system::error_code ec);
    void run_done_writes();
    void arm_write();
    void maybe_shutdown();
    void on_connected(StatusCallback& cb, boost::system::error_code ec);
    // A stream: connected, connecting, or a connect failed (libuv keeps
    // UV_HANDLE_READABLE | UV_HANDLE_WRITABLE then; I/O fails with the
    // socket's errors).
    [[nodiscard]] bool stream() const noexcept {
        return connected_ || connecting_ || connect_failed_;
    }
    // Reads and writes may be tried now (not while connecting).
    [[nodiscard]] bool io_ready() const noexcept { return connected_ || connect_failed_; }

    void kick_read();
    void arm_read();
    void do_read();

    void kick_accept();
    void arm_accept();
    void do_accept();

    // The readiness waits of socket_ (read, write) and acceptor_ (read):
    // lib/detail/readiness.hpp. Made on first use; the handle holds one
    // reference.
    template <class Socket>
    void start_wait(int direction, Socket& s);
    static void on_ready(void* self, int direction);
    void update_active() noexcept { set_active(reading_ || listening_); }

    boost::asio::ip::tcp::socket socket_;
    std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
    std::optional<boost::asio::ip::tcp::socket> waiting_; // accepted, not yet handed out
    std::optional<boost::asio::steady_timer> backoff_;
    pollux::detail::ReadinessOps<pollux::detail::CallbackSink>* ready_ = nullptr;

    StatusCallback listen_cb_;
    ReadCallback read_cb_;
    StatusCallback shutdown_cb_;
    std::unique_ptr<char[]> read_buf_;
    // The write queue: writes_[writes_head_..] in order. A vector whose
    // capacity is kept (cleared when drained, compacted when half of it is
    // done) rather than a deque, which allocates and frees a block every few
    // writes: in steady state, queuing a write allocates nothing.
    std::vector<WriteReq> writes_;
    std::size_t writes_head_ = 0;
    std::size_t write_queue_size_ = 0;
    // Completed writes whose callbacks one deferred call (done_deferred_)
    // will run, and the batch it is running; both keep their capacity.
    std::vector<DoneWrite> done_writes_;
    std::vector<DoneWrite> running_done_writes_;
    bool done_deferred_ = false;

    // bind's address_in_use, reported by listen and connect (libuv's
    // delayed_error).
    boost::system::error_code delayed_error_;

    bool connected_ = false;
    bool connecting_ = false;
    bool connect_failed_ = false;
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
    // as that error instead of waiting again at once (a busy loop).
    boost::system::error_code wait_failed_[2];
    bool shutdown_requested_ = false;
    bool shutdown_queued_ = false;
};

} // namespace pollux::uv
