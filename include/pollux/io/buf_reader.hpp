#pragma once

/// @file
/// `io::BufReader<R>`: an `AsyncRead` with a buffer in front, an
/// `io::AsyncBufRead` (tokio's `BufReader`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>
#include <pollux/io/read_until.hpp>

#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace pollux::io {

/// Owns a reader `R` and a buffer of fixed capacity (8 KiB by default), so
/// that many small reads (lines) cost few system calls. It is an
/// `AsyncRead` itself, and an `AsyncWrite` that passes writes straight to
/// `R` when `R` is one (so a `BufReader<TcpStream>` still writes).
///
/// The buffer never grows: a read with a buffer at least as large as the
/// capacity, when nothing is buffered, goes straight to `R`.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
template <AsyncRead R>
class BufReader {
public:
    /// The buffer's capacity when none is given: 8 KiB.
    static constexpr std::size_t default_capacity = 8 * 1024;

    /// Takes `inner` and allocates a buffer of `capacity` bytes now; reads
    /// nothing yet.
    /// @par Errors
    /// Throws `std::bad_alloc` if the buffer cannot be allocated.
    explicit BufReader(R inner, std::size_t capacity = default_capacity)
        : inner_(std::move(inner)), buf_(std::make_unique<char[]>(capacity)), cap_(capacity) {}

    /// Moves the reader, the buffer and the bytes buffered in it; the
    /// moved-from BufReader has no buffer and may only be destroyed or
    /// assigned to.
    BufReader(BufReader&&) noexcept = default;
    /// Move assignment: drops the bytes buffered here and move-assigns `R`;
    /// `o` is left as the move constructor leaves it.
    BufReader& operator=(BufReader&&) noexcept = default;

    /// The reader. Reading from it directly skips the bytes buffered here.
    [[nodiscard]] R& get_mut() noexcept { return inner_; }
    /// The reader, read-only.
    [[nodiscard]] const R& get_ref() const noexcept { return inner_; }
    /// The reader; what was buffered is lost.
    [[nodiscard]] R into_inner() && { return std::move(inner_); }

    /// The bytes buffered now and not yet consumed.
    [[nodiscard]] boost::asio::const_buffer buffer() const noexcept {
        return {buf_.get() + pos_, filled_ - pos_};
    }

    /// The buffered bytes, reading from `R` first if none are (tokio's
    /// `poll_fill_buf`). An empty buffer means end of stream. Nothing is
    /// consumed: call `consume(n)` for the bytes used.
    Poll<Result<boost::asio::const_buffer>> poll_fill_buf(Context& cx) {
        if (pos_ == filled_) {
            Poll<Result<std::size_t>> p =
                inner_.poll_read(cx, boost::asio::buffer(buf_.get(), cap_));
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value()) {
                return Ready<Result<boost::asio::const_buffer>>{Result<boost::asio::const_buffer>(
                    boost::system::in_place_error, p.value().error())};
            }
            pos_ = 0;
            filled_ = *p.value();
        }
        return Ready<Result<boost::asio::const_buffer>>{buffer()};
    }

    /// Marks `n` buffered bytes as used. Precondition: `n <= buffer().size()`.
    void consume(std::size_t n) noexcept {
        POLLUX_ASSERT(n <= filled_ - pos_, "BufReader::consume past the buffered bytes");
        pos_ += n;
    }

    /// `AsyncRead`: buffered bytes first. Cancel safe, as `R`'s.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer out) {
        if (pos_ == filled_ && out.size() >= cap_) {
            return inner_.poll_read(cx, out);
        }
        Poll<Result<boost::asio::const_buffer>> p = poll_fill_buf(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        if (!p.value()) {
            return Ready<Result<std::size_t>>{
                Result<std::size_t>(boost::system::in_place_error, p.value().error())};
        }
        std::size_t n = boost::asio::buffer_copy(out, *p.value());
        consume(n);
        return Ready<Result<std::size_t>>{Result<std::size_t>(n)};
    }

    /// `AsyncWrite` (only when `R` is one): `R::poll_write`, unbuffered.
    /// Cancel safety, wakes and errors are `R`'s.
    Poll<Result<std::size_t>> poll_write(Context& cx,
                                         boost::asio::const_buffer b) requires AsyncWrite<R> {
        return inner_.poll_write(cx, b);
    }
    /// `AsyncWrite` (only when `R` is one): `R::poll_flush`; the read buffer
    /// is not involved.
    Poll<Result<void>> poll_flush(Context& cx) requires AsyncWrite<R> {
        return inner_.poll_flush(cx);
    }
    /// `AsyncWrite` (only when `R` is one): `R::poll_shutdown`; bytes already
    /// buffered for reading stay readable.
    Poll<Result<void>> poll_shutdown(Context& cx) requires AsyncWrite<R> {
        return inner_.poll_shutdown(cx);
    }

    /// Appends the next line, `\n` included, to `line`: `io::read_line(*this,
    /// line)`. See `ReadUntil` for cancel safety (the partial line stays in
    /// `line`) and errors.
    /// (Returns `ReadLine<BufReader>`; spelt `auto` because the class is
    /// incomplete here, and `ReadLine` checks `AsyncBufRead`.)
    POLLUX_NODISCARD_FUTURE auto read_line(std::string& line) noexcept {
        return ReadLine<BufReader>(*this, '\n', line);
    }

private:
    R inner_;
    std::unique_ptr<char[]> buf_;
    std::size_t cap_;
    std::size_t pos_ = 0;    // next unconsumed byte
    std::size_t filled_ = 0; // end of the buffered bytes
};

} // namespace pollux::io
