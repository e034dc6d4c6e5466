#pragma once

/// @file
/// `io::AsyncFd` (tokio's `AsyncFd`): readiness and non-blocking reads and
/// writes on any pollable non-blocking descriptor (a pipe, a socket, a
/// terminal, an eventfd, ...), with the futures `ReadableFuture` and
/// `WritableFuture`; and `io::StdStream` with `io::stdin()`, `io::stdout()`,
/// `io::stderr()` and `io::std_stream(fd)` (tokio's `io::stdin()`, ...).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <optional>
#include <utility>

namespace pollux::io {

class ReadableFuture;
class WritableFuture;

/// Which readiness an operation waits for.
enum class Interest { readable, writable };

/// A non-blocking descriptor registered with the event loop of the task that
/// made it (tokio's `AsyncFd`).
///
/// Ownership: on success `create` takes the descriptor; the `AsyncFd` closes
/// it when dropped, unless `release()` gave it back first. On an error the
/// descriptor stays the caller's (it is not closed). The descriptor must be
/// in non-blocking mode (`O_NONBLOCK`) and pollable by epoll: `create`
/// returns `invalid_argument` for a blocking one and `operation_not_supported`
/// for a regular file, directory or other descriptor that epoll refuses
/// (those never block: use plain read(2)/write(2), or `io::std_stream`).
///
/// Readiness protocol (tokio's, without the guard object):
/// `poll_read_ready` is Ready while the descriptor is believed readable (it
/// starts so). After a syscall of yours failed with EAGAIN/EWOULDBLOCK, call
/// `clear_read_ready()`: the next `poll_read_ready` arms a wait on the event
/// loop and is Ready again once the reactor reports the descriptor readable
/// (or closed, or in error: the syscall then says which). Readiness may be a
/// false positive, as tokio's: on epoll the wait completes at once when it
/// reported an edge since the loop last found the direction exhausted
/// (always the case for the first wait), and the syscall then says EAGAIN
/// again; clear and wait again, as above. Writing is the same
/// with `poll_write_ready`/`clear_write_ready`. Not clearing after EAGAIN
/// makes a loop of yours spin; clearing when it was not EAGAIN only costs a
/// round trip through the loop.
/// @code
/// // Read from an eventfd `efd` (non-blocking, owned by `fd`):
/// auto fd = pollux::io::AsyncFd::create(efd).value();
/// for (;;) {
///     co_await fd.readable();          // Result<void>; check it
///     std::uint64_t n;
///     if (::read(fd.fd(), &n, sizeof n) == sizeof n) break;
///     if (errno == EAGAIN) fd.clear_read_ready();
/// }
/// @endcode
///
/// `poll_read` / `poll_write` run that loop with read(2) / write(2) (EINTR
/// retried; recvmsg(2) on a TCP socket), so an `AsyncFd` over a pipe or
/// stream socket is an `io::AsyncRead` and `io::AsyncWrite` (`io::read`,
/// `io::write_all`, ...). A `poll_read` that emptied a pipe, a FIFO or a TCP
/// socket clears read readiness itself, so the next read waits without the
/// read(2) that would only fail with EAGAIN: for a pipe, a read shorter than
/// asked; for a TCP socket, the kernel's count of what is left, which is why
/// `create` sets TCP_INQ on a TCP socket (a recvmsg of yours with room for
/// control messages then gets TCP_CM_INQ too). Other descriptors (Unix
/// sockets, terminals, packet-mode pipes) read until EAGAIN. An end of
/// stream or an error is never missed (lib/detail/readiness.hpp, "A
/// drained read", says why).
/// A write to a pipe whose reader is gone fails with EPIPE only if SIGPIPE
/// is ignored (the runtime does not change its disposition).
///
/// Dropping: the descriptor is closed on the dropping thread, which aborts
/// the waits in flight; dropped after its Runtime (or io_context) shut down,
/// it touches nothing of the dead context and still closes the descriptor
/// (the net sockets' rule, pollux/detail/io_block.hpp).
///
/// @par Cancel safety
/// Every operation is cancel safe: buffers are borrowed only during a poll,
/// and a poll that returns Pending has moved no byte, so dropping a read or
/// write future (`io::read(fd, buf)`, `fd.readable()`, ...) loses nothing.
/// A wait left armed by a dropped future stays with the `AsyncFd` until the
/// next poll of that direction takes it over (it may wake the old waker
/// once: a spurious wake).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API AsyncFd {
public:
    struct Impl;

    /// Adopts a block made by the library.
    explicit AsyncFd(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s descriptor; `o` is left holding none (only destroy or
    /// assign to it; polling it asserts).
    AsyncFd(AsyncFd&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
    /// Closes the descriptor held, as the destructor does, then takes `o`'s.
    AsyncFd& operator=(AsyncFd&& o) noexcept;
    ~AsyncFd();

    /// Registers `fd` with the current task's event loop and takes it.
    /// @par Errors
    /// As values, the descriptor then still the caller's: `bad_descriptor`
    /// (EBADF), `invalid_argument` when `O_NONBLOCK` is not set,
    /// `operation_not_supported` when epoll refuses the descriptor (regular
    /// files, directories, /dev/null, ...), or the registration's error
    /// (on epoll, EEXIST when the descriptor is already registered). Throws
    /// `std::logic_error` outside a pollux task.
    static Result<AsyncFd> create(int fd);
    /// As above, on `ex`; callable anywhere.
    static Result<AsyncFd> create(int fd, const boost::asio::any_io_executor& ex);

    /// The descriptor (still owned by this object); -1 when it holds none.
    [[nodiscard]] int fd() const noexcept;
    /// Cancels the waits in flight, unregisters the descriptor and returns
    /// it without closing it; the object then holds none. -1 if it held
    /// none.
    [[nodiscard]] int release() noexcept;

    /// Ready(ok) while believed readable (see the class); else arms a wait
    /// and returns Pending until the reactor reports it readable.
    /// @par Errors
    /// The wait's error as a value (does not happen on a pollable
    /// descriptor in practice).
    /// @par Cancel safety
    /// Cancel safe.
    Poll<Result<void>> poll_read_ready(Context& cx);
    /// As `poll_read_ready`, for writing.
    Poll<Result<void>> poll_write_ready(Context& cx);
    /// After EAGAIN: the next `poll_read_ready` waits for the reactor again.
    void clear_read_ready() noexcept;
    /// After EAGAIN: the next `poll_write_ready` waits for the reactor again.
    void clear_write_ready() noexcept;
    /// `poll_read_ready` or `poll_write_ready`.
    Poll<Result<void>> poll_ready(Interest i, Context& cx) {
        return i == Interest::readable ? poll_read_ready(cx) : poll_write_ready(cx);
    }
    /// `clear_read_ready` or `clear_write_ready`.
    void clear_ready(Interest i) noexcept {
        i == Interest::readable ? clear_read_ready() : clear_write_ready();
    }

    /// A future for `poll_read_ready`. Output `Result<void>`; cancel safe.
    POLLUX_NODISCARD_FUTURE ReadableFuture readable() noexcept;
    /// A future for `poll_write_ready`. Output `Result<void>`; cancel safe.
    POLLUX_NODISCARD_FUTURE WritableFuture writable() noexcept;

    /// read(2) into `buf` once readable: Ready(n), Ready(0) at end of
    /// stream (or for an empty `buf`), or Ready(error). EINTR is retried;
    /// one unit of the task's cooperative budget per Ready with a syscall.
    /// @par Cancel safety
    /// Cancel safe: Pending means nothing was read.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf);
    /// write(2) from `buf` once writable: Ready(n) (possibly short), or
    /// Ready(error) (EPIPE when the reader is gone and SIGPIPE is ignored).
    /// @par Cancel safety
    /// Cancel safe: Pending means nothing was written.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf);
    /// Always Ready(ok): writes are not buffered.
    Poll<Result<void>> poll_flush(Context& cx);
    /// Ready(ok): a descriptor has no write half to shut (a socket's owner
    /// may call shutdown(2) on `fd()`); close it by dropping the object.
    Poll<Result<void>> poll_shutdown(Context& cx);

private:
    friend class StdStream; // its socket mode runs poll_read's loop with recv/send
    Impl* impl_;
};

/// The future `AsyncFd::readable()` returns: Ready when `poll_read_ready`
/// is. Borrows the `AsyncFd`, which must outlive it.
///
/// @par Cancel safety
/// Cancel safe (see `AsyncFd`).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Errors
/// `poll_read_ready`'s.
class POLLUX_NODISCARD_FUTURE ReadableFuture {
public:
    /// What it completes with.
    using Output = Result<void>;
    explicit ReadableFuture(AsyncFd& fd) noexcept : fd_(&fd) {}
    /// Polls `poll_read_ready`.
    Poll<Output> poll(Context& cx) { return fd_->poll_read_ready(cx); }

private:
    AsyncFd* fd_;
};

/// The future `AsyncFd::writable()` returns; as `ReadableFuture`, for
/// `poll_write_ready`.
///
/// @par Cancel safety
/// Cancel safe (see `AsyncFd`).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Errors
/// `poll_write_ready`'s.
class POLLUX_NODISCARD_FUTURE WritableFuture {
public:
    /// What it completes with.
    using Output = Result<void>;
    explicit WritableFuture(AsyncFd& fd) noexcept : fd_(&fd) {}
    /// Polls `poll_write_ready`.
    Poll<Output> poll(Context& cx) { return fd_->poll_write_ready(cx); }

private:
    AsyncFd* fd_;
};

inline ReadableFuture AsyncFd::readable() noexcept {
    return ReadableFuture(*this);
}
inline WritableFuture AsyncFd::writable() noexcept {
    return WritableFuture(*this);
}

/// A standard stream (or any descriptor given to `std_stream`), as
/// `io::AsyncRead` and `io::AsyncWrite` (tokio's `Stdin`, `Stdout`,
/// `Stderr` in one type).
///
/// It never changes the flags of the descriptor's open file description.
/// O_NONBLOCK belongs to the description, which the descriptor shares with
/// its duplicates (0, 1 and 2 are often one terminal), with `std::cout` and
/// printf, and with every process that inherited it (the shell): setting
/// it there made `std::cout` fail with EAGAIN and left the shell's
/// terminal non-blocking after a crash. Instead, by kind (fstat):
/// - Terminal (not a pty master), pipe, FIFO, other pollable device
///   (`mode() == Mode::reopened`): reopened, as libuv's `uv_tty_init`
///   reopens a terminal: open(2) of /proc/self/fd/N (for a terminal, else
///   of its ttyname) with the same access mode, O_NONBLOCK, O_NOCTTY and
///   O_CLOEXEC makes a new description of the same file (checked by device
///   and inode), whose O_NONBLOCK is its own; readiness (`AsyncFd`) on it.
///   A FIFO or pipe end reopened counts as one more reader or writer until
///   the stream is dropped, as a dup would.
/// - Socket (`Mode::socket`): a duplicate with the flags untouched;
///   recv(2)/send(2) with MSG_DONTWAIT. The readiness waits are on two
///   private epoll instances that watch the socket (one per direction),
///   because the reactor's own wait on a descriptor may set its O_NONBLOCK
///   (Asio's `async_wait` does). A send to a peer that is gone raises
///   SIGPIPE unless it is ignored, as write(2).
/// - Not pollable (a regular file, a directory, /dev/null; `Mode::file`):
///   plain blocking read(2) and write(2) on a duplicate, always Ready (a
///   file read does not wait for a peer; tokio reads files on a blocking
///   thread).
/// - Pollable but not reopenable (a pty master, an eventfd, a terminal the
///   process may not open, EACCES; a FIFO write end without a reader,
///   ENXIO; no /proc and no tty name; `Mode::blocking_writes`): writes are
///   blocking write(2)s on a duplicate, as libuv's tty falls back to
///   blocking writes, and reads fail with `operation_not_supported` (a
///   blocking read would stop the loop until input came); for a read-only
///   descriptor `std_stream` fails with the reopening's error instead.
/// tokio reads stdin on a blocking thread; pollux uses readiness so that a
/// read is cancel safe and costs no thread.
///
/// @par Cancel safety
/// Cancel safe, as `AsyncFd`.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API StdStream {
public:
    /// How the stream reaches its file (see the class comment).
    enum class Mode { reopened, socket, file, blocking_writes };

    StdStream(StdStream&& o) noexcept;
    StdStream& operator=(StdStream&& o) noexcept;
    ~StdStream();

    /// See `AsyncFd::poll_read` (`Mode::socket`: recv(2) with
    /// MSG_DONTWAIT; `Mode::file`: one blocking read(2);
    /// `Mode::blocking_writes`: Ready(`operation_not_supported`)).
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf);
    /// See `AsyncFd::poll_write` (`Mode::socket`: send(2) with
    /// MSG_DONTWAIT; `Mode::file` and `Mode::blocking_writes`: one blocking
    /// write(2)).
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf);
    /// Always Ready(ok): nothing is buffered.
    Poll<Result<void>> poll_flush(Context& cx);
    /// Ready(ok); the descriptor closes when the stream is dropped.
    Poll<Result<void>> poll_shutdown(Context& cx);

    /// Whether it uses readiness (`Mode::reopened` or `Mode::socket`).
    [[nodiscard]] bool is_pollable() const noexcept { return afd_.has_value(); }
    /// How it reaches its file.
    [[nodiscard]] Mode mode() const noexcept { return mode_; }

    /// Made by `std_stream`.
    StdStream(std::optional<AsyncFd> afd,
              std::optional<AsyncFd> write_watch,
              int file_fd,
              Mode mode) noexcept;

private:
    void drop() noexcept;

    // reopened: the new description; socket: the read watch (an epoll
    // instance readable while the socket is); else empty.
    std::optional<AsyncFd> afd_;
    std::optional<AsyncFd> write_watch_; // socket: readable while the socket is writable
    int file_fd_; // the duplicate for socket, file and blocking_writes; else -1
    Mode mode_;
};

/// A `StdStream` over its own access to `fd`'s file (a new description or
/// a duplicate, see `StdStream`; `fd` is not taken: the caller keeps and
/// closes it, and its flags are not changed), on the current task's event
/// loop (or `ex`).
/// @par Errors
/// As values: fstat's (EBADF), dup's or open's (EMFILE), the registration's,
/// or for a read-only descriptor that cannot be reopened the reopening's
/// (EACCES, ENXIO, ENOENT).
/// Throws `std::logic_error` outside a task when no executor is given.
POLLUX_API Result<StdStream> std_stream(int fd);
/// As above, on `ex`.
POLLUX_API Result<StdStream> std_stream(int fd, const boost::asio::any_io_executor& ex);

/// `std_stream(0)`: standard input, an `io::AsyncRead`. See `StdStream`:
/// the terminal's (or pipe's) flags are left alone.
POLLUX_API Result<StdStream> stdin();
/// `std_stream(1)`: standard output, an `io::AsyncWrite`.
POLLUX_API Result<StdStream> stdout();
/// `std_stream(2)`: standard error, an `io::AsyncWrite`.
POLLUX_API Result<StdStream> stderr();

} // namespace pollux::io
