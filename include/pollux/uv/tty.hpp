#pragma once

/// @file
/// `uv::Tty`: libuv's `uv_tty_t` — a terminal as a `uv::Stream`, with its
/// input mode (`uv::TtyMode`, `set_mode`), window size and
/// `uv::tty_reset_mode()`.

#include <pollux/detail/config.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/stream.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <termios.h>

namespace pollux::uv {

/// A terminal's input mode, as libuv's `uv_tty_mode_t`.
enum class TtyMode {
    /// The mode the terminal had (line editing, echo, signals).
    normal,
    /// libuv's raw mode: no line editing, echo or signal keys (ICANON,
    /// ECHO, ISIG, IEXTEN off; BRKINT, ICRNL, INPCK, ISTRIP, IXON off; CS8;
    /// output still maps NL to CR-NL); reads return each byte.
    raw,
    /// Binary-safe I/O (`cfmakeraw`: output processing off too), for
    /// passing bytes through, as libuv's `UV_TTY_MODE_IO`.
    io,
};

/// Puts back the terminal mode saved when a `Tty` first left
/// `TtyMode::normal` in this process (libuv's `uv_tty_reset_mode`): call it
/// at exit, or from a signal handler, to leave the terminal as it was.
/// Async-signal-safe; errno is preserved. Does nothing (and succeeds) if no
/// `Tty` has left normal mode.
/// @par Errors
/// `device_or_resource_busy` (EBUSY) when it interrupted a `set_mode` in
/// progress (as libuv's `UV_EBUSY`; try again after); tcsetattr's.
POLLUX_API boost::system::error_code tty_reset_mode() noexcept;

namespace detail {

// A Tty's modes (lib/uv/tty_termios.cpp): the mode last set and the
// terminal's mode before it first left normal (libuv's tty->mode and
// tty->orig_termios).
struct TtyTermios {
    ::termios orig{};
    TtyMode mode = TtyMode::normal;

    // libuv's uv_tty_set_mode on `fd`: nothing if already in `m`; leaving
    // normal saves the original mode first (and, once per process, for
    // tty_reset_mode). Applied with TCSADRAIN.
    boost::system::error_code set_mode(int fd, TtyMode m) noexcept;
};

} // namespace detail

/// A terminal handle (libuv's `uv_tty_t`): a `uv::Stream` over a terminal,
/// with its input mode (`set_mode`) and window size (`get_winsize`).
///
/// Construction is libuv's `uv_tty_init(loop, tty, fd, unused)`. A pty
/// slave or other terminal is reopened (open(2) of /proc/self/fd/N or of its
/// tty name, with the descriptor's access mode, O_NONBLOCK, O_NOCTTY and
/// O_CLOEXEC), so the handle's O_NONBLOCK is on a file description of its
/// own: `std::cout`, the shell and other processes on the terminal keep
/// blocking I/O. Where it cannot be reopened (a pty master, which would
/// make a new pty pair; a terminal the process may not open), it falls
/// back as libuv does to blocking writes (`blocking_writes()`), on a
/// duplicate. Unlike libuv, which then makes a read-only descriptor
/// non-blocking (shared flags) and which replaces the caller's descriptor
/// with the reopened one (dup2), pollux never changes the caller's
/// descriptor or its flags: the handle owns a descriptor of its own (the
/// caller keeps and closes `fd` whenever it likes), and in the fallback a
/// read takes only what poll(2) and FIONREAD say is there, so it does not
/// block the loop.
///
/// Reading, writing (`write`, `try_write`) and `shutdown` (which fails with
/// `not_a_socket`, as libuv's on a terminal) are `uv::Stream`'s. A handle
/// is readable unless opened O_WRONLY and writable unless opened O_RDONLY
/// (libuv's `uv_is_readable`/`uv_is_writable` after `uv_tty_init`).
/// Closing the handle leaves the terminal's mode as it is (as libuv): put
/// it back with `set_mode(TtyMode::normal)` first, or `tty_reset_mode()`.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only;
/// `tty_reset_mode()` may be called anywhere, from a signal handler too.
/// @par Example
/// @code
/// uv::Tty in(loop, 0);
/// in.read_start([&](boost::system::error_code ec, std::span<const char> line) {
///     if (ec) { in.close(); return; }  // eof: Ctrl-D
///     handle(line);
/// });
/// loop.run();
/// @endcode
class POLLUX_API Tty final : public Stream {
public:
    /// libuv's `uv_tty_init`: a handle over its own access to `fd`'s
    /// terminal (see the class comment; `fd` stays the caller's, unchanged).
    /// Throws `boost::system::system_error`: `invalid_argument` when
    /// `guess_handle(fd)` is `file` or `unknown` (a regular file, /dev/null,
    /// /dev/random, a directory, a closed descriptor), as `uv_tty_init`'s
    /// `UV_EINVAL`; fcntl's, dup's or the registration's error otherwise.
    Tty(Loop& loop, int fd);
    ~Tty();

    /// Sets the terminal's input mode (libuv's `uv_tty_set_mode`): nothing
    /// if already in `mode`; leaving `TtyMode::normal` saves the mode the
    /// terminal had (per handle, for going back, and once per process, for
    /// `tty_reset_mode()`); applied after pending output drained
    /// (TCSADRAIN).
    /// @par Errors
    /// `bad_descriptor` once closing; tcgetattr's or tcsetattr's
    /// (`inappropriate_io_control_operation` for a handle over a pipe or
    /// socket); EMFILE when the process-wide copy's duplicate cannot be
    /// made. The mode is then unchanged.
    boost::system::error_code set_mode(TtyMode mode) noexcept;
    /// The mode last set (`TtyMode::normal` at first).
    [[nodiscard]] TtyMode mode() const noexcept { return termios_.mode; }
    /// The terminal's size in columns and rows (libuv's
    /// `uv_tty_get_winsize`); 0 and 0 where nobody set it (a fresh pty).
    /// @par Errors
    /// `bad_descriptor` once closing; ioctl's (`TIOCGWINSZ`); `width` and
    /// `height` are then unchanged.
    boost::system::error_code get_winsize(int& width, int& height) const noexcept;
    /// True when the terminal could not be reopened and writes block
    /// (libuv's `UV_HANDLE_BLOCKING_WRITES`): a pty master, a terminal the
    /// process may not open.
    [[nodiscard]] bool blocking_writes() const noexcept { return blocking_; }

private:
    explicit Tty(Loop& loop);

    int stream_fd() const noexcept override;
    void start_stream_wait(int direction) override;
    void close_descriptor() noexcept override;
    boost::system::error_code adopt_descriptor(int fd) override;
    std::size_t read_some(char* buf, std::size_t size, boost::system::error_code& ec) override;

    boost::asio::posix::stream_descriptor desc_;
    detail::TtyTermios termios_;
    bool blocking_ = false;
};

} // namespace pollux::uv
