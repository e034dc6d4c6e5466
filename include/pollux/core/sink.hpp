#pragma once

/// @file
/// The `Sink` concept (futures-rs's `Sink<Item>`) and the futures `send`,
/// `feed`, `flush` and `close` (futures-rs's `SinkExt`). No Asio here: the
/// errors are `pollux::Result` (Boost.System).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>

#include <concepts>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux {

/// A type that takes values of type `Item` asynchronously, in futures-rs's
/// four steps:
/// - `Poll<Result<void>> poll_ready(Context&)`: Ready(ok) when the sink can
///   take one item now (Pending registers the waker, as `Future::poll`
///   does); Ready(error) when it never will.
/// - `Result<void> start_send(Item)`: hands one item over. Only after a
///   `poll_ready` that returned Ready(ok), once per such `poll_ready`. The
///   item may only be buffered: it is not necessarily sent yet.
/// - `Poll<Result<void>> poll_flush(Context&)`: Ready(ok) once every item
///   handed over so far has left the sink's buffers.
/// - `Poll<Result<void>> poll_close(Context&)`: flush, then close; no
///   `start_send` after it.
/// An error from any step means the sink is unusable, as in futures-rs,
/// unless the sink documents otherwise.
template <class S, class Item>
concept Sink = requires(S& s, Context& cx, Item&& item) {
    { s.poll_ready(cx) } -> std::same_as<Poll<Result<void>>>;
    { s.start_send(std::forward<Item>(item)) } -> std::same_as<Result<void>>;
    { s.poll_flush(cx) } -> std::same_as<Poll<Result<void>>>;
    { s.poll_close(cx) } -> std::same_as<Poll<Result<void>>>;
};

/// The future returned by `feed(sink, item)`: waits for `poll_ready`, then
/// hands the item over with `start_send`, without flushing (futures-rs's
/// `Feed`). Output: `Result<void>`.
///
/// @par Cancel safety
/// If dropped before Ready, the item was not handed over: it is destroyed
/// with the future, and the sink is as before. `take_item()` gets it back
/// first. Once Ready(ok), the sink owns the item.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the sink arranges.
/// @par Errors
/// The error of `poll_ready` (the item is then still in the future) or of
/// `start_send`.
/// @par Preconditions
/// The sink outlives the future. Not polled after Ready, nor after
/// `take_item()` (asserts).
template <class S, class Item>
requires Sink<S, Item>
class POLLUX_NODISCARD_FUTURE Feed {
public:
    /// What it completes with.
    using Output = Result<void>;

    /// Holds `item` for `sink`; starts nothing. Use `feed` rather than this.
    Feed(S& sink, Item item) : sink_(&sink), item_(std::in_place, std::move(item)) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(item_.has_value() && !done_, "pollux::feed polled after it returned Ready");
        Poll<Result<void>> p = sink_->poll_ready(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        if (!p.value()) {
            // The item stays here: the caller can still take it back.
            done_ = true;
            return Ready<Output>{std::move(p).value()};
        }
        Item item = std::move(*item_);
        item_.reset();
        done_ = true;
        return Ready<Output>{sink_->start_send(std::move(item))};
    }

    /// The item, while it has not been handed over (nullopt after).
    [[nodiscard]] std::optional<Item> take_item() {
        std::optional<Item> out = std::move(item_);
        item_.reset();
        return out;
    }

private:
    S* sink_;
    std::optional<Item> item_;
    bool done_ = false;
};

/// The future returned by `flush(sink)` (futures-rs's `Flush`): Ready when
/// `poll_flush` is. Output: `Result<void>`.
///
/// @par Cancel safety
/// Cancel safe: dropping it loses no item; the items stay buffered in the
/// sink and a later flush (or send, or close) writes them.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the sink arranges.
/// @par Errors
/// The sink's `poll_flush` errors.
/// @par Preconditions
/// The sink outlives the future. Not polled after Ready (asserts).
template <class S>
class POLLUX_NODISCARD_FUTURE Flush {
public:
    /// What it completes with.
    using Output = Result<void>;

    /// A flush of `sink`; starts nothing. Use `flush` rather than this.
    explicit Flush(S& sink) noexcept : sink_(&sink) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(sink_ != nullptr, "pollux::flush polled after it returned Ready");
        Poll<Result<void>> p = sink_->poll_flush(cx);
        if (p.is_ready()) {
            sink_ = nullptr;
        }
        return p;
    }

private:
    S* sink_;
};

/// The future returned by `close(sink)` (futures-rs's `Close`): Ready when
/// `poll_close` is. Output: `Result<void>`.
///
/// @par Cancel safety
/// Dropping it loses no item, but the sink may be half closed (flushed, or
/// its closing started, e.g. a FIN sent); call `close` again to finish.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the sink arranges.
/// @par Errors
/// The sink's `poll_close` errors.
/// @par Preconditions
/// The sink outlives the future. Not polled after Ready (asserts).
template <class S>
class POLLUX_NODISCARD_FUTURE Close {
public:
    /// What it completes with.
    using Output = Result<void>;

    /// A close of `sink`; starts nothing. Use `close` rather than this.
    explicit Close(S& sink) noexcept : sink_(&sink) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(sink_ != nullptr, "pollux::close polled after it returned Ready");
        Poll<Result<void>> p = sink_->poll_close(cx);
        if (p.is_ready()) {
            sink_ = nullptr;
        }
        return p;
    }

private:
    S* sink_;
};

/// The future returned by `send(sink, item)` (futures-rs's `Send`): `feed`,
/// then `flush`. Output: `Result<void>`.
///
/// @par Cancel safety
/// Not cancel safe once the item was handed over. Exactly: the future first
/// waits for `poll_ready` and then calls `start_send` in the same poll that
/// saw Ready(ok); from that call on, the sink owns the item.
/// - Dropped before that point: the item was not handed over; it is
///   destroyed with the future (`take_item()` gets it back first), and
///   nothing was sent.
/// - Dropped after that point, while flushing: the item is in the sink's
///   buffer (or already written, in part or whole); it is neither lost nor
///   duplicated by the drop, and the next flush, send or close of the sink
///   writes the rest. Sending the item again would duplicate it.
/// `handed_over()` tells the two apart while the future lives.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the sink arranges.
/// @par Errors
/// The errors of `poll_ready`, `start_send` and `poll_flush`.
/// @par Preconditions
/// The sink outlives the future. Not polled after Ready (asserts).
template <class S, class Item>
requires Sink<S, Item>
class POLLUX_NODISCARD_FUTURE Send {
public:
    /// What it completes with.
    using Output = Result<void>;

    /// Holds `item` for `sink`; starts nothing. Use `send` rather than this.
    Send(S& sink, Item item) : sink_(&sink), item_(std::in_place, std::move(item)) {}

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "pollux::send polled after it returned Ready");
        if (item_.has_value()) {
            Poll<Result<void>> p = sink_->poll_ready(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value()) {
                done_ = true;
                return Ready<Output>{std::move(p).value()};
            }
            Item item = std::move(*item_);
            item_.reset();
            handed_over_ = true;
            Result<void> r = sink_->start_send(std::move(item));
            if (!r) {
                done_ = true;
                return Ready<Output>{std::move(r)};
            }
        }
        Poll<Result<void>> f = sink_->poll_flush(cx);
        if (f.is_ready()) {
            done_ = true;
        }
        return f;
    }

    /// True once the item was handed to the sink (`start_send` called).
    [[nodiscard]] bool handed_over() const noexcept { return handed_over_; }

    /// The item, while it has not been handed over (nullopt after). A
    /// `Send` whose item was taken flushes only.
    [[nodiscard]] std::optional<Item> take_item() {
        std::optional<Item> out = std::move(item_);
        item_.reset();
        return out;
    }

private:
    S* sink_;
    std::optional<Item> item_;
    bool handed_over_ = false;
    bool done_ = false;
};

/// Hands `item` to `sink` without flushing (futures-rs's `SinkExt::feed`):
/// cheaper than `send` for many items followed by one `flush`. See `Feed`.
///
/// @par Example
/// @code
/// for (auto& line : lines) { if (auto r = co_await pollux::feed(sink, line); !r) co_return r; }
/// co_await pollux::flush(sink);
/// @endcode
template <class S, class Item>
requires Sink<S, std::decay_t<Item>> POLLUX_NODISCARD_FUTURE Feed<S, std::decay_t<Item>>
feed(S& sink, Item&& item) {
    return Feed<S, std::decay_t<Item>>(sink, std::forward<Item>(item));
}

/// Hands `item` to `sink` and flushes it (futures-rs's `SinkExt::send`).
/// See `Send` for exactly what a drop loses.
///
/// @par Example
/// @code
/// pollux::Result<void> r = co_await pollux::send(framed, std::string("hello"));
/// @endcode
template <class S, class Item>
requires Sink<S, std::decay_t<Item>> POLLUX_NODISCARD_FUTURE Send<S, std::decay_t<Item>>
send(S& sink, Item&& item) {
    return Send<S, std::decay_t<Item>>(sink, std::forward<Item>(item));
}

/// Flushes `sink` (futures-rs's `SinkExt::flush`). See `Flush`.
template <class S>
requires requires(S& s, Context& cx) {
    { s.poll_flush(cx) } -> std::same_as<Poll<Result<void>>>;
}
POLLUX_NODISCARD_FUTURE Flush<S> flush(S& sink) noexcept {
    return Flush<S>(sink);
}

/// Flushes and closes `sink` (futures-rs's `SinkExt::close`). See `Close`.
template <class S>
requires requires(S& s, Context& cx) {
    { s.poll_close(cx) } -> std::same_as<Poll<Result<void>>>;
}
POLLUX_NODISCARD_FUTURE Close<S> close(S& sink) noexcept {
    return Close<S>(sink);
}

} // namespace pollux
