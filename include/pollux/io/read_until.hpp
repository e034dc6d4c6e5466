#pragma once

/// @file
/// `io::read_until(r, delim, buf)` and `io::read_line(r, line)`: append the
/// bytes of a buffered reader up to a delimiter (tokio's
/// `AsyncBufReadExt::read_until` and `read_line`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_buf_read.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <cstring>
#include <string>

namespace pollux::io {

/// The future returned by `io::read_until` (and, with `B = std::string` and
/// `'\n'`, by `io::read_line`). Output: `Result<std::size_t>`, the number of
/// bytes appended to the buffer: everything up to and including the
/// delimiter or, at end of stream, what was left (0 when nothing was).
///
/// The buffer is not cleared first. Bytes are appended as they are taken
/// from the reader's buffer, so a line longer than the reader's buffer is
/// fine (and the buffer grows as long as no delimiter comes: there is no
/// limit here; `io::lines` has one).
///
/// @par Cancel safety
/// Not cancel safe, in the way tokio's `read_until` is not: if dropped
/// before Ready, the bytes taken from the reader so far are already
/// appended to the buffer (and consumed from the reader); only the count of
/// them is lost. Calling `read_until` again with the same buffer completes
/// the line, so nothing is lost unless the caller discards the buffer.
/// (tokio's `read_line` is weaker: it leaves its string unspecified on
/// cancellation. pollux's `read_line` does not check UTF-8, so it keeps
/// `read_until`'s guarantee.) No Asio operation belongs to the future.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the reader arranges.
/// @par Errors
/// The reader's errors; the bytes appended before the error stay in the
/// buffer.
/// @par Preconditions
/// The reader and the buffer outlive the future. Not polled after Ready
/// (asserts).
template <AsyncBufRead R, detail::ByteContainer B>
class POLLUX_NODISCARD_FUTURE ReadUntil {
public:
    /// What it completes with: the bytes appended, or the reader's error.
    using Output = Result<std::size_t>;

    /// A read from `r` up to `delim`, appended to `buf`; starts nothing. Use
    /// `io::read_until` or `io::read_line` rather than this.
    ReadUntil(R& r, char delim, B& buf) noexcept : r_(&r), buf_(&buf), delim_(delim) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::read_until/read_line polled after it returned Ready");
        for (;;) {
            Poll<Result<boost::asio::const_buffer>> p = r_->poll_fill_buf(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value()) {
                done_ = true;
                return Ready<Output>{Output(boost::system::in_place_error, p.value().error())};
            }
            boost::asio::const_buffer avail = *p.value();
            if (avail.size() == 0) {
                done_ = true; // end of stream
                return Ready<Output>{Output(appended_)};
            }
            const char* data = static_cast<const char*>(avail.data());
            const void* hit = std::memchr(data, static_cast<unsigned char>(delim_), avail.size());
            std::size_t take =
                hit != nullptr ? static_cast<const char*>(hit) - data + 1 : avail.size();
            detail::append_bytes(*buf_, data, take);
            r_->consume(take);
            appended_ += take;
            if (hit != nullptr) {
                done_ = true;
                return Ready<Output>{Output(appended_)};
            }
        }
    }

private:
    R* r_;
    B* buf_;
    std::size_t appended_ = 0;
    char delim_;
    bool done_ = false;
};

/// The future of `read_line`: `ReadUntil` with `'\n'` into a `std::string`.
template <AsyncBufRead R>
using ReadLine = ReadUntil<R, std::string>;

/// Appends the bytes of `r` up to and including `delim` to `buf`. See
/// `ReadUntil`.
///
/// @par Example
/// @code
/// pollux::io::BufReader reader(std::move(stream));
/// std::vector<char> record;
/// pollux::Result<std::size_t> n = co_await pollux::io::read_until(reader, '\0', record);
/// @endcode
template <AsyncBufRead R, detail::ByteContainer B>
POLLUX_NODISCARD_FUTURE ReadUntil<R, B> read_until(R& r, char delim, B& buf) noexcept {
    return ReadUntil<R, B>(r, delim, buf);
}

/// Appends the next line of `r`, `\n` included, to `line`. The bytes are
/// not checked for UTF-8 (a `std::string` holds bytes). See `ReadUntil`
/// for cancel safety (the partial line stays in `line`) and errors.
///
/// @par Example
/// @code
/// pollux::io::BufReader reader(std::move(stream));
/// std::string line;
/// while (*co_await pollux::io::read_line(reader, line) > 0) { handle(line); line.clear(); }
/// @endcode
template <AsyncBufRead R>
POLLUX_NODISCARD_FUTURE ReadLine<R> read_line(R& r, std::string& line) noexcept {
    return ReadLine<R>(r, '\n', line);
}

} // namespace pollux::io
