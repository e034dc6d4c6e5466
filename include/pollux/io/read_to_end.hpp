#pragma once

/// @file
/// `io::read_to_end(r, buf)` and `io::read_to_string(r, s)`: append
/// everything a source gives until its end of stream (tokio's
/// `AsyncReadExt::read_to_end` and `read_to_string`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_buf_read.hpp>
#include <pollux/io/async_read.hpp>

#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <cstddef>
#include <string>

namespace pollux::io {

/// The future returned by `io::read_to_end` and `io::read_to_string`.
/// Output: `Result<std::size_t>`, the number of bytes appended, once the
/// source reached end of stream.
///
/// The buffer is not cleared first, and grows as bytes come (each read
/// asks for at least 32 bytes and at most 64 KiB, doubling with the
/// buffer, into its spare room): there is no limit, so use it on sources
/// that end (a file, a peer you trust), or bound the source first.
///
/// @par Cancel safety
/// Not cancel safe, as tokio's is not: if dropped before Ready, the bytes
/// read so far are already appended to the buffer (and gone from the
/// source); only the count is lost. Nothing read is lost while the caller
/// keeps the buffer. No Asio operation belongs to the future.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the source arranges.
/// @par Errors
/// The source's errors; the bytes appended before the error stay in the
/// buffer. `std::bad_alloc` (thrown) when the buffer cannot grow.
/// @par Preconditions
/// The source and the buffer outlive the future. Not polled after Ready
/// (asserts).
template <AsyncRead R, detail::ByteContainer B>
class POLLUX_NODISCARD_FUTURE ReadToEnd {
public:
    /// What it completes with: the bytes appended, or the source's error.
    using Output = Result<std::size_t>;
    /// The least a read asks for.
    static constexpr std::size_t min_read = 32;
    /// The most a read asks for.
    static constexpr std::size_t max_read = 64 * 1024;

    /// A read of `r` to its end, appended to `buf`; starts nothing. Use
    /// `io::read_to_end` or `io::read_to_string` rather than this.
    ReadToEnd(R& r, B& buf) noexcept : r_(&r), buf_(&buf) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::read_to_end/read_to_string polled after it returned Ready");
        for (;;) {
            // The buffer is grown by `want` zeroed bytes for the read, and
            // cut back to what the read returned before this poll returns,
            // so the caller never sees the zeroes.
            const std::size_t len = buf_->size();
            const std::size_t want = std::clamp<std::size_t>(len, min_read, max_read);
            buf_->resize(len + want);
            Poll<Result<std::size_t>> p = r_->poll_read(
                cx, boost::asio::buffer(reinterpret_cast<char*>(buf_->data()) + len, want));
            const std::size_t got = p.is_ready() && p.value() ? *p.value() : 0;
            buf_->resize(len + got);
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value()) {
                done_ = true;
                return Ready<Output>{Output(boost::system::in_place_error, p.value().error())};
            }
            if (got == 0) {
                done_ = true;
                return Ready<Output>{Output(appended_)};
            }
            appended_ += got;
        }
    }

private:
    R* r_;
    B* buf_;
    std::size_t appended_ = 0;
    bool done_ = false;
};

/// Appends everything `r` gives until its end of stream to `buf`. See
/// `ReadToEnd`.
///
/// @par Example
/// @code
/// std::vector<unsigned char> body;
/// pollux::Result<std::size_t> n = co_await pollux::io::read_to_end(stream, body);
/// @endcode
template <AsyncRead R, detail::ByteContainer B>
POLLUX_NODISCARD_FUTURE ReadToEnd<R, B> read_to_end(R& r, B& buf) noexcept {
    return ReadToEnd<R, B>(r, buf);
}

/// `read_to_end` into a `std::string`. Unlike tokio's, the bytes are not
/// checked for UTF-8 (a `std::string` holds bytes). See `ReadToEnd`.
///
/// @par Example
/// @code
/// std::string text;
/// pollux::Result<std::size_t> n = co_await pollux::io::read_to_string(stream, text);
/// @endcode
template <AsyncRead R>
POLLUX_NODISCARD_FUTURE ReadToEnd<R, std::string> read_to_string(R& r, std::string& s) noexcept {
    return ReadToEnd<R, std::string>(r, s);
}

} // namespace pollux::io
