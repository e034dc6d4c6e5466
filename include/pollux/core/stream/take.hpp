#pragma once

/// @file
/// `take(stream, n)`: the first `n` items of a stream (futures-rs's
/// `StreamExt::take`).

#include <pollux/core/stream.hpp>
#include <pollux/detail/config.hpp>

#include <cstddef>
#include <optional>
#include <utility>

namespace pollux {

/// The stream returned by `take(stream, n)`.
template <Stream S>
class POLLUX_NODISCARD_FUTURE Take {
public:
    /// The type of the items it yields.
    using Item = item_t<S>;

    /// Made by `take(...)`, which is the one to call.
    Take(S stream, std::size_t n) : stream_(std::move(stream)), remaining_(n) {}

    /// `Ready(nullopt)` without polling the inner stream once `n` items were
    /// yielded or the inner stream ended; otherwise what the inner stream's
    /// `poll_next` returns.
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (remaining_ == 0) {
            return Ready{std::nullopt};
        }
        auto p = stream_.poll_next(cx);
        if (p.is_ready()) {
            // The end of the inner stream ends this one for good, too.
            remaining_ = p.value().has_value() ? remaining_ - 1 : 0;
        }
        return p;
    }

    /// Items still to be yielded at most.
    [[nodiscard]] std::size_t remaining() const noexcept { return remaining_; }

private:
    S stream_;
    std::size_t remaining_;
};

/// A stream of the first `n` items of `stream` (Rust's `StreamExt::take`),
/// taken by value (move it in). After the `n`th item, or when `stream` ends
/// first, it returns `Ready(nullopt)` and never polls `stream` again, so it
/// may be polled past the end. `stream` itself is kept, not dropped, until the
/// `Take` is destroyed. `take(s, 0)` never polls `s`.
///
/// @par Cancel safety
/// As cancel safe as `stream`: a poll that returns `Pending` took no item.
/// No Asio cancellation applies beyond what `stream` honours.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever `stream` wakes; it is polled with the caller's `Context`.
/// @par Errors
/// Rethrows what `stream`'s `poll_next` throws (the count is unchanged then).
/// @par Example
/// @code
/// auto s = pollux::take(pollux::iter(std::views::iota(0)), 3); // 0, 1, 2
/// @endcode
template <class S>
requires Stream<S> POLLUX_NODISCARD_FUTURE Take<S> take(S stream, std::size_t n) {
    return Take<S>(std::move(stream), n);
}

} // namespace pollux
