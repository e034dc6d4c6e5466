#pragma once

/// @file
/// `net::OwnedReadHalf<S>` and `net::OwnedWriteHalf<S>`: the halves of
/// `TcpStream::into_split()` and `UnixStream::into_split()`, which own the
/// stream together and may be moved into two tasks (tokio's
/// `tcp::OwnedReadHalf`/`OwnedWriteHalf` and `reunite`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>

#include <cstddef>
#include <memory>
#include <utility>

namespace pollux::net {

class TcpStream;
class UnixStream;

namespace detail {
// `shutdown(SHUT_WR)` on the stream's socket, callable at any time and on
// any thread, also after its io_context shut down (the write half's drop).
// Errors are ignored, as tokio's drop ignores them. In lib/net.
POLLUX_API void shutdown_write_now(TcpStream& s) noexcept;
POLLUX_API void shutdown_write_now(UnixStream& s) noexcept;
} // namespace detail

template <class S>
class OwnedWriteHalf;

/// The read half of `S::into_split()`: an `io::AsyncRead` that owns the
/// stream together with its `OwnedWriteHalf`. The socket is closed when
/// both halves are gone.
///
/// @par Thread safety
/// Distinct objects: safe, and the two halves of one stream are distinct
/// objects: each may be polled by its own task, on any thread of the
/// stream's runtime, at the same time as the other (a pollux stream keeps
/// its readiness and waker per direction, lib/detail/readiness.hpp).
/// Shared objects: unsafe. Either half may be destroyed on any thread.
template <class S>
class OwnedReadHalf {
public:
    /// Moves the half; the moved-from one may only be destroyed or assigned to.
    OwnedReadHalf(OwnedReadHalf&&) noexcept = default;
    /// Drops the half held, then takes `o`'s.
    OwnedReadHalf& operator=(OwnedReadHalf&&) noexcept = default;
    OwnedReadHalf(const OwnedReadHalf&) = delete;
    OwnedReadHalf& operator=(const OwnedReadHalf&) = delete;
    ~OwnedReadHalf() = default;

    /// `io::AsyncRead`: the stream's `poll_read`. Cancel safe, as the
    /// stream's reads are; wakes and errors are the stream's.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf) {
        POLLUX_ASSERT(s_ != nullptr, "OwnedReadHalf used after it was moved from");
        return s_->poll_read(cx, buf);
    }

    /// The peer's address, as the stream's `peer_addr`.
    [[nodiscard]] auto peer_addr() const { return s_->peer_addr(); }
    /// The local address, as the stream's `local_addr`.
    [[nodiscard]] auto local_addr() const { return s_->local_addr(); }

    /// Puts the stream back together from this half and `w` (tokio's
    /// `reunite`): the stream as it was, its socket open and `w`'s
    /// shutdown-on-drop disarmed. Both halves are then moved-from.
    /// @par Errors
    /// `boost::system::errc::invalid_argument` when `w` is the write half of
    /// another stream. Nothing is moved then: both halves are still the
    /// caller's, unchanged (tokio hands them back in its `ReuniteError`; a
    /// conditionally consumed `&&` does the same in C++ without a
    /// move-only error type, which `boost::system::result` cannot hold).
    [[nodiscard]] Result<S> reunite(OwnedWriteHalf<S>&& w) &&;

    /// Whether this half and `w` come from the same `into_split`.
    [[nodiscard]] bool is_pair_of(const OwnedWriteHalf<S>& w) const noexcept {
        return s_ != nullptr && s_ == w.s_;
    }

private:
    template <class>
    friend class OwnedWriteHalf;
    friend S;
    explicit OwnedReadHalf(std::shared_ptr<S> s) noexcept : s_(std::move(s)) {}

    std::shared_ptr<S> s_;
};

/// The write half of `S::into_split()`: an `io::AsyncWrite` that owns the
/// stream together with its `OwnedReadHalf`.
///
/// Destroying it shuts the write direction down (`shutdown(SHUT_WR)`: the
/// peer reads end of stream) even while the read half lives, as tokio's
/// `OwnedWriteHalf` does; `forget()` destroys it without that. `reunite`
/// disarms it too.
///
/// @par Thread safety
/// As `OwnedReadHalf`.
template <class S>
class OwnedWriteHalf {
public:
    /// Moves the half; the moved-from one may only be destroyed or assigned
    /// to (its destruction shuts nothing down).
    OwnedWriteHalf(OwnedWriteHalf&& o) noexcept
        : s_(std::move(o.s_)), shutdown_on_drop_(o.shutdown_on_drop_) {}
    OwnedWriteHalf(const OwnedWriteHalf&) = delete;
    OwnedWriteHalf& operator=(const OwnedWriteHalf&) = delete;
    /// Drops the half held (shutting its write direction down, as the
    /// destructor does), then takes `o`'s.
    OwnedWriteHalf& operator=(OwnedWriteHalf&& o) noexcept {
        if (this != &o) {
            drop();
            s_ = std::move(o.s_);
            shutdown_on_drop_ = o.shutdown_on_drop_;
        }
        return *this;
    }
    ~OwnedWriteHalf() { drop(); }

    /// `io::AsyncWrite`: the stream's `poll_write`. Cancel safe, as the
    /// stream's writes are; wakes and errors are the stream's.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf) {
        POLLUX_ASSERT(s_ != nullptr, "OwnedWriteHalf used after it was moved from");
        return s_->poll_write(cx, buf);
    }
    /// `io::AsyncWrite`: the stream's `poll_flush` (Ready at once).
    Poll<Result<void>> poll_flush(Context& cx) { return s_->poll_flush(cx); }
    /// `io::AsyncWrite`: shuts the write direction down (the peer reads end
    /// of stream); the read half keeps reading. Ready at once.
    Poll<Result<void>> poll_shutdown(Context& cx) { return s_->poll_shutdown(cx); }

    /// Destroys this half without shutting the write direction down (tokio's
    /// `forget`): the peer sees end of stream only when the read half is
    /// gone too and the socket closes.
    void forget() && noexcept {
        shutdown_on_drop_ = false;
        s_.reset();
    }

    /// The peer's address, as the stream's `peer_addr`.
    [[nodiscard]] auto peer_addr() const { return s_->peer_addr(); }
    /// The local address, as the stream's `local_addr`.
    [[nodiscard]] auto local_addr() const { return s_->local_addr(); }

    /// `std::move(r).reunite(std::move(*this))`: on error nothing is moved.
    [[nodiscard]] Result<S> reunite(OwnedReadHalf<S>&& r) && {
        return std::move(r).reunite(std::move(*this));
    }

private:
    template <class>
    friend class OwnedReadHalf;
    friend S;
    explicit OwnedWriteHalf(std::shared_ptr<S> s) noexcept : s_(std::move(s)) {}

    void drop() noexcept {
        if (s_ && shutdown_on_drop_) {
            detail::shutdown_write_now(*s_);
        }
        s_.reset();
    }

    std::shared_ptr<S> s_;
    bool shutdown_on_drop_ = true;
};

template <class S>
Result<S> OwnedReadHalf<S>::reunite(OwnedWriteHalf<S>&& w) && {
    using R = Result<S>;
    if (!is_pair_of(w)) {
        return R(boost::system::in_place_error,
                 make_error_code(boost::system::errc::invalid_argument));
    }
    // Both halves are consumed: once `w` is disarmed and both pointers are
    // gone, this function holds the only reference (the halves are the only
    // owners, and each is moved-from or being consumed here).
    std::shared_ptr<S> s = std::move(s_);
    w.shutdown_on_drop_ = false;
    w.s_.reset();
    POLLUX_ASSERT(s.use_count() == 1, "reunite: another owner of the stream is alive");
    return R(boost::system::in_place_value, std::move(*s));
}

} // namespace pollux::net
