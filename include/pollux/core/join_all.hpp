#pragma once

/// @file
/// `join_all(futures)`: waits for every future of a vector and collects
/// their outputs in input order (futures-rs's `join_all`).

#include <pollux/core/future.hpp>
#include <pollux/core/futures_unordered.hpp>
#include <pollux/detail/config.hpp>

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace pollux {

/// The future returned by `join_all`.
template <Future F>
class POLLUX_NODISCARD_FUTURE JoinAll {
public:
    /// What it completes with.
    using Output = std::vector<value_t<output_t<F>>>;

    /// Made by `join_all(...)`, which is the one to call.
    explicit JoinAll(std::vector<F> futures) : outputs_(futures.size()) {
        // One allocation for every child node, not one each (finding 10 of
        // docs/performance.md).
        set_.reserve(futures.size());
        for (std::size_t i = 0; i < futures.size(); ++i) {
            set_.push(detail::Indexed<F>(std::move(futures[i]), i));
        }
    }

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "JoinAll polled after it returned Ready (or threw)");
        for (;;) {
            auto p = poll_set(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            auto& item = p.value();
            if (!item) {
                return Ready{finish()};
            }
            outputs_[item->first].emplace(std::move(item->second));
        }
    }

private:
    auto poll_set(Context& cx) {
        try {
            return set_.poll_next(cx);
        } catch (...) {
            // The first exception wins: the other children are cancelled.
            done_ = true;
            set_.clear();
            throw;
        }
    }

    Output finish() {
        done_ = true;
        Output out;
        out.reserve(outputs_.size());
        for (auto& o : outputs_) {
            out.push_back(std::move(*o));
        }
        outputs_.clear();
        return out;
    }

    FuturesUnordered<detail::Indexed<F>> set_;
    std::vector<std::optional<value_t<output_t<F>>>> outputs_;
    bool done_ = false;
};

/// A future that polls every future of `futures` concurrently and resolves
/// to their outputs in input order (`Unit` for `void` outputs). Only the
/// children woken since their last poll are polled, so N children that are
/// each woken once cost O(N) child polls in all. An empty vector gives a
/// future that is ready at once with an empty vector.
///
/// @par Cancel safety
/// Not cancel safe: dropping the future destroys every child (cancelling
/// it), and the outputs of the children that had finished are lost.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. The children's wakers may
/// be woken from any thread.
/// @par Wakes / resumes on
/// The waker of the latest poll, woken by the first child wake after it.
/// @par Errors
/// An exception thrown by a child's `poll` propagates from `poll`; the other
/// children are destroyed before it does, and the future counts as finished.
/// @par Preconditions
/// Not polled again after it returned `Ready` or threw (asserts).
/// @par Example
/// @code
/// std::vector<pollux::BoxFuture<int>> fs = make_requests();
/// std::vector<int> replies = co_await pollux::join_all(std::move(fs));
/// @endcode
template <Future F>
POLLUX_NODISCARD_FUTURE JoinAll<F> join_all(std::vector<F> futures) {
    return JoinAll<F>(std::move(futures));
}

} // namespace pollux
