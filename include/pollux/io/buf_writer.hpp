#pragma once

/// @file
/// `io::BufWriter<W>`: an `AsyncWrite` with a buffer in front (tokio's
/// `BufWriter`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>

#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>

namespace pollux::io {

/// Owns a writer `W` and a buffer of fixed capacity (8 KiB by default), so
/// that many small writes cost few system calls. It is an `AsyncWrite`
/// itself, and an `AsyncRead` that passes reads straight to `W` when `W` is
/// one (so a `BufWriter<TcpStream>` still reads).
///
/// tokio's rules, one by one:
/// - `poll_write` of `n` bytes: if they do not fit beside what is buffered,
///   the buffer is written out first. Then, if `n` is at least the capacity,
///   they go straight to `W` (one `W::poll_write`, whose count is returned);
///   otherwise they are copied into the buffer and all `n` are accepted.
/// - `poll_flush`: writes the buffer out, then `W::poll_flush`.
/// - `poll_shutdown`: writes the buffer out, then `W::poll_shutdown`.
/// - Destroying it (or `into_inner`) does **not** flush: bytes still
///   buffered are lost. Call `io::flush` or `io::shutdown` first.
///
/// @par Cancel safety
/// Each poll function is cancel safe in the `AsyncWrite` sense: bytes a
/// `poll_write` accepted are in the buffer or in `W`, and a write-out
/// interrupted by Pending resumes where it stopped on the next poll of any
/// of the three. The futures over it (`io::write_all`, ...) keep their own
/// cancel safety.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever `W` arranges.
/// @par Errors
/// `W`'s errors; `boost::system::errc::broken_pipe` when `W` accepts 0
/// bytes of the buffer (tokio's `WriteZero`). After an error the bytes not
/// yet written stay buffered.
template <AsyncWrite W>
class BufWriter {
public:
    /// The buffer's capacity when none is given: 8 KiB.
    static constexpr std::size_t default_capacity = 8 * 1024;

    /// Takes `inner` and allocates a buffer of `capacity` bytes now
    /// (`capacity` 0 is taken as 1); writes nothing yet.
    /// @par Errors
    /// Throws `std::bad_alloc` if the buffer cannot be allocated.
    explicit BufWriter(W inner, std::size_t capacity = default_capacity)
        : inner_(std::move(inner)), cap_(capacity == 0 ? 1 : capacity),
          buf_(std::make_unique<char[]>(cap_)) {}

    /// Moves the writer, the buffer and the bytes buffered in it; the
    /// moved-from BufWriter has no buffer and may only be destroyed or
    /// assigned to.
    BufWriter(BufWriter&&) noexcept = default;
    /// Move assignment: drops the bytes buffered here (unwritten) and
    /// move-assigns `W`.
    BufWriter& operator=(BufWriter&&) noexcept = default;

    /// The writer. Writing to it directly goes ahead of the bytes buffered
    /// here.
    [[nodiscard]] W& get_mut() noexcept { return inner_; }
    /// The writer, read-only.
    [[nodiscard]] const W& get_ref() const noexcept { return inner_; }
    /// The writer; what was buffered and not written is lost.
    [[nodiscard]] W into_inner() && { return std::move(inner_); }
    /// The bytes buffered and not yet written to `W`.
    [[nodiscard]] boost::asio::const_buffer buffer() const noexcept {
        return {buf_.get() + written_, filled_ - written_};
    }
    /// The buffer's capacity in bytes.
    [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

    /// `AsyncWrite`; see the class for the rules.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer b) {
        if (filled_ + b.size() > cap_) {
            Poll<Result<void>> f = flush_buf(cx);
            if (f.is_pending()) {
                return Pending{};
            }
            if (!f.value()) {
                return Ready<Result<std::size_t>>{
                    Result<std::size_t>(boost::system::in_place_error, f.value().error())};
            }
        }
        if (b.size() >= cap_) {
            return inner_.poll_write(cx, b);
        }
        std::memcpy(buf_.get() + filled_, b.data(), b.size());
        filled_ += b.size();
        return Ready<Result<std::size_t>>{b.size()};
    }

    /// `AsyncWrite`: writes the buffer out, then flushes `W`.
    Poll<Result<void>> poll_flush(Context& cx) {
        Poll<Result<void>> f = flush_buf(cx);
        if (f.is_pending() || !f.value()) {
            return f;
        }
        return inner_.poll_flush(cx);
    }

    /// `AsyncWrite`: writes the buffer out, then shuts `W` down.
    Poll<Result<void>> poll_shutdown(Context& cx) {
        Poll<Result<void>> f = flush_buf(cx);
        if (f.is_pending() || !f.value()) {
            return f;
        }
        return inner_.poll_shutdown(cx);
    }

    /// `AsyncRead` (only when `W` is one): `W::poll_read`, unbuffered.
    /// Cancel safety, wakes and errors are `W`'s.
    Poll<Result<std::size_t>> poll_read(Context& cx,
                                        boost::asio::mutable_buffer b) requires AsyncRead<W> {
        return inner_.poll_read(cx, b);
    }

private:
    // Writes buffered bytes to `W` until none is left. `written_` keeps the
    // progress across Pending; the buffer is emptied only when all of it
    // went out (tokio's flush_buf keeps it until then too).
    Poll<Result<void>> flush_buf(Context& cx) {
        while (written_ < filled_) {
            Poll<Result<std::size_t>> p = inner_.poll_write(
                cx, boost::asio::buffer(buf_.get() + written_, filled_ - written_));
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value() || *p.value() == 0) {
                compact();
                return Ready<Result<void>>{
                    Result<void>(p.value() ? make_error_code(boost::system::errc::broken_pipe)
                                           : p.value().error())};
            }
            written_ += *p.value();
        }
        written_ = 0;
        filled_ = 0;
        return Ready<Result<void>>{Result<void>()};
    }

    // Moves the unwritten bytes to the front (after an error).
    void compact() noexcept {
        std::memmove(buf_.get(), buf_.get() + written_, filled_ - written_);
        filled_ -= written_;
        written_ = 0;
    }

    W inner_;
    std::size_t cap_;
    std::unique_ptr<char[]> buf_;
    std::size_t written_ = 0; // bytes of the buffer already written to W
    std::size_t filled_ = 0;  // end of the buffered bytes
};

} // namespace pollux::io
