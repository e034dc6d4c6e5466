#pragma once

/// @file
/// `for_each(stream, f)`: a future that calls `f` on every item of a stream
/// (futures-rs's `StreamExt::for_each`, with a synchronous `f`).

#include <pollux/core/stream.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

/// The future returned by `for_each(stream, f)`.
template <Stream S, class F>
class POLLUX_NODISCARD_FUTURE ForEach {
    static_assert(!Future<std::invoke_result_t<F&, item_t<S>>>,
                  "pollux::for_each(stream, f): f returns a future, which for_each would drop "
                  "without polling it; f must do its work synchronously");

public:
    /// What it completes with.
    using Output = void;

    /// Made by `for_each(...)`, which is the one to call.
    ForEach(S stream, F f) : stream_(std::move(stream)), f_(std::move(f)) {}

    /// Calls `f` on every ready item; `Ready` when the stream ends, `Pending`
    /// when it is pending.
    Poll<void> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "ForEach polled after it returned Ready");
        for (;;) {
            auto p = stream_.poll_next(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            auto& item = p.value();
            if (!item) {
                done_ = true;
                return Ready<void>{};
            }
            std::invoke(f_, std::move(*item));
        }
    }

private:
    S stream_;
    F f_;
    bool done_ = false;
};

/// A future that calls `f(item)` on each item of `stream`, in order, and is
/// ready (with no value) when the stream ends (Rust's `StreamExt::for_each`,
/// except that `f` is synchronous: what it returns is ignored, and returning a
/// future does not compile). `stream` and `f` are taken by value (move them
/// in); `f` is called as an lvalue. Each poll handles every item that is
/// ready, so a stream that is always ready and never ends keeps the poll
/// running.
///
/// @par Cancel safety
/// Not cancel safe: dropping it before it is ready stops the calls, but the
/// items already passed to `f` have been consumed from the stream. No Asio
/// cancellation applies beyond what `stream` honours.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. `f` runs on the polling
/// thread.
/// @par Wakes / resumes on
/// Whatever `stream` wakes; it is polled with the caller's `Context`.
/// @par Errors
/// Rethrows what `stream`'s `poll_next` or `f` throws; the item on which `f`
/// threw is consumed, and the future may be polled again for the rest.
/// @par Preconditions
/// Not polled again after it returned `Ready` (asserts).
/// @par Example
/// @code
/// int sum = 0;
/// pollux::block_on(pollux::for_each(pollux::iter({1, 2, 3}), [&](int v) { sum += v; }));
/// @endcode
template <class S, class F>
requires Stream<S> && std::invocable<F&, item_t<S>> POLLUX_NODISCARD_FUTURE ForEach<S, F>
for_each(S stream, F f) {
    return ForEach<S, F>(std::move(stream), std::move(f));
}

} // namespace pollux
