#pragma once

/// @file
/// `then(fut, f)`: run `fut`, then the future `f(output)` returns
/// (futures-rs's `FutureExt::then`).

#include <pollux/core/future.hpp>
#include <pollux/core/map.hpp>
#include <pollux/detail/config.hpp>

#include <type_traits>
#include <utility>
#include <variant>

namespace pollux {

/// The future returned by `then(fut, f)`. `Second` is the future type `f`
/// returns; `Output` is its output.
template <class Fut, class F>
class POLLUX_NODISCARD_FUTURE Then {
public:
    /// The type of the future `f(output)` returns.
    using Second = std::decay_t<detail::invoke_output_result_t<F, output_t<Fut>>>;
    static_assert(Future<Second>, "then(fut, f): f(output) must return a Future");
    /// What it completes with.
    using Output = output_t<Second>;

    /// Made by `then(...)`, which is the one to call.
    template <class G, class H>
    Then(G&& fut, H&& f)
        : state_(std::in_place_index<first>, std::forward<G>(fut), std::forward<H>(f)) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(state_.index() != done, "Then polled after it returned Ready");
        if (state_.index() == first) {
            auto& st = std::get<first>(state_);
            auto p = st.fut.poll(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            // The first future is dropped before `f` runs; if `f` throws, the
            // state stays `done`.
            F f = std::move(st.f);
            state_.template emplace<done>();
            state_.template emplace<second>(detail::invoke_with_output(std::move(f), std::move(p)));
        }
        // The second future is polled at once, in the same poll.
        auto p = std::get<second>(state_).poll(cx);
        if (p.is_ready()) {
            state_.template emplace<done>();
        }
        return p;
    }

private:
    struct First {
        template <class G, class H>
        First(G&& g, H&& h) : fut(std::forward<G>(g)), f(std::forward<H>(h)) {}
        Fut fut;
        F f;
    };
    static constexpr std::size_t first = 0;
    static constexpr std::size_t second = 1;
    static constexpr std::size_t done = 2;
    std::variant<First, Second, std::monostate> state_;
};

/// A future that polls `fut`; when it is ready with `v`, calls `f(std::move(v))`
/// (`f()` for a `void` output), which returns a second future, and then polls
/// that one (in the same poll) until it is ready with the output of the whole.
/// `fut` is dropped before `f` runs; `fut` is taken by value (move it in).
///
/// @par Cancel safety
/// Dropping a `Then` drops whichever future it is running, cancelling it:
/// as cancel safe as `fut` before it completed and as the second future after.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. `f` runs on the polling
/// thread.
/// @par Wakes / resumes on
/// Whatever the running future wakes; it is polled with the caller's `Context`.
/// @par Errors
/// Rethrows what either future's poll or `f` throws.
/// @par Preconditions
/// Not polled again after it returned `Ready` (asserts).
/// @par Example
/// @code
/// auto f = pollux::then(pollux::ready(2), [](int v) { return pollux::ready(v * 21); });
/// @endcode
template <Future Fut, class F>
requires detail::InvocableWithOutput<std::decay_t<F>, output_t<Fut>> &&
    Future<std::decay_t<detail::invoke_output_result_t<std::decay_t<F>, output_t<Fut>>>>
        POLLUX_NODISCARD_FUTURE Then<std::remove_cvref_t<Fut>, std::decay_t<F>> then(Fut&& fut,
                                                                                     F&& f) {
    return Then<std::remove_cvref_t<Fut>, std::decay_t<F>>(std::forward<Fut>(fut),
                                                           std::forward<F>(f));
}

} // namespace pollux
