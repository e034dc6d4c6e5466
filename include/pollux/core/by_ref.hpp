#pragma once

/// @file
/// `ByRef<F>` / `by_ref(fut)`: a future that polls another future it does not
/// own (Rust's `&mut fut`, which is itself a future in futures-rs and tokio).

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>

#include <type_traits>

namespace pollux {

/// A borrowed future: polling it polls the referenced future, and destroying
/// it does nothing to that future. It lets a future take part in `select`,
/// `timeout` or `join` without being moved into them, so that a branch that
/// lost (and was destroyed by `select`) can be awaited again afterwards.
///
/// @par Lifetime
/// The referenced future must outlive the `ByRef` and every copy of it.
/// Rust's borrow checker enforces this; C++ does not: in particular, a
/// coroutine that co_awaits `by_ref(local)` is fine, while spawning a
/// `by_ref` to a local of the spawning coroutine is not.
///
/// @par Cancel safety
/// Dropping a `ByRef` cancels nothing: the referenced future keeps its state
/// and may be polled again. Whether anything it returns can be lost is the
/// referenced future's business: a `JoinHandle` or a `oneshot::Receiver`
/// taken by reference loses nothing when its `select` branch loses.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Polling it polls the
/// referenced future, with that future's rules.
/// @par Wakes / resumes on
/// Whatever the referenced future wakes.
/// @par Errors
/// Rethrows what the referenced future's poll throws.
/// @par Preconditions
/// As for any future: neither the `ByRef` nor the referenced future is polled
/// after the referenced future returned `Ready` (or threw). If the referenced
/// future won a `select`, it is finished: do not await it again.
/// @par Example
/// @code
/// auto handle = pollux::spawn(work());
/// auto first = co_await pollux::select(pollux::by_ref(handle), pollux::time::sleep(1s));
/// if (first.index() == 1) {
///     log("still running");
///     int v = co_await handle;   // the handle was only borrowed: wait on
/// }
/// @endcode
template <Future F>
class POLLUX_NODISCARD_FUTURE ByRef {
public:
    /// The referenced future's output.
    using Output = output_t<F>;

    /// Borrows `fut`. `by_ref(fut)` is the one to call.
    explicit ByRef(F& fut) noexcept : fut_(&fut) {}

    /// Polls the referenced future with `cx`.
    Poll<Output> poll(Context& cx) { return fut_->poll(cx); }

    /// The referenced future.
    [[nodiscard]] F& get() const noexcept { return *fut_; }

private:
    // A pointer rather than a reference, so that a ByRef is assignable
    // (a slot that a loop refills).
    F* fut_;
};

/// Borrows `fut` as a future (Rust's `&mut fut`). See `ByRef` for the
/// lifetime rule. Takes non-const lvalues only: an rvalue would dangle, so
/// move it into the combinator instead.
///
/// @par Cancel safety
/// See `ByRef`: dropping the result leaves `fut` untouched.
template <Future F>
POLLUX_NODISCARD_FUTURE ByRef<F> by_ref(F& fut) noexcept requires(!std::is_const_v<F>) {
    return ByRef<F>(fut);
}

/// Deleted: `by_ref` of a temporary would dangle; pass the future itself
/// (by value) instead.
template <Future F>
void by_ref(F&& fut) requires(!std::is_lvalue_reference_v<F>) = delete;

} // namespace pollux
