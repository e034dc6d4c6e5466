#pragma once

// The read and write halves shared by codec::Framed, FramedRead and
// FramedWrite (tokio-util's FramedImpl), as free functions over the state
// each of them owns.
//
// Read side, a state machine over three flags (tokio-util's, kept as is):
// - `is_readable`: the buffer may hold a frame; decode before reading.
// - `eof`: the last read returned 0 bytes; decode with decode_eof.
// - `has_errored`: the last item was an error; the next poll ends the
//   stream (returns nullopt) once, so a decoder that fails on the same bytes
//   again does not make an endless stream of errors.
// One poll: (1) after an error, end; (2) while readable, decode (decode_eof
// at eof); a frame is returned at once, so a frame only ever leaves the
// buffer inside the poll that returns it (what makes `next` cancel safe);
// (3) read more into the buffer's spare room; 0 bytes sets eof (a second 0
// at eof ends the stream), and any read makes the buffer readable again.
//
// Write side: start_send encodes into the write buffer; poll_ready flushes
// first while the buffer holds `backpressure_boundary` bytes or more, so a
// peer that does not read stops the sender instead of growing the buffer.

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/decoder.hpp>
#include <pollux/codec/error.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <optional>
#include <utility>

namespace pollux::detail {

// The read buffer's first allocation, and the room each read asks for.
inline constexpr std::size_t framed_initial_capacity = 8 * 1024;
// Below this much spare room, make room before reading (4 KiB more, which
// compaction gives without allocating once the buffer is 8 KiB and holds at
// most 4 KiB of a partial frame).
inline constexpr std::size_t framed_min_read_room = 1024;
inline constexpr std::size_t framed_read_room = 4 * 1024;

struct FramedReadState {
    codec::BytesMut buffer;
    bool eof = false;
    bool is_readable = false;
    bool has_errored = false;

    explicit FramedReadState(std::size_t capacity) : buffer(capacity) {}
    // Over bytes read before (FramedParts): decode them before reading.
    explicit FramedReadState(codec::BytesMut b)
        : buffer(std::move(b)), is_readable(!buffer.empty()) {
        if (buffer.capacity() < framed_initial_capacity) {
            buffer.reserve(framed_initial_capacity - buffer.size());
        }
    }
};

struct FramedWriteState {
    codec::BytesMut buffer;
    std::size_t backpressure_boundary = framed_initial_capacity;

    explicit FramedWriteState(std::size_t capacity) : buffer(capacity) {}
    explicit FramedWriteState(codec::BytesMut b) : buffer(std::move(b)) {}
};

template <class IO, class Codec>
Poll<std::optional<Result<codec::decoder_item_t<Codec>>>>
framed_poll_next(IO& io, Codec& codec, FramedReadState& st, Context& cx) {
    using Item = Result<codec::decoder_item_t<Codec>>;
    using Out = std::optional<Item>;
    for (;;) {
        if (st.has_errored) {
            st.is_readable = false;
            st.has_errored = false;
            return Ready<Out>{std::nullopt};
        }
        if (st.is_readable) {
            if (st.eof) {
                auto r = codec::decode_eof(codec, st.buffer);
                if (!r) {
                    st.has_errored = true;
                    return Ready<Out>{Out(std::in_place, boost::system::in_place_error, r.error())};
                }
                if (!r->has_value()) {
                    st.is_readable = false; // the next poll reads again
                    return Ready<Out>{std::nullopt};
                }
                return Ready<Out>{Out(std::in_place, std::move(**r))};
            }
            auto r = codec.decode(st.buffer);
            if (!r) {
                st.has_errored = true;
                return Ready<Out>{Out(std::in_place, boost::system::in_place_error, r.error())};
            }
            if (r->has_value()) {
                return Ready<Out>{Out(std::in_place, std::move(**r))};
            }
            st.is_readable = false;
        }
        if (st.buffer.spare_size() < framed_min_read_room) {
            st.buffer.reserve(framed_read_room);
        }
        Poll<Result<std::size_t>> p =
            io.poll_read(cx, boost::asio::buffer(st.buffer.spare_data(), st.buffer.spare_size()));
        if (p.is_pending()) {
            return Pending{};
        }
        if (!p.value()) {
            st.has_errored = true;
            return Ready<Out>{Out(std::in_place, boost::system::in_place_error, p.value().error())};
        }
        const std::size_t n = *p.value();
        if (n == 0) {
            if (st.eof) {
                return Ready<Out>{std::nullopt};
            }
            st.eof = true;
        } else {
            st.buffer.commit(n);
            st.eof = false;
        }
        st.is_readable = true;
    }
}

template <class IO>
Poll<Result<void>> framed_poll_flush(IO& io, FramedWriteState& st, Context& cx) {
    while (!st.buffer.empty()) {
        Poll<Result<std::size_t>> p =
            io.poll_write(cx, boost::asio::buffer(st.buffer.data(), st.buffer.size()));
        if (p.is_pending()) {
            return Pending{};
        }
        if (!p.value()) {
            return Ready<Result<void>>{
                Result<void>(boost::system::in_place_error, p.value().error())};
        }
        if (*p.value() == 0) {
            return Ready<Result<void>>{Result<void>(boost::system::in_place_error,
                                                    make_error_code(codec::errc::write_zero))};
        }
        st.buffer.advance(*p.value());
    }
    return io.poll_flush(cx);
}

template <class IO>
Poll<Result<void>> framed_poll_ready(IO& io, FramedWriteState& st, Context& cx) {
    if (st.buffer.size() >= st.backpressure_boundary) {
        return framed_poll_flush(io, st, cx);
    }
    return Ready<Result<void>>{Result<void>()};
}

template <class IO>
Poll<Result<void>> framed_poll_close(IO& io, FramedWriteState& st, Context& cx) {
    Poll<Result<void>> f = framed_poll_flush(io, st, cx);
    if (f.is_pending() || !f.value()) {
        return f;
    }
    return io.poll_shutdown(cx);
}

} // namespace pollux::detail
