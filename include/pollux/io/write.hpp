#pragma once

/// @file
/// `io::write(w, buf)`: one write from a borrowed buffer (tokio's
/// `AsyncWriteExt::write`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_write.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>

namespace pollux::io {

/// The future returned by `io::write`. Output: `Result<std::size_t>`, the
/// number of bytes from the front of the buffer that the sink accepted.
///
/// @par Cancel safety
/// Cancel safe: each poll calls `poll_write` once, and the poll that wrote
/// returns the count, so a dropped future wrote nothing.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the sink arranges; for pollux::net, the socket's executor when
/// it becomes writable.
/// @par Errors
/// The sink's errors, unchanged (a closed TCP peer: `broken_pipe` or
/// `connection_reset`; never SIGPIPE).
/// @par Preconditions
/// The sink and the buffer outlive the future. Not polled after Ready
/// (asserts).
template <AsyncWrite W>
class POLLUX_NODISCARD_FUTURE Write {
public:
    /// What it completes with: the bytes accepted, or the sink's error.
    using Output = Result<std::size_t>;

    /// A write of `buf` to `w`; starts nothing. Use `io::write` rather than
    /// this.
    Write(W& w, boost::asio::const_buffer buf) noexcept : w_(&w), buf_(buf) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::write polled after it returned Ready");
        Poll<Output> p = w_->poll_write(cx, buf_);
        done_ = p.is_ready();
        return p;
    }

private:
    W* w_;
    boost::asio::const_buffer buf_;
    bool done_ = false;
};

/// Writes some of `buf` once. See `Write`.
template <AsyncWrite W>
POLLUX_NODISCARD_FUTURE Write<W> write(W& w, boost::asio::const_buffer buf) noexcept {
    return Write<W>(w, buf);
}

} // namespace pollux::io
