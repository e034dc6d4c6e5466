#pragma once

/// @file
/// `sync::RwLock<T>`: an async reader-writer lock that owns its value, with
/// the guards `RwLockReadGuard<T>` and `RwLockWriteGuard<T>` (tokio's
/// `sync::RwLock`). Fair and writer-preferring: a waiting writer stops later
/// readers from overtaking it.

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/batch_semaphore.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/sync/error.hpp>

#include <cstddef>
#include <type_traits>
#include <utility>

namespace pollux::sync {

template <class T>
class RwLock;

/// Shared (read) access to an `RwLock<T>`'s value; released when destroyed.
/// Move-only.
template <class T>
class RwLockReadGuard {
public:
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    RwLockReadGuard(RwLockReadGuard&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    RwLockReadGuard& operator=(RwLockReadGuard&& o) noexcept {
        if (this != &o) {
            unlock();
            l_ = std::exchange(o.l_, nullptr);
        }
        return *this;
    }
    ~RwLockReadGuard() { unlock(); }

    /// The protected value, read-only.
    [[nodiscard]] const T& operator*() const noexcept { return l_->value_; }
    /// The protected value, read-only.
    [[nodiscard]] const T* operator->() const noexcept { return &l_->value_; }

private:
    friend class RwLock<T>;
    explicit RwLockReadGuard(const RwLock<T>* l) noexcept : l_(l) {}
    void unlock() noexcept {
        if (l_ != nullptr) {
            std::exchange(l_, nullptr)->sem_.release(1);
        }
    }

    const RwLock<T>* l_;
};

/// Exclusive (write) access to an `RwLock<T>`'s value; released when
/// destroyed. Move-only.
template <class T>
class RwLockWriteGuard {
public:
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    RwLockWriteGuard(RwLockWriteGuard&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    RwLockWriteGuard& operator=(RwLockWriteGuard&& o) noexcept {
        if (this != &o) {
            unlock();
            l_ = std::exchange(o.l_, nullptr);
        }
        return *this;
    }
    ~RwLockWriteGuard() { unlock(); }

    /// The protected value.
    [[nodiscard]] T& operator*() const noexcept { return l_->value_; }
    /// The protected value.
    [[nodiscard]] T* operator->() const noexcept { return &l_->value_; }

private:
    friend class RwLock<T>;
    explicit RwLockWriteGuard(RwLock<T>* l) noexcept : l_(l) {}
    void unlock() noexcept {
        if (l_ != nullptr) {
            std::exchange(l_, nullptr)->sem_.release(RwLock<T>::max_readers);
        }
    }

    RwLock<T>* l_;
};

/// A reader-writer lock for tasks that owns the `T` it protects: any number
/// of readers, or one writer.
///
/// Built as tokio builds it: a fair semaphore of `max_readers` permits; a
/// reader takes one, a writer takes all. Because the semaphore is FIFO and a
/// queued writer holds back every later request, a writer is never starved
/// by a stream of readers (writer-preferring), and readers queued behind a
/// writer get in once it is done.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe. Not movable.
template <class T>
class RwLock {
public:
    /// How many readers may hold the lock at once (tokio's `u32::MAX >> 3`).
    static constexpr std::size_t max_readers = 0xffffffffU >> 3;

    RwLock() requires std::is_default_constructible_v<T> : value_() {}
    /// An unlocked lock protecting `value`.
    explicit RwLock(T value) : value_(std::move(value)) {}
    /// An unlocked lock whose value is constructed from `args`.
    template <class... Args>
    explicit RwLock(std::in_place_t, Args&&... args) : value_(std::forward<Args>(args)...) {}
    RwLock(const RwLock&) = delete;
    RwLock& operator=(const RwLock&) = delete;

    /// The future of `read()`: Output `RwLockReadGuard<T>`.
    class POLLUX_NODISCARD_FUTURE Read {
    public:
        /// What it completes with.
        using Output = RwLockReadGuard<T>;

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            Poll<bool> p = acq_.poll(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            POLLUX_ASSERT(p.value(), "an RwLock's semaphore is never closed");
            return Ready{RwLockReadGuard<T>(l_)};
        }

    private:
        friend class RwLock;
        explicit Read(const RwLock* l) noexcept : l_(l), acq_(l->sem_, 1) {}

        const RwLock* l_;
        detail::BatchSemaphore::Acquire acq_;
    };

    /// The future of `write()`: Output `RwLockWriteGuard<T>`.
    class POLLUX_NODISCARD_FUTURE Write {
    public:
        /// What it completes with.
        using Output = RwLockWriteGuard<T>;

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            Poll<bool> p = acq_.poll(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            POLLUX_ASSERT(p.value(), "an RwLock's semaphore is never closed");
            return Ready{RwLockWriteGuard<T>(l_)};
        }

    private:
        friend class RwLock;
        explicit Write(RwLock* l) noexcept : l_(l), acq_(l->sem_, max_readers) {}

        RwLock* l_;
        detail::BatchSemaphore::Acquire acq_;
    };

    /// Waits for shared access.
    ///
    /// @par Cancel safety
    /// Cancel safe: dropping the future before it is ready gives back
    /// whatever it had been assigned, to the next waiters. No Asio
    /// cancellation applies.
    /// @par Thread safety
    /// Shared objects: safe.
    /// @par Wakes / resumes on
    /// Woken by the thread that drops the writer's guard; a task resumes on
    /// its own executor.
    /// @par Errors
    /// None.
    /// @par Preconditions
    /// The lock outlives the future and the guard; not polled after Ready.
    /// @par Example
    /// @code
    /// auto g = co_await lock.read(); use(*g);
    /// @endcode
    POLLUX_NODISCARD_FUTURE Read read() const noexcept { return Read(this); }

    /// Waits for exclusive access. Queued in FIFO order with readers; once
    /// queued, later readers wait behind it.
    ///
    /// @par Cancel safety
    /// Cancel safe: dropping the future before it is ready gives back the
    /// reader slots it had collected, to the next waiters (so readers queued
    /// behind it get in). No Asio cancellation applies.
    /// @par Thread safety
    /// Shared objects: safe.
    /// @par Wakes / resumes on
    /// Woken by the thread that drops the last guard in its way.
    /// @par Errors
    /// None.
    /// @par Preconditions
    /// The lock outlives the future and the guard; not polled after Ready.
    /// @par Example
    /// @code
    /// auto g = co_await lock.write(); *g += 1;
    /// @endcode
    POLLUX_NODISCARD_FUTURE Write write() noexcept { return Write(this); }

    /// Shared access now, if no writer holds or waits for the lock.
    /// @par Errors
    /// `TryLockError::would_block`.
    [[nodiscard]] Result<RwLockReadGuard<T>, TryLockError> try_read() const {
        using R = Result<RwLockReadGuard<T>, TryLockError>;
        if (sem_.try_acquire(1) == detail::BatchSemaphore::TryAcquire::acquired) {
            return R(boost::system::in_place_value, RwLockReadGuard<T>(this));
        }
        return R(boost::system::in_place_error, TryLockError::would_block);
    }

    /// Exclusive access now, if nobody holds or waits for the lock.
    /// @par Errors
    /// `TryLockError::would_block`.
    [[nodiscard]] Result<RwLockWriteGuard<T>, TryLockError> try_write() {
        using R = Result<RwLockWriteGuard<T>, TryLockError>;
        if (sem_.try_acquire(max_readers) == detail::BatchSemaphore::TryAcquire::acquired) {
            return R(boost::system::in_place_value, RwLockWriteGuard<T>(this));
        }
        return R(boost::system::in_place_error, TryLockError::would_block);
    }

    /// The value, without locking.
    /// @par Preconditions
    /// No guard is alive and no other thread uses the lock (unchecked).
    [[nodiscard]] T& get_mut() noexcept { return value_; }

private:
    friend class RwLockReadGuard<T>;
    friend class RwLockWriteGuard<T>;

    // mutable: readers take permits through a const RwLock.
    mutable detail::BatchSemaphore sem_{max_readers};
    T value_;
};

} // namespace pollux::sync
