#pragma once

/// @file
/// `codec::AnyDelimiterCodec`: frames are chunks ending in any of a set of
/// bytes (tokio-util's `AnyDelimiterCodec`).

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/error.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/delimited_scan.hpp>

#include <concepts>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace pollux::codec {

/// Decodes chunks that end in any byte of `seek_delimiters` into
/// `BytesMut`s without the delimiter, and encodes a chunk as itself plus
/// `sequence_writer` (tokio-util's `AnyDelimiterCodec`; e.g. seek `",;\n"`,
/// write `","`).
///
/// A chunk longer than `max_length()` bytes is the error
/// `codec::errc::max_line_length_exceeded` (tokio-util's
/// `AnyDelimiterCodecError::MaxChunkLengthExceeded`), reported once more
/// than `max_length()` bytes without a delimiter are buffered; the codec then
/// discards up to and including the next delimiter, as `LinesCodec` does.
/// The default limit is `default_max_length` (64 KiB), where tokio-util's
/// `new` has none (docs/decisions.md).
///
/// At end of stream (`decode_eof`) the bytes after the last delimiter are a
/// last chunk, if there are any.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class AnyDelimiterCodec {
public:
    /// A decoded chunk.
    using Item = BytesMut;

    /// The limit when none is given: 64 KiB.
    static constexpr std::size_t default_max_length = 64 * 1024;

    /// Chunks end at any byte of `seek_delimiters`; `encode` appends
    /// `sequence_writer` after each chunk.
    AnyDelimiterCodec(std::string seek_delimiters,
                      std::string sequence_writer,
                      std::size_t max_length = default_max_length)
        : seek_(std::move(seek_delimiters)), writer_(std::move(sequence_writer)),
          max_length_(max_length) {}

    /// The longest chunk decoded without an error.
    [[nodiscard]] std::size_t max_length() const noexcept { return max_length_; }

    /// `Decoder`: the next whole chunk, nullopt if none is buffered yet.
    Result<std::optional<BytesMut>> decode(BytesMut& buf) {
        auto at = scan_.scan(buf, max_length_, [this](const char* p, std::size_t n) {
            const char* end = p + n;
            for (; p != end; ++p) {
                if (seek_.find(*p) != std::string::npos) {
                    return p;
                }
            }
            return static_cast<const char*>(nullptr);
        });
        if (!at) {
            return Result<std::optional<BytesMut>>(boost::system::in_place_error, at.error());
        }
        if (!at->has_value()) {
            return std::optional<BytesMut>();
        }
        BytesMut chunk = buf.split_to(**at);
        buf.advance(1); // the delimiter
        return std::optional<BytesMut>(std::move(chunk));
    }

    /// `Decoder` at end of stream: as `decode`, then the bytes left as a
    /// last chunk if there are any.
    Result<std::optional<BytesMut>> decode_eof(BytesMut& buf) {
        auto r = decode(buf);
        if (!r || r->has_value() || buf.empty()) {
            return r;
        }
        scan_.next_index = 0;
        return std::optional<BytesMut>(buf.split_to(buf.size()));
    }

    /// `Encoder`: appends `chunk` and the sequence writer.
    template <class T>
    requires std::convertible_to<const T&, std::string_view> Result<void> encode(const T& chunk,
                                                                                 BytesMut& dst) {
        const std::string_view s = chunk;
        dst.reserve(s.size() + writer_.size());
        dst.put(s);
        dst.put(writer_);
        return {};
    }

private:
    std::string seek_;
    std::string writer_;
    std::size_t max_length_;
    pollux::detail::DelimitedScan scan_;
};

} // namespace pollux::codec
