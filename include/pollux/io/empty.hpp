#pragma once

/// @file
/// `io::empty()`, `io::sink()` and `io::repeat(byte)`: a source that is
/// always at its end, a sink that takes everything, and a source of one
/// byte forever (tokio's `io::empty`, `io::sink`, `io::repeat`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <cstring>

namespace pollux::io {

/// `io::AsyncWrite` that accepts and drops every byte (tokio's `Sink`).
/// Polls never return Pending and spend the task's budget (tokio's
/// cooperative scheduling), so a loop over them still yields.
///
/// @par Cancel safety
/// Cancel safe: nothing is held between polls.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe (it has no state).
class Sink {
public:
    /// Ready(all of `b`): the bytes are dropped.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer b) {
        if (!coop::poll_proceed(cx)) {
            return Pending{};
        }
        return Ready<Result<std::size_t>>{b.size()};
    }
    /// Ready(ok).
    Poll<Result<void>> poll_flush(Context&) { return Ready<Result<void>>{Result<void>()}; }
    /// Ready(ok); writes still succeed afterwards (tokio's `Sink` too).
    Poll<Result<void>> poll_shutdown(Context&) { return Ready<Result<void>>{Result<void>()}; }
};

/// `io::AsyncRead` at end of stream (every read is Ready(0)), and
/// `io::AsyncWrite` that accepts every byte (tokio's `Empty` is both since
/// tokio 1.34): its write side is `Sink`'s. As `Sink` for budget, cancel
/// safety and thread safety.
class Empty : public Sink {
public:
    /// Ready(0): end of stream.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer) {
        if (!coop::poll_proceed(cx)) {
            return Pending{};
        }
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
};

/// `io::AsyncRead` that fills every read with one byte, forever (tokio's
/// `Repeat`). As `Sink` for budget, cancel safety and thread safety.
class Repeat {
public:
    /// A source of `byte`.
    explicit Repeat(unsigned char byte) noexcept : byte_(byte) {}
    /// Ready(the whole buffer), filled with the byte.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer b) {
        if (!coop::poll_proceed(cx)) {
            return Pending{};
        }
        std::memset(b.data(), byte_, b.size());
        return Ready<Result<std::size_t>>{b.size()};
    }

private:
    unsigned char byte_;
};

/// A source at end of stream that is also a sink for everything. See
/// `Empty`.
[[nodiscard]] inline Empty empty() noexcept {
    return {};
}

/// A sink that drops everything. See `Sink`.
[[nodiscard]] inline Sink sink() noexcept {
    return {};
}

/// A source of `byte` forever; bound it (e.g. with `io::read_exact`). See
/// `Repeat`.
[[nodiscard]] inline Repeat repeat(unsigned char byte) noexcept {
    return Repeat(byte);
}

} // namespace pollux::io
