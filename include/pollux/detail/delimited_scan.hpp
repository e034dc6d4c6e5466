#pragma once

// The search shared by codec::LinesCodec and codec::AnyDelimiterCodec
// (tokio-util's two decoders of delimited chunks): find the next delimiter
// without scanning a byte twice, and past `max` bytes without one report
// the chunk as too long and discard up to the next delimiter.

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/error.hpp>
#include <pollux/core/result.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <optional>

namespace pollux::detail {

struct DelimitedScan {
    std::size_t next_index = 0; // bytes already searched
    bool discarding = false;    // inside a chunk that was too long

    // The index in `buf` of the next delimiter (`find(p, n)` returns a
    // pointer to the first one in [p, p + n), or nullptr), nullopt when more
    // bytes are needed, or `errc::max_line_length_exceeded` once more than
    // `max` bytes have none. Discarding consumes bytes from `buf`.
    template <class Find>
    Result<std::optional<std::size_t>> scan(codec::BytesMut& buf, std::size_t max, Find find) {
        for (;;) {
            // Look no further than one byte past the limit: a chunk with no
            // delimiter there is too long, whatever follows.
            const std::size_t read_to = max == std::numeric_limits<std::size_t>::max()
                                            ? buf.size()
                                            : std::min(max + 1, buf.size());
            const char* hit = read_to > next_index
                                  ? find(buf.data() + next_index, read_to - next_index)
                                  : nullptr;
            if (discarding) {
                if (hit != nullptr) {
                    buf.advance(static_cast<std::size_t>(hit - buf.data()) + 1);
                    discarding = false;
                    next_index = 0;
                    continue;
                }
                buf.advance(read_to);
                next_index = 0;
                if (buf.empty()) {
                    return std::optional<std::size_t>();
                }
                continue;
            }
            if (hit != nullptr) {
                next_index = 0;
                return std::optional<std::size_t>(static_cast<std::size_t>(hit - buf.data()));
            }
            if (buf.size() > max) {
                discarding = true;
                return Result<std::optional<std::size_t>>(
                    boost::system::in_place_error,
                    make_error_code(codec::errc::max_line_length_exceeded));
            }
            next_index = read_to; // no delimiter before it: do not search again
            return std::optional<std::size_t>();
        }
    }
};

} // namespace pollux::detail
