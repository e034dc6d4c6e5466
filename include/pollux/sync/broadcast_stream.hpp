#pragma once

/// @file
/// `sync::BroadcastStream<T>`: a broadcast receiver as a `Stream`
/// (tokio-stream's `wrappers::BroadcastStream`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/sync/broadcast.hpp>

#include <memory>
#include <optional>
#include <utility>

namespace pollux::sync {

/// A `Stream` of the values a `broadcast::Receiver<T>` receives: `Item` is
/// `Result<T, broadcast::RecvError>`. A receiver that fell behind gets one
/// `RecvError::lagged` item with the count of values it missed, then goes
/// on from the oldest value the channel still holds (tokio-stream's
/// `BroadcastStreamRecvError::Lagged`). The stream ends when every sender
/// is gone and everything held was read.
///
/// @par Cancel safety
/// Cancel safe: a value is taken only by the poll that returns it, so
/// dropping a `next(stream)` future (or the stream) loses none. The wait in
/// progress is kept in the stream between polls.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be polled and
/// dropped on any thread; senders on other threads wake it.
/// @par Wakes / resumes on
/// The thread that sends, or drops the last sender.
/// @par Errors
/// As items: `RecvError::lagged` only (the stream goes on after it).
///
/// @par Example
/// @code
/// auto [tx, rx] = pollux::sync::broadcast::channel<int>(16);
/// pollux::sync::BroadcastStream<int> values(std::move(rx));
/// while (auto v = co_await pollux::next(values)) {
///     if (*v) { use(**v); }   // else: lagged, keep going
/// }
/// @endcode
template <class T>
class [[nodiscard("streams do nothing unless polled")]] BroadcastStream {
public:
    /// A value, or how many values were missed.
    using Item = Result<T, broadcast::RecvError>;

    /// The values `rx` receives from now on.
    /// @par Errors
    /// Throws `std::bad_alloc`.
    explicit BroadcastStream(broadcast::Receiver<T> rx)
        : rx_(std::make_unique<broadcast::Receiver<T>>(std::move(rx))) {
    }

    /// The next value; see the class.
    Poll<std::optional<Item>> poll_next(Context & cx) {
        using Out = std::optional<Item>;
        if (done_) {
            return Ready<Out>{Out()};
        }
        // The receiver lives on the heap, so the recv future's pointer to it
        // stays valid when the stream moves between polls.
        if (!recv_) {
            recv_.emplace(rx_->recv());
        }
        auto p = recv_->poll(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        recv_.reset();
        if (p.value()) {
            return Ready<Out>{
                Out(Item(boost::system::in_place_value, std::move(p.value().value())))};
        }
        if (p.value().error().is_closed()) {
            done_ = true;
            return Ready<Out>{Out()};
        }
        return Ready<Out>{Out(Item(boost::system::in_place_error, p.value().error()))};
    }

    /// The receiver. Receiving from it directly while a wait is held here
    /// is fine: each value goes to whichever takes it first.
    [[nodiscard]] broadcast::Receiver<T>& get_mut() noexcept {
        return *rx_;
    }

private:
    std::unique_ptr<broadcast::Receiver<T>> rx_;
    std::optional<typename broadcast::Receiver<T>::Recv> recv_;
    bool done_ = false;
};

} // namespace pollux::sync
