#pragma once

/// @file
/// The `io::AsyncRead` concept: a byte source polled with a borrowed buffer
/// (tokio's `AsyncRead`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>

#include <boost/asio/buffer.hpp>

#include <concepts>
#include <cstddef>

namespace pollux::io {

/// A type with `Poll<Result<std::size_t>> poll_read(Context&, boost::asio::mutable_buffer)`.
///
/// The contract (tokio's):
/// - `Ready(n)` with `n > 0`: `n` bytes were written to the front of the
///   buffer. `Ready(0)` with a non-empty buffer: end of stream.
/// - `Pending`: no byte was read, and the context's waker will be woken when
///   reading may succeed.
/// - `Ready(error)`: an I/O error, passed through as Asio's error code.
/// - The buffer is only borrowed for the call: nothing keeps it afterwards,
///   so dropping a read future between polls loses no data (cancel safe).
template <class R>
concept AsyncRead = requires(R& r, Context& cx, boost::asio::mutable_buffer buf) {
    { r.poll_read(cx, buf) } -> std::same_as<Poll<Result<std::size_t>>>;
};

} // namespace pollux::io
