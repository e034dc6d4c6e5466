#pragma once

/// @file
/// `Fuse<F>` / `fuse(fut)`: a future that may be polled after it completed
/// (futures-rs's `FutureExt::fuse` and `FusedFuture`).

#include <pollux/core/future.hpp>

#include <concepts>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

/// A future that can tell whether it has completed, and that may be polled
/// after it has (futures-rs's `FusedFuture`).
template <class F>
concept FusedFuture = Future<F> && requires(const std::remove_cvref_t<F>& f) {
    { f.is_terminated() } -> std::convertible_to<bool>;
};

/// Wraps a future so that polling it after it returned `Ready` is allowed and
/// returns `Pending` forever (without waking anyone). The inner future is
/// destroyed as soon as it completes.
///
/// @par Cancel safety
/// As cancel safe as the inner future: dropping a `Fuse` drops it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the inner future wakes; after completion, nothing.
/// @par Errors
/// Rethrows what the inner future's poll throws (it is not terminated then).
/// @par Example
/// @code
/// auto f = pollux::fuse(pollux::ready(1));
/// // poll -> Ready(1); every later poll -> Pending; f.is_terminated() == true.
/// @endcode
template <class F>
class POLLUX_NODISCARD_FUTURE Fuse {
public:
    /// What it completes with.
    using Output = output_t<F>;

    /// A `Fuse` that is already terminated (futures-rs's `Fuse::terminated`).
    /// Useful to initialise a slot that a loop refills.
    POLLUX_NODISCARD_FUTURE static Fuse terminated() noexcept { return Fuse(); }

    /// Made by `fuse(...)`, which is the one to call.
    template <class G>
    requires std::constructible_from<F, G&&>
    explicit Fuse(std::in_place_t, G&& fut) : inner_(std::in_place, std::forward<G>(fut)) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        if (!inner_) {
            return Pending{};
        }
        auto p = inner_->poll(cx);
        if (p.is_ready()) {
            inner_.reset();
        }
        return p;
    }

    /// True once the inner future has returned `Ready` (or for `terminated()`).
    [[nodiscard]] bool is_terminated() const noexcept { return !inner_.has_value(); }

private:
    Fuse() noexcept = default;

    std::optional<F> inner_;
};

/// Wraps `fut` (taken by value; move it in) in a `Fuse`.
///
/// @par Example
/// @code
/// auto f = pollux::fuse(std::move(some_future));
/// @endcode
template <Future F>
POLLUX_NODISCARD_FUTURE Fuse<std::remove_cvref_t<F>> fuse(F&& fut) {
    return Fuse<std::remove_cvref_t<F>>(std::in_place, std::forward<F>(fut));
}

} // namespace pollux
