#pragma once

/// @file
/// `io::copy_bidirectional(a, b)`: copy both ways between two streams until
/// both directions ended (tokio's `io::copy_bidirectional`).

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
#include <utility>

namespace pollux::io {

namespace detail {

// One direction of copy_bidirectional, tokio's TransferState:
// running (copying through `buf`) -> shutting_down (the source ended and
// the sink was flushed: shut the sink down) -> done. `buf[pos, cap)` are
// bytes read and not yet written; nothing more is read until they are
// (backpressure), and the sink is flushed while the source is pending.
class Transfer {
public:
    static constexpr std::size_t buffer_size = 8 * 1024;

    template <class R, class W>
    Poll<Result<std::uint64_t>> poll(Context& cx, R& r, W& w) {
        using Out = Result<std::uint64_t>;
        if (state_ == State::running && !buf_) {
            buf_ = std::make_unique<char[]>(buffer_size);
        }
        while (state_ == State::running) {
            if (pos_ == cap_ && !eof_) {
                Poll<Result<std::size_t>> p =
                    r.poll_read(cx, boost::asio::buffer(buf_.get(), buffer_size));
                if (p.is_pending()) {
                    if (need_flush_) {
                        Poll<Result<void>> f = w.poll_flush(cx);
                        if (f.is_ready()) {
                            if (!f.value()) {
                                return Ready<Out>{
                                    Out(boost::system::in_place_error, f.value().error())};
                            }
                            need_flush_ = false;
                        }
                    }
                    return Pending{};
                }
                if (!p.value()) {
                    return Ready<Out>{Out(boost::system::in_place_error, p.value().error())};
                }
                pos_ = 0;
                cap_ = *p.value();
                eof_ = cap_ == 0;
            }
            while (pos_ < cap_) {
                Poll<Result<std::size_t>> p =
                    w.poll_write(cx, boost::asio::buffer(buf_.get() + pos_, cap_ - pos_));
                if (p.is_pending()) {
                    return Pending{};
                }
                if (!p.value()) {
                    return Ready<Out>{Out(boost::system::in_place_error, p.value().error())};
                }
                if (*p.value() == 0) {
                    return Ready<Out>{Out(boost::system::in_place_error,
                                          make_error_code(boost::system::errc::broken_pipe))};
                }
                pos_ += *p.value();
                total_ += *p.value();
                need_flush_ = true;
            }
            if (eof_) {
                Poll<Result<void>> f = w.poll_flush(cx);
                if (f.is_pending()) {
                    return Pending{};
                }
                if (!f.value()) {
                    return Ready<Out>{Out(boost::system::in_place_error, f.value().error())};
                }
                state_ = State::shutting_down;
                buf_.reset();
            }
        }
        if (state_ == State::shutting_down) {
            Poll<Result<void>> s = w.poll_shutdown(cx);
            if (s.is_pending()) {
                return Pending{};
            }
            if (!s.value()) {
                return Ready<Out>{Out(boost::system::in_place_error, s.value().error())};
            }
            state_ = State::done;
        }
        return Ready<Out>{Out(total_)};
    }

    [[nodiscard]] std::uint64_t transferred() const noexcept { return total_; }

private:
    enum class State { running, shutting_down, done };
    std::unique_ptr<char[]> buf_;
    std::size_t pos_ = 0;
    std::size_t cap_ = 0;
    std::uint64_t total_ = 0;
    State state_ = State::running;
    bool eof_ = false;
    bool need_flush_ = false;
};

} // namespace detail

/// The future returned by `io::copy_bidirectional`. Output:
/// `Result<std::pair<std::uint64_t, std::uint64_t>>`: the bytes copied from
/// `a` to `b`, and from `b` to `a`.
///
/// tokio's rules: each direction copies through its own 8 KiB buffer
/// (allocated on the first poll, freed when that direction ends), reading
/// no more until the writer took what was read (backpressure). When one
/// side reaches end of stream, the other side's writer is flushed and shut
/// down (`poll_shutdown`: for TCP, a FIN), and the other direction goes on
/// until its own end of stream. The future completes when both directions
/// are done, or at the first error of either (the other direction then
/// stops too).
///
/// @par Cancel safety
/// Not cancel safe: if dropped before Ready, bytes read and not yet
/// written (up to 8 KiB per direction) are lost, and the counts are not
/// returned. A direction that ended has already shut its writer down.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the two streams arrange.
/// @par Errors
/// The first error of either stream's read, write, flush or shutdown;
/// `boost::system::errc::broken_pipe` if a writer accepts 0 bytes.
/// @par Preconditions
/// Both streams outlive the future. Not polled after Ready (asserts).
template <class A, class B>
class POLLUX_NODISCARD_FUTURE CopyBidirectional {
public:
    /// What it completes with: (a to b, b to a) byte counts, or the first
    /// error.
    using Output = Result<std::pair<std::uint64_t, std::uint64_t>>;

    /// Copies between `a` and `b`; starts and allocates nothing. Use
    /// `io::copy_bidirectional` rather than this.
    CopyBidirectional(A& a, B& b) noexcept : a_(&a), b_(&b) {}

    /// Polls both directions; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "io::copy_bidirectional polled after it returned Ready");
        Poll<Result<std::uint64_t>> ab = a_to_b_.poll(cx, *a_, *b_);
        if (ab.is_ready() && !ab.value()) {
            return fail(ab.value().error());
        }
        Poll<Result<std::uint64_t>> ba = b_to_a_.poll(cx, *b_, *a_);
        if (ba.is_ready() && !ba.value()) {
            return fail(ba.value().error());
        }
        if (ab.is_pending() || ba.is_pending()) {
            return Pending{};
        }
        done_ = true;
        return Ready<Output>{Output(std::pair(*ab.value(), *ba.value()))};
    }

    /// Bytes written to `b` so far.
    [[nodiscard]] std::uint64_t a_to_b() const noexcept { return a_to_b_.transferred(); }
    /// Bytes written to `a` so far.
    [[nodiscard]] std::uint64_t b_to_a() const noexcept { return b_to_a_.transferred(); }

private:
    Poll<Output> fail(const boost::system::error_code& ec) {
        done_ = true;
        return Ready<Output>{Output(boost::system::in_place_error, ec)};
    }

    A* a_;
    B* b_;
    detail::Transfer a_to_b_;
    detail::Transfer b_to_a_;
    bool done_ = false;
};

/// Copies `a` to `b` and `b` to `a` at once until both ended. See
/// `CopyBidirectional`.
///
/// @par Example
/// @code
/// // A TCP proxy's connection: client <-> upstream.
/// auto n = co_await pollux::io::copy_bidirectional(client, upstream);
/// if (n) { std::cout << n->first << " bytes up, " << n->second << " down\n"; }
/// @endcode
template <class A, class B>
requires AsyncRead<A> && AsyncWrite<A> && AsyncRead<B> && AsyncWrite<B>
    POLLUX_NODISCARD_FUTURE CopyBidirectional<A, B> copy_bidirectional(A& a, B& b)
noexcept {
    return CopyBidirectional<A, B>(a, b);
}

} // namespace pollux::io
