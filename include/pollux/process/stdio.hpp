#pragma once

/// @file
/// `process::Stdio` (what a child's stdin, stdout or stderr is) and the
/// parent's ends of piped ones: `ChildStdin` (`io::AsyncWrite`),
/// `ChildStdout` and `ChildStderr` (`io::AsyncRead`), tokio's names.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_fd.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <optional>
#include <utility>

namespace pollux::process {

/// What one of a child's standard streams is (tokio's `Stdio`).
class Stdio {
public:
    enum class Kind { inherit, piped, null };

    /// The parent's descriptor of the same number (closed in the child when
    /// it is closed in the parent).
    static Stdio inherit() noexcept { return Stdio(Kind::inherit); }
    /// A new pipe; the parent's end is `Child::stdin`/`stdout`/`stderr`.
    static Stdio piped() noexcept { return Stdio(Kind::piped); }
    /// /dev/null.
    static Stdio null() noexcept { return Stdio(Kind::null); }

    [[nodiscard]] Kind kind() const noexcept { return kind_; }

private:
    explicit Stdio(Kind k) noexcept : kind_(k) {}
    Kind kind_;
};

/// The parent's end of a child's piped stdin: an `io::AsyncWrite` (tokio's
/// `ChildStdin`). A non-blocking pipe, close-on-exec, registered with the
/// event loop of the task that spawned the child; the child's end is
/// blocking, as programs expect.
///
/// Dropping it closes the pipe: the child reads end of file.
///
/// @par Cancel safety
/// Cancel safe, as `io::AsyncFd`: a Pending poll wrote nothing.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
/// @par Errors
/// `poll_write` fails with EPIPE (`broken_pipe`) when the child closed its
/// end, if SIGPIPE is ignored; otherwise SIGPIPE ends this process, as any
/// write to a pipe without a reader does (pollux never changes
/// dispositions, DESIGN.md section 8).
class POLLUX_API ChildStdin {
public:
    explicit ChildStdin(io::AsyncFd fd) noexcept : fd_(std::move(fd)) {}

    /// See `io::AsyncFd::poll_write`.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf);
    /// Always Ready(ok): nothing is buffered.
    Poll<Result<void>> poll_flush(Context& cx);
    /// Closes the pipe (the child reads end of file); Ready(ok). Later
    /// writes fail with `not_connected`. (tokio's is a no-op.)
    Poll<Result<void>> poll_shutdown(Context& cx);
    /// The descriptor; -1 after poll_shutdown.
    [[nodiscard]] int fd() const noexcept { return fd_ ? fd_->fd() : -1; }

private:
    std::optional<io::AsyncFd> fd_;
};

/// The parent's end of a child's piped stdout: an `io::AsyncRead` (tokio's
/// `ChildStdout`); `poll_read` is Ready(0) at end of file (the child, and
/// every process it gave the pipe to, closed it).
///
/// @par Cancel safety
/// Cancel safe, as `io::AsyncFd`: a Pending poll read nothing.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API ChildStdout {
public:
    explicit ChildStdout(io::AsyncFd fd) noexcept : fd_(std::move(fd)) {}
    /// See `io::AsyncFd::poll_read`.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf) {
        return fd_.poll_read(cx, buf);
    }
    /// The descriptor.
    [[nodiscard]] int fd() const noexcept { return fd_.fd(); }

private:
    io::AsyncFd fd_;
};

/// The parent's end of a child's piped stderr; as `ChildStdout`.
///
/// @par Cancel safety
/// Cancel safe, as `io::AsyncFd`: a Pending poll read nothing.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on its executor.
class POLLUX_API ChildStderr {
public:
    explicit ChildStderr(io::AsyncFd fd) noexcept : fd_(std::move(fd)) {}
    /// See `io::AsyncFd::poll_read`.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf) {
        return fd_.poll_read(cx, buf);
    }
    /// The descriptor.
    [[nodiscard]] int fd() const noexcept { return fd_.fd(); }

private:
    io::AsyncFd fd_;
};

} // namespace pollux::process
