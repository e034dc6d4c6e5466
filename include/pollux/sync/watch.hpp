#pragma once

/// @file
/// `sync::watch`: a single-producer, multi-consumer channel that holds only
/// the latest value (tokio's `sync::watch`). Receivers `borrow()` it and
/// wait for the next change with `changed()`.

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>
#include <pollux/sync/error.hpp>
#include <pollux/sync/notify.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>

namespace pollux::sync::watch {

namespace detail {

// Design (STYLE H4).
//
// (a) References. `Shared` is a shared_ptr owned by the Sender and every
//     Receiver. A `changed()` future borrows its Receiver.
// (b) State:
//     - `value` under the reader-writer lock `lock` (readers: borrow();
//       writer: send).
//     - `version`: incremented (under the writer lock) by every send; only
//       grows. Each Receiver keeps `seen`, the version it last marked seen.
//     - `closed`: the Sender is gone; never unset.
//     - `rx_count`: live Receivers (a send with none fails).
//     - `notify`: a `Notify`; every send and the Sender's drop call
//       `notify_waiters()` after updating `version` / `closed`.
// (c) Only the Sender writes `value`, `version` and `closed`. A Receiver
//     writes only its own `seen`.
// (d) changed() poll: make a `Notified` first (it counts from its creation),
//     then: `version != seen` -> `seen = version`, Ready(ok); else `closed` ->
//     Ready(closed); else poll the Notified; when it fires, start over.
// (e) Safety. Because the Notified exists before `version` and `closed` are
//     read, a send between the read and the poll still completes it (the
//     Notify rule for futures created before `notify_waiters`). All atomics
//     are seq_cst. A Ready for budget reasons is deferred before `seen`
//     changes.
//
// Tests: sync_watch_test.cpp.
template <class T>
struct Shared {
    template <class U>
    explicit Shared(U&& v) : value(std::forward<U>(v)) {}

    mutable std::shared_mutex lock;
    T value;
    std::atomic<std::uint64_t> version{0};
    std::atomic<bool> closed{false};
    std::atomic<std::size_t> rx_count{1};
    Notify notify;
};

} // namespace detail

template <class T>
class Sender;
template <class T>
class Receiver;

template <class T>
std::pair<Sender<T>, Receiver<T>> channel(T init);

/// A read lock on the current value, from `borrow()`. Keep it short: while
/// it lives, `send` on another thread blocks (a std::shared_mutex is held),
/// and sending from the thread that holds it deadlocks. Never hold one
/// across `co_await`.
template <class T>
class Ref {
public:
    /// The value.
    [[nodiscard]] const T& operator*() const noexcept { return *value_; }
    /// The value.
    [[nodiscard]] const T* operator->() const noexcept { return value_; }
    /// True when this value had not been marked seen by the receiver before
    /// this borrow (always false for a Sender's borrow).
    [[nodiscard]] bool has_changed() const noexcept { return changed_; }

private:
    friend class Sender<T>;
    friend class Receiver<T>;
    Ref(std::shared_lock<std::shared_mutex> lock, const T* v, bool changed) noexcept
        : lock_(std::move(lock)), value_(v), changed_(changed) {}

    std::shared_lock<std::shared_mutex> lock_;
    const T* value_;
    bool changed_;
};

/// The sending half (one per channel; move-only). Dropping it closes the
/// channel: receivers keep the last value, and `changed()` reports closed.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe for the const members.
template <class T>
class Sender {
public:
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    Sender(Sender&&) noexcept = default;
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    Sender& operator=(Sender&& o) noexcept {
        if (this != &o) {
            drop();
            sh_ = std::move(o.sh_);
        }
        return *this;
    }
    ~Sender() { drop(); }

    /// Replaces the value and notifies the receivers.
    /// @par Errors
    /// `SendError<T>` holding the value when there is no receiver (the
    /// value is then not stored).
    SendResult<SendError<T>> send(T value) const {
        if (sh_->rx_count.load() == 0) {
            return SendError<T>{std::move(value)};
        }
        (void)send_replace(std::move(value));
        return {};
    }

    /// Replaces the value whether or not anyone receives; returns the old
    /// one.
    T send_replace(T value) const {
        {
            std::unique_lock lock(sh_->lock);
            std::swap(sh_->value, value);
            sh_->version.fetch_add(1);
        }
        sh_->notify.notify_waiters();
        return value;
    }

    /// Modifies the value in place with `f(T&)`, then notifies.
    template <class F>
    void send_modify(F&& f) const {
        {
            std::unique_lock lock(sh_->lock);
            std::forward<F>(f)(sh_->value);
            sh_->version.fetch_add(1);
        }
        sh_->notify.notify_waiters();
    }

    /// Modifies the value with `f(T&) -> bool`; notifies only if it returned
    /// true. Returns what `f` returned.
    template <class F>
    bool send_if_modified(F&& f) const {
        bool modified = false;
        {
            std::unique_lock lock(sh_->lock);
            modified = std::forward<F>(f)(sh_->value);
            if (modified) {
                sh_->version.fetch_add(1);
            }
        }
        if (modified) {
            sh_->notify.notify_waiters();
        }
        return modified;
    }

    /// A read lock on the current value.
    [[nodiscard]] Ref<T> borrow() const {
        std::shared_lock lock(sh_->lock);
        return Ref<T>(std::move(lock), &sh_->value, false);
    }

    /// A new receiver; the current value counts as seen.
    [[nodiscard]] Receiver<T> subscribe() const;

    /// How many receivers are alive.
    [[nodiscard]] std::size_t receiver_count() const { return sh_->rx_count.load(); }
    /// True when every receiver is gone.
    [[nodiscard]] bool is_closed() const { return sh_->rx_count.load() == 0; }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(T);
    explicit Sender(std::shared_ptr<detail::Shared<T>> sh) noexcept : sh_(std::move(sh)) {}

    void drop() noexcept {
        if (!sh_) {
            return;
        }
        sh_->closed.store(true);
        sh_->notify.notify_waiters();
        sh_.reset();
    }

    std::shared_ptr<detail::Shared<T>> sh_;
};

/// A receiving half. Copying makes another receiver that has seen the same
/// version.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe for `borrow` only.
template <class T>
class Receiver {
public:
    /// Another receiver of the same channel, which has seen what `o` has.
    Receiver(const Receiver& o) : sh_(o.sh_), seen_(o.seen_) {
        if (sh_) {
            sh_->rx_count.fetch_add(1);
        }
    }
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    Receiver(Receiver&& o) noexcept : sh_(std::move(o.sh_)), seen_(o.seen_) {}
    /// Copy or move assignment: drops the receiver held, takes `o`'s place.
    Receiver& operator=(Receiver o) noexcept {
        std::swap(sh_, o.sh_);
        std::swap(seen_, o.seen_);
        return *this;
    }
    ~Receiver() {
        if (sh_) {
            sh_->rx_count.fetch_sub(1);
        }
    }

    /// A read lock on the latest value; does not mark it seen.
    [[nodiscard]] Ref<T> borrow() const {
        std::shared_lock lock(sh_->lock);
        const bool changed = sh_->version.load() != seen_;
        return Ref<T>(std::move(lock), &sh_->value, changed);
    }

    /// A read lock on the latest value, which is marked seen.
    [[nodiscard]] Ref<T> borrow_and_update() {
        std::shared_lock lock(sh_->lock);
        const std::uint64_t v = sh_->version.load();
        const bool changed = v != seen_;
        seen_ = v;
        return Ref<T>(std::move(lock), &sh_->value, changed);
    }

    /// True when a value not yet marked seen is there.
    /// @par Errors
    /// `errc::closed` when the Sender is gone (tokio's rule).
    [[nodiscard]] Result<bool> has_changed() const {
        if (sh_->closed.load()) {
            return Result<bool>(boost::system::in_place_error, make_error_code(errc::closed));
        }
        return Result<bool>(boost::system::in_place_value, sh_->version.load() != seen_);
    }

    /// Marks the current value seen.
    void mark_unchanged() { seen_ = sh_->version.load(); }

    /// The future of `changed()`: Output `Result<void>`.
    class POLLUX_NODISCARD_FUTURE Changed {
    public:
        /// What it completes with.
        using Output = Result<void>;

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            POLLUX_ASSERT(rx_ != nullptr, "watch changed future polled after it returned Ready");
            auto& sh = *rx_->sh_;
            for (;;) {
                if (!notified_) {
                    notified_.emplace(sh.notify.notified());
                }
                const std::uint64_t v = sh.version.load();
                if (v != rx_->seen_ || sh.closed.load()) {
                    if (!coop::poll_proceed(cx)) {
                        return Pending{};
                    }
                    Receiver* rx = std::exchange(rx_, nullptr);
                    notified_.reset();
                    if (v != rx->seen_) {
                        rx->seen_ = v;
                        return Ready{Output()};
                    }
                    return Ready{Output(make_error_code(errc::closed))};
                }
                // The inner Notified is not a leaf of the task: poll it
                // without the budget, which this future spends itself.
                Context inner(cx.waker());
                if (notified_->poll(inner).is_pending()) {
                    return Pending{};
                }
                notified_.reset();
            }
        }

    private:
        friend class Receiver;
        explicit Changed(Receiver* rx) noexcept : rx_(rx) {}

        Receiver* rx_;
        std::optional<Notified> notified_;
    };

    /// Waits until a value newer than the last one seen is there, and marks
    /// it seen. Completes at once if one is there already.
    ///
    /// @par Cancel safety
    /// Cancel safe: dropping the future before it is ready changes nothing
    /// (the receiver still has the change to see). No Asio cancellation
    /// applies.
    /// @par Thread safety
    /// One task polls a receiver's futures at a time.
    /// @par Wakes / resumes on
    /// Woken by the thread that sends or drops the Sender.
    /// @par Errors
    /// `errc::closed` when the Sender is gone and no unseen value is left.
    /// @par Preconditions
    /// The Receiver outlives the future and is not moved meanwhile; not
    /// polled after Ready.
    /// @par Example
    /// @code
    /// while (co_await rx.changed()) { apply(*rx.borrow()); }
    /// @endcode
    POLLUX_NODISCARD_FUTURE Changed changed() noexcept { return Changed(this); }

private:
    friend class Sender<T>;
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(T);
    Receiver(std::shared_ptr<detail::Shared<T>> sh, std::uint64_t seen) noexcept
        : sh_(std::move(sh)), seen_(seen) {}

    std::shared_ptr<detail::Shared<T>> sh_;
    std::uint64_t seen_;
};

template <class T>
Receiver<T> Sender<T>::subscribe() const {
    std::shared_lock lock(sh_->lock);
    sh_->rx_count.fetch_add(1);
    return Receiver<T>(sh_, sh_->version.load());
}

/// A watch channel whose value starts as `init` (which counts as seen).
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel(T init) {
    auto sh = std::make_shared<detail::Shared<T>>(std::move(init));
    return {Sender<T>(sh), Receiver<T>(sh, 0)};
}

} // namespace pollux::sync::watch
