#pragma once

/// @file
/// `codec::FramedWrite<W, Encoder>`: a writer seen as a `Sink` of frames
/// (tokio-util's `FramedWrite`).

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/encoder.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/framed_impl.hpp>
#include <pollux/io/async_write.hpp>

#include <cstddef>
#include <utility>

namespace pollux::codec {

/// `Framed`'s write side alone, over any `io::AsyncWrite`: a `Sink<T>` for
/// every `T` the codec encodes, with the same buffering and backpressure as
/// `Framed` (`poll_ready` flushes first while the write buffer holds
/// `backpressure_boundary()` bytes or more).
///
/// @par Cancel safety
/// See `pollux::send` (not cancel safe once the item was handed over),
/// `pollux::feed` and `pollux::flush` (cancel safe).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the writer arranges.
template <class W, class Codec>
requires io::AsyncWrite<W>
class FramedWrite {
public:
    /// Takes `writer` and `codec`; allocates the write buffer (8 KiB).
    FramedWrite(W writer, Codec codec, std::size_t capacity = detail::framed_initial_capacity)
        : io_(std::move(writer)), codec_(std::move(codec)), write_(capacity) {}

    /// The writer.
    [[nodiscard]] const W& get_ref() const noexcept { return io_; }
    /// The writer. Writing it directly bypasses the buffer.
    [[nodiscard]] W& get_mut() noexcept { return io_; }
    /// The writer; bytes not yet written are dropped.
    [[nodiscard]] W into_inner() && { return std::move(io_); }
    /// The encoder.
    [[nodiscard]] const Codec& encoder() const noexcept { return codec_; }
    /// The encoder.
    [[nodiscard]] Codec& encoder_mut() noexcept { return codec_; }
    /// The bytes encoded and not yet written.
    [[nodiscard]] const BytesMut& write_buffer() const noexcept { return write_.buffer; }
    /// The bytes encoded and not yet written.
    [[nodiscard]] BytesMut& write_buffer_mut() noexcept { return write_.buffer; }
    /// The write buffer size at which `poll_ready` flushes first.
    [[nodiscard]] std::size_t backpressure_boundary() const noexcept {
        return write_.backpressure_boundary;
    }
    /// Sets the write buffer size at which `poll_ready` flushes first.
    void set_backpressure_boundary(std::size_t n) noexcept { write_.backpressure_boundary = n; }

    /// `Sink`: Ready(ok) when the write buffer is under the backpressure
    /// boundary, flushing it first if not. Errors: the writer's.
    Poll<Result<void>> poll_ready(Context& cx) {
        return detail::framed_poll_ready(io_, write_, cx);
    }
    /// `Sink`: encodes `item` into the write buffer. Errors: the encoder's.
    template <class T>
    requires Encoder<Codec, T> Result<void> start_send(T&& item) {
        return codec_.encode(std::forward<T>(item), write_.buffer);
    }
    /// `Sink`: writes the whole write buffer, then flushes the writer.
    /// Errors: the writer's; `codec::errc::write_zero` if it takes 0 bytes.
    Poll<Result<void>> poll_flush(Context& cx) {
        return detail::framed_poll_flush(io_, write_, cx);
    }
    /// `Sink`: `poll_flush`, then the writer's `poll_shutdown`.
    Poll<Result<void>> poll_close(Context& cx) {
        return detail::framed_poll_close(io_, write_, cx);
    }

private:
    W io_;
    Codec codec_;
    detail::FramedWriteState write_;
};

} // namespace pollux::codec
