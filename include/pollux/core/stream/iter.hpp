#pragma once

/// @file
/// `iter(range)`: a stream over the elements of a range (futures-rs's
/// `stream::iter`).

#include <pollux/core/stream.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace pollux {

/// The stream returned by `iter(range)`. It owns the range and yields its
/// elements, moved out with `std::ranges::iter_move`, in order; every poll is
/// ready. Once it has returned `Ready(nullopt)` it keeps returning it, so it
/// may be polled past the end.
///
/// Moving or copying an `Iter` between polls is allowed: the position is kept
/// as a count and the iterator is found again in the new object's range, in
/// O(1) for a random-access range and O(items already yielded) otherwise.
template <std::ranges::forward_range R>
requires std::movable<R>
class POLLUX_NODISCARD_FUTURE Iter {
public:
    /// The type of the items it yields.
    using Item = std::ranges::range_value_t<R>;

    /// Made by `iter(...)`, which is the one to call.
    explicit Iter(R range) : range_(std::move(range)), it_(std::ranges::begin(range_)) {}

    /// Copies the range and the position reached in it.
    Iter(const Iter& other) requires std::copy_constructible<R>
        : range_(other.range_), pos_(other.pos_), it_(seek()) {}

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    // noexcept rests on R's move alone: seek() only calls begin() and next()
    // on a forward range, which do not throw for the standard ranges.
    Iter(Iter&& other) noexcept(std::is_nothrow_move_constructible_v<R>)
        : range_(std::move(other.range_)), pos_(other.pos_), it_(seek()) {
        other.rewind();
    }

    /// Copies the range and the position reached in it.
    Iter& operator=(const Iter& other) requires std::copyable<R> {
        if (this != &other) {
            range_ = other.range_;
            pos_ = other.pos_;
            it_ = seek();
        }
        return *this;
    }

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Iter& operator=(Iter&& other) noexcept(std::is_nothrow_move_assignable_v<R>) {
        if (this != &other) {
            range_ = std::move(other.range_);
            pos_ = other.pos_;
            it_ = seek();
            other.rewind();
        }
        return *this;
    }

    ~Iter() = default;

    /// `Ready(next element)`, or `Ready(nullopt)` at (and after) the end.
    /// Never `Pending`, and never wakes.
    Poll<std::optional<Item>> poll_next(Context&) {
        if (it_ == std::ranges::end(range_)) {
            return Ready{std::nullopt};
        }
        Poll<std::optional<Item>> item = Ready<Item>{std::ranges::iter_move(it_)};
        ++it_;
        ++pos_;
        return item;
    }

private:
    using Iterator = std::ranges::iterator_t<R>;
    using Difference = std::ranges::range_difference_t<R>;

    // An iterator into *another* object's range is useless here (it may point
    // into storage that moved with it, as with std::array), so every copy and
    // move walks this object's own range to the saved position.
    Iterator seek() { return std::ranges::next(std::ranges::begin(range_), pos_); }

    // A moved-from Iter holds a moved-from range; point it at that range's
    // start so that it stays destructible and assignable.
    void rewind() {
        pos_ = 0;
        it_ = std::ranges::begin(range_);
    }

    R range_;
    Difference pos_ = 0;
    Iterator it_;
};

/// A stream that yields the elements of `range` in order, each on the first
/// poll (Rust's `stream::iter`). `Item` is the range's value type.
///
/// The stream owns the range: an rvalue is moved in, an lvalue is copied (the
/// caller's container is left untouched; `std::move` it to avoid the copy).
/// The elements are moved out of the stream's own copy as they are yielded.
/// A view (`std::span`, `std::string_view`, `std::views::...`) is stored as a
/// view, so what it refers to must outlive the stream. Ranges must be forward
/// ranges (single-pass input ranges are not supported). A braced list,
/// `iter({1, 2, 3})`, is copied into a `std::vector`.
///
/// The stream is fused: after the end it returns `Ready(nullopt)` again.
///
/// @par Cancel safety
/// Cancel safe: every poll is ready, and an element leaves the range only in
/// the poll that returns it. No Asio cancellation applies.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Never pending, so it never wakes anyone.
/// @par Errors
/// Rethrows what copying or moving an element throws.
/// @par Example
/// @code
/// auto s = pollux::iter(std::vector{1, 2, 3});
/// std::vector<int> v = pollux::block_on(pollux::collect(std::move(s))); // {1, 2, 3}
/// @endcode
template <class R>
requires std::ranges::forward_range<std::remove_cvref_t<R>> &&
    std::movable<std::remove_cvref_t<R>> && std::constructible_from<std::remove_cvref_t<R>, R>
        POLLUX_NODISCARD_FUTURE Iter<std::remove_cvref_t<R>> iter(R&& range) {
    return Iter<std::remove_cvref_t<R>>(std::forward<R>(range));
}

/// `iter({a, b, c})`: the elements of a braced list, copied into a
/// `std::vector<T>` that the stream owns (an `std::initializer_list` does not
/// own its elements, so it is never stored).
///
/// @par Example
/// @code
/// auto s = pollux::iter({1, 2, 3}); // Item = int
/// @endcode
template <class T>
POLLUX_NODISCARD_FUTURE Iter<std::vector<T>> iter(std::initializer_list<T> items) {
    return Iter<std::vector<T>>(std::vector<T>(items));
}

} // namespace pollux
