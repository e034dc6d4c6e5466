#pragma once

/// @file
/// Terminals: `uv::TtyMode` and `uv::tty_reset_mode()` (libuv's
/// `uv_tty_mode_t` and `uv_tty_reset_mode`).

#include <pollux/detail/config.hpp>

#include <boost/system/error_code.hpp>

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

} // namespace pollux::uv
