#pragma once

/// @file
/// `uv::guess_handle`: which handle type suits a descriptor (libuv's
/// `uv_guess_handle`), e.g. to choose between `Tty`, `Pipe` and reading a
/// file for standard input.

#include <pollux/detail/config.hpp>
#include <pollux/uv/handle.hpp>

namespace pollux::uv {

/// The handle type for `fd`, as libuv 1.44's `uv_guess_handle`:
/// `HandleType::tty` for a terminal; `file` for a regular file or any other
/// character device (/dev/null); `named_pipe` for a pipe, a FIFO or a
/// Unix-domain stream socket; `tcp` for an IPv4/IPv6 stream socket; `udp`
/// for an IPv4/IPv6 datagram socket; `unknown` for anything else (a
/// negative or closed descriptor, a directory, a block device, a Unix
/// datagram socket, another socket family).
/// @par Errors
/// None: what cannot be told is `unknown`. Touches nothing of `fd`.
[[nodiscard]] POLLUX_API HandleType guess_handle(int fd) noexcept;

} // namespace pollux::uv
