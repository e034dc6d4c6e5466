#pragma once

/// @file
/// The `codec::Encoder` concept (tokio-util's `Encoder<Item>`).

#include <pollux/codec/bytes_mut.hpp>
#include <pollux/core/result.hpp>

#include <concepts>
#include <utility>

namespace pollux::codec {

/// A type with `Result<void> encode(Item, BytesMut& dst)`, which appends
/// the bytes of one frame to `dst` (tokio-util's `Encoder<Item>`). On an
/// error it should leave `dst` as it was; `Framed` reports the error from
/// `start_send`.
template <class E, class Item>
concept Encoder = requires(E& e, Item&& item, BytesMut& dst) {
    { e.encode(std::forward<Item>(item), dst) } -> std::same_as<Result<void>>;
};

} // namespace pollux::codec
