#pragma once

/// @file
/// `pollux::codec` (tokio-util's `codec` module): the `Decoder`/`Encoder`
/// concepts over `BytesMut`, `Framed`, `FramedRead`, `FramedWrite`, and the
/// codecs `LinesCodec`, `AnyDelimiterCodec`, `LengthDelimitedCodec` and
/// `BytesCodec`. It only includes the headers under `pollux/codec/`, and
/// `pollux/core/sink.hpp` and `pollux/core/stream.hpp` for
/// `send`/`feed`/`flush`/`close` and `next`.

#include <pollux/codec/any_delimiter_codec.hpp>
#include <pollux/codec/bytes_codec.hpp>
#include <pollux/codec/bytes_mut.hpp>
#include <pollux/codec/decoder.hpp>
#include <pollux/codec/encoder.hpp>
#include <pollux/codec/error.hpp>
#include <pollux/codec/framed.hpp>
#include <pollux/codec/framed_parts.hpp>
#include <pollux/codec/framed_read.hpp>
#include <pollux/codec/framed_write.hpp>
#include <pollux/codec/length_delimited_codec.hpp>
#include <pollux/codec/lines_codec.hpp>
#include <pollux/core/sink.hpp>
#include <pollux/core/stream.hpp>
