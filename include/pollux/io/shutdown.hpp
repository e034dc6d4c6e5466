#pragma once

/// @file
/// `io::flush(w)` and `io::shutdown(w)`: the futures of `poll_flush` and
/// `poll_shutdown` (tokio's `AsyncWriteExt::flush` and `shutdown`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_write.hpp>

namespace pollux::io {

/// The future returned by `io::flush` (`Shutdown == false`) and
/// `io::shutdown` (`Shutdown == true`). Output: `Result<void>`.
///
/// @par Cancel safety
/// Cancel safe: it only calls `poll_flush` / `poll_shutdown`, which may be
/// called again later.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the sink arranges.
/// @par Errors
/// The sink's errors (a TCP shutdown of an unconnected socket:
/// `not_connected`).
/// @par Preconditions
/// The sink outlives the future. Not polled after Ready (asserts).
template <AsyncWrite W, bool Shutdown>
class POLLUX_NODISCARD_FUTURE FlushOrShutdown {
public:
    /// What it completes with: ok, or the sink's error.
    using Output = Result<void>;

    /// A flush or shutdown of `w`; starts nothing. Use `io::flush` or
    /// `io::shutdown` rather than this.
    explicit FlushOrShutdown(W& w) noexcept : w_(&w) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::flush/io::shutdown polled after it returned Ready");
        Poll<Output> p = Shutdown ? w_->poll_shutdown(cx) : w_->poll_flush(cx);
        done_ = p.is_ready();
        return p;
    }

private:
    W* w_;
    bool done_ = false;
};

/// Flushes what the sink buffered. See `FlushOrShutdown`.
template <AsyncWrite W>
POLLUX_NODISCARD_FUTURE FlushOrShutdown<W, false> flush(W& w) noexcept {
    return FlushOrShutdown<W, false>(w);
}

/// Flushes, then closes the write direction (TCP: sends FIN); reading may
/// go on. See `FlushOrShutdown`.
///
/// @par Example
/// @code
/// co_await pollux::io::write_all(stream, boost::asio::buffer(request));
/// co_await pollux::io::shutdown(stream);   // the peer reads end of stream
/// @endcode
template <AsyncWrite W>
POLLUX_NODISCARD_FUTURE FlushOrShutdown<W, true> shutdown(W& w) noexcept {
    return FlushOrShutdown<W, true>(w);
}

} // namespace pollux::io
