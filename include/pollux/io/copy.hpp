#pragma once

/// @file
/// `io::copy(r, w)`: move every byte from a source to a sink through a
/// bounded buffer (tokio's `io::copy`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace pollux::io {

/// The future returned by `io::copy`. Output: `Result<std::uint64_t>`, the
/// number of bytes copied, once the source reached end of stream and the
/// sink was flushed. The sink is not shut down.
///
/// It holds one buffer of `copy_buffer_size` bytes (allocated on the first
/// poll) and never reads more until the sink accepted all of it, so a slow
/// sink slows the source down instead of growing memory (backpressure).
/// While the source is pending after writes, it flushes the sink.
///
/// @par Cancel safety
/// Not cancel safe: if dropped before Ready, bytes read from the source but
/// not yet accepted by the sink (at most `copy_buffer_size`) are lost, and
/// the count of bytes already copied (`bytes_copied()`) is not returned.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the source and the sink arrange.
/// @par Errors
/// The first error of the source or the sink; `errc::broken_pipe` if the
/// sink accepts 0 bytes.
/// @par Preconditions
/// The source and the sink outlive the future. Not polled after Ready
/// (asserts).
template <AsyncRead R, AsyncWrite W>
class POLLUX_NODISCARD_FUTURE Copy {
public:
    /// What it completes with: the bytes copied, or the first error.
    using Output = Result<std::uint64_t>;
    /// The size of its one buffer, in bytes (16 KiB): the most it reads
    /// before the sink accepted what it has.
    static constexpr std::size_t copy_buffer_size = 16 * 1024;

    /// A copy from `r` to `w`; starts and allocates nothing. Use `io::copy`
    /// rather than this.
    Copy(R& r, W& w) noexcept : r_(&r), w_(&w) {}

    /// Polls the operation; see the class for cancel safety and errors. The
    /// first poll allocates the buffer (`std::bad_alloc` if it cannot).
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::copy polled after it returned Ready");
        if (!buf_) {
            buf_ = std::make_unique<char[]>(copy_buffer_size);
        }
        for (;;) {
            if (pos_ == cap_ && !eof_) {
                Poll<Result<std::size_t>> p =
                    r_->poll_read(cx, boost::asio::buffer(buf_.get(), copy_buffer_size));
                if (p.is_pending()) {
                    if (need_flush_) {
                        Poll<Result<void>> f = w_->poll_flush(cx);
                        if (f.is_ready()) {
                            if (!f.value()) {
                                return fail(f.value().error());
                            }
                            need_flush_ = false;
                        }
                    }
                    return Pending{};
                }
                if (!p.value()) {
                    return fail(p.value().error());
                }
                pos_ = 0;
                cap_ = *p.value();
                eof_ = cap_ == 0;
            }
            while (pos_ < cap_) {
                Poll<Result<std::size_t>> p =
                    w_->poll_write(cx, boost::asio::buffer(buf_.get() + pos_, cap_ - pos_));
                if (p.is_pending()) {
                    return Pending{};
                }
                if (!p.value()) {
                    return fail(p.value().error());
                }
                if (*p.value() == 0) {
                    return fail(make_error_code(boost::system::errc::broken_pipe));
                }
                pos_ += *p.value();
                total_ += *p.value();
                need_flush_ = true;
            }
            if (eof_) {
                Poll<Result<void>> f = w_->poll_flush(cx);
                if (f.is_pending()) {
                    return Pending{};
                }
                if (!f.value()) {
                    return fail(f.value().error());
                }
                done_ = true;
                return Ready<Output>{Output(total_)};
            }
        }
    }

    /// Bytes the sink accepted so far.
    [[nodiscard]] std::uint64_t bytes_copied() const noexcept { return total_; }

private:
    Poll<Output> fail(const boost::system::error_code& ec) {
        done_ = true;
        return Ready<Output>{Output(boost::system::in_place_error, ec)};
    }

    R* r_;
    W* w_;
    std::unique_ptr<char[]> buf_;
    std::size_t pos_ = 0;
    std::size_t cap_ = 0;
    std::uint64_t total_ = 0;
    bool eof_ = false;
    bool need_flush_ = false;
    bool done_ = false;
};

/// Copies `r` to `w` until `r` ends. See `Copy`.
///
/// @par Example
/// @code
/// auto [rd, wr] = stream.split();
/// pollux::Result<std::uint64_t> n = co_await pollux::io::copy(rd, wr);   // echo
/// @endcode
template <AsyncRead R, AsyncWrite W>
POLLUX_NODISCARD_FUTURE Copy<R, W> copy(R& r, W& w) noexcept {
    return Copy<R, W>(r, w);
}

} // namespace pollux::io
