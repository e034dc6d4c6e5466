#pragma once

/// @file
/// The errors of `pollux::codec`: the enum `codec::errc` with its category
/// `codec::codec_category()` ("pollux.codec"). They are tokio-util's codec
/// errors, one enumerator each (tokio-util's `LinesCodecError::
/// MaxLineLengthExceeded` is `codec::errc::max_line_length_exceeded`).

#include <boost/system/errc.hpp>
#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/error_condition.hpp>

#include <ostream>
#include <string>
#include <type_traits>

namespace pollux::codec {

/// Conditions of `pollux::codec`, as `boost::system::error_code` values of
/// `codec::codec_category()`.
enum class errc {
    /// A line longer than the codec's `max_length` (tokio-util's
    /// `LinesCodecError::MaxLineLengthExceeded`); the codec then discards up
    /// to the next newline. Also `AnyDelimiterCodec`'s
    /// `MaxChunkLengthExceeded`.
    max_line_length_exceeded = 1,
    /// A length-delimited frame whose length field exceeds
    /// `max_frame_length`, found from its header before any of it is
    /// buffered; or a frame too long to encode (tokio-util's
    /// `LengthDelimitedCodecError`, "frame size too big").
    frame_too_big,
    /// The stream ended inside a frame: the decoder had bytes left that did
    /// not make a whole one (tokio-util's default `decode_eof`).
    bytes_remaining_on_stream,
    /// A length field that over- or underflows with the configured
    /// `length_adjustment`.
    length_overflow,
    /// A line that is not valid UTF-8 (tokio-util's `LinesCodec` reports an
    /// `InvalidData` I/O error).
    invalid_utf8,
    /// The transport accepted zero bytes of a non-empty write (tokio-util's
    /// `WriteZero`, "failed to write frame to transport").
    write_zero,
};

} // namespace pollux::codec

namespace pollux::detail {

class CodecErrorCategory final : public boost::system::error_category {
public:
    // A fixed id makes codes from copies of this category in different
    // shared objects compare equal (Boost.System's rule for inline categories).
    constexpr CodecErrorCategory() noexcept
        : boost::system::error_category(0x706f6c6c7578636fULL) {}

    const char* name() const noexcept override { return "pollux.codec"; }

    std::string message(int ev) const override {
        switch (static_cast<codec::errc>(ev)) {
        case codec::errc::max_line_length_exceeded:
            return "max line length exceeded";
        case codec::errc::frame_too_big:
            return "frame size too big";
        case codec::errc::bytes_remaining_on_stream:
            return "bytes remaining on stream";
        case codec::errc::length_overflow:
            return "provided length would overflow after adjustment";
        case codec::errc::invalid_utf8:
            return "unable to decode input as UTF-8";
        case codec::errc::write_zero:
            return "failed to write frame to transport";
        }
        return "unknown pollux.codec error";
    }
};

} // namespace pollux::detail

namespace pollux::codec {

/// The category of every `pollux::codec` error code ("pollux.codec").
[[nodiscard]] inline const boost::system::error_category& codec_category() noexcept {
    static constexpr pollux::detail::CodecErrorCategory instance;
    return instance;
}

/// The error code of `e`, in `codec::codec_category()`.
[[nodiscard]] inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), codec_category()};
}

/// Prints the error's message, so test frameworks can print it.
inline std::ostream& operator<<(std::ostream& os, errc e) {
    return os << make_error_code(e).message();
}

} // namespace pollux::codec

namespace boost::system {
template <>
struct is_error_code_enum<pollux::codec::errc> : std::true_type {};
} // namespace boost::system
