#pragma once

/// @file
/// `codec::FramedRead<R, Decoder>`: a reader seen as a `Stream` of frames
/// (tokio-util's `FramedRead`).

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/decoder.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/framed_impl.hpp>
#include <pollux/io/async_read.hpp>

#include <cstddef>
#include <optional>
#include <utility>

namespace pollux::codec {

/// `Framed`'s read side alone, over any `io::AsyncRead` (a read half, a
/// pipe, stdin): a `Stream` of `Result<Codec::Item>`, with the same item,
/// error, end-of-file and after-the-end rules as `Framed`.
///
/// @par Cancel safety
/// `next(framed_read)` is cancel safe: no frame or byte is lost if the
/// future is dropped; they stay in the read buffer.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the reader arranges.
template <class R, Decoder Codec>
requires io::AsyncRead<R>
class FramedRead {
public:
    /// The stream's item: a frame or an error.
    using Item = Result<decoder_item_t<Codec>>;

    /// Takes `reader` and `codec`; allocates the read buffer (8 KiB).
    FramedRead(R reader, Codec codec, std::size_t capacity = detail::framed_initial_capacity)
        : io_(std::move(reader)), codec_(std::move(codec)), read_(capacity) {}

    /// The reader.
    [[nodiscard]] const R& get_ref() const noexcept { return io_; }
    /// The reader. Reading it directly bypasses the buffer.
    [[nodiscard]] R& get_mut() noexcept { return io_; }
    /// The reader; buffered bytes are dropped.
    [[nodiscard]] R into_inner() && { return std::move(io_); }
    /// The decoder.
    [[nodiscard]] const Codec& decoder() const noexcept { return codec_; }
    /// The decoder.
    [[nodiscard]] Codec& decoder_mut() noexcept { return codec_; }
    /// The bytes read and not yet decoded.
    [[nodiscard]] const BytesMut& read_buffer() const noexcept { return read_.buffer; }
    /// The bytes read and not yet decoded.
    [[nodiscard]] BytesMut& read_buffer_mut() noexcept { return read_.buffer; }

    /// `Stream`: the next frame, an error, or nullopt at the end.
    Poll<std::optional<Item>> poll_next(Context& cx) {
        return detail::framed_poll_next(io_, codec_, read_, cx);
    }

private:
    R io_;
    Codec codec_;
    detail::FramedReadState read_;
};

} // namespace pollux::codec
