#pragma once

/// @file
/// The `io::AsyncBufRead` concept: a byte source with a buffer the caller
/// may look into before taking bytes (tokio's `AsyncBufRead`), and
/// `io::detail::ByteContainer`, what `read_until` and `read_to_end` append to.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>

#include <boost/asio/buffer.hpp>

#include <concepts>
#include <cstddef>

namespace pollux::io {

/// A type with
/// - `Poll<Result<boost::asio::const_buffer>> poll_fill_buf(Context&)`: the
///   bytes buffered now, reading from the source first if none are. An
///   empty buffer means end of stream. Nothing is taken: the bytes stay
///   until `consume`. `Pending`: nothing is buffered and the waker will be
///   woken when reading may succeed.
/// - `void consume(std::size_t n)`: the first `n` bytes of the last
///   `poll_fill_buf` were used (`n` at most that buffer's size).
///
/// The buffer returned is valid until the next call on the object. Since
/// nothing is taken before `consume`, a future that drops between the two
/// loses nothing: `poll_fill_buf` itself is cancel safe. `io::BufReader`
/// is one.
template <class R>
concept AsyncBufRead = requires(R& r, Context& cx, std::size_t n) {
    { r.poll_fill_buf(cx) } -> std::same_as<Poll<Result<boost::asio::const_buffer>>>;
    r.consume(n);
};

namespace detail {

/// What `read_until`, `read_to_end` and the lines reader append bytes to:
/// `std::string`, `std::vector<char>`, `std::vector<unsigned char>`,
/// `std::vector<std::byte>`, ... (a contiguous container of 1-byte values).
template <class B>
concept ByteContainer = sizeof(typename B::value_type) == 1 && requires(B& b, std::size_t n) {
    { b.size() } -> std::convertible_to<std::size_t>;
    b.resize(n);
    { b.data() } -> std::convertible_to<const void*>;
};

/// Appends `n` bytes at `p` to `b`.
template <ByteContainer B>
void append_bytes(B& b, const void* p, std::size_t n) {
    const auto* first = static_cast<const typename B::value_type*>(p);
    b.insert(b.end(), first, first + n);
}

} // namespace detail

} // namespace pollux::io
