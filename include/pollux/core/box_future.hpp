#pragma once

/// @file
/// `BoxFuture<T>`: a type-erased, heap-allocated, move-only future of `T`
/// (futures-core's `BoxFuture`), and `boxed(f)`.

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

namespace pollux {

template <class T>
class BoxFuture;

namespace detail {

template <class T>
inline constexpr bool is_box_future_v = false;
template <class T>
inline constexpr bool is_box_future_v<BoxFuture<T>> = true;

// The erased interface: one virtual poll and a virtual destructor. One heap
// block per boxed future; moving a BoxFuture moves the pointer only, so the
// erased future itself never moves again.
template <class T>
class BoxedBase {
public:
    BoxedBase() = default;
    BoxedBase(const BoxedBase&) = delete;
    BoxedBase& operator=(const BoxedBase&) = delete;
    virtual ~BoxedBase() = default;
    virtual Poll<T> poll(Context& cx) = 0;
};

template <class T, class F>
class Boxed final : public BoxedBase<T> {
public:
    template <class U>
    explicit Boxed(U&& f) : fut_(std::forward<U>(f)) {}
    Poll<T> poll(Context& cx) override { return fut_.poll(cx); }

private:
    F fut_;
};

} // namespace detail

/// A future of `T` whose concrete type is erased: the future lives in one heap
/// block and is polled through a virtual call. Use it to store futures of
/// different types in one container, to return different futures from one
/// function, or to cut compile times and type names.
///
/// Any future whose output is `T` converts to `BoxFuture<T>` implicitly (it is
/// moved, or copied when given as an lvalue of a copyable future, into the
/// heap block). A `BoxFuture` is move-only; moving it moves a pointer. A
/// moved-from `BoxFuture` may only be destroyed or assigned to.
///
/// Polling forwards to the erased future, so its contract is the erased
/// future's: it is lazy, and polling it after `Ready` is a contract violation
/// (the erased future asserts).
///
/// @par Cancel safety
/// Exactly that of the erased future: destroying the `BoxFuture` destroys it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. A `BoxFuture` may be moved
/// to and polled on another thread whenever the erased future may.
/// @par Wakes / resumes on
/// Whatever the erased future wakes; it is polled with the caller's `Context`.
/// @par Errors
/// Converting allocates and may throw `std::bad_alloc`; `poll` rethrows what
/// the erased future's `poll` throws.
/// @par Preconditions
/// Not moved-from when polled (asserts).
/// @par Example
/// @code
/// std::vector<pollux::BoxFuture<int>> fs;
/// fs.push_back(pollux::ready(1));
/// fs.push_back(pollux::map(pollux::ready(2), [](int v) { return v * 10; }));
/// @endcode
template <class T>
class POLLUX_NODISCARD_FUTURE BoxFuture {
public:
    /// What it completes with.
    using Output = T;

    /// Boxes `f`: one allocation.
    template <Future F>
    requires(!detail::is_box_future_v<std::remove_cvref_t<F>>) &&
        std::same_as<output_t<F>, T>&& std::
            constructible_from<std::remove_cvref_t<F>, F&&> BoxFuture(
                F&& f) // NOLINT(google-explicit-constructor): implicit by design, as in Rust.
        : ptr_(std::make_unique<detail::Boxed<T, std::remove_cvref_t<F>>>(std::forward<F>(f))) {}

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    BoxFuture(BoxFuture&&) noexcept = default;
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    BoxFuture& operator=(BoxFuture&&) noexcept = default;
    BoxFuture(const BoxFuture&) = delete;
    BoxFuture& operator=(const BoxFuture&) = delete;
    ~BoxFuture() = default;

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<T> poll(Context& cx) {
        POLLUX_ASSERT(ptr_ != nullptr, "BoxFuture polled after it was moved from");
        return ptr_->poll(cx);
    }

private:
    std::unique_ptr<detail::BoxedBase<T>> ptr_;
};

/// The same type as `BoxFuture<T>`. Rust tells a `Send` box from one that is
/// not; C++ has no `Send`, so the alias exists only so that code ported from
/// futures-rs reads the same. Thread rules are those of the erased future.
template <class T>
using LocalBoxFuture = BoxFuture<T>;

/// Boxes `f` (futures-rs's `FutureExt::boxed`). A `BoxFuture` is moved, not
/// boxed twice.
///
/// @par Example
/// @code
/// auto b = pollux::boxed(pollux::ready(42)); // BoxFuture<int>
/// @endcode
template <Future F>
POLLUX_NODISCARD_FUTURE BoxFuture<output_t<F>> boxed(F&& f) {
    return BoxFuture<output_t<F>>(std::forward<F>(f));
}

} // namespace pollux
