#pragma once

/// @file
/// `codec::LinesCodec`: frames are lines ending in `\n` (tokio-util's
/// `LinesCodec`).

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/error.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/delimited_scan.hpp>

#include <concepts>
#include <cstddef>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace pollux::codec {

namespace detail_lines {

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF), as Rust's `str::from_utf8` accepts.
inline bool is_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t n = 0;
        unsigned char lo = 0x80;
        unsigned char hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) <= n) {
            return false;
        }
        if (p[1] < lo || p[1] > hi) {
            return false;
        }
        for (std::size_t i = 2; i <= n; ++i) {
            if (p[i] < 0x80 || p[i] > 0xbf) {
                return false;
            }
        }
        p += n + 1;
    }
    return true;
}

} // namespace detail_lines

/// Decodes lines ending in `\n` (a `\r` before it is dropped too) into
/// `std::string`s without the ending, and encodes a string as itself plus
/// `\n` (tokio-util's `LinesCodec`).
///
/// A line longer than `max_length()` bytes (not counting its ending) is the
/// error `codec::errc::max_line_length_exceeded`, reported as soon as more
/// than `max_length()` bytes without a newline are buffered, so the buffer
/// never holds much more than `max_length()` bytes. The codec then discards
/// what it reads up to and including the next `\n`, and decoding goes on
/// with the line after it (as tokio-util's does; with `Framed`, the stream
/// ends after the error item, and a caller that polls on gets the lines
/// after the long one).
///
/// Unlike tokio-util's `LinesCodec::new()`, which has no limit, the default
/// limit is `default_max_length` (64 KiB): a peer must not be able to make
/// the codec buffer without bound. Pass
/// `std::numeric_limits<std::size_t>::max()` for no limit.
///
/// At end of stream (`decode_eof`), bytes after the last `\n` are a last
/// line (not an error), unless they are only a `\r`.
///
/// @par Errors
/// `codec::errc::max_line_length_exceeded`; `codec::errc::invalid_utf8` for
/// a line that is not UTF-8 (the line is consumed).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class LinesCodec {
public:
    /// A decoded line.
    using Item = std::string;

    /// The limit of `LinesCodec()`: 64 KiB.
    static constexpr std::size_t default_max_length = 64 * 1024;

    /// Lines of at most `default_max_length` bytes.
    LinesCodec() noexcept = default;
    /// Lines of at most `max_length` bytes (tokio-util's
    /// `LinesCodec::new_with_max_length`).
    explicit LinesCodec(std::size_t max_length) noexcept : max_length_(max_length) {}

    /// The longest line decoded without an error.
    [[nodiscard]] std::size_t max_length() const noexcept { return max_length_; }

    /// `Decoder`: the next whole line, nullopt if none is buffered yet.
    Result<std::optional<std::string>> decode(BytesMut& buf) {
        auto at = scan_.scan(buf, max_length_, [](const char* p, std::size_t n) {
            return static_cast<const char*>(std::memchr(p, '\n', n));
        });
        if (!at) {
            return Result<std::optional<std::string>>(boost::system::in_place_error, at.error());
        }
        if (!at->has_value()) {
            return std::optional<std::string>();
        }
        return take_line(buf, **at, **at + 1);
    }

    /// `Decoder` at end of stream: as `decode`, then the bytes left as a
    /// last line if there are any (other than a lone `\r`).
    Result<std::optional<std::string>> decode_eof(BytesMut& buf) {
        auto r = decode(buf);
        if (!r || r->has_value()) {
            return r;
        }
        if (buf.empty() || buf == "\r") {
            return std::optional<std::string>();
        }
        scan_.next_index = 0;
        return take_line(buf, buf.size(), buf.size());
    }

    /// `Encoder`: appends `line` and `\n`.
    template <class T>
    requires std::convertible_to<const T&, std::string_view> Result<void> encode(const T& line,
                                                                                 BytesMut& dst) {
        const std::string_view s = line;
        dst.reserve(s.size() + 1);
        dst.put(s);
        dst.put_u8('\n');
        return {};
    }

private:
    // The first `len` bytes as a line (without a trailing `\r`), consuming
    // `consume` bytes.
    static Result<std::optional<std::string>>
    take_line(BytesMut& buf, std::size_t len, std::size_t consume) {
        std::string_view line(buf.data(), len);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        const bool ok = detail_lines::is_utf8(line);
        std::optional<std::string> out;
        if (ok) {
            out.emplace(line);
        }
        buf.advance(consume);
        if (!ok) {
            return Result<std::optional<std::string>>(boost::system::in_place_error,
                                                      make_error_code(errc::invalid_utf8));
        }
        return out;
    }

    pollux::detail::DelimitedScan scan_;
    std::size_t max_length_ = default_max_length;
};

} // namespace pollux::codec
