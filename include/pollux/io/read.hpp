#pragma once

/// @file
/// `io::read(r, buf)`: one read into a borrowed buffer (tokio's
/// `AsyncReadExt::read`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_read.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>

namespace pollux::io {

/// The future returned by `io::read`. Output: `Result<std::size_t>`, the
/// number of bytes read into the front of the buffer; 0 for a non-empty
/// buffer means end of stream.
///
/// @par Cancel safety
/// Cancel safe: each poll calls `poll_read` once, and a byte is either
/// returned by the poll that read it or still in the source, so dropping the
/// future loses nothing. No Asio operation belongs to it (the source's
/// readiness wait stays with the source).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it where the source
/// may be polled (for pollux::net, the socket's executor).
/// @par Wakes / resumes on
/// Whatever the source arranges; for pollux::net, the socket's executor
/// when it becomes readable.
/// @par Errors
/// The source's errors, unchanged.
/// @par Preconditions
/// The source and the buffer outlive the future. Not polled after Ready
/// (asserts).
template <AsyncRead R>
class POLLUX_NODISCARD_FUTURE Read {
public:
    /// What it completes with: the bytes read, or the source's error.
    using Output = Result<std::size_t>;

    /// A read from `r` into `buf`; starts nothing. Use `io::read` rather
    /// than this.
    Read(R& r, boost::asio::mutable_buffer buf) noexcept : r_(&r), buf_(buf) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::read polled after it returned Ready");
        Poll<Output> p = r_->poll_read(cx, buf_);
        done_ = p.is_ready();
        return p;
    }

private:
    R* r_;
    boost::asio::mutable_buffer buf_;
    bool done_ = false;
};

/// Reads once into `buf`: at least one byte, or 0 at end of stream (or for
/// an empty buffer). See `Read` for the contract.
///
/// @par Example
/// @code
/// char buf[4096];
/// pollux::Result<std::size_t> n = co_await pollux::io::read(stream, boost::asio::buffer(buf));
/// @endcode
template <AsyncRead R>
POLLUX_NODISCARD_FUTURE Read<R> read(R& r, boost::asio::mutable_buffer buf) noexcept {
    return Read<R>(r, buf);
}

} // namespace pollux::io
