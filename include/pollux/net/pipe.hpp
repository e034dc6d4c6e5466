#pragma once

/// @file
/// `net::pipe`: anonymous pipes and FIFOs as `io::AsyncWrite`
/// (`pipe::Sender`) and `io::AsyncRead` (`pipe::Receiver`), readiness-based
/// like the sockets (tokio's `tokio::net::unix::pipe`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <string_view>
#include <utility>

namespace pollux::net::pipe {

class Receiver;
class Sender;

/// The writing end of a pipe or FIFO: an `io::AsyncWrite`. Move-only;
/// destroying it closes the descriptor, and when no other writing end is
/// open the reader then sees the end of stream.
///
/// Writes are readiness-based (socket_block's protocol, docs/net.md): the
/// poll tries `write(2)` and waits for writability when the pipe is full.
/// A pipe has no `MSG_NOSIGNAL`: each write blocks `SIGPIPE` in the calling
/// thread's signal mask, and takes back the `SIGPIPE` that a write to a
/// pipe with no reader raised, so that error is `broken_pipe` and no
/// signal is seen; the process-wide disposition is never changed.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API Sender {
public:
    struct Impl;

    /// Adopts a block made by the library.
    explicit Sender(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s descriptor; `o` is left holding none, and may only be
    /// destroyed or assigned to (its poll functions assert).
    Sender(Sender&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
    /// Closes the descriptor held, as the destructor does, then takes
    /// `o`'s. Self-assignment does nothing.
    Sender& operator=(Sender&& o) noexcept;
    ~Sender();

    /// Adopts `fd`, the writing end of a pipe or FIFO, on the current
    /// task's executor (or `ex`), and makes it non-blocking (tokio's
    /// `Sender::from_owned_fd`). On success the Sender owns `fd`.
    ///
    /// @par Errors
    /// As values, leaving `fd` open and the caller's: `bad_descriptor` for
    /// a closed one; `invalid_argument` when it is not a pipe or FIFO, or
    /// was not opened for writing (`O_WRONLY` or `O_RDWR`); the reactor's
    /// registration error. Throws `std::logic_error` outside a task when no
    /// executor is given.
    static Result<Sender> from_fd(int fd);
    /// As above, on `ex`; callable anywhere.
    static Result<Sender> from_fd(int fd, const boost::asio::any_io_executor& ex);
    /// As `from_fd`, without checking that `fd` is a pipe opened for
    /// writing (tokio's `from_owned_fd_unchecked`): for a character device
    /// or socket used as one. It must still be pollable.
    static Result<Sender> from_fd_unchecked(int fd, const boost::asio::any_io_executor& ex);

    /// `write(2)` into the pipe: Ready with the bytes written (fewer than
    /// `buf.size()` when the pipe had less room), Pending with the waker
    /// registered while it is full. An empty `buf` is Ready(0) at once.
    /// @par Cancel safety
    /// Cancel safe: bytes are written only by the poll that returns Ready.
    /// @par Errors
    /// `write`'s, as a value: `broken_pipe` when no reading end is open.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf);
    /// Always Ready(ok): nothing is buffered in user space.
    Poll<Result<void>> poll_flush(Context& cx);
    /// Always Ready(ok) and does nothing (as tokio's): the reader sees the
    /// end of stream when the Sender is dropped.
    Poll<Result<void>> poll_shutdown(Context& cx);

    /// The descriptor, still owned by the Sender (-1 after a move).
    [[nodiscard]] int fd() const noexcept;

private:
    Impl* impl_;
};

/// The reading end of a pipe or FIFO: an `io::AsyncRead`. Move-only;
/// destroying it closes the descriptor; a writer then gets `broken_pipe`
/// once no reading end is open.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API Receiver {
public:
    struct Impl;

    /// Adopts a block made by the library.
    explicit Receiver(Impl* impl) noexcept : impl_(impl) {}
    /// Takes `o`'s descriptor; `o` is left holding none, and may only be
    /// destroyed or assigned to (`poll_read` asserts).
    Receiver(Receiver&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
    /// Closes the descriptor held, as the destructor does, then takes
    /// `o`'s. Self-assignment does nothing.
    Receiver& operator=(Receiver&& o) noexcept;
    ~Receiver();

    /// Adopts `fd`, the reading end of a pipe or FIFO, on the current
    /// task's executor (or `ex`), and makes it non-blocking (tokio's
    /// `Receiver::from_owned_fd`). On success the Receiver owns `fd`.
    ///
    /// @par Errors
    /// As values, leaving `fd` open and the caller's: `bad_descriptor` for
    /// a closed one; `invalid_argument` when it is not a pipe or FIFO, or
    /// was not opened for reading (`O_RDONLY` or `O_RDWR`); the reactor's
    /// registration error. Throws `std::logic_error` outside a task when no
    /// executor is given.
    static Result<Receiver> from_fd(int fd);
    /// As above, on `ex`; callable anywhere.
    static Result<Receiver> from_fd(int fd, const boost::asio::any_io_executor& ex);
    /// As `from_fd`, without checking that `fd` is a pipe opened for
    /// reading. It must still be pollable.
    static Result<Receiver> from_fd_unchecked(int fd, const boost::asio::any_io_executor& ex);

    /// `read(2)` from the pipe: Ready with the bytes read, 0 at the end of
    /// stream (no writing end open, and nothing left), Pending with the
    /// waker registered while it is empty. An empty `buf` is Ready(0) at
    /// once.
    /// @par Cancel safety
    /// Cancel safe: a byte is taken only by the poll that returns it.
    /// @par Errors
    /// `read`'s, as a value.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf);

    /// The descriptor, still owned by the Receiver (-1 after a move).
    [[nodiscard]] int fd() const noexcept;

private:
    Impl* impl_;
};

/// A new anonymous pipe (`pipe2(O_CLOEXEC | O_NONBLOCK)`), on the current
/// task's executor: the writing end and the reading end.
///
/// @par Errors
/// `pipe2`'s (`too_many_files_open`, ...) or the reactor's registration
/// error, as a value; no descriptor is leaked. Throws `std::logic_error`
/// outside a task.
POLLUX_API Result<std::pair<Sender, Receiver>> pipe();
/// As above, on `ex`; callable anywhere.
POLLUX_API Result<std::pair<Sender, Receiver>> pipe(const boost::asio::any_io_executor& ex);

/// Opens a FIFO (named pipe) by path as a `Sender` or `Receiver` (tokio's
/// `pipe::OpenOptions`): `open(2)` with `O_NONBLOCK | O_CLOEXEC`.
///
/// A Receiver opened while no writer has the FIFO open reads the end of
/// stream at once; a Sender cannot be opened while no reader has it open
/// (`ENXIO`, `no_such_device_or_address`) unless `read_write(true)`.
class POLLUX_API OpenOptions {
public:
    /// Opens with `O_RDWR` instead of `O_RDONLY`/`O_WRONLY` (Linux): a
    /// Sender then opens with no reader, and a Receiver never reads the end
    /// of stream (it is a writer itself).
    OpenOptions& read_write(bool on) noexcept {
        read_write_ = on;
        return *this;
    }
    /// Skips the check that the path is a FIFO (for a character device).
    OpenOptions& unchecked(bool on) noexcept {
        unchecked_ = on;
        return *this;
    }

    /// Opens `path` for reading, on `ex`.
    /// @par Errors
    /// As values: `open`'s (`no_such_file_or_directory`, ...);
    /// `invalid_argument` when `path` is not a FIFO (unless unchecked);
    /// the descriptor opened is closed on any error.
    [[nodiscard]] Result<Receiver> open_receiver(std::string_view path,
                                                 const boost::asio::any_io_executor& ex) const;
    /// As above, on the current task's executor (`std::logic_error`
    /// outside a task).
    [[nodiscard]] Result<Receiver> open_receiver(std::string_view path) const;
    /// Opens `path` for writing, on `ex`.
    /// @par Errors
    /// As `open_receiver`, and `no_such_device_or_address` (`ENXIO`) when
    /// no reader has the FIFO open and `read_write` is off.
    [[nodiscard]] Result<Sender> open_sender(std::string_view path,
                                             const boost::asio::any_io_executor& ex) const;
    /// As above, on the current task's executor (`std::logic_error`
    /// outside a task).
    [[nodiscard]] Result<Sender> open_sender(std::string_view path) const;

private:
    bool read_write_ = false;
    bool unchecked_ = false;
};

} // namespace pollux::net::pipe
