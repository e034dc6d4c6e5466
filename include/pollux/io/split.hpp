#pragma once

/// @file
/// `io::split(s)`: borrow a duplex stream as a read half and a write half
/// that can be used by two futures at once (tokio's `TcpStream::split`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <utility>

namespace pollux::io {

/// The read half of `io::split(s)`: an `AsyncRead` that borrows `s`.
///
/// Both halves of one stream may be polled by different futures of the same
/// task, or by different tasks on the stream's executor (thread): a pollux
/// stream keeps one waker slot per direction. They are not for use from two
/// threads at once.
template <class S>
class ReadHalf {
public:
    /// Borrows `s`; use `io::split` rather than this.
    explicit ReadHalf(S& s) noexcept : s_(&s) {}

    /// `AsyncRead`: `s.poll_read(cx, buf)`. Cancel safety, wakes and errors
    /// are the stream's.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf) {
        return s_->poll_read(cx, buf);
    }

    /// The stream both halves borrow.
    [[nodiscard]] S& get_ref() const noexcept { return *s_; }

private:
    S* s_;
};

/// The write half of `io::split(s)`: an `AsyncWrite` that borrows `s`. See
/// `ReadHalf`.
template <class S>
class WriteHalf {
public:
    /// Borrows `s`; use `io::split` rather than this.
    explicit WriteHalf(S& s) noexcept : s_(&s) {}

    /// `AsyncWrite`: `s.poll_write(cx, buf)`. Cancel safety, wakes and
    /// errors are the stream's.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf) {
        return s_->poll_write(cx, buf);
    }
    /// `AsyncWrite`: `s.poll_flush(cx)`.
    Poll<Result<void>> poll_flush(Context& cx) { return s_->poll_flush(cx); }
    /// `AsyncWrite`: `s.poll_shutdown(cx)`; shuts down the write direction
    /// of the whole stream, so the read half keeps reading.
    Poll<Result<void>> poll_shutdown(Context& cx) { return s_->poll_shutdown(cx); }

    /// The stream both halves borrow.
    [[nodiscard]] S& get_ref() const noexcept { return *s_; }

private:
    S* s_;
};

/// Borrows `s` as two halves. `s` must outlive both and must not be moved
/// while they live.
///
/// @par Example
/// @code
/// auto [rd, wr] = pollux::io::split(stream);
/// co_await pollux::join(pump_in(rd), pump_out(wr));
/// @endcode
template <class S>
requires AsyncRead<S> && AsyncWrite<S>
[[nodiscard]] std::pair<ReadHalf<S>, WriteHalf<S>> split(S& s) noexcept {
    return {ReadHalf<S>(s), WriteHalf<S>(s)};
}

} // namespace pollux::io
