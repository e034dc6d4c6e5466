#pragma once

/// @file
/// The `Stream` concept (Rust's `futures::Stream`) and `next(stream)`, the
/// future of its next item.

#include <pollux/core/future.hpp>

#include <concepts>
#include <optional>
#include <type_traits>

namespace pollux {

/// A type with `using Item = ...;` and
/// `Poll<std::optional<Item>> poll_next(Context&)`: a future that yields many
/// values. `Ready(nullopt)` means the stream has ended; polling an ended
/// stream again is a contract violation unless the stream documents
/// otherwise. The wake contract of `Future` applies to each `Pending`.
template <class S>
concept Stream = requires(S& s, Context& cx) {
    typename std::remove_cvref_t<S>::Item;
    { s.poll_next(cx) } -> std::same_as<Poll<std::optional<typename std::remove_cvref_t<S>::Item>>>;
};

/// The item type of a stream.
template <Stream S>
using item_t = typename std::remove_cvref_t<S>::Item;

/// The future returned by `next(stream)`: borrows the stream and resolves to
/// its next item, or `nullopt` at the end.
template <Stream S>
class POLLUX_NODISCARD_FUTURE Next {
public:
    /// What it completes with.
    using Output = std::optional<item_t<S>>;

    /// Made by `next(...)`, which is the one to call.
    explicit Next(S& stream) noexcept : stream_(&stream) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(stream_ != nullptr, "Next polled after it returned Ready");
        auto p = stream_->poll_next(cx);
        if (p.is_ready()) {
            stream_ = nullptr;
        }
        return p;
    }

private:
    S* stream_;
};

/// The next item of `stream`, as a future (Rust's `StreamExt::next`). The
/// stream must outlive the returned future.
///
/// @par Cancel safety
/// Cancel safe as far as `next` goes: dropping the future before it is ready
/// takes no item from the stream. (The stream's own `poll_next` decides what
/// a dropped poll loses; every pollux stream loses nothing.)
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe; the stream is borrowed
/// and must not be polled elsewhere meanwhile.
/// @par Errors
/// Rethrows what the stream's `poll_next` throws. The end of the stream is
/// not an error: the output is an empty `std::optional`.
/// @par Example
/// @code
/// while (auto item = co_await pollux::next(stream)) { use(*item); }
/// @endcode
template <Stream S>
POLLUX_NODISCARD_FUTURE Next<S> next(S& stream) noexcept {
    return Next<S>(stream);
}

} // namespace pollux
