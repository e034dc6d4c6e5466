#pragma once

/// @file
/// `select_all(futures)`: waits for the first future of a vector to finish
/// and gives its output and index (futures-rs's `select_all`).

#include <pollux/core/future.hpp>
#include <pollux/core/futures_unordered.hpp>
#include <pollux/detail/config.hpp>

#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

namespace pollux {

/// The future returned by `select_all`.
template <Future F>
class POLLUX_NODISCARD_FUTURE SelectAll {
public:
    /// What it completes with.
    using Output = std::pair<value_t<output_t<F>>, std::size_t>;

    /// @par Errors
    /// `std::invalid_argument` when `futures` is empty.
    explicit SelectAll(std::vector<F> futures) {
        if (futures.empty()) {
            throw std::invalid_argument("pollux::select_all: no futures to select from");
        }
        set_.reserve(futures.size()); // one allocation for every child node
        for (std::size_t i = 0; i < futures.size(); ++i) {
            set_.push(detail::Indexed<F>(std::move(futures[i]), i));
        }
    }

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "SelectAll polled after it returned Ready (or threw)");
        auto p = poll_set(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        auto& item = p.value();
        POLLUX_ASSERT(item.has_value(), "SelectAll: the set ran empty without a winner");
        done_ = true;
        set_.clear(); // the losers are destroyed before Ready is returned
        return Ready{Output(std::move(item->second), item->first)};
    }

private:
    auto poll_set(Context& cx) {
        try {
            return set_.poll_next(cx);
        } catch (...) {
            done_ = true;
            set_.clear();
            throw;
        }
    }

    FuturesUnordered<detail::Indexed<F>> set_;
    bool done_ = false;
};

/// A future that polls every future of `futures` concurrently and resolves
/// to the output of the first one to finish and its index in `futures`
/// (`Unit` for a `void` output). The others are destroyed before it returns
/// `Ready`. Only the children woken since their last poll are polled; they
/// are polled in the order they were woken (input order on the first poll),
/// so when several are ready at once the earliest woken wins.
///
/// @par Cancel safety
/// Cancel safe as far as `select_all` goes: dropping it destroys every child
/// and takes no output; whether a child loses data when destroyed is that
/// child's cancel safety. The losers of a finished select are destroyed the
/// same way (unlike Rust's `select_all`, they are not handed back).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. The children's wakers may
/// be woken from any thread.
/// @par Wakes / resumes on
/// The waker of the latest poll, woken by the first child wake after it.
/// @par Errors
/// `std::invalid_argument`, thrown by this call, when `futures` is empty
/// (Rust panics). An exception thrown by a child's `poll` propagates from
/// `poll`; the other children are destroyed before it does, and the future
/// counts as finished.
/// @par Preconditions
/// Not polled again after it returned `Ready` or threw (asserts).
/// @par Example
/// @code
/// auto [reply, i] = co_await pollux::select_all(std::move(mirrors));
/// @endcode
template <Future F>
POLLUX_NODISCARD_FUTURE SelectAll<F> select_all(std::vector<F> futures) {
    return SelectAll<F>(std::move(futures));
}

} // namespace pollux
