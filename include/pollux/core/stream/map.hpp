#pragma once

/// @file
/// `map(stream, f)`: a stream of `f(item)` (futures-rs's `StreamExt::map`).

#include <pollux/core/stream.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

/// The stream returned by `map(stream, f)`. `Item` is `std::decay_t` of
/// `f(item)`, as for the future `map` (a returned reference is copied); an
/// `f` that returns `void` does not compile.
///
/// Named `MapStream`, not `Map`, because `Map` is the future returned by
/// `map(fut, f)` (core/map.hpp) in the same namespace.
template <Stream S, class F>
class POLLUX_NODISCARD_FUTURE MapStream {
    using Result = std::invoke_result_t<F&, item_t<S>>;
    static_assert(!std::is_void_v<Result>,
                  "pollux::map(stream, f): f returns void, so the stream would have no items; "
                  "use pollux::for_each(stream, f) to call f on each item");

public:
    /// The type of the items it yields.
    using Item = std::decay_t<Result>;

    /// Made by `map(...)`, which is the one to call.
    MapStream(S stream, F f) : stream_(std::move(stream)), f_(std::move(f)) {}

    /// Polls the inner stream once; `Ready(f(item))` when it yields an item.
    /// After the inner stream ended, returns `Ready(nullopt)` again without
    /// polling it.
    Poll<std::optional<Item>> poll_next(Context& cx) {
        if (done_) {
            return Ready{std::nullopt};
        }
        auto p = stream_.poll_next(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        auto& item = p.value();
        if (!item) {
            done_ = true;
            return Ready{std::nullopt};
        }
        return Ready<Item>{std::invoke(f_, std::move(*item))};
    }

private:
    S stream_;
    F f_;
    bool done_ = false;
};

/// A stream that yields `f(item)` for each item of `stream`, in order (Rust's
/// `StreamExt::map`). `stream` and `f` are taken by value (move them in); `f`
/// is called as an lvalue, once per item, on the poll that yields it.
///
/// Constrained to streams that are not futures, so that it never competes with
/// `map(fut, f)`.
///
/// The result is fused: after the inner stream ended it returns
/// `Ready(nullopt)` again without polling the inner stream.
///
/// @par Cancel safety
/// As cancel safe as `stream`: a poll that returns `Pending` took no item.
/// No Asio cancellation applies beyond what `stream` honours.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. `f` runs on the polling
/// thread.
/// @par Wakes / resumes on
/// Whatever `stream` wakes; it is polled with the caller's `Context`.
/// @par Errors
/// Rethrows what `stream`'s `poll_next` or `f` throws; an item on which `f`
/// threw is lost, and the stream may be polled again for the next one.
/// @par Example
/// @code
/// auto s = pollux::map(pollux::iter({1, 2, 3}), [](int v) { return v * 10; }); // 10, 20, 30
/// @endcode
template <class S, class F>
requires Stream<S> &&
    (!Future<S>)&&std::invocable<F&, item_t<S>> POLLUX_NODISCARD_FUTURE MapStream<S, F> map(
        S stream, F f) {
    return MapStream<S, F>(std::move(stream), std::move(f));
}

} // namespace pollux
