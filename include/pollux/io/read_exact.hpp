#pragma once

/// @file
/// `io::read_exact(r, buf)`: fill a borrowed buffer completely (tokio's
/// `AsyncReadExt::read_exact`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_read.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

#include <cstddef>

namespace pollux::io {

/// The future returned by `io::read_exact`. Output: `Result<std::size_t>`,
/// the buffer's size once it is full.
///
/// @par Cancel safety
/// Not cancel safe: if dropped before Ready, the bytes already read sit in
/// the front of the buffer but the caller is not told how many
/// (`bytes_read()` says, while the future lives); they are gone from the
/// source.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the source arranges.
/// @par Errors
/// `boost::asio::error::eof` if the source ends before the buffer is full;
/// the source's errors otherwise.
/// @par Preconditions
/// The source and the buffer outlive the future. Not polled after Ready
/// (asserts).
template <AsyncRead R>
class POLLUX_NODISCARD_FUTURE ReadExact {
public:
    /// What it completes with: the buffer's size, or an error.
    using Output = Result<std::size_t>;

    /// A read from `r` that fills `buf`; starts nothing. Use
    /// `io::read_exact` rather than this.
    ReadExact(R& r, boost::asio::mutable_buffer buf) noexcept : r_(&r), buf_(buf) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::read_exact polled after it returned Ready");
        while (filled_ < buf_.size()) {
            Poll<Output> p = r_->poll_read(cx, buf_ + filled_);
            if (p.is_pending()) {
                return Pending{};
            }
            Output& r = p.value();
            if (!r) {
                done_ = true;
                return p;
            }
            if (*r == 0) {
                done_ = true;
                return Ready<Output>{Output(boost::system::in_place_error,
                                            make_error_code(boost::asio::error::eof))};
            }
            filled_ += *r;
        }
        done_ = true;
        return Ready<Output>{Output(filled_)};
    }

    /// Bytes already in the front of the buffer.
    [[nodiscard]] std::size_t bytes_read() const noexcept { return filled_; }

private:
    R* r_;
    boost::asio::mutable_buffer buf_;
    std::size_t filled_ = 0;
    bool done_ = false;
};

/// Reads until `buf` is full. See `ReadExact`.
///
/// @par Example
/// @code
/// std::uint32_t len;
/// auto r = co_await pollux::io::read_exact(stream, boost::asio::buffer(&len, sizeof len));
/// if (!r && r.error() == boost::asio::error::eof) { /* peer closed early */ }
/// @endcode
template <AsyncRead R>
POLLUX_NODISCARD_FUTURE ReadExact<R> read_exact(R& r, boost::asio::mutable_buffer buf) noexcept {
    return ReadExact<R>(r, buf);
}

} // namespace pollux::io
