#pragma once

/// @file
/// `sync::broadcast`: a multi-producer, multi-consumer channel in which
/// every receiver sees every value (tokio's `sync::broadcast`). It holds the
/// last `capacity` values; a receiver that falls further behind is told how
/// many it missed (`lagged(n)`) and continues from the oldest value held.

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>
#include <pollux/sync/error.hpp>

#include <boost/system/error_code.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

namespace pollux::sync::broadcast {

/// Why `recv` gave no value: `closed` (every sender gone and this receiver
/// has seen everything) or `lagged` (values were overwritten before this
/// receiver read them; `lagged_by()` says how many; the next `recv` returns
/// the oldest value still held).
class RecvError {
public:
    /// What went wrong.
    enum class Kind {
        closed = static_cast<int>(errc::closed),
        lagged = static_cast<int>(errc::lagged)
    };
    /// `Kind::closed`.
    static constexpr Kind closed = Kind::closed;
    /// `Kind::lagged`.
    static constexpr Kind lagged = Kind::lagged;

    /// `closed` (Boost's result needs a default).
    RecvError() noexcept : RecvError(Kind::closed, 0) {}
    /// A `closed` error.
    static RecvError make_closed() noexcept { return RecvError(Kind::closed, 0); }
    /// A `lagged` error that missed `n` values.
    static RecvError make_lagged(std::uint64_t n) noexcept { return RecvError(Kind::lagged, n); }

    /// What went wrong.
    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    /// True if every sender is gone and nothing is left to read.
    [[nodiscard]] bool is_closed() const noexcept { return kind_ == Kind::closed; }
    /// True if values were missed (see `lagged_by()`).
    [[nodiscard]] bool is_lagged() const noexcept { return kind_ == Kind::lagged; }
    /// How many values were missed (0 unless lagged).
    [[nodiscard]] std::uint64_t lagged_by() const noexcept { return n_; }
    /// `errc::closed` or `errc::lagged`, in `sync::category()`.
    [[nodiscard]] boost::system::error_code code() const noexcept {
        return make_error_code(static_cast<errc>(kind_));
    }
    /// True if `e` is of kind `k`.
    friend bool operator==(const RecvError& e, Kind k) noexcept { return e.kind_ == k; }

private:
    RecvError(Kind k, std::uint64_t n) noexcept : kind_(k), n_(n) {}
    Kind kind_;
    std::uint64_t n_;
};

/// Why `try_recv` gave no value: as `RecvError`, plus `empty` (nothing new
/// yet).
class TryRecvError {
public:
    /// What went wrong.
    enum class Kind {
        empty = static_cast<int>(errc::empty),
        closed = static_cast<int>(errc::closed),
        lagged = static_cast<int>(errc::lagged),
    };
    /// `Kind::empty`.
    static constexpr Kind empty = Kind::empty;
    /// `Kind::closed`.
    static constexpr Kind closed = Kind::closed;
    /// `Kind::lagged`.
    static constexpr Kind lagged = Kind::lagged;

    /// `empty` (Boost's result needs a default).
    TryRecvError() noexcept : TryRecvError(Kind::empty) {}
    /// An error of kind `k`; `n` values missed if lagged.
    TryRecvError(Kind k, std::uint64_t n = 0) noexcept : kind_(k), n_(n) {}

    /// What went wrong.
    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    /// True if no new value is there yet.
    [[nodiscard]] bool is_empty() const noexcept { return kind_ == Kind::empty; }
    /// True if every sender is gone and nothing is left to read.
    [[nodiscard]] bool is_closed() const noexcept { return kind_ == Kind::closed; }
    /// True if values were missed (see `lagged_by()`).
    [[nodiscard]] bool is_lagged() const noexcept { return kind_ == Kind::lagged; }
    /// How many values were missed (0 unless lagged).
    [[nodiscard]] std::uint64_t lagged_by() const noexcept { return n_; }
    /// `errc::empty`, `errc::closed` or `errc::lagged`, in `sync::category()`.
    [[nodiscard]] boost::system::error_code code() const noexcept {
        return make_error_code(static_cast<errc>(kind_));
    }
    /// True if `e` is of kind `k`.
    friend bool operator==(const TryRecvError& e, Kind k) noexcept { return e.kind_ == k; }

private:
    Kind kind_;
    std::uint64_t n_;
};

/// Prints the error's message, and for `lagged` how many were missed.
inline std::ostream& operator<<(std::ostream& os, const RecvError& e) {
    os << e.code().message();
    if (e.is_lagged()) {
        os << " by " << e.lagged_by();
    }
    return os;
}
/// Prints the error's message, and for `lagged` how many were missed.
inline std::ostream& operator<<(std::ostream& os, const TryRecvError& e) {
    os << e.code().message();
    if (e.is_lagged()) {
        os << " by " << e.lagged_by();
    }
    return os;
}

/// Makes `Result<T, RecvError>::value()` throw
/// `boost::system::system_error(e.code())` (found by ADL).
[[noreturn]] inline void throw_exception_from_error(const RecvError& e,
                                                    const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(e.code()), loc);
}
/// Makes `Result<T, TryRecvError>::value()` throw
/// `boost::system::system_error(e.code())` (found by ADL).
[[noreturn]] inline void throw_exception_from_error(const TryRecvError& e,
                                                    const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(e.code()), loc);
}

namespace detail {

// Design (STYLE H4). One std::mutex guards the ring and the wait list.
//
// (a) References. `Shared` is a shared_ptr owned by every Sender and
//     Receiver. A `recv()` future borrows its Receiver and owns its wait
//     node (allocated apart, so the future may move between polls).
// (b) State, under `m`:
//     - `ring`: `capacity` slots; slot `pos % capacity` holds the value sent
//       at position `pos`, with `rem`, the receivers that have still to read
//       it (the value is destroyed when `rem` reaches 0).
//     - `tail`: the position of the next send; only grows. The oldest value
//       held is at `tail - capacity` (or 0).
//     - `tx_count`, `rx_count`: live Senders and Receivers.
//     - `waiters`: nodes of pending `recv()` futures; each node has the
//       waker of its latest poll.
//     - per Receiver (its own, touched only by it, under `m`): `next`, the
//       position it reads next.
// (c) Senders write slots and pop waiters; a Receiver reads slots, updates
//     its `next` and queues its node; all under `m`.
// (d) Transitions.
//     - send(v): no receivers -> fail with v. Else write slot `tail`
//       (dropping an unread older value there: someone will lag), set its
//       `rem = rx_count`, `tail += 1`, pop and wake every waiter.
//     - recv: `next < tail - capacity` -> lagged(n = oldest - next), `next =
//       oldest`. `next < tail` -> copy the value (or move it, if this is the
//       last reader), `rem -= 1`, `next += 1`. Otherwise, with no senders ->
//       closed; else queue the node, Pending.
//     - subscribe: a new Receiver at `next = tail` (it sees later values).
//     - Receiver dropped: for every held position it has not read, `rem -=
//       1` (destroying values nobody else needs); unlink its nodes.
//     - last Sender dropped: pop and wake every waiter (they see closed once
//       they have read what is held).
// (e) Safety. A receive checks the budget before reading, so Pending for
//     budget moves no position. A node woken by a send is unlinked by the
//     sender; the next poll queues it again if needed. Wakers are woken
//     after the lock is released.
//
// Tests: sync_broadcast_test.cpp.
template <class T>
struct Shared {
    explicit Shared(std::size_t cap) : ring(cap) {}

    struct Slot {
        std::optional<T> value;
        std::uint64_t pos = 0;
        std::size_t rem = 0;
    };
    struct Waiter : pollux::detail::ListHook {
        std::optional<Waker> waker;
    };

    std::mutex m;
    std::vector<Slot> ring;
    std::uint64_t tail = 0;
    std::size_t tx_count = 1;
    std::size_t rx_count = 1;
    pollux::detail::IntrusiveList<Waiter> waiters;

    [[nodiscard]] std::uint64_t oldest() const noexcept {
        return tail > ring.size() ? tail - ring.size() : 0;
    }

    void wake_all_locked(pollux::detail::WakeList& wakes) {
        while (Waiter* w = waiters.pop_front()) {
            wakes.push(w->waker);
        }
    }
};

} // namespace detail

template <class T>
class Sender;
template <class T>
class Receiver;

template <class T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity);

/// The sending half. Copying makes another sender of the same channel.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe for `send` and the const
/// members.
template <class T>
class Sender {
public:
    /// Another sender for the same channel; the channel stays open while any
    /// sender lives.
    Sender(const Sender& o) : sh_(o.sh_) {
        if (sh_) {
            std::lock_guard lock(sh_->m);
            ++sh_->tx_count;
        }
    }
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    Sender(Sender&&) noexcept = default;
    /// Copy or move assignment: drops the sender held, takes `o`'s channel.
    Sender& operator=(Sender o) noexcept {
        std::swap(sh_, o.sh_);
        return *this;
    }
    ~Sender() {
        if (!sh_) {
            return;
        }
        pollux::detail::WakeList wakes;
        {
            std::lock_guard lock(sh_->m);
            if (--sh_->tx_count == 0) {
                sh_->wake_all_locked(wakes);
            }
        }
        wakes.wake_all();
    }

    /// Sends `value` to every receiver that exists now; never waits. When
    /// the channel is full the oldest value is overwritten, and receivers
    /// that had not read it will see `lagged`.
    /// @par Errors
    /// `SendError<T>` holding the value when there is no receiver.
    /// (tokio also returns the receiver count; see `receiver_count()`.)
    SendResult<SendError<T>> send(T value) const {
        pollux::detail::WakeList wakes;
        {
            std::lock_guard lock(sh_->m);
            if (sh_->rx_count == 0) {
                return SendError<T>{std::move(value)};
            }
            auto& slot = sh_->ring[sh_->tail % sh_->ring.size()];
            slot.value.emplace(std::move(value));
            slot.pos = sh_->tail;
            slot.rem = sh_->rx_count;
            ++sh_->tail;
            sh_->wake_all_locked(wakes);
        }
        wakes.wake_all();
        return {};
    }

    /// A new receiver that sees every value sent from now on.
    [[nodiscard]] Receiver<T> subscribe() const;

    /// Live receivers.
    [[nodiscard]] std::size_t receiver_count() const {
        std::lock_guard lock(sh_->m);
        return sh_->rx_count;
    }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    explicit Sender(std::shared_ptr<detail::Shared<T>> sh) noexcept : sh_(std::move(sh)) {}

    std::shared_ptr<detail::Shared<T>> sh_;
};

/// A receiving half: sees every value sent after it subscribed (values are
/// copied to each receiver; the last reader gets the original moved).
/// Move-only; `resubscribe()` makes another receiver.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
template <class T>
class Receiver {
public:
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Receiver(Receiver&& o) noexcept : sh_(std::move(o.sh_)), next_(o.next_) {}
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Receiver& operator=(Receiver&& o) noexcept {
        if (this != &o) {
            drop();
            sh_ = std::move(o.sh_);
            next_ = o.next_;
        }
        return *this;
    }
    ~Receiver() { drop(); }

    /// The future of `recv()`: Output `Result<T, RecvError>`.
    class POLLUX_NODISCARD_FUTURE Recv {
    public:
        /// What it completes with.
        using Output = Result<T, RecvError>;

        /// Moves it; allowed at any time, also between polls (there is no `Pin`).
        Recv(Recv&& o) noexcept : rx_(std::exchange(o.rx_, nullptr)), node_(std::move(o.node_)) {}
        /// Moves it; allowed at any time, also between polls (there is no `Pin`).
        Recv& operator=(Recv&& o) noexcept {
            if (this != &o) {
                cancel();
                rx_ = std::exchange(o.rx_, nullptr);
                node_ = std::move(o.node_);
            }
            return *this;
        }
        ~Recv() { cancel(); }

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            POLLUX_ASSERT(rx_ != nullptr, "broadcast recv future polled after it returned Ready");
            auto& sh = *rx_->sh_;
            std::unique_lock lock(sh.m);
            std::optional<Result<T, TryRecvError>> r;
            if (rx_->ready_locked()) {
                if (!pollux::detail::has_budget(cx)) {
                    lock.unlock();
                    cx.waker().wake_by_ref();
                    return Pending{};
                }
                (void)coop::poll_proceed(cx);
                r.emplace(rx_->try_recv_locked());
                if (node_ && node_->is_linked()) {
                    sh.waiters.remove(node_.get());
                }
                lock.unlock();
                rx_ = nullptr;
                node_.reset();
                if (*r) {
                    return Ready{Output(boost::system::in_place_value, std::move(r->value()))};
                }
                const TryRecvError& e = r->error();
                return Ready{Output(boost::system::in_place_error,
                                    e.is_lagged() ? RecvError::make_lagged(e.lagged_by())
                                                  : RecvError::make_closed())};
            }
            if (!node_) {
                node_ = std::make_unique<typename detail::Shared<T>::Waiter>();
            }
            std::optional<Waker> old = pollux::detail::store_waker(node_->waker, cx);
            if (!node_->is_linked()) {
                sh.waiters.push_back(node_.get());
            }
            lock.unlock();
            return Pending{};
        }

    private:
        friend class Receiver;
        explicit Recv(Receiver* rx) noexcept : rx_(rx) {}

        void cancel() noexcept {
            if (rx_ == nullptr || !node_) {
                return;
            }
            {
                std::lock_guard lock(rx_->sh_->m);
                if (node_->is_linked()) {
                    rx_->sh_->waiters.remove(node_.get());
                }
            }
            node_.reset();
        }

        Receiver* rx_;
        std::unique_ptr<typename detail::Shared<T>::Waiter> node_;
    };

    /// Receives the next value (a copy).
    ///
    /// @par Cancel safety
    /// Cancel safe: dropping the future before it is ready reads nothing;
    /// the receiver's position is unchanged. No Asio cancellation applies.
    /// @par Thread safety
    /// One task polls a receiver's futures at a time.
    /// @par Wakes / resumes on
    /// Woken by the thread that sends or drops the last sender.
    /// @par Errors
    /// `RecvError::lagged` (with the count; the receiver then continues
    /// from the oldest value held), `RecvError::closed` once every sender is
    /// gone and everything held was read.
    /// @par Preconditions
    /// The Receiver outlives the future; not polled after Ready.
    /// @par Example
    /// @code
    /// for (;;) {
    ///     auto r = co_await rx.recv();
    ///     if (r) use(*r);
    ///     else if (r.error().is_closed()) break;   // lagged: just go on
    /// }
    /// @endcode
    POLLUX_NODISCARD_FUTURE Recv recv() noexcept {
        POLLUX_ASSERT(sh_ != nullptr, "broadcast::Receiver used after it was moved from");
        return Recv(this);
    }

    /// The next value if there is one now.
    /// @par Errors
    /// `TryRecvError::empty`, `lagged` (with the count), `closed`.
    [[nodiscard]] Result<T, TryRecvError> try_recv() {
        POLLUX_ASSERT(sh_ != nullptr, "broadcast::Receiver used after it was moved from");
        std::lock_guard lock(sh_->m);
        return try_recv_locked();
    }

    /// A new receiver that sees values sent from now on.
    [[nodiscard]] Receiver resubscribe() const {
        std::lock_guard lock(sh_->m);
        ++sh_->rx_count;
        return Receiver(sh_, sh_->tail);
    }

    /// Values this receiver has not read that the channel still holds.
    [[nodiscard]] std::size_t len() const {
        std::lock_guard lock(sh_->m);
        const std::uint64_t from = std::max(next_, sh_->oldest());
        return static_cast<std::size_t>(sh_->tail - from);
    }

private:
    friend class Sender<T>;
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    Receiver(std::shared_ptr<detail::Shared<T>> sh, std::uint64_t next) noexcept
        : sh_(std::move(sh)), next_(next) {}

    bool ready_locked() const noexcept { return next_ < sh_->tail || sh_->tx_count == 0; }

    Result<T, TryRecvError> try_recv_locked() {
        using R = Result<T, TryRecvError>;
        auto& sh = *sh_;
        if (next_ < sh.tail) {
            const std::uint64_t oldest = sh.oldest();
            if (next_ < oldest) {
                const std::uint64_t missed = oldest - next_;
                next_ = oldest;
                return R(boost::system::in_place_error,
                         TryRecvError(TryRecvError::Kind::lagged, missed));
            }
            auto& slot = sh.ring[next_ % sh.ring.size()];
            POLLUX_ASSERT(slot.pos == next_ && slot.value, "broadcast slot out of step");
            if (slot.rem == 1) {
                R out(boost::system::in_place_value, std::move(*slot.value));
                slot.value.reset();
                slot.rem = 0;
                ++next_;
                return out;
            }
            R out(boost::system::in_place_value, *slot.value);
            --slot.rem;
            ++next_;
            return out;
        }
        return R(boost::system::in_place_error,
                 TryRecvError(sh.tx_count == 0 ? TryRecvError::Kind::closed
                                               : TryRecvError::Kind::empty));
    }

    void drop() noexcept {
        if (!sh_) {
            return;
        }
        std::vector<T> doomed; // destroyed outside the lock
        {
            std::lock_guard lock(sh_->m);
            for (std::uint64_t p = std::max(next_, sh_->oldest()); p < sh_->tail; ++p) {
                auto& slot = sh_->ring[p % sh_->ring.size()];
                if (--slot.rem == 0 && slot.value) {
                    doomed.push_back(std::move(*slot.value));
                    slot.value.reset();
                }
            }
            --sh_->rx_count;
        }
        doomed.clear();
        sh_.reset();
    }

    std::shared_ptr<detail::Shared<T>> sh_;
    std::uint64_t next_;
};

template <class T>
Receiver<T> Sender<T>::subscribe() const {
    std::lock_guard lock(sh_->m);
    ++sh_->rx_count;
    return Receiver<T>(sh_, sh_->tail);
}

/// A broadcast channel holding the last `capacity` values. `T` must be
/// copyable: each receiver gets its own copy.
/// @par Preconditions
/// `capacity > 0`.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
    static_assert(std::copy_constructible<T>, "broadcast values are copied to each receiver");
    POLLUX_ASSERT(capacity > 0, "broadcast::channel capacity must be positive");
    auto sh = std::make_shared<detail::Shared<T>>(capacity);
    return {Sender<T>(sh), Receiver<T>(sh, 0)};
}

} // namespace pollux::sync::broadcast
