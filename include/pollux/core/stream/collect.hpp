#pragma once

/// @file
/// `collect(stream)`: a future of every item of a stream, in a container
/// (futures-rs's `StreamExt::collect`).

#include <pollux/core/stream.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <optional>
#include <utility>
#include <vector>

namespace pollux {

namespace detail {

// A container that `collect` can fill: default-constructible, movable, and
// with `push_back(T&&)` (sequences) or `insert(T&&)` (sets, maps).
template <class C, class T>
concept CollectTarget = std::default_initializable<C> && std::movable<C> &&(
    requires(C& c, T&& v) { c.push_back(std::move(v)); } ||
    requires(C & c, T&& v) { c.insert(std::move(v)); });

template <class C, class T>
void collect_push(C& c, T&& v) {
    // push_back wins where both exist, so that the order of the stream is
    // kept in sequences that also have an insert.
    if constexpr (requires { c.push_back(std::move(v)); }) {
        c.push_back(std::move(v));
    } else {
        c.insert(std::move(v));
    }
}

} // namespace detail

/// The future returned by `collect(stream)` and `collect<C>(stream)`.
template <Stream S, class C>
requires detail::CollectTarget<C, item_t<S>>
class POLLUX_NODISCARD_FUTURE Collect {
public:
    /// What it completes with.
    using Output = C;

    /// Made by `collect(...)`, which is the one to call.
    explicit Collect(S stream) : stream_(std::move(stream)) {}

    /// Moves every ready item into the container; `Ready(container)` when the
    /// stream ends, `Pending` when it is pending.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "Collect polled after it returned Ready");
        for (;;) {
            auto p = stream_.poll_next(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            auto& item = p.value();
            if (!item) {
                done_ = true;
                return Ready<C>{std::move(items_)};
            }
            detail::collect_push(items_, std::move(*item));
        }
    }

private:
    S stream_;
    C items_{};
    bool done_ = false;
};

/// A future of all the items of `stream` (taken by value; move it in), in a
/// `std::vector<Item>` in stream order (Rust's `StreamExt::collect`). It is
/// ready when the stream ends. Each poll drains every item that is ready,
/// so a stream that is always ready and never ends keeps the poll running.
///
/// @par Cancel safety
/// Not cancel safe: dropping it before it is ready drops the items already
/// collected, and they have been taken from the stream. No Asio cancellation
/// applies beyond what `stream` honours.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever `stream` wakes; it is polled with the caller's `Context`.
/// @par Errors
/// Rethrows what `stream`'s `poll_next` or the container's insertion throws;
/// the items collected so far are kept, and the future may be polled again.
/// @par Preconditions
/// Not polled again after it returned `Ready` (asserts).
/// @par Example
/// @code
/// std::vector<int> v = pollux::block_on(pollux::collect(pollux::iter({1, 2, 3})));
/// @endcode
template <class S>
requires Stream<S> && detail::CollectTarget<std::vector<item_t<S>>, item_t<S>>
    POLLUX_NODISCARD_FUTURE Collect<S, std::vector<item_t<S>>> collect(S stream) {
    return Collect<S, std::vector<item_t<S>>>(std::move(stream));
}

/// As `collect(stream)`, into a `C` of your choice: each item is added with
/// `push_back` if `C` has it (`std::deque`, `std::list`, `std::string`), else
/// with `insert` (`std::set`, `std::map`, `std::unordered_set`), so a set
/// drops duplicates as its `insert` does. `C` must be default-constructible.
///
/// @par Cancel safety
/// Not cancel safe, as `collect(stream)`.
/// @par Example
/// @code
/// auto f = pollux::collect<std::set<int>>(pollux::iter({3, 1, 3})); // Output: {1, 3}
/// @endcode
template <class C, class S>
requires Stream<S> && detail::CollectTarget<C, item_t<S>> POLLUX_NODISCARD_FUTURE Collect<S, C>
collect(S stream) {
    return Collect<S, C>(std::move(stream));
}

} // namespace pollux
