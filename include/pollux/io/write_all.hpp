#pragma once

/// @file
/// `io::write_all(w, buf)`: write a whole borrowed buffer (tokio's
/// `AsyncWriteExt::write_all`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_write.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>

#include <cstddef>

namespace pollux::io {

/// The future returned by `io::write_all`. Output: `Result<void>`, ok once
/// every byte was accepted by the sink.
///
/// @par Cancel safety
/// Not cancel safe: if dropped before Ready, a prefix of the buffer may have
/// been written (`bytes_written()` says how much, while the future lives),
/// and the peer has it; writing the buffer again would duplicate it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the sink arranges.
/// @par Errors
/// The sink's errors; `boost::system::errc::broken_pipe` if the sink
/// accepts 0 bytes of a non-empty buffer.
/// @par Preconditions
/// The sink and the buffer outlive the future. Not polled after Ready
/// (asserts).
template <AsyncWrite W>
class POLLUX_NODISCARD_FUTURE WriteAll {
public:
    /// What it completes with: ok once all was written, or an error.
    using Output = Result<void>;

    /// A write of all of `buf` to `w`; starts nothing. Use `io::write_all`
    /// rather than this.
    WriteAll(W& w, boost::asio::const_buffer buf) noexcept : w_(&w), buf_(buf) {}

    // Inlined where it is polled (a coroutine's co_await, usually): most
    // polls write the whole buffer in one poll_write, and a call would pass
    // the Poll through memory once more (issue 22, "deterministic.sh: the
    // coroutine sample in the sweep").
    /// Polls the operation; see the class for cancel safety and errors.
    [[gnu::always_inline]] Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::write_all polled after it returned Ready");
        while (written_ < buf_.size()) {
            Poll<Result<std::size_t>> p = w_->poll_write(cx, buf_ + written_);
            if (p.is_pending()) {
                return Pending{};
            }
            Result<std::size_t>& r = p.value();
            if (!r || *r == 0) {
                done_ = true;
                return Ready<Output>{
                    Output(boost::system::in_place_error,
                           r ? make_error_code(boost::system::errc::broken_pipe) : r.error())};
            }
            written_ += *r;
        }
        done_ = true;
        return Ready<Output>{Output()};
    }

    /// Bytes of the buffer already written.
    [[nodiscard]] std::size_t bytes_written() const noexcept { return written_; }

private:
    W* w_;
    boost::asio::const_buffer buf_;
    std::size_t written_ = 0;
    bool done_ = false;
};

/// Writes all of `buf`. See `WriteAll`.
///
/// @par Example
/// @code
/// auto r = co_await pollux::io::write_all(stream, boost::asio::buffer(reply));
/// @endcode
template <AsyncWrite W>
POLLUX_NODISCARD_FUTURE WriteAll<W> write_all(W& w, boost::asio::const_buffer buf) noexcept {
    return WriteAll<W>(w, buf);
}

} // namespace pollux::io
