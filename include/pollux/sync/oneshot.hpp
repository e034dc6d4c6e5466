#pragma once

/// @file
/// `sync::oneshot`: a channel for exactly one value, from one `Sender` to one
/// `Receiver` (tokio's `sync::oneshot`). The `Receiver` is itself the future
/// of the value.

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>
#include <pollux/sync/error.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pollux::sync::oneshot {

namespace detail {

// Design (STYLE H4). One std::mutex guards the shared block.
//
// (a) References. The block is a shared_ptr owned by the Sender, the
//     Receiver and any `Sender::closed()` future. No node lists: there is
//     at most one waiter on each side, so each side has one waker slot.
// (b) State, under `m`:
//     - `value`: the sent value, until the receiver takes it.
//     - `tx_done`: the Sender sent or was dropped; never unset.
//     - `rx_closed`: the Receiver called close() or was dropped; never unset.
//     - `taken`: the Receiver took the value; never unset.
//     - `rx_waker` / `tx_waker`: wakers of the receiver's poll and of a
//       `Sender::closed()` poll.
// (c) The Sender writes `value`/`tx_done` and reads `rx_closed`; the
//     Receiver the reverse. Each side writes only its own waker slot and
//     takes the other's to wake it.
// (d) Transitions.
//     - send(v): if `rx_closed`, hand v back; else `value = v`,
//       `tx_done = true`, wake `rx_waker`.
//     - Sender dropped unsent: `tx_done = true`, wake `rx_waker` (the
//       receiver then sees closed).
//     - receiver poll: `value` -> take it, Ready(value); `tx_done` or
//       `rx_closed` with no value -> Ready(closed); else store the waker.
//     - close()/Receiver dropped: `rx_closed = true`, wake `tx_waker`; a
//       value already sent stays receivable after close() and is destroyed
//       with the Receiver.
// (e) Safety. The receiver takes the value only after the budget check
//     succeeded. Wakers are woken after the lock is released.
//
// Tests: sync_oneshot_test.cpp.
template <class T>
struct State {
    std::mutex m;
    std::optional<T> value;
    bool tx_done = false;
    bool rx_closed = false;
    bool taken = false;
    std::optional<Waker> rx_waker;
    std::optional<Waker> tx_waker;
};

} // namespace detail

template <class T>
class Sender;
template <class T>
class Receiver;

template <class T>
std::pair<Sender<T>, Receiver<T>> channel();

/// The sending half: sends one value with `send`. Move-only. Dropping it
/// without sending makes the receiver yield `errc::closed`.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. The Sender and the
/// Receiver may be used on different threads at once.
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
            st_ = std::move(o.st_);
        }
        return *this;
    }
    ~Sender() { drop(); }

    /// Sends `value`; the Sender is spent afterwards (as if moved from).
    /// @par Errors
    /// `SendError<T>` holding `value` when the Receiver was dropped or
    /// closed.
    /// @par Preconditions
    /// Not sent before.
    SendResult<SendError<T>> send(T value) {
        POLLUX_ASSERT(st_ != nullptr, "oneshot::Sender::send on a spent sender");
        std::shared_ptr<detail::State<T>> st = std::move(st_);
        std::optional<Waker> w;
        {
            std::lock_guard lock(st->m);
            if (st->rx_closed) {
                return SendError<T>{std::move(value)};
            }
            st->value.emplace(std::move(value));
            st->tx_done = true;
            w = std::move(st->rx_waker);
            st->rx_waker.reset();
        }
        if (w) {
            std::move(*w).wake();
        }
        return {};
    }

    /// True when the Receiver was dropped or closed: a send would fail.
    [[nodiscard]] bool is_closed() const {
        if (!st_) {
            return true;
        }
        std::lock_guard lock(st_->m);
        return st_->rx_closed;
    }

    /// The future of `closed()`: Output `void`.
    class POLLUX_NODISCARD_FUTURE Closed {
    public:
        /// What it completes with.
        using Output = void;
        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<void> poll(Context& cx) {
            POLLUX_ASSERT(st_ != nullptr, "oneshot Closed polled after it returned Ready");
            std::unique_lock lock(st_->m);
            if (st_->rx_closed) {
                lock.unlock();
                st_.reset();
                return Ready<void>{};
            }
            std::optional<Waker> old = pollux::detail::store_waker(st_->tx_waker, cx);
            lock.unlock();
            return Pending{};
        }

    private:
        friend class Sender;
        explicit Closed(std::shared_ptr<detail::State<T>> st) noexcept : st_(std::move(st)) {}
        std::shared_ptr<detail::State<T>> st_;
    };

    /// Completes when the Receiver is dropped or closed (tokio's
    /// `Sender::closed`), so a producer can stop computing a value nobody
    /// wants.
    ///
    /// @par Cancel safety
    /// Cancel safe: it takes nothing.
    /// @par Thread safety
    /// One `closed()` future at a time per channel (one waker slot).
    /// @par Wakes / resumes on
    /// Woken by the thread that drops or closes the Receiver.
    /// @par Errors
    /// None.
    /// @par Preconditions
    /// Not sent yet; not polled after Ready.
    /// @par Example
    /// @code
    /// auto r = co_await select(tx.closed(), compute());
    /// @endcode
    POLLUX_NODISCARD_FUTURE Closed closed() const {
        POLLUX_ASSERT(st_ != nullptr, "oneshot::Sender::closed on a spent sender");
        return Closed(st_);
    }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>();
    explicit Sender(std::shared_ptr<detail::State<T>> st) noexcept : st_(std::move(st)) {}

    void drop() noexcept {
        if (!st_) {
            return;
        }
        std::optional<Waker> w;
        {
            std::lock_guard lock(st_->m);
            st_->tx_done = true;
            w = std::move(st_->rx_waker);
            st_->rx_waker.reset();
        }
        st_.reset();
        if (w) {
            std::move(*w).wake();
        }
    }

    std::shared_ptr<detail::State<T>> st_;
};

/// The receiving half, and the future of the value: Output `Result<T>`.
/// Move-only.
///
/// @par Cancel safety
/// Cancel safe: dropping the Receiver (or the coroutine awaiting it by
/// reference) before it is ready takes no value; a value sent meanwhile is
/// destroyed with the Receiver. Awaited by reference (`co_await rx`) inside
/// `select`, a losing branch loses nothing and `rx` can be awaited again.
/// No Asio cancellation applies.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Woken by the thread that sends, or drops the Sender; a task resumes on
/// its own executor.
/// @par Errors
/// `errc::closed`: the Sender was dropped without sending, or `close()` was
/// called before a value arrived.
/// @par Preconditions
/// Not polled after Ready.
/// @par Example
/// @code
/// auto [tx, rx] = pollux::sync::oneshot::channel<int>();
/// spawn(producer(std::move(tx)));
/// Result<int> v = co_await std::move(rx);
/// @endcode
template <class T>
class POLLUX_NODISCARD_FUTURE Receiver {
public:
    /// What it completes with.
    using Output = Result<T>;

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Receiver(Receiver&&) noexcept = default;
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Receiver& operator=(Receiver&& o) noexcept {
        if (this != &o) {
            drop();
            st_ = std::move(o.st_);
            done_ = o.done_;
        }
        return *this;
    }
    ~Receiver() { drop(); }

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_ && st_ != nullptr, "oneshot::Receiver polled after it returned Ready");
        std::unique_lock lock(st_->m);
        if (st_->value || st_->tx_done || st_->rx_closed) {
            if (!pollux::detail::has_budget(cx)) {
                lock.unlock();
                cx.waker().wake_by_ref();
                return Pending{};
            }
            (void)coop::poll_proceed(cx);
            done_ = true;
            if (!st_->value) {
                return Ready{Output(boost::system::in_place_error, make_error_code(errc::closed))};
            }
            st_->taken = true;
            Output out(boost::system::in_place_value, std::move(*st_->value));
            st_->value.reset();
            return Ready{std::move(out)};
        }
        std::optional<Waker> old = pollux::detail::store_waker(st_->rx_waker, cx);
        lock.unlock();
        return Pending{};
    }

    /// Takes the value if it has arrived.
    /// @par Errors
    /// `TryRecvError::empty`: not sent yet. `TryRecvError::closed`: the
    /// Sender is gone without sending, the Receiver was closed before a value
    /// arrived, or the value was already taken.
    [[nodiscard]] Result<T, TryRecvError> try_recv() {
        using R = Result<T, TryRecvError>;
        POLLUX_ASSERT(st_ != nullptr, "oneshot::Receiver::try_recv on a moved-from receiver");
        std::lock_guard lock(st_->m);
        if (st_->value) {
            st_->taken = true;
            R out(boost::system::in_place_value, std::move(*st_->value));
            st_->value.reset();
            done_ = true;
            return out;
        }
        if (st_->tx_done || st_->rx_closed || st_->taken) {
            return R(boost::system::in_place_error, TryRecvError::closed);
        }
        return R(boost::system::in_place_error, TryRecvError::empty);
    }

    /// Stops the Sender from sending (its `send` fails and its `closed()`
    /// completes). A value sent before can still be received.
    void close() {
        POLLUX_ASSERT(st_ != nullptr, "oneshot::Receiver::close on a moved-from receiver");
        std::optional<Waker> w;
        {
            std::lock_guard lock(st_->m);
            st_->rx_closed = true;
            w = std::move(st_->tx_waker);
            st_->tx_waker.reset();
        }
        if (w) {
            std::move(*w).wake();
        }
    }

    /// True once the value was received (or closed was reported).
    [[nodiscard]] bool is_terminated() const noexcept { return done_; }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>();
    explicit Receiver(std::shared_ptr<detail::State<T>> st) noexcept : st_(std::move(st)) {}

    void drop() noexcept {
        if (!st_) {
            return;
        }
        std::optional<Waker> w;
        std::optional<T> value;
        {
            std::lock_guard lock(st_->m);
            st_->rx_closed = true;
            value = std::move(st_->value);
            st_->value.reset();
            w = std::move(st_->tx_waker);
            st_->tx_waker.reset();
        }
        st_.reset();
        if (w) {
            std::move(*w).wake();
        }
    }

    std::shared_ptr<detail::State<T>> st_;
    bool done_ = false;
};

/// A new oneshot channel: `auto [tx, rx] = oneshot::channel<T>();`.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel() {
    auto st = std::make_shared<detail::State<T>>();
    return {Sender<T>(st), Receiver<T>(st)};
}

} // namespace pollux::sync::oneshot
