#pragma once

/// @file
/// `sync::mpsc`: multi-producer, single-consumer FIFO channels (tokio's
/// `sync::mpsc`). `channel<T>(capacity)` is bounded: `send` waits for room,
/// which is how a slow consumer pushes back on its producers.
/// `unbounded_channel<T>()` never waits; its memory is given back once a
/// burst is drained. The `Receiver` is a `Stream<Item = T>`.

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/batch_semaphore.hpp>
#include <pollux/detail/block_queue.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/waiter_list.hpp>
#include <pollux/sync/error.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pollux::sync::mpsc {

namespace detail {

// Design (STYLE H4). One std::mutex guards the queue and the receiver's
// state; a bounded channel's capacity is a fair semaphore
// (`pollux::detail::BatchSemaphore`, with its own lock and design comment).
//
// (a) References. The `Chan` is a shared_ptr owned by every Sender and the
//     Receiver. `tx_count` counts Senders (not futures): a `send()` future
//     or a `recv()` future borrows its Sender or Receiver, which must
//     outlive it. A waiting sender is a node of the semaphore's queue, owned
//     by its future and allocated apart from it; so a bounded channel's
//     memory grows with waiting senders by their nodes only, never by
//     buffered values beyond its capacity.
// (b) State, under `m`:
//     - `queue`: values sent and not yet received (BlockQueue).
//     - `tx_count`: live Senders; when it reaches 0 the channel is closed
//       for the receiver once drained; it never grows back from 0.
//     - `rx_closed`: the Receiver called close() or was dropped; never
//       unset. Sends fail from then on; values already queued stay
//       receivable (drain after close).
//     - `rx_waker`: the waker of the receiver's latest Pending poll.
//     Capacity (bounded): the semaphore holds one permit per free slot. A
//     send acquires one permit before queueing; a receive releases one after
//     dequeuing. `close()` closes the semaphore, waking every waiting send.
// (c) Senders push and take `rx_waker`; the Receiver pops and stores
//     `rx_waker`; all under `m`.
// (d) Transitions.
//     - send (bounded): acquire a permit (FIFO among senders; Pending while
//       the channel is full); then under `m`: if `rx_closed`, give the
//       permit back and fail with the value; else push, wake `rx_waker`.
//     - send (unbounded): under `m`: if `rx_closed`, fail; else push, wake.
//     - recv poll: a value -> pop (bounded: release one permit after
//       unlocking) and Ready(value); none, and `tx_count == 0` or
//       `rx_closed` -> Ready(nullopt); else store the waker, Pending.
//     - last Sender dropped: `tx_count = 0`, wake `rx_waker`.
//     - close(): `rx_closed = true`, close the semaphore (wakes every
//       waiting sender with closed), wake `rx_waker`.
//     - Receiver dropped: close(), then destroy every queued value.
// (e) Safety. A receive checks the budget before popping, so a Pending for
//     budget loses no value. A send future whose permit is granted but that
//     is dropped before it is polled again passes the permit on (semaphore
//     rule). Wakers are woken after the lock is released.
//
// Tests: sync_mpsc_test.cpp.
template <class T>
struct Chan {
    explicit Chan(std::size_t bound_) : bound(bound_), sem(bound_) {}

    std::mutex m;
    pollux::detail::BlockQueue<T> queue;
    std::size_t tx_count = 1;
    bool rx_closed = false;
    std::optional<Waker> rx_waker;
    const std::size_t bound; // 0: unbounded
    pollux::detail::BatchSemaphore sem;

    // Pushes under the lock; false (value untouched) when closed.
    bool push(T& value) {
        std::optional<Waker> w;
        {
            std::lock_guard lock(m);
            if (rx_closed) {
                return false;
            }
            queue.push(std::move(value));
            w = std::move(rx_waker);
            rx_waker.reset();
        }
        if (w) {
            std::move(*w).wake();
        }
        return true;
    }

    void add_sender() {
        std::lock_guard lock(m);
        ++tx_count;
    }

    void drop_sender() {
        std::optional<Waker> w;
        {
            std::lock_guard lock(m);
            if (--tx_count == 0) {
                w = std::move(rx_waker);
                rx_waker.reset();
            }
        }
        if (w) {
            std::move(*w).wake();
        }
    }

    bool is_closed() {
        std::lock_guard lock(m);
        return rx_closed;
    }
};

} // namespace detail

template <class T>
class Sender;
template <class T>
class UnboundedSender;
template <class T>
class Receiver;

/// The receiver of an unbounded channel is the same type.
template <class T>
using UnboundedReceiver = Receiver<T>;

template <class T>
std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity);
template <class T>
std::pair<UnboundedSender<T>, Receiver<T>> unbounded_channel();

/// The sending half of a bounded channel. Copying makes another sender of
/// the same channel (Rust's `clone`); the channel closes for the receiver
/// once every sender is gone.
///
/// @par Thread safety
/// Distinct objects: safe (copies of one Sender may be used on different
/// threads at once). Shared objects: safe for the const members.
template <class T>
class Sender {
public:
    /// Another sender for the same channel; the channel stays open while any
    /// sender lives.
    Sender(const Sender& o) : chan_(o.chan_) {
        if (chan_) {
            chan_->add_sender();
        }
    }
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    Sender(Sender&&) noexcept = default;
    /// Copy or move assignment: drops the sender held, takes `o`'s channel.
    Sender& operator=(Sender o) noexcept {
        std::swap(chan_, o.chan_);
        return *this;
    }
    ~Sender() {
        if (chan_) {
            chan_->drop_sender();
        }
    }

    /// The future of `send(value)`: Output `SendResult<SendError<T>>`.
    class POLLUX_NODISCARD_FUTURE Send {
    public:
        /// What it completes with.
        using Output = SendResult<SendError<T>>;

        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            POLLUX_ASSERT(value_.has_value(), "mpsc send future polled after it returned Ready");
            Poll<bool> p = acq_.poll(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            if (p.value() && chan_->push(*value_)) {
                value_.reset();
                return Ready{Output()};
            }
            if (p.value()) {
                chan_->sem.release(1);
            }
            Output err(SendError<T>{std::move(*value_)});
            value_.reset();
            return Ready{std::move(err)};
        }

    private:
        friend class Sender;
        Send(detail::Chan<T>* chan, T value)
            : chan_(chan), value_(std::move(value)), acq_(chan->sem, 1) {}

        detail::Chan<T>* chan_;
        std::optional<T> value_;
        pollux::detail::BatchSemaphore::Acquire acq_;
    };

    /// Sends `value`, waiting for room while the channel is full. Waiting
    /// senders get room in the order they first polled (FIFO).
    ///
    /// @par Cancel safety
    /// Not cancel safe for the value: dropping the future before it is
    /// ready guarantees the value was *not* sent, but destroys it. Its place
    /// in the queue is lost; room that had just been granted to it passes to
    /// the next sender. No Asio cancellation applies.
    /// @par Thread safety
    /// Shared objects: safe (any number of senders may wait at once).
    /// @par Wakes / resumes on
    /// Woken by the thread that receives (freeing room) or closes; a task
    /// resumes on its own executor.
    /// @par Errors
    /// `SendError<T>` holding the value when the receiver is closed or gone,
    /// also for a sender that was waiting when it closed.
    /// @par Preconditions
    /// This Sender outlives the future; not polled after Ready.
    /// @par Example
    /// @code
    /// if (!co_await tx.send(std::move(msg))) { /* receiver gone */ }
    /// @endcode
    POLLUX_NODISCARD_FUTURE Send send(T value) {
        POLLUX_ASSERT(chan_ != nullptr, "mpsc::Sender used after it was moved from");
        return Send(chan_.get(), std::move(value));
    }

    /// Sends `value` now if there is room and no sender waits.
    /// @par Errors
    /// `TrySendError<T>` holding the value: `full`, or `closed` when the
    /// receiver is closed or gone.
    [[nodiscard]] SendResult<TrySendError<T>> try_send(T value) {
        using R = SendResult<TrySendError<T>>;
        POLLUX_ASSERT(chan_ != nullptr, "mpsc::Sender used after it was moved from");
        switch (chan_->sem.try_acquire(1)) {
        case pollux::detail::BatchSemaphore::TryAcquire::acquired:
            if (chan_->push(value)) {
                return R();
            }
            chan_->sem.release(1);
            [[fallthrough]];
        case pollux::detail::BatchSemaphore::TryAcquire::closed:
            return R(TrySendError<T>{TrySendErrorKind::closed, std::move(value)});
        case pollux::detail::BatchSemaphore::TryAcquire::no_permits:
            break;
        }
        return R(TrySendError<T>{TrySendErrorKind::full, std::move(value)});
    }

    /// True when the receiver was closed or dropped.
    [[nodiscard]] bool is_closed() const { return chan_->is_closed(); }
    /// Free slots now.
    [[nodiscard]] std::size_t capacity() const { return chan_->sem.available_permits(); }
    /// The capacity the channel was made with.
    [[nodiscard]] std::size_t max_capacity() const noexcept { return chan_->bound; }

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    explicit Sender(std::shared_ptr<detail::Chan<T>> chan) noexcept : chan_(std::move(chan)) {}

    std::shared_ptr<detail::Chan<T>> chan_;
};

/// The sending half of an unbounded channel: `send` never waits. Copying
/// makes another sender.
///
/// An unbounded channel buffers whatever its producers send; use it only
/// where something else bounds the producers (DESIGN.md 8, backpressure).
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe for `send` and the const
/// members.
template <class T>
class UnboundedSender {
public:
    /// Another sender for the same channel; the channel stays open while any
    /// sender lives.
    UnboundedSender(const UnboundedSender& o) : chan_(o.chan_) {
        if (chan_) {
            chan_->add_sender();
        }
    }
    /// Moves it; the moved-from object is left empty and releases nothing
    /// when destroyed.
    UnboundedSender(UnboundedSender&&) noexcept = default;
    /// Copy or move assignment: drops the sender held, takes `o`'s channel.
    UnboundedSender& operator=(UnboundedSender o) noexcept {
        std::swap(chan_, o.chan_);
        return *this;
    }
    ~UnboundedSender() {
        if (chan_) {
            chan_->drop_sender();
        }
    }

    /// Sends `value` at once (tokio's `UnboundedSender::send`).
    /// @par Errors
    /// `SendError<T>` holding the value when the receiver is closed or gone.
    SendResult<SendError<T>> send(T value) const {
        POLLUX_ASSERT(chan_ != nullptr, "mpsc::UnboundedSender used after it was moved from");
        if (chan_->push(value)) {
            return {};
        }
        return SendError<T>{std::move(value)};
    }

    /// True when the receiver was closed or dropped.
    [[nodiscard]] bool is_closed() const { return chan_->is_closed(); }

private:
    friend std::pair<UnboundedSender<T>, Receiver<T>> unbounded_channel<T>();
    explicit UnboundedSender(std::shared_ptr<detail::Chan<T>> chan) noexcept
        : chan_(std::move(chan)) {}

    std::shared_ptr<detail::Chan<T>> chan_;
};

/// The receiving half of a bounded or unbounded channel, and a
/// `Stream<Item = T>` that ends once every sender is gone (or the receiver
/// was closed) and the queue is drained. Move-only.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe (one consumer).
template <class T>
class Receiver {
public:
    /// The type of the items it yields.
    using Item = T;

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Receiver(Receiver&&) noexcept = default;
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Receiver& operator=(Receiver&& o) noexcept {
        if (this != &o) {
            drop();
            chan_ = std::move(o.chan_);
        }
        return *this;
    }
    ~Receiver() { drop(); }

    /// The next value, or nullopt at the end (every sender gone, or closed,
    /// and drained). Unlike most streams it may be polled again after the
    /// end, and keeps answering nullopt.
    Poll<std::optional<T>> poll_recv(Context& cx) {
        POLLUX_ASSERT(chan_ != nullptr, "mpsc::Receiver used after it was moved from");
        detail::Chan<T>& c = *chan_;
        std::unique_lock lock(c.m);
        const bool has_value = !c.queue.empty();
        if (has_value || c.tx_count == 0 || c.rx_closed) {
            if (!pollux::detail::has_budget(cx)) {
                lock.unlock();
                cx.waker().wake_by_ref();
                return Pending{};
            }
            (void)coop::poll_proceed(cx);
            if (!has_value) {
                return Ready{std::optional<T>()};
            }
            std::optional<T> v(c.queue.pop());
            lock.unlock();
            if (c.bound != 0) {
                c.sem.release(1);
            }
            return Ready{std::move(v)};
        }
        std::optional<Waker> old = pollux::detail::store_waker(c.rx_waker, cx);
        lock.unlock();
        return Pending{};
    }

    /// `Stream` interface: the same as `poll_recv`.
    Poll<std::optional<T>> poll_next(Context& cx) { return poll_recv(cx); }

    /// The future of `recv()`: Output `std::optional<T>`.
    class POLLUX_NODISCARD_FUTURE Recv {
    public:
        /// What it completes with.
        using Output = std::optional<T>;
        /// One step of the Future protocol: Ready with the output, or Pending with
        /// the waker of `cx` registered. Cancel safety and errors: see the class
        /// and the function that returns it.
        Poll<Output> poll(Context& cx) {
            POLLUX_ASSERT(rx_ != nullptr, "mpsc recv future polled after it returned Ready");
            Poll<Output> p = rx_->poll_recv(cx);
            if (p.is_ready()) {
                rx_ = nullptr;
            }
            return p;
        }

    private:
        friend class Receiver;
        explicit Recv(Receiver* rx) noexcept : rx_(rx) {}
        Receiver* rx_;
    };

    /// Receives the next value.
    ///
    /// @par Cancel safety
    /// Cancel safe: dropping the future before it is ready takes no value
    /// (it is fine in a `select` loop). No Asio cancellation applies.
    /// @par Thread safety
    /// One receiver; its futures are polled by one task at a time.
    /// @par Wakes / resumes on
    /// Woken by the thread that sends, drops the last sender, or closes; a
    /// task resumes on its own executor.
    /// @par Errors
    /// None: the end of the channel is `nullopt`.
    /// @par Preconditions
    /// The Receiver outlives the future; not polled after Ready.
    /// @par Example
    /// @code
    /// while (auto v = co_await rx.recv()) { use(*v); }
    /// @endcode
    POLLUX_NODISCARD_FUTURE Recv recv() noexcept { return Recv(this); }

    /// Takes a value if one is queued.
    /// @par Errors
    /// `TryRecvError::empty`: nothing queued but senders remain.
    /// `TryRecvError::closed`: nothing queued and every sender is gone, or
    /// the receiver was closed.
    [[nodiscard]] Result<T, TryRecvError> try_recv() {
        using R = Result<T, TryRecvError>;
        POLLUX_ASSERT(chan_ != nullptr, "mpsc::Receiver used after it was moved from");
        detail::Chan<T>& c = *chan_;
        std::unique_lock lock(c.m);
        if (c.queue.empty()) {
            return R(boost::system::in_place_error,
                     c.tx_count == 0 || c.rx_closed ? TryRecvError::closed : TryRecvError::empty);
        }
        R out(boost::system::in_place_value, c.queue.pop());
        lock.unlock();
        if (c.bound != 0) {
            c.sem.release(1);
        }
        return out;
    }

    /// Closes the channel for sending: later sends fail, and every sender
    /// waiting for room is woken with `closed`. Values already queued can
    /// still be received; after them `recv` yields nullopt.
    void close() {
        POLLUX_ASSERT(chan_ != nullptr, "mpsc::Receiver used after it was moved from");
        std::optional<Waker> w;
        {
            std::lock_guard lock(chan_->m);
            chan_->rx_closed = true;
            w = std::move(chan_->rx_waker);
            chan_->rx_waker.reset();
        }
        chan_->sem.close();
        if (w) {
            std::move(*w).wake();
        }
    }

    /// Values queued now.
    [[nodiscard]] std::size_t len() const {
        std::lock_guard lock(chan_->m);
        return chan_->queue.size();
    }
    /// True when no value is queued now.
    [[nodiscard]] bool is_empty() const { return len() == 0; }
    /// True when closed, or every sender is gone.
    [[nodiscard]] bool is_closed() const {
        std::lock_guard lock(chan_->m);
        return chan_->rx_closed || chan_->tx_count == 0;
    }
    /// How many values the queue's allocated memory can hold now (its
    /// footprint in slots). After a burst is drained this falls back to at
    /// most two blocks of `queue_block_size` values.
    [[nodiscard]] std::size_t allocated_capacity() const {
        std::lock_guard lock(chan_->m);
        return chan_->queue.allocated_capacity();
    }
    /// Values per block of the queue.
    static constexpr std::size_t queue_block_size = pollux::detail::BlockQueue<T>::block_size;

private:
    friend std::pair<Sender<T>, Receiver<T>> channel<T>(std::size_t);
    friend std::pair<UnboundedSender<T>, Receiver<T>> unbounded_channel<T>();
    explicit Receiver(std::shared_ptr<detail::Chan<T>> chan) noexcept : chan_(std::move(chan)) {}

    void drop() noexcept {
        if (!chan_) {
            return;
        }
        close();
        pollux::detail::BlockQueue<T> doomed;
        {
            std::lock_guard lock(chan_->m);
            // Destroy the values outside the lock: a value's destructor may
            // use the channel (a sender inside a message, say).
            while (!chan_->queue.empty()) {
                doomed.push(chan_->queue.pop());
            }
            chan_->queue.clear();
        }
        doomed.clear();
        chan_.reset();
    }

    std::shared_ptr<detail::Chan<T>> chan_;
};

/// A bounded channel holding at most `capacity` values.
/// @par Preconditions
/// `capacity > 0` (tokio panics on 0).
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
    POLLUX_ASSERT(capacity > 0, "mpsc::channel capacity must be positive");
    POLLUX_ASSERT(capacity <= pollux::detail::BatchSemaphore::max_permits,
                  "mpsc::channel capacity too large");
    auto chan = std::make_shared<detail::Chan<T>>(capacity);
    return {Sender<T>(chan), Receiver<T>(chan)};
}

/// An unbounded channel.
template <class T>
[[nodiscard]] std::pair<UnboundedSender<T>, Receiver<T>> unbounded_channel() {
    auto chan = std::make_shared<detail::Chan<T>>(0);
    return {UnboundedSender<T>(chan), Receiver<T>(chan)};
}

} // namespace pollux::sync::mpsc
