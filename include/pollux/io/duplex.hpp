#pragma once

/// @file
/// `io::duplex(max_buf_size)`: two connected in-memory streams (tokio's
/// `io::duplex` and `DuplexStream`), for tests and for joining two pieces of
/// code that each want a stream.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace pollux::io {

namespace detail {

// One direction of a duplex pair: bytes written by one end, read by the
// other. Everything is under `m`; wakers are taken out under it and woken
// after it is released, so a wake may run the other end's task at once on
// another thread without meeting the lock.
//
// - `buf[head, buf.size())` are the unread bytes, at most `max` of them.
//   The vector grows with what is written (never past `max` unread bytes)
//   and is reset when the reader empties it, so an idle pipe holds its
//   peak allocation and nothing more.
// - `write_closed`: the writing end shut down or was dropped; the reader
//   gets the rest, then end of stream. Never unset.
// - `read_closed`: the reading end was dropped; writes fail with
//   broken_pipe. Never unset.
// - `read_waker`: the reader waits for bytes or `write_closed`;
//   `write_waker`: the writer waits for room or `read_closed`.
struct DuplexPipe {
    explicit DuplexPipe(std::size_t max_buf) : max(max_buf) {}

    std::mutex m;
    std::vector<char> buf;
    std::size_t head = 0;
    std::size_t max;
    bool write_closed = false;
    bool read_closed = false;
    std::optional<Waker> read_waker;
    std::optional<Waker> write_waker;

    std::size_t unread() const noexcept { return buf.size() - head; }

    // Closes one side and hands back the other side's waker, to be woken
    // after the lock.
    std::optional<Waker> close_write() {
        std::lock_guard lock(m);
        write_closed = true;
        return std::exchange(read_waker, std::nullopt);
    }
    std::optional<Waker> close_read() {
        std::lock_guard lock(m);
        read_closed = true;
        return std::exchange(write_waker, std::nullopt);
    }
};

inline void wake_opt(std::optional<Waker> w) {
    if (w) {
        std::move(*w).wake();
    }
}

} // namespace detail

/// One end of an in-memory duplex pair from `io::duplex`: what it writes,
/// the other end reads, and the other way round. `io::AsyncRead` and
/// `io::AsyncWrite`.
///
/// tokio's rules:
/// - Each direction holds at most `max_buf_size` unread bytes: a write
///   takes what fits and is Pending when nothing does (backpressure), until
///   the peer reads.
/// - `poll_shutdown` closes this end's writing direction: the peer reads
///   what was written, then end of stream (0). Writing after it:
///   `broken_pipe`.
/// - Destroying an end does both: the peer reads the rest and then end of
///   stream, and the peer's writes fail with `broken_pipe`.
/// - `poll_flush` is always Ready(ok).
///
/// @par Cancel safety
/// Reads and writes are cancel safe: a poll either moves bytes and returns
/// Ready with their count, or moves none. No Asio operation is involved.
/// @par Thread safety
/// Distinct objects: safe, including the two ends of one pair on two
/// threads at once (each direction is behind a mutex, and the other end's
/// waker is woken after it is released). Shared objects: unsafe. Not tied
/// to an executor: an end may be polled, or dropped, on any thread, also
/// after the runtime that polled it is gone (its stored waker then does
/// nothing).
/// @par Wakes / resumes on
/// The peer's thread: a read is woken by the peer's write, shutdown or
/// destruction; a write by the peer's read or destruction.
/// @par Errors
/// `boost::system::errc::broken_pipe` for a write after this end's
/// shutdown or after the peer was destroyed.
class [[nodiscard]] DuplexStream {
public:
    /// Moves the end; the moved-from one may only be destroyed or assigned
    /// to.
    DuplexStream(DuplexStream&&) noexcept = default;
    /// Closes the end held (as the destructor does), then takes `o`'s.
    DuplexStream& operator=(DuplexStream&& o) noexcept {
        if (this != &o) {
            close();
            read_ = std::move(o.read_);
            write_ = std::move(o.write_);
        }
        return *this;
    }
    ~DuplexStream() { close(); }

    /// `io::AsyncRead`: the bytes the peer wrote, or 0 once it shut down or
    /// was dropped and everything was read.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer out) {
        POLLUX_ASSERT(read_ != nullptr, "DuplexStream used after it was moved from");
        if (out.size() == 0) {
            return Ready<Result<std::size_t>>{std::size_t{0}};
        }
        if (!pollux::detail::has_budget(cx)) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        detail::DuplexPipe& p = *read_;
        std::optional<Waker> wake;
        std::optional<Waker> old;
        std::size_t n = 0;
        {
            std::lock_guard lock(p.m);
            if (p.unread() == 0) {
                if (!p.write_closed) {
                    old = pollux::detail::store_waker(p.read_waker, cx);
                    return Pending{};
                }
            } else {
                n = std::min(out.size(), p.unread());
                std::memcpy(out.data(), p.buf.data() + p.head, n);
                p.head += n;
                if (p.head == p.buf.size()) {
                    p.head = 0;
                    p.buf.clear();
                }
                wake = std::exchange(p.write_waker, std::nullopt);
            }
        }
        detail::wake_opt(std::move(wake));
        (void)coop::poll_proceed(cx);
        return Ready<Result<std::size_t>>{n};
    }

    /// `io::AsyncWrite`: as many bytes as fit under `max_buf_size`; Pending
    /// when none does.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer in) {
        POLLUX_ASSERT(write_ != nullptr, "DuplexStream used after it was moved from");
        if (!pollux::detail::has_budget(cx)) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        detail::DuplexPipe& p = *write_;
        std::optional<Waker> wake;
        std::optional<Waker> old;
        std::size_t n = 0;
        {
            std::lock_guard lock(p.m);
            if (p.write_closed || p.read_closed) {
                return Ready<Result<std::size_t>>{
                    Result<std::size_t>(make_error_code(boost::system::errc::broken_pipe))};
            }
            if (in.size() == 0) {
                return Ready<Result<std::size_t>>{std::size_t{0}};
            }
            const std::size_t room = p.max - p.unread();
            if (room == 0) {
                old = pollux::detail::store_waker(p.write_waker, cx);
                return Pending{};
            }
            n = std::min(in.size(), room);
            // Keeps the vector from growing past what is unread plus `n`:
            // the consumed front is dropped first when it is most of it.
            if (p.head > 0 && p.head >= p.buf.size() / 2) {
                p.buf.erase(p.buf.begin(), p.buf.begin() + static_cast<std::ptrdiff_t>(p.head));
                p.head = 0;
            }
            const char* src = static_cast<const char*>(in.data());
            p.buf.insert(p.buf.end(), src, src + n);
            wake = std::exchange(p.read_waker, std::nullopt);
        }
        detail::wake_opt(std::move(wake));
        (void)coop::poll_proceed(cx);
        return Ready<Result<std::size_t>>{n};
    }

    /// `io::AsyncWrite`: nothing to flush; Ready(ok).
    Poll<Result<void>> poll_flush(Context&) { return Ready<Result<void>>{Result<void>()}; }

    /// `io::AsyncWrite`: closes the writing direction; the peer reads end of
    /// stream after the bytes already written. Ready(ok), also when repeated.
    Poll<Result<void>> poll_shutdown(Context&) {
        POLLUX_ASSERT(write_ != nullptr, "DuplexStream used after it was moved from");
        detail::wake_opt(write_->close_write());
        return Ready<Result<void>>{Result<void>()};
    }

private:
    friend std::pair<DuplexStream, DuplexStream> duplex(std::size_t);

    DuplexStream(std::shared_ptr<detail::DuplexPipe> read,
                 std::shared_ptr<detail::DuplexPipe> write) noexcept
        : read_(std::move(read)), write_(std::move(write)) {}

    void close() noexcept {
        // Each close takes the other side's waker under the pipe's lock and
        // wakes it after. A waker of a task whose runtime is gone does
        // nothing (DESIGN section 8).
        if (write_) {
            detail::wake_opt(write_->close_write());
            write_.reset();
        }
        if (read_) {
            detail::wake_opt(read_->close_read());
            read_.reset();
        }
    }

    std::shared_ptr<detail::DuplexPipe> read_;  // the peer writes, this end reads
    std::shared_ptr<detail::DuplexPipe> write_; // this end writes, the peer reads
};

/// Two connected in-memory streams; each direction holds at most
/// `max_buf_size` unread bytes (at least 1 is used when 0 is given). See
/// `DuplexStream`.
///
/// @par Errors
/// Throws `std::bad_alloc` if the shared state cannot be allocated.
/// @par Example
/// @code
/// auto [client, server] = pollux::io::duplex(64);
/// co_await pollux::io::write_all(client, boost::asio::buffer("ping", 4));
/// char buf[4];
/// co_await pollux::io::read_exact(server, boost::asio::buffer(buf));
/// @endcode
[[nodiscard]] inline std::pair<DuplexStream, DuplexStream> duplex(std::size_t max_buf_size) {
    const std::size_t max = std::max<std::size_t>(max_buf_size, 1);
    auto a_to_b = std::make_shared<detail::DuplexPipe>(max);
    auto b_to_a = std::make_shared<detail::DuplexPipe>(max);
    return {DuplexStream(b_to_a, a_to_b), DuplexStream(a_to_b, b_to_a)};
}

} // namespace pollux::io
