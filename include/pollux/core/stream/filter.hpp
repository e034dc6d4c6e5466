#pragma once

/// @file
/// `filter(stream, pred)`: the items of a stream for which a predicate holds
/// (futures-rs's `StreamExt::filter`, with a plain predicate).

#include <pollux/core/stream.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <functional>
#include <optional>
#include <utility>

namespace pollux {

/// The stream returned by `filter(stream, pred)`.
template <Stream S, class P>
class POLLUX_NODISCARD_FUTURE Filter {
public:
    /// The type of the items it yields.
    using Item = item_t<S>;

    /// Made by `filter(...)`, which is the one to call.
    Filter(S stream, P pred) : stream_(std::move(stream)), pred_(std::move(pred)) {}

    /// Polls the inner stream until it yields an accepted item, ends, or is
    /// pending. After the inner stream ended, returns `Ready(nullopt)` again
    /// without polling it.
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (done_) {
            return Ready{std::nullopt};
        }
        // Rejected items that are ready are skipped in this loop, not by
        // returning Pending and waking ourselves: a Pending here always comes
        // from the inner stream, which has arranged the wake.
        for (;;) {
            auto p = stream_.poll_next(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            const auto& item = p.value();
            if (!item) {
                done_ = true;
                return p;
            }
            if (std::invoke(pred_, *item)) {
                return p;
            }
        }
    }

private:
    S stream_;
    P pred_;
    bool done_ = false;
};

/// A stream of the items of `stream` for which `pred(const Item&)` is true, in
/// order (Rust's `StreamExt::filter`, with a synchronous predicate). `stream`
/// and `pred` are taken by value (move them in).
///
/// One poll skips every ready item that `pred` rejects, however many, and
/// returns `Pending` only when the inner stream does. An inner stream that is
/// always ready and whose items are all rejected therefore keeps the poll
/// running (as in futures-rs); `take` or `select` do not help there.
///
/// The result is fused: after the inner stream ended it returns
/// `Ready(nullopt)` again without polling the inner stream.
///
/// @par Cancel safety
/// As cancel safe as `stream`: a poll that returns `Pending` took no accepted
/// item (rejected items are consumed, as intended). No Asio cancellation
/// applies beyond what `stream` honours.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. `pred` runs on the polling
/// thread.
/// @par Wakes / resumes on
/// Whatever `stream` wakes; it is polled with the caller's `Context`.
/// @par Errors
/// Rethrows what `stream`'s `poll_next` or `pred` throws; the item on which
/// `pred` threw is lost, and the stream may be polled again for the next one.
/// @par Example
/// @code
/// auto evens = pollux::filter(pollux::iter({1, 2, 3, 4}), [](int v) { return v % 2 == 0; });
/// @endcode
template <class S, class P>
requires Stream<S> && std::predicate < P&, const item_t<S>
& > POLLUX_NODISCARD_FUTURE Filter<S, P> filter(S stream, P pred) {
    return Filter<S, P>(std::move(stream), std::move(pred));
}

} // namespace pollux
