#pragma once

/// @file
/// `codec::Framed<IO, Codec>`: a byte stream seen as a `Stream` of frames
/// and a `Sink` of frames (tokio-util's `Framed`).

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/decoder.hpp>
#include <pollux/codec/encoder.hpp>
#include <pollux/codec/framed_parts.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/framed_impl.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>

#include <cstddef>
#include <optional>
#include <utility>

namespace pollux::codec {

/// Owns an I/O object (`io::AsyncRead`, and `io::AsyncWrite` for the sink
/// side: `net::TcpStream`, `net::UnixStream`, ...) and a codec, with a read
/// buffer and a write buffer.
///
/// As a `Stream`, its items are `Result<Codec::Item>`: frames decoded from
/// what was read, or an error (of the reader, or of the decoder). After an
/// error item the stream ends (one nullopt), as tokio-util's does; polling
/// it again after its end reads again (a socket at end of file ends again).
/// At end of file the decoder's `decode_eof` (`codec::decode_eof`) gets the
/// bytes left, so a partial frame is the error
/// `codec::errc::bytes_remaining_on_stream` unless the codec says otherwise.
///
/// `Codec` must be a `Decoder`; for writing alone, with an encoder that
/// is not one, use `FramedWrite`. As a `Sink<T>` for every `T` the codec
/// encodes, `start_send` encodes into
/// the write buffer and `poll_flush` writes it out. Backpressure:
/// `poll_ready` is Pending while the write buffer holds at least
/// `backpressure_boundary()` bytes (8 KiB by default) and cannot be
/// written, so a peer that stops reading stops the sender.
///
/// @par Cancel safety
/// `next(framed)` is cancel safe: a frame leaves the read buffer only in the
/// poll that returns it, so dropping the future loses no frame and no byte
/// (they stay buffered for the next `next`). On the sink side see
/// `pollux::send` (not cancel safe once the item was handed over) and
/// `pollux::flush` (cancel safe).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the I/O object arranges.
template <class IO, Decoder Codec>
requires io::AsyncRead<IO>
class Framed {
public:
    /// The stream's item: a frame or an error.
    using Item = Result<decoder_item_t<Codec>>;

    /// Takes `io` and `codec`; allocates both buffers (8 KiB each); reads
    /// and writes nothing yet.
    Framed(IO io, Codec codec, std::size_t capacity = detail::framed_initial_capacity)
        : io_(std::move(io)), codec_(std::move(codec)), read_(capacity), write_(capacity) {}

    /// Rebuilt from parts (tokio-util's `Framed::from_parts`): the bytes in
    /// `parts.read_buf` are decoded before anything is read, and those in
    /// `parts.write_buf` are written by the next flush.
    explicit Framed(FramedParts<IO, Codec> parts)
        : io_(std::move(parts.io)), codec_(std::move(parts.codec)),
          read_(std::move(parts.read_buf)), write_(std::move(parts.write_buf)) {}
    /// `Framed(parts)`, by tokio-util's name.
    [[nodiscard]] static Framed from_parts(FramedParts<IO, Codec> parts) {
        return Framed(std::move(parts));
    }

    /// The I/O object.
    [[nodiscard]] const IO& get_ref() const noexcept { return io_; }
    /// The I/O object. Reading or writing it directly bypasses the buffers.
    [[nodiscard]] IO& get_mut() noexcept { return io_; }
    /// The I/O object; buffered bytes, read or unwritten, are dropped.
    [[nodiscard]] IO into_inner() && { return std::move(io_); }
    /// The I/O object, the codec and both buffers, nothing dropped
    /// (tokio-util's `into_parts`); see `FramedParts`.
    [[nodiscard]] FramedParts<IO, Codec> into_parts() && {
        return {
            std::move(io_), std::move(codec_), std::move(read_.buffer), std::move(write_.buffer)};
    }
    /// The codec.
    [[nodiscard]] const Codec& codec() const noexcept { return codec_; }
    /// The codec.
    [[nodiscard]] Codec& codec_mut() noexcept { return codec_; }
    /// The bytes read and not yet decoded.
    [[nodiscard]] const BytesMut& read_buffer() const noexcept { return read_.buffer; }
    /// The bytes read and not yet decoded.
    [[nodiscard]] BytesMut& read_buffer_mut() noexcept { return read_.buffer; }
    /// The bytes encoded and not yet written.
    [[nodiscard]] const BytesMut& write_buffer() const noexcept { return write_.buffer; }
    /// The bytes encoded and not yet written.
    [[nodiscard]] BytesMut& write_buffer_mut() noexcept { return write_.buffer; }
    /// The write buffer size at which `poll_ready` flushes first.
    [[nodiscard]] std::size_t backpressure_boundary() const noexcept {
        return write_.backpressure_boundary;
    }
    /// Sets the write buffer size at which `poll_ready` flushes first (0:
    /// every item is flushed before the next is taken).
    void set_backpressure_boundary(std::size_t n) noexcept { write_.backpressure_boundary = n; }

    /// `Stream`: the next frame, an error, or nullopt at the end. Cancel
    /// safe (see the class).
    Poll<std::optional<Item>> poll_next(Context& cx) {
        return detail::framed_poll_next(io_, codec_, read_, cx);
    }

    /// `Sink`: Ready(ok) when the write buffer is under the backpressure
    /// boundary, flushing it first if not. Errors: the writer's.
    Poll<Result<void>> poll_ready(Context& cx) requires io::AsyncWrite<IO> {
        return detail::framed_poll_ready(io_, write_, cx);
    }
    /// `Sink`: encodes `item` into the write buffer. Errors: the encoder's
    /// (nothing is buffered then).
    template <class T>
    requires io::AsyncWrite<IO> && Encoder<Codec, T> Result<void> start_send(T&& item) {
        return codec_.encode(std::forward<T>(item), write_.buffer);
    }
    /// `Sink`: writes the whole write buffer, then flushes the writer.
    /// Errors: the writer's; `codec::errc::write_zero` if it takes 0 bytes.
    Poll<Result<void>> poll_flush(Context& cx) requires io::AsyncWrite<IO> {
        return detail::framed_poll_flush(io_, write_, cx);
    }
    /// `Sink`: `poll_flush`, then the writer's `poll_shutdown` (TCP: FIN).
    Poll<Result<void>> poll_close(Context& cx) requires io::AsyncWrite<IO> {
        return detail::framed_poll_close(io_, write_, cx);
    }

private:
    IO io_;
    Codec codec_;
    detail::FramedReadState read_;
    detail::FramedWriteState write_;
};

} // namespace pollux::codec
