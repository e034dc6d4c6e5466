#pragma once

/// @file
/// `sync::Mutex<T>`: an async mutex that owns its value, with the RAII guard
/// `MutexGuard<T>` (tokio's `sync::Mutex`). Fair: the lock goes to waiters in
/// the order they first polled.

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/batch_semaphore.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/sync/error.hpp>

#include <type_traits>
#include <utility>

namespace pollux::sync {

template <class T>
class Mutex;

/// Exclusive access to a `Mutex<T>`'s value; unlocks when destroyed.
/// Move-only. May be sent to and dropped on another thread (unlike
/// `std::lock_guard`), and may be held across `co_await`.
template <class T>
class MutexGuard {
public:
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    MutexGuard(MutexGuard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    MutexGuard& operator=(MutexGuard&& o) noexcept {
        if (this != &o) {
            unlock();
            m_ = std::exchange(o.m_, nullptr);
        }
        return *this;
    }
    ~MutexGuard() { unlock(); }

    /// The protected value.
    [[nodiscard]] T& operator*() const noexcept { return m_->value_; }
    /// The protected value.
    [[nodiscard]] T* operator->() const noexcept { return &m_->value_; }
    /// The mutex this guard locks.
    [[nodiscard]] Mutex<T>& mutex() const noexcept { return *m_; }

private:
    friend class Mutex<T>;
    explicit MutexGuard(Mutex<T>* m) noexcept : m_(m) {}
    void unlock() noexcept {
        if (m_ != nullptr) {
            std::exchange(m_, nullptr)->sem_.release(1);
        }
    }

    Mutex<T>* m_;
};

/// A mutual-exclusion lock for tasks that owns the `T` it protects. Waiting
/// for it suspends the task instead of blocking the thread. The lock is fair
/// (FIFO): it is handed to the oldest waiter on unlock.
///
/// Prefer `std::mutex` for short critical sections that never await; use
/// this one when the guard must be held across `co_await`.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe for `lock`, `try_lock` and
/// guards on any thread. Not movable.
template <class T>
class Mutex {
public:
    Mutex() requires std::is_default_constructible_v<T> : value_() {}
    /// An unlocked mutex protecting `value`.
    explicit Mutex(T value) : value_(std::move(value)) {}
    /// An unlocked mutex whose value is constructed from `args`.
    template <class... Args>
    explicit Mutex(std::in_place_t, Args&&... args) : value_(std::forward<Args>(args)...) {}
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    /// The future of `lock()`: Output `MutexGuard<T>`.
    class POLLUX_NODISCARD_FUTURE Lock {
    public:
        /// What it completes with.
        using Output = MutexGuard<T>;

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            Poll<bool> p = acq_.poll(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            POLLUX_ASSERT(p.value(), "a Mutex's semaphore is never closed");
            return Ready{MutexGuard<T>(m_)};
        }

    private:
        friend class Mutex;
        explicit Lock(Mutex* m) noexcept : m_(m), acq_(m->sem_, 1) {}

        Mutex* m_;
        detail::BatchSemaphore::Acquire acq_;
    };

    /// Waits for the lock.
    ///
    /// @par Cancel safety
    /// Cancel safe: dropping the future before it is ready leaves the mutex
    /// unlocked by it; if the lock had just been handed to it, it is passed
    /// on to the next waiter. It loses its place in the queue. No Asio
    /// cancellation applies.
    /// @par Thread safety
    /// Shared objects: safe.
    /// @par Wakes / resumes on
    /// Woken by the thread that drops the previous guard; a task resumes on
    /// its own executor.
    /// @par Errors
    /// None.
    /// @par Preconditions
    /// The mutex outlives the future and the guard; not polled after Ready.
    /// @par Example
    /// @code
    /// { auto g = co_await m.lock(); g->push_back(1); } // unlocked here
    /// @endcode
    POLLUX_NODISCARD_FUTURE Lock lock() noexcept { return Lock(this); }

    /// Locks now if nobody holds or waits for the lock.
    /// @par Errors
    /// `TryLockError::would_block`.
    [[nodiscard]] Result<MutexGuard<T>, TryLockError> try_lock() {
        using R = Result<MutexGuard<T>, TryLockError>;
        if (sem_.try_acquire(1) == detail::BatchSemaphore::TryAcquire::acquired) {
            return R(boost::system::in_place_value, MutexGuard<T>(this));
        }
        return R(boost::system::in_place_error, TryLockError::would_block);
    }

    /// The value, without locking.
    /// @par Preconditions
    /// No guard is alive and no other thread uses the mutex (Rust's
    /// `get_mut(&mut self)`; unchecked).
    [[nodiscard]] T& get_mut() noexcept { return value_; }

private:
    friend class MutexGuard<T>;

    detail::BatchSemaphore sem_{1};
    T value_;
};

} // namespace pollux::sync
