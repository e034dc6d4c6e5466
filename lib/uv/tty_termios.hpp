#pragma once

// Private to lib/uv: the terminal modes of uv::Tty (detail::TtyTermios in
// pollux/uv/tty.hpp; libuv's uv_tty_set_mode, uv_tty_get_winsize and
// uv_tty_reset_mode in src/unix/tty.c).
//
// The original mode is kept twice, as libuv does: per Tty (what set_mode
// derives raw and io modes from, and goes back to for normal) and once per
// process (what tty_reset_mode restores, from a signal handler too). The
// process-wide copy is taken by the first set_mode that leaves normal mode,
// under a spinlock that tty_reset_mode only tries (it returns EBUSY rather
// than spin in a signal handler that interrupted set_mode). Unlike libuv,
// which remembers the handle's descriptor number (closed or reused once the
// handle is gone), the copy comes with a duplicate of the descriptor,
// close-on-exec, kept for the life of the process, so a reset always reaches
// that terminal.

#include <pollux/uv/tty.hpp>

#include <boost/system/error_code.hpp>

#include <termios.h>

namespace pollux::uv::detail {

// libuv's uv_tty_get_winsize.
boost::system::error_code get_winsize(int fd, int& width, int& height) noexcept;

} // namespace pollux::uv::detail
