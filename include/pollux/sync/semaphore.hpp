#pragma once

/// @file
/// `sync::Semaphore`: a fair async counting semaphore (tokio's
/// `sync::Semaphore`), with RAII permits `SemaphorePermit` and, for a
/// semaphore in a `std::shared_ptr`, `OwnedSemaphorePermit`.

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/batch_semaphore.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/sync/error.hpp>

#include <cstddef>
#include <memory>
#include <utility>

namespace pollux::sync {

class Semaphore;

/// Permits borrowed from a `Semaphore`; they go back when the permit is
/// destroyed (unless `forget()` was called). Move-only. The semaphore must
/// outlive the permit.
class SemaphorePermit {
public:
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    SemaphorePermit(SemaphorePermit&& o) noexcept
        : sem_(std::exchange(o.sem_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    SemaphorePermit& operator=(SemaphorePermit&& o) noexcept {
        if (this != &o) {
            release();
            sem_ = std::exchange(o.sem_, nullptr);
            n_ = std::exchange(o.n_, 0);
        }
        return *this;
    }
    ~SemaphorePermit() { release(); }

    /// How many permits this guard holds.
    [[nodiscard]] std::size_t num_permits() const noexcept { return n_; }

    /// Keeps the permits out of the semaphore for good.
    void forget() noexcept { n_ = 0; }

    /// Moves `other`'s permits into this one (both from the same semaphore).
    void merge(SemaphorePermit&& other) noexcept {
        POLLUX_ASSERT(sem_ == other.sem_ || other.n_ == 0,
                      "merging permits of different semaphores");
        n_ += std::exchange(other.n_, 0);
    }

private:
    friend class Semaphore;
    SemaphorePermit(detail::BatchSemaphore* sem, std::size_t n) noexcept : sem_(sem), n_(n) {}
    void release() noexcept;

    detail::BatchSemaphore* sem_;
    std::size_t n_;
};

/// Permits taken from a `std::shared_ptr<Semaphore>`; the permit keeps the
/// semaphore alive, so it may outlive every other owner. Move-only.
class OwnedSemaphorePermit {
public:
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    OwnedSemaphorePermit(OwnedSemaphorePermit&& o) noexcept
        : sem_(std::move(o.sem_)), n_(std::exchange(o.n_, 0)) {}
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    OwnedSemaphorePermit& operator=(OwnedSemaphorePermit&& o) noexcept {
        if (this != &o) {
            release();
            sem_ = std::move(o.sem_);
            n_ = std::exchange(o.n_, 0);
        }
        return *this;
    }
    ~OwnedSemaphorePermit() { release(); }

    /// How many permits it holds.
    [[nodiscard]] std::size_t num_permits() const noexcept { return n_; }
    /// Gives the permits up without returning them to the semaphore.
    void forget() noexcept { n_ = 0; }
    /// The semaphore the permits came from.
    [[nodiscard]] const std::shared_ptr<Semaphore>& semaphore() const noexcept { return sem_; }

private:
    friend class Semaphore;
    OwnedSemaphorePermit(std::shared_ptr<Semaphore> sem, std::size_t n) noexcept
        : sem_(std::move(sem)), n_(n) {}
    void release() noexcept;

    std::shared_ptr<Semaphore> sem_;
    std::size_t n_;
};

/// A counting semaphore for tasks, fair in FIFO order: permits go to waiters
/// in the order they first polled, and a waiter asking for many permits is
/// not overtaken by later ones asking for fewer (tokio's semantics).
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe; every member may be called
/// from any thread at once. Not movable (waiters point at it).
class Semaphore {
public:
    /// The most permits a semaphore can hold.
    static constexpr std::size_t max_permits = detail::BatchSemaphore::max_permits;

    /// A semaphore with `permits` permits available (at most `max_permits`).
    explicit Semaphore(std::size_t permits) : sem_(permits) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    /// The future of `acquire(n)`: Output `Result<SemaphorePermit>`.
    class POLLUX_NODISCARD_FUTURE Acquire {
    public:
        /// What it completes with.
        using Output = Result<SemaphorePermit>;

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            Poll<bool> p = acq_.poll(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value()) {
                return Ready{Output(make_error_code(errc::closed))};
            }
            return Ready{Output(SemaphorePermit(sem_, acq_.permits()))};
        }

    private:
        friend class Semaphore;
        Acquire(detail::BatchSemaphore& sem, std::size_t n) noexcept : sem_(&sem), acq_(sem, n) {}

        detail::BatchSemaphore* sem_;
        detail::BatchSemaphore::Acquire acq_;
    };

    /// The future of `acquire_owned(sem, n)`: Output
    /// `Result<OwnedSemaphorePermit>`.
    class POLLUX_NODISCARD_FUTURE AcquireOwned {
    public:
        /// What it completes with.
        using Output = Result<OwnedSemaphorePermit>;

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            Poll<bool> p = acq_.poll(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value()) {
                return Ready{Output(make_error_code(errc::closed))};
            }
            return Ready{Output(OwnedSemaphorePermit(std::move(owner_), acq_.permits()))};
        }

    private:
        friend class Semaphore;
        AcquireOwned(std::shared_ptr<Semaphore> sem, std::size_t n)
            : owner_(std::move(sem)), acq_(owner_->sem_, n) {}

        // Declared before acq_: the acquire (which may give permits back in
        // its destructor) is destroyed first, while the semaphore lives.
        std::shared_ptr<Semaphore> owner_;
        detail::BatchSemaphore::Acquire acq_;
    };

    /// Waits for `n` permits (default 1).
    ///
    /// @par Cancel safety
    /// Cancel safe, and fair: dropping the future before it is ready gives
    /// back every permit it had already been assigned (to the next waiters),
    /// and it loses its place in the queue. No Asio cancellation applies.
    /// @par Thread safety
    /// Shared objects: safe.
    /// @par Wakes / resumes on
    /// The waker of its latest poll is woken by the thread that releases the
    /// permits or closes the semaphore; a task resumes on its own executor.
    /// @par Errors
    /// `errc::closed` once `close()` was called (also for a waiter queued
    /// before the close).
    /// @par Preconditions
    /// `n <= max_permits`; the semaphore outlives the future; not polled
    /// after Ready.
    /// @par Example
    /// @code
    /// auto permit = (co_await sem.acquire()).value();
    /// @endcode
    POLLUX_NODISCARD_FUTURE Acquire acquire(std::size_t n = 1) noexcept {
        POLLUX_ASSERT(n <= max_permits, "acquire of more than max_permits");
        return Acquire(sem_, n);
    }

    /// `acquire(n)` whose permit keeps `sem` alive (tokio's
    /// `Arc<Semaphore>::acquire_owned`). Same cancel safety and errors.
    POLLUX_NODISCARD_FUTURE static AcquireOwned acquire_owned(std::shared_ptr<Semaphore> sem,
                                                              std::size_t n = 1) {
        POLLUX_ASSERT(sem != nullptr, "acquire_owned on a null semaphore");
        POLLUX_ASSERT(n <= max_permits, "acquire_owned of more than max_permits");
        return AcquireOwned(std::move(sem), n);
    }

    /// Takes `n` permits now, if there are enough and nobody is queued.
    /// @par Errors
    /// `TryAcquireError::closed`, `TryAcquireError::no_permits`.
    [[nodiscard]] Result<SemaphorePermit, TryAcquireError> try_acquire(std::size_t n = 1) {
        using R = Result<SemaphorePermit, TryAcquireError>;
        switch (sem_.try_acquire(n)) {
        case detail::BatchSemaphore::TryAcquire::acquired:
            return R(boost::system::in_place_value, SemaphorePermit(&sem_, n));
        case detail::BatchSemaphore::TryAcquire::closed:
            return R(boost::system::in_place_error, TryAcquireError::closed);
        case detail::BatchSemaphore::TryAcquire::no_permits:
            break;
        }
        return R(boost::system::in_place_error, TryAcquireError::no_permits);
    }

    /// `try_acquire` whose permit keeps `sem` alive.
    [[nodiscard]] static Result<OwnedSemaphorePermit, TryAcquireError>
    try_acquire_owned(std::shared_ptr<Semaphore> sem, std::size_t n = 1) {
        using R = Result<OwnedSemaphorePermit, TryAcquireError>;
        switch (sem->sem_.try_acquire(n)) {
        case detail::BatchSemaphore::TryAcquire::acquired:
            return R(boost::system::in_place_value, OwnedSemaphorePermit(std::move(sem), n));
        case detail::BatchSemaphore::TryAcquire::closed:
            return R(boost::system::in_place_error, TryAcquireError::closed);
        case detail::BatchSemaphore::TryAcquire::no_permits:
            break;
        }
        return R(boost::system::in_place_error, TryAcquireError::no_permits);
    }

    /// Adds `n` permits; queued acquires are served first, in order.
    /// @par Preconditions
    /// The total stays at most `max_permits`.
    void add_permits(std::size_t n) { sem_.release(n); }

    /// Removes up to `n` available permits for good; returns how many.
    std::size_t forget_permits(std::size_t n) { return sem_.forget_permits(n); }

    /// Closes the semaphore: queued and later acquires fail with
    /// `errc::closed`; permits already held stay valid.
    void close() { sem_.close(); }

    /// True once `close()` was called.
    [[nodiscard]] bool is_closed() const { return sem_.is_closed(); }
    /// Permits available now.
    [[nodiscard]] std::size_t available_permits() const { return sem_.available_permits(); }

private:
    friend class OwnedSemaphorePermit;
    detail::BatchSemaphore sem_;
};

inline void SemaphorePermit::release() noexcept {
    if (sem_ != nullptr && n_ > 0) {
        sem_->release(std::exchange(n_, 0));
    }
}

inline void OwnedSemaphorePermit::release() noexcept {
    if (sem_ && n_ > 0) {
        sem_->sem_.release(std::exchange(n_, 0));
    }
}

} // namespace pollux::sync
