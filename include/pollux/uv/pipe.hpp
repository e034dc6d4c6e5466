#pragma once

/// @file
/// `uv::Pipe`: libuv's `uv_pipe_t` — a UNIX-domain stream socket (by path or
/// in Linux's abstract namespace), an anonymous pipe end or any stream
/// descriptor opened with `open`, and IPC pipes that pass descriptors; and
/// `uv::pipe()`/`uv::socketpair()`, libuv's `uv_pipe`/`uv_socketpair`.

#include <pollux/core/result.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/stream.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace pollux::uv {

// `Pipe::pending_type` reports `uv::HandleType` (pollux/uv/handle.hpp):
// `unknown`, `tcp`, `named_pipe` or `udp`.

/// A pipe handle (libuv's `uv_pipe_t`): a stream over a UNIX-domain socket
/// (`bind` + `listen` + `accept`, or `connect`), or over any pipe or stream
/// socket descriptor (`open`). Reading, writing, shutting down, listening
/// and accepting are `uv::Stream`'s.
///
/// Names: a path, or (Linux) a name in the abstract namespace, which begins
/// with '\0' (and is then taken with its exact length). A bound path is
/// removed (`unlink`) when the handle closes, as libuv's. A name longer
/// than `sockaddr_un` holds is `invalid_argument` (libuv 1.44 cuts it
/// short silently; later libuv refuses it too).
///
/// IPC (`Pipe(loop, true)`, libuv's `ipc = 1`): `write2` sends a handle's
/// descriptor along with data; a read receives descriptors the peer sent
/// (`pending_count`, `pending_type`), which `accept` moves into a `uv::Tcp`
/// or `uv::Pipe`: a connected socket as a stream, a bound or listening one
/// as a server that `listen` takes (as libuv's). Received descriptors are
/// close-on-exec; those not accepted are closed with the handle.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Pipe server(loop);
/// server.bind("/tmp/echo.sock");
/// server.listen(128, [&](boost::system::error_code ec) {
///     if (ec) return;
///     auto conn = std::make_unique<uv::Pipe>(loop);
///     server.accept(*conn);
///     ...
/// });
/// @endcode
class POLLUX_API Pipe final : public Stream {
public:
    /// `chmod`'s flags (libuv's `UV_READABLE`, `UV_WRITABLE`).
    static constexpr int readable = 1;
    static constexpr int writable = 2;

    /// A handle on `loop` with no descriptor yet (`bind`, `connect` or
    /// `open` gives it one). `ipc`: descriptors may be passed (libuv's
    /// `uv_pipe_init(loop, pipe, ipc)`).
    explicit Pipe(Loop& loop, bool ipc = false);
    ~Pipe();

    /// libuv's `uv_pipe_open`: the handle takes `fd` (a pipe end, a
    /// UNIX-domain or other stream socket, a terminal), makes it
    /// non-blocking and owns it from then on (closes it on close). A
    /// read-only descriptor is readable only, a write-only one writable
    /// only (`O_ACCMODE`, as libuv). The descriptor is a connected stream:
    /// `read_start` and `write` may follow at once.
    /// @par Errors
    /// `bad_descriptor` if closing or `fd` is not open (then `fd` stays the
    /// caller's); `device_or_resource_busy` if the handle has a descriptor;
    /// the reactor's error. A regular file is taken too (Asio's reactor
    /// accepts it without waiting on it): its reads and writes never wait.
    boost::system::error_code open(int fd);

    /// libuv's `uv_pipe_bind`: makes a UNIX-domain socket bound to `name`.
    /// @par Errors
    /// `invalid_argument` if closing, if the handle has a descriptor
    /// (bound, connected, opened), for an empty name or one too long;
    /// `address_in_use`; `permission_denied` for a directory that does not
    /// exist (libuv turns `ENOENT` into `EACCES`); the system's error.
    boost::system::error_code bind(std::string_view name);

    /// libuv's `uv_pipe_connect`: connects to `name` (opening a socket if
    /// the handle has none); `cb(ec)` runs in a later loop phase, with the
    /// connect's error (`ENOENT`, `connection_refused`, `ENOTSOCK`, `try_again` when the listener's
    /// backlog is full, `invalid_argument` for a name too long) or with `operation_aborted` if the
    /// handle is closed first. As libuv's, errors of the connect itself come through the callback
    /// only. After a failed connect the handle is not a stream (`read_start`: `not_connected`,
    /// `write`: `broken_pipe`). Writes, reads and a shutdown requested while connecting wait for
    /// it, as `uv::Tcp::connect`.
    /// @par Errors
    /// `bad_descriptor` if closing or listening; `already_started` if a
    /// connect is in flight; `already_connected`. The callback is then
    /// never called.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code connect(std::string_view name, StatusCallback cb);

    /// libuv's `uv_pipe_chmod`: makes the bound path readable and/or
    /// writable (`readable | writable`) by everyone.
    /// @par Errors
    /// `invalid_argument` for other flags or a handle not bound to a path
    /// (an abstract name has no file); `bad_descriptor` without a
    /// descriptor; the system's `chmod` error.
    boost::system::error_code chmod(int flags);

    /// The name the socket is bound to: a path, an abstract name (with its
    /// leading '\0'), or empty (a connected client, an anonymous pipe).
    /// @par Errors
    /// `bad_descriptor` without a descriptor; the system's error.
    [[nodiscard]] Result<std::string> getsockname() const;
    /// The peer's name, as `getsockname`.
    /// @par Errors
    /// `bad_descriptor` without a descriptor; `not_connected` (a listener,
    /// a bound socket); `ENOTSOCK` (a pipe); the system's error.
    [[nodiscard]] Result<std::string> getpeername() const;

    /// True for an IPC pipe (`Pipe(loop, true)`).
    [[nodiscard]] bool ipc() const noexcept { return ipc_; }

    /// libuv's `uv_write2`: writes `data` and sends `send_handle`'s
    /// descriptor with its first bytes (`SCM_RIGHTS`); the peer receives a
    /// copy of it (this handle keeps its own). `send_handle` must stay open
    /// until `cb` ran. Otherwise as `write` (borrowed `data`).
    /// @par Errors
    /// As `write`; then `invalid_argument` if this pipe is not IPC or
    /// `data` is empty (a descriptor needs at least one byte to go with);
    /// `bad_descriptor` if `send_handle` has no descriptor.
    boost::system::error_code
    write2(boost::asio::const_buffer data, Stream& send_handle, StatusCallback cb = {});

    /// libuv's `uv_pipe_pending_count`: descriptors received and not yet
    /// accepted (0 unless IPC).
    [[nodiscard]] std::size_t pending_count() const noexcept { return pending_.size(); }
    /// libuv's `uv_pipe_pending_type`: the kind of the next descriptor
    /// `accept` takes (`unknown` if none).
    [[nodiscard]] HandleType pending_type() const;

    /// The descriptor (-1 if none). Do not close it; do not read or write
    /// it while the handle does.
    [[nodiscard]] int fd() const noexcept { return stream_fd(); }

private:
    [[nodiscard]] int stream_fd() const noexcept override;
    void start_stream_wait(int direction) override;
    void close_descriptor() noexcept override;
    boost::system::error_code adopt_descriptor(int fd) override;
    boost::system::error_code before_listen() override;
    [[nodiscard]] std::optional<Kind> pending_kind() const override;
    int take_pending() override;
    std::size_t read_some(char* buf, std::size_t size, boost::system::error_code& ec) override;
    void close_pending() noexcept;

    boost::asio::posix::stream_descriptor fd_;
    std::deque<int> pending_; // received descriptors, oldest first
    std::string bound_path_;  // unlinked on close (not for abstract names)
    bool ipc_;
    // `open` took the read end of a pipe or FIFO (not a packet-mode one): a
    // read shorter than asked emptied it (lib/detail/readiness.hpp, "A
    // drained read", (a)). Never for a UNIX-domain socket or a terminal.
    bool short_read_drains_ = false;
};

/// libuv's `UV_NONBLOCK_PIPE`, for `pipe` and `socketpair`.
inline constexpr int nonblock_pipe = 1;

/// libuv's `uv_pipe(fds, read_flags, write_flags)`: an anonymous pipe,
/// `{read end, write end}`, both close-on-exec; an end is non-blocking if
/// its flags have `nonblock_pipe` (give an end to `Pipe::open`, which makes
/// it non-blocking anyway; leave the end given to a child blocking). The
/// caller owns both.
/// @par Errors
/// `invalid_argument` for unknown flags; the system's error (`EMFILE`).
POLLUX_API Result<std::array<int, 2>> pipe(int read_flags = 0, int write_flags = 0);

/// libuv's `uv_socketpair(SOCK_STREAM, 0, fds, flags0, flags1)`: a
/// connected pair of UNIX-domain stream sockets, both close-on-exec, as
/// `pipe` (for IPC with a child: give one end to an IPC `Pipe`).
/// @par Errors
/// As `pipe`.
POLLUX_API Result<std::array<int, 2>> socketpair(int flags0 = 0, int flags1 = 0);

} // namespace pollux::uv
