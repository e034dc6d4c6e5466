#pragma once

/// @file
/// `codec::LengthDelimitedCodec` and its `Builder`: frames prefixed by a
/// length field (tokio-util's `length_delimited` module).

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/error.hpp>
#include <pollux/codec/framed.hpp>
#include <pollux/codec/framed_read.hpp>
#include <pollux/codec/framed_write.hpp>
#include <pollux/core/result.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace pollux::codec {

class LengthDelimitedCodec;

/// The configuration of a `LengthDelimitedCodec` (tokio-util's
/// `length_delimited::Builder`), with tokio-util's defaults: a 4-byte
/// big-endian length field at offset 0 that counts the payload only, the
/// head skipped, frames of at most 8 MiB.
///
/// A frame on the wire is a head, `[length_field_offset bytes][length
/// field]` (or the first `num_skip` bytes, if that is longer), then
/// `n + length_adjustment` bytes, with `n` the length field's value. The
/// decoded item is the frame less its first `num_skip` bytes. This is
/// tokio-util's rule when `num_skip` is at least the head (the default),
/// and the rule of tokio-util's documented examples when it is less
/// (tokio-util's code then counts `n + length_adjustment` from `num_skip`
/// instead, which its examples 1, 3 and 4 do not show; docs/codec.md).
class LengthDelimitedBuilder {
public:
    /// tokio-util's default `max_frame_length`: 8 MiB.
    static constexpr std::size_t default_max_frame_length = 8 * 1024 * 1024;

    /// The largest frame the codec accepts from the wire (the value of the
    /// length field, before `length_adjustment`) and encodes. A larger
    /// field is an error as soon as the head is read, before anything is
    /// buffered for it. Lowered, if need be, to the largest value the field
    /// can hold.
    LengthDelimitedBuilder& max_frame_length(std::size_t n) noexcept {
        max_frame_len_ = n;
        return *this;
    }
    /// The size of the length field in bytes, 1 to 8 (default 4).
    /// @par Errors
    /// Throws `std::invalid_argument` outside 1 to 8 (tokio-util panics).
    LengthDelimitedBuilder& length_field_length(std::size_t n) {
        if (n < 1 || n > 8) {
            throw std::invalid_argument("LengthDelimitedCodec: length_field_length must be 1 to 8");
        }
        length_field_len_ = n;
        return *this;
    }
    /// Bytes before the length field (default 0). Decoding only.
    LengthDelimitedBuilder& length_field_offset(std::size_t n) noexcept {
        length_field_offset_ = n;
        return *this;
    }
    /// Added to the length field's value to get the number of bytes that
    /// follow the field (default 0). Negative when the field counts the head.
    LengthDelimitedBuilder& length_adjustment(std::ptrdiff_t n) noexcept {
        length_adjustment_ = n;
        return *this;
    }
    /// Bytes removed from the front of each decoded frame (default:
    /// `length_field_offset + length_field_length`, the whole head).
    /// Decoding only.
    LengthDelimitedBuilder& num_skip(std::size_t n) noexcept {
        num_skip_ = n;
        return *this;
    }
    /// The length field is big-endian (the default).
    LengthDelimitedBuilder& big_endian() noexcept {
        big_endian_ = true;
        return *this;
    }
    /// The length field is little-endian.
    LengthDelimitedBuilder& little_endian() noexcept {
        big_endian_ = false;
        return *this;
    }
    /// The length field is in this machine's byte order.
    LengthDelimitedBuilder& native_endian() noexcept {
        big_endian_ = std::endian::native == std::endian::big;
        return *this;
    }

    /// A codec with this configuration.
    [[nodiscard]] LengthDelimitedCodec new_codec() const;
    /// `FramedRead(reader, new_codec())`.
    template <class R>
    [[nodiscard]] FramedRead<R, LengthDelimitedCodec> new_read(R reader) const;
    /// `FramedWrite(writer, new_codec())`.
    template <class W>
    [[nodiscard]] FramedWrite<W, LengthDelimitedCodec> new_write(W writer) const;
    /// `Framed(io, new_codec())`.
    template <class IO>
    [[nodiscard]] Framed<IO, LengthDelimitedCodec> new_framed(IO io) const;

private:
    friend class LengthDelimitedCodec;

    std::size_t num_head_bytes() const noexcept {
        return std::max(length_field_offset_ + length_field_len_, num_skip_.value_or(0));
    }
    std::size_t get_num_skip() const noexcept {
        return num_skip_.value_or(length_field_offset_ + length_field_len_);
    }
    // The largest field value that the field's width can hold (tokio-util's
    // adjust_max_frame_len, with the adjustment left out: the limit is on
    // the field's value).
    std::size_t effective_max() const noexcept {
        const std::uint64_t field_max = length_field_len_ == 8
                                            ? std::numeric_limits<std::uint64_t>::max()
                                            : (std::uint64_t{1} << (8 * length_field_len_)) - 1;
        return field_max < max_frame_len_ ? static_cast<std::size_t>(field_max) : max_frame_len_;
    }

    std::size_t max_frame_len_ = default_max_frame_length;
    std::size_t length_field_len_ = 4;
    std::size_t length_field_offset_ = 0;
    std::ptrdiff_t length_adjustment_ = 0;
    std::optional<std::size_t> num_skip_;
    bool big_endian_ = true;
};

/// Decodes and encodes frames with a length prefix, as configured by a
/// `LengthDelimitedBuilder` (tokio-util's `LengthDelimitedCodec`). Items
/// are `BytesMut`; `encode` takes anything convertible to
/// `std::string_view` (a `BytesMut` too) and writes the length field
/// (`payload size - length_adjustment`, at offset 0) and the payload.
///
/// Limits: a length field over `max_frame_length` is the error
/// `codec::errc::frame_too_big` as soon as the head is buffered, so a head
/// that claims 1 GiB costs nothing; a frame within the limit reserves its
/// size in the read buffer once. Encoding a payload over the limit is the
/// same error, with nothing written.
///
/// @par Errors
/// `codec::errc::frame_too_big`; `codec::errc::length_overflow` when the
/// adjusted length is negative or does not fit; at end of stream inside a
/// frame, `codec::errc::bytes_remaining_on_stream` (`codec::decode_eof`).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class LengthDelimitedCodec {
public:
    /// A decoded frame.
    using Item = BytesMut;

    /// The default configuration (see `LengthDelimitedBuilder`).
    LengthDelimitedCodec() noexcept = default;

    /// A builder with the default configuration.
    [[nodiscard]] static LengthDelimitedBuilder builder() noexcept { return {}; }

    /// The largest frame accepted (the length field's value).
    [[nodiscard]] std::size_t max_frame_length() const noexcept { return b_.effective_max(); }
    /// Sets the largest frame accepted; a frame whose head was already
    /// decoded is not checked again.
    void set_max_frame_length(std::size_t n) noexcept { b_.max_frame_length(n); }

    /// `Decoder`: the next whole frame, nullopt if it is not all buffered.
    Result<std::optional<BytesMut>> decode(BytesMut& src) {
        using R = Result<std::optional<BytesMut>>;
        if (!data_len_) {
            // The head ends after the length field or after num_skip,
            // whichever is later (tokio-util's num_head_bytes).
            const std::size_t prefix = b_.num_head_bytes();
            if (src.size() < prefix) {
                return std::optional<BytesMut>();
            }
            const std::uint64_t n =
                src.get_uint(b_.length_field_offset_, b_.length_field_len_, b_.big_endian_);
            // Checked before anything is reserved: a head claiming 1 GiB
            // allocates nothing.
            if (n > b_.effective_max()) {
                return R(boost::system::in_place_error, make_error_code(errc::frame_too_big));
            }
            // n <= max_frame_length fits a size_t. The frame is the prefix
            // and then n + length_adjustment bytes; the item is the frame
            // less its first num_skip bytes (num_skip <= prefix).
            const auto adj = b_.length_adjustment_;
            std::size_t after;
            if (adj < 0) {
                const auto sub = static_cast<std::size_t>(-(adj + 1)) + 1;
                if (n < sub) {
                    return R(boost::system::in_place_error, make_error_code(errc::length_overflow));
                }
                after = static_cast<std::size_t>(n) - sub;
            } else {
                after = static_cast<std::size_t>(n) + static_cast<std::size_t>(adj);
                if (after < n) {
                    return R(boost::system::in_place_error, make_error_code(errc::length_overflow));
                }
            }
            const std::size_t skip = b_.get_num_skip();
            const std::size_t len = prefix - skip + after;
            if (len < after) {
                return R(boost::system::in_place_error, make_error_code(errc::length_overflow));
            }
            src.advance(skip);
            data_len_ = len;
            // Room for the rest of the frame, once.
            if (len > src.size()) {
                src.reserve(len - src.size());
            }
        }
        if (src.size() < *data_len_) {
            return std::optional<BytesMut>();
        }
        BytesMut frame = src.split_to(*data_len_);
        data_len_.reset();
        return std::optional<BytesMut>(std::move(frame));
    }

    /// `Encoder`: the length field, then `data`.
    template <class T>
    requires std::convertible_to<const T&, std::string_view> Result<void> encode(const T& data,
                                                                                 BytesMut& dst) {
        const std::string_view s = data;
        if (s.size() > b_.effective_max()) {
            return Result<void>(boost::system::in_place_error,
                                make_error_code(errc::frame_too_big));
        }
        const auto adj = b_.length_adjustment_;
        std::uint64_t n = s.size();
        if (adj < 0) {
            n += static_cast<std::uint64_t>(-(adj + 1)) + 1;
        } else if (static_cast<std::uint64_t>(adj) > n) {
            return Result<void>(boost::system::in_place_error,
                                make_error_code(errc::length_overflow));
        } else {
            n -= static_cast<std::uint64_t>(adj);
        }
        const std::size_t w = b_.length_field_len_;
        if (w < 8 && n >> (8 * w) != 0) {
            return Result<void>(boost::system::in_place_error,
                                make_error_code(errc::length_overflow));
        }
        dst.reserve(w + s.size());
        dst.put_uint(n, w, b_.big_endian_);
        dst.put(s);
        return {};
    }

    /// `Encoder` of a `BytesMut` frame (tokio-util encodes `Bytes`).
    Result<void> encode(const BytesMut& data, BytesMut& dst) { return encode(data.view(), dst); }

private:
    friend class LengthDelimitedBuilder;
    explicit LengthDelimitedCodec(const LengthDelimitedBuilder& b) noexcept : b_(b) {}

    LengthDelimitedBuilder b_;
    std::optional<std::size_t> data_len_; // set between the head and the data
};

inline LengthDelimitedCodec LengthDelimitedBuilder::new_codec() const {
    return LengthDelimitedCodec(*this);
}

template <class R>
FramedRead<R, LengthDelimitedCodec> LengthDelimitedBuilder::new_read(R reader) const {
    return FramedRead<R, LengthDelimitedCodec>(std::move(reader), new_codec());
}

template <class W>
FramedWrite<W, LengthDelimitedCodec> LengthDelimitedBuilder::new_write(W writer) const {
    return FramedWrite<W, LengthDelimitedCodec>(std::move(writer), new_codec());
}

template <class IO>
Framed<IO, LengthDelimitedCodec> LengthDelimitedBuilder::new_framed(IO io) const {
    return Framed<IO, LengthDelimitedCodec>(std::move(io), new_codec());
}

} // namespace pollux::codec
