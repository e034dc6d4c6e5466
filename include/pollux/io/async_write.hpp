#pragma once

/// @file
/// The `io::AsyncWrite` concept: a byte sink polled with a borrowed buffer
/// (tokio's `AsyncWrite`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>

#include <boost/asio/buffer.hpp>

#include <concepts>
#include <cstddef>

namespace pollux::io {

/// A type with
/// - `Poll<Result<std::size_t>> poll_write(Context&, boost::asio::const_buffer)`:
///   `Ready(n)`: the first `n` bytes were accepted (`n > 0` for a non-empty
///   buffer); `Pending`: none was, and the waker will be woken when writing
///   may succeed. The buffer is only borrowed for the call.
/// - `Poll<Result<void>> poll_flush(Context&)`: everything accepted so far
///   has been handed to the OS (a no-op for unbuffered sockets).
/// - `Poll<Result<void>> poll_shutdown(Context&)`: flush, then close the
///   write direction (TCP: send FIN); reads may continue.
template <class W>
concept AsyncWrite = requires(W& w, Context& cx, boost::asio::const_buffer buf) {
    { w.poll_write(cx, buf) } -> std::same_as<Poll<Result<std::size_t>>>;
    { w.poll_flush(cx) } -> std::same_as<Poll<Result<void>>>;
    { w.poll_shutdown(cx) } -> std::same_as<Poll<Result<void>>>;
};

} // namespace pollux::io
