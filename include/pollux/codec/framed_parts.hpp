#pragma once

/// @file
/// `codec::FramedParts<IO, Codec>`: what a `Framed` is made of, to take it
/// apart without losing buffered bytes and to build one back, perhaps with
/// another codec (tokio-util's `FramedParts`).

#include <pollux/codec/bytes_mut.hpp>

#include <utility>

namespace pollux::codec {

/// The I/O object, the codec and both buffers of a `Framed`
/// (`Framed::into_parts`, `Framed::from_parts`). The usual use is a protocol
/// switch: read a line-based greeting with `LinesCodec`, take the parts,
/// and go on with another codec over the same stream and the bytes already
/// read (`read_buf`), which would be lost by `into_inner`.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
template <class IO, class Codec>
struct FramedParts {
    /// Parts with empty buffers (tokio-util's `FramedParts::new`).
    FramedParts(IO i, Codec c) : io(std::move(i)), codec(std::move(c)) {}
    /// Parts with the given buffers.
    FramedParts(IO i, Codec c, BytesMut rb, BytesMut wb)
        : io(std::move(i)), codec(std::move(c)), read_buf(std::move(rb)), write_buf(std::move(wb)) {
    }

    /// The I/O object.
    IO io;
    /// The codec.
    Codec codec;
    /// Bytes read and not yet decoded.
    BytesMut read_buf;
    /// Bytes encoded and not yet written.
    BytesMut write_buf;
};

} // namespace pollux::codec
