#pragma once

/// @file
/// `codec::BytesCodec`: every chunk of bytes is a frame (tokio-util's
/// `BytesCodec`).

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/core/result.hpp>

#include <concepts>
#include <optional>
#include <string_view>

namespace pollux::codec {

/// Decodes whatever is buffered as one `BytesMut` frame (nothing when
/// nothing is), and encodes bytes as themselves (tokio-util's
/// `BytesCodec`). It never fails, and never holds bytes back, so
/// `decode_eof` has nothing left over.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class BytesCodec {
public:
    /// A chunk of bytes as read.
    using Item = BytesMut;

    /// `Decoder`: all buffered bytes, or nullopt when there are none.
    Result<std::optional<BytesMut>> decode(BytesMut& buf) {
        if (buf.empty()) {
            return std::optional<BytesMut>();
        }
        return std::optional<BytesMut>(buf.split_to(buf.size()));
    }

    /// `Encoder`: appends `data`.
    template <class T>
    requires std::convertible_to<const T&, std::string_view> Result<void> encode(const T& data,
                                                                                 BytesMut& dst) {
        dst.put(std::string_view(data));
        return {};
    }
    /// `Encoder`: appends `data`.
    Result<void> encode(const BytesMut& data, BytesMut& dst) {
        dst.put(data.view());
        return {};
    }
};

} // namespace pollux::codec
