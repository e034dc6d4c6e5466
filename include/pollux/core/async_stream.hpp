#pragma once

/// @file
/// `AsyncStream<T>`: a coroutine that `co_yield`s items and `co_await`s
/// futures, and is a `Stream<Item = T>` (Rust's `async-stream`).

#include <pollux/core/async.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/coro_chain.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

template <class T>
class AsyncStream;

namespace detail {

template <class T>
class AsyncStreamPromise : public ChainPromiseBase {
public:
    AsyncStream<T> get_return_object() noexcept;
    FinalAwaiter final_suspend() noexcept { return {}; }
    void return_void() noexcept {}

    // `co_yield v` parks the item and suspends back to poll_next, which hands
    // it out. The next poll_next resumes right after the co_yield.
    template <class U>
    requires std::constructible_from<T, U&&> std::suspend_always yield_value(U&& v) {
        item_.emplace(std::forward<U>(v));
        own_chain_.leaf = std::coroutine_handle<AsyncStreamPromise>::from_promise(*this);
        return {};
    }

    std::optional<T> item_;
};

} // namespace detail

/// A stream written as a coroutine:
///
/// ```cpp
/// pollux::AsyncStream<int> countdown(int n) {
///     while (n > 0) {
///         co_await pollux::time::sleep(1s);
///         co_yield n--;
///     }
/// }
/// ```
///
/// Lazy like `Async`: the body starts on the first `poll_next`. Each
/// `co_yield` makes one `poll_next` return that item; finishing the body
/// ends the stream (`Ready(nullopt)`), and an exception escaping the body is
/// rethrown from `poll_next`, after which the stream has ended. `co_await`
/// works as in `Async`. Polling an ended stream returns `Ready(nullopt)`
/// again.
///
/// @par Cancel safety
/// Dropping it destroys the frame and whatever it awaits, except an `Async`
/// it awaits by lvalue reference, which is left to its holder (see `Async`).
/// Between items nothing is lost (an item is only produced inside the
/// `poll_next` that returns it); while suspended on a future, it is as cancel
/// safe as that future.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
template <class T>
class POLLUX_NODISCARD_FUTURE AsyncStream {
    static_assert(!std::is_reference_v<T>, "AsyncStream<T&> is not supported");

public:
    /// The type of the items the body `co_yield`s.
    using Item = T;
    /// The coroutine promise (the compiler's business).
    using promise_type = detail::AsyncStreamPromise<T>;

    /// Takes over the coroutine of `other`, which is left empty.
    AsyncStream(AsyncStream&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    /// Destroys the coroutine it holds (if any), then takes over that of
    /// `other`, which is left empty.
    AsyncStream& operator=(AsyncStream&& other) noexcept {
        if (this != &other) {
            destroy();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~AsyncStream() { destroy(); }

    /// Runs the body until it yields an item (`Ready(item)`), finishes
    /// (`Ready(nullopt)`, again on every later poll) or suspends (`Pending`).
    /// @par Cancel safety
    /// See the class: nothing is lost between items.
    /// @par Errors
    /// Rethrows what the body threw; the stream has then ended.
    Poll<std::optional<T>> poll_next(Context& cx) {
        POLLUX_ASSERT(handle_ != nullptr, "AsyncStream polled after it was moved from");
        if (handle_.done()) {
            return Ready{std::optional<T>()};
        }
        auto& p = handle_.promise();
        p.started_ = true;
        if (!p.own_chain_.drive(cx)) {
            return Pending{};
        }
        if (p.item_) {
            std::optional<T> item(std::in_place, std::move(*p.item_));
            p.item_.reset();
            return Ready{std::move(item)};
        }
        if (handle_.done()) {
            if (p.exception_) {
                std::rethrow_exception(std::exchange(p.exception_, nullptr));
            }
            return Ready{std::optional<T>()};
        }
        return Pending{};
    }

private:
    friend promise_type;
    explicit AsyncStream(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {
        h.promise().own_chain_.leaf = h;
    }

    void destroy() noexcept {
        if (handle_) {
            // The owned Async children it awaits first, innermost first, in
            // constant stack; a borrowed one is detached, not destroyed (see
            // destroy_awaited_children).
            detail::destroy_awaited_children(handle_.promise());
            // SAFETY: we own the frame and it is suspended while we exist.
            handle_.destroy();
            handle_ = nullptr;
        }
    }

    std::coroutine_handle<promise_type> handle_;
};

namespace detail {

template <class T>
AsyncStream<T> AsyncStreamPromise<T>::get_return_object() noexcept {
    return AsyncStream<T>(std::coroutine_handle<AsyncStreamPromise<T>>::from_promise(*this));
}

} // namespace detail

} // namespace pollux
