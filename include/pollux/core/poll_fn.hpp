#pragma once

/// @file
/// `poll_fn<T>(f)`: a future whose `poll` is the function `f(Context&)`
/// (futures-rs's `future::poll_fn`).

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>

namespace pollux {

/// The future returned by `poll_fn<T>(f)`: each poll calls `f(cx)`.
template <class T, class F>
class POLLUX_NODISCARD_FUTURE PollFn {
public:
    /// What it completes with.
    using Output = T;

    /// Made by `poll_fn(...)`, which is the one to call.
    template <class G>
    explicit PollFn(std::in_place_t, G&& f) : f_(std::forward<G>(f)) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<T> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "PollFn polled after it returned Ready");
        Poll<T> p = std::invoke(f_, cx);
        done_ = p.is_ready();
        return p;
    }

private:
    F f_;
    bool done_ = false;
};

/// A future of `T` whose every poll calls `f(cx)`; `f` returns something
/// convertible to `Poll<T>` (`Poll<T>`, `Ready<U>`, `Pending`). `f` is called
/// as an lvalue, once per poll, so it may keep state in its captures; it must
/// honour the wake contract itself: return `Pending` only after arranging for
/// `cx.waker()` to be woken.
///
/// @par Cancel safety
/// Dropping it drops `f` and its captures; what that cancels is up to `f`.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever `f` arranges.
/// @par Errors
/// Rethrows what `f` throws.
/// @par Preconditions
/// Not polled again after `f` returned `Ready` (asserts).
/// @par Example
/// @code
/// int n = 0;
/// auto f = pollux::poll_fn<int>([&n](pollux::Context& cx) -> pollux::Poll<int> {
///     if (++n < 3) { cx.waker().wake_by_ref(); return pollux::Pending{}; }
///     return pollux::Ready{n};
/// });
/// @endcode
template <class T, class F>
requires std::invocable < std::decay_t<F>
&, Context& > &&std::convertible_to<std::invoke_result_t<std::decay_t<F>&, Context&>, Poll<T>>
                  POLLUX_NODISCARD_FUTURE PollFn<T, std::decay_t<F>> poll_fn(F&& f) {
    return PollFn<T, std::decay_t<F>>(std::in_place, std::forward<F>(f));
}

} // namespace pollux
