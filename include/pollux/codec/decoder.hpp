#pragma once

/// @file
/// The `codec::Decoder` concept (tokio-util's `Decoder`) and
/// `codec::decode_eof`, its end-of-stream step with tokio-util's default.

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/error.hpp>
#include <pollux/core/result.hpp>

#include <concepts>
#include <optional>
#include <type_traits>

namespace pollux::codec {

/// A type with `using Item = ...;` and
/// `Result<std::optional<Item>> decode(BytesMut& src)`, which turns the
/// front of `src` into frames (tokio-util's `Decoder`):
/// - `ok(frame)`: one frame, whose bytes it removed from `src`;
/// - `ok(nullopt)`: no whole frame yet; more bytes are needed. It may
///   reserve room in `src` for them, and keep state between calls;
/// - an error: the bytes are bad. `Framed` yields it and then ends.
///
/// A decoder may also have `decode_eof(BytesMut&)`, of the same type, for
/// the end of the stream; `codec::decode_eof` supplies tokio-util's default
/// when it does not.
template <class D>
concept Decoder = requires(D& d, BytesMut& src) {
    typename std::remove_cvref_t<D>::Item;
    { d.decode(src) } -> std::same_as<Result<std::optional<typename std::remove_cvref_t<D>::Item>>>;
};

/// The frame type of a decoder.
template <Decoder D>
using decoder_item_t = typename std::remove_cvref_t<D>::Item;

/// What a decoder makes of `src` when no more bytes will come: `d.decode_eof
/// (src)` if `D` has one; else tokio-util's default: `d.decode(src)`, and if
/// that gives no frame while `src` is not empty, the error
/// `codec::errc::bytes_remaining_on_stream`.
template <Decoder D>
[[nodiscard]] Result<std::optional<decoder_item_t<D>>> decode_eof(D& d, BytesMut& src) {
    if constexpr (requires { d.decode_eof(src); }) {
        return d.decode_eof(src);
    } else {
        Result<std::optional<decoder_item_t<D>>> r = d.decode(src);
        if (r && !r->has_value() && !src.empty()) {
            return Result<std::optional<decoder_item_t<D>>>(
                boost::system::in_place_error, make_error_code(errc::bytes_remaining_on_stream));
        }
        return r;
    }
}

} // namespace pollux::codec
