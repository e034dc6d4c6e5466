#pragma once

/// @file
/// `lazy(f)`: a future that calls `f()` on its first poll (futures-rs's
/// `future::lazy`).

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

/// The future returned by `lazy(f)`. `Output` is `std::decay_t` of what `f()`
/// returns (`void` allowed; a returned reference is copied).
template <class F>
class POLLUX_NODISCARD_FUTURE Lazy {
public:
    /// What it completes with.
    using Output = std::decay_t<std::invoke_result_t<F>>;

    /// Made by `lazy(...)`, which is the one to call.
    template <class G>
    explicit Lazy(std::in_place_t, G&& f) : f_(std::in_place, std::forward<G>(f)) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context&) {
        POLLUX_ASSERT(f_.has_value(), "Lazy polled after it returned Ready");
        // The function is taken out first, so it is consumed (and destroyed
        // at the end of this poll) even when it throws.
        F f = std::move(*f_);
        f_.reset();
        if constexpr (std::is_void_v<Output>) {
            std::invoke(std::move(f));
            return Ready<void>{};
        } else {
            return Ready<Output>{std::invoke(std::move(f))};
        }
    }

private:
    std::optional<F> f_;
};

/// A future that calls `f()` (once, as an rvalue) on its first poll and is
/// ready with its result. Nothing runs before that poll, which makes `lazy`
/// the way to defer a side effect into a future.
///
/// @par Cancel safety
/// Dropping it before its poll drops `f` without calling it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. `f` runs on the polling
/// thread.
/// @par Wakes / resumes on
/// Never wakes: it is ready on its first poll.
/// @par Errors
/// Rethrows what `f` throws; `f` is consumed either way.
/// @par Preconditions
/// Not polled again after it returned `Ready` or threw (asserts).
/// @par Example
/// @code
/// auto f = pollux::lazy([] { return std::string("made on first poll"); });
/// @endcode
template <class F>
requires std::invocable<std::decay_t<F>> POLLUX_NODISCARD_FUTURE Lazy<std::decay_t<F>> lazy(F&& f) {
    return Lazy<std::decay_t<F>>(std::in_place, std::forward<F>(f));
}

} // namespace pollux
