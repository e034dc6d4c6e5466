#pragma once

/// @file
/// `map(fut, f)`: a future of `f(output)` (futures-rs's `FutureExt::map`).

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

namespace detail {

// `f(value)` for an output `T`, `f()` for a `void` output. Shared by map and
// then.
template <class F, class T>
concept InvocableWithOutput = (std::is_void_v<T> && std::invocable<F>) ||
                              (!std::is_void_v<T> && std::invocable<F, T>);

template <class F, class T>
struct invoke_output_result {
    using type = std::invoke_result_t<F, T>;
};
template <class F>
struct invoke_output_result<F, void> {
    using type = std::invoke_result_t<F>;
};
template <class F, class T>
using invoke_output_result_t = typename invoke_output_result<F, T>::type;

// Calls `f` with the value of a ready poll (nothing for Poll<void>).
template <class F, class T>
decltype(auto) invoke_with_output(F&& f, Poll<T>&& p) {
    if constexpr (std::is_void_v<T>) {
        return std::invoke(std::forward<F>(f));
    } else {
        return std::invoke(std::forward<F>(f), std::move(p).value());
    }
}

} // namespace detail

/// The future returned by `map(fut, f)`. `Output` is `std::decay_t` of
/// `f(output)` (`void` allowed; a returned reference is copied).
template <class Fut, class F>
class POLLUX_NODISCARD_FUTURE Map {
public:
    /// What it completes with.
    using Output = std::decay_t<detail::invoke_output_result_t<F, output_t<Fut>>>;

    /// Made by `map(...)`, which is the one to call.
    template <class G, class H>
    Map(G&& fut, H&& f) : state_(std::in_place, std::forward<G>(fut), std::forward<H>(f)) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(state_.has_value(), "Map polled after it returned Ready");
        auto p = state_->fut.poll(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        // As in futures-rs, the inner future is dropped before `f` runs, and
        // `f` is consumed even when it throws.
        F f = std::move(state_->f);
        state_.reset();
        if constexpr (std::is_void_v<Output>) {
            detail::invoke_with_output(std::move(f), std::move(p));
            return Ready<void>{};
        } else {
            return Ready<Output>{detail::invoke_with_output(std::move(f), std::move(p))};
        }
    }

private:
    struct Incomplete {
        template <class G, class H>
        Incomplete(G&& g, H&& h) : fut(std::forward<G>(g)), f(std::forward<H>(h)) {}
        Fut fut;
        F f;
    };
    std::optional<Incomplete> state_;
};

/// A future that polls `fut` and, when it is ready with `v`, is ready with
/// `f(std::move(v))` (`f()` when `fut`'s output is `void`). `f` runs once, on
/// the poll that sees `fut` ready, after `fut` has been destroyed. `fut` is
/// taken by value (move it in).
///
/// Constrained on `Future`, so `map(stream, f)` picks the stream adaptor.
///
/// @par Cancel safety
/// As cancel safe as `fut`: dropping a `Map` before it is ready drops `fut`
/// (cancelling it) and `f` without calling it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. `f` runs on the polling
/// thread.
/// @par Wakes / resumes on
/// Whatever `fut` wakes; `fut` is polled with the caller's `Context`.
/// @par Errors
/// Rethrows what `fut`'s poll or `f` throws.
/// @par Preconditions
/// Not polled again after it returned `Ready` or `f` threw (asserts).
/// @par Example
/// @code
/// auto f = pollux::map(pollux::ready(20), [](int v) { return v + 22; }); // Output: int
/// @endcode
template <Future Fut, class F>
requires detail::InvocableWithOutput<std::decay_t<F>, output_t<Fut>>
    POLLUX_NODISCARD_FUTURE Map<std::remove_cvref_t<Fut>, std::decay_t<F>> map(Fut&& fut, F&& f) {
    return Map<std::remove_cvref_t<Fut>, std::decay_t<F>>(std::forward<Fut>(fut),
                                                          std::forward<F>(f));
}

} // namespace pollux
