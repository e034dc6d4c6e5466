#pragma once

/// @file
/// `sync::WatchStream<T>`: a watch receiver as a `Stream` of its values
/// (tokio-stream's `wrappers::WatchStream`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/sync/watch.hpp>

#include <memory>
#include <optional>
#include <utility>

namespace pollux::sync {

/// A `Stream` of the values of a `watch::Receiver<T>`: `Item` is `T`, a
/// copy of the value when it is yielded. Made with the constructor, it
/// yields the current value at once, then each newer value; made with
/// `from_changes`, only the values that come after. Values that change
/// faster than the stream is polled are skipped: each item is the latest
/// at its poll (a watch channel keeps one value). The stream ends when the
/// sender is gone and its last value was yielded.
///
/// @par Cancel safety
/// Cancel safe: dropping a `next(stream)` future loses nothing; the
/// change not yet yielded is still there for the next poll.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be polled and
/// dropped on any thread; the sender on another thread wakes it.
/// @par Wakes / resumes on
/// The thread that sends, or drops the sender.
///
/// @par Example
/// @code
/// auto [tx, rx] = pollux::sync::watch::channel<int>(0);
/// pollux::sync::WatchStream<int> config(std::move(rx));
/// while (auto v = co_await pollux::next(config)) { apply(*v); }   // 0 first
/// @endcode
template <class T>
class [[nodiscard("streams do nothing unless polled")]] WatchStream {
public:
    /// A copy of the value.
    using Item = T;

    /// The current value of `rx` at once, then each newer one (tokio-stream's
    /// `WatchStream::new`).
    /// @par Errors
    /// Throws `std::bad_alloc`.
    explicit WatchStream(watch::Receiver<T> rx)
        : rx_(std::make_unique<watch::Receiver<T>>(std::move(rx))) {
    }

    /// Only the values sent after this call (tokio-stream's
    /// `WatchStream::from_changes`).
    [[nodiscard]] static WatchStream from_changes(watch::Receiver<T> rx) {
        rx.mark_unchanged();
        WatchStream s(std::move(rx));
        s.first_ = false;
        return s;
    }

    /// The next value; see the class.
    Poll<std::optional<Item>> poll_next(Context & cx) {
        using Out = std::optional<Item>;
        if (first_) {
            first_ = false;
            return Ready<Out>{Out(*rx_->borrow_and_update())};
        }
        if (done_) {
            return Ready<Out>{Out()};
        }
        // The receiver lives on the heap, so the changed() future's pointer
        // to it stays valid when the stream moves between polls.
        if (!changed_) {
            changed_.emplace(rx_->changed());
        }
        auto p = changed_->poll(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        changed_.reset();
        if (!p.value()) {
            done_ = true;
            return Ready<Out>{Out()};
        }
        return Ready<Out>{Out(*rx_->borrow_and_update())};
    }

    /// The receiver.
    [[nodiscard]] watch::Receiver<T>& get_mut() noexcept {
        return *rx_;
    }

private:
    std::unique_ptr<watch::Receiver<T>> rx_;
    std::optional<typename watch::Receiver<T>::Changed> changed_;
    bool first_ = true;
    bool done_ = false;
};

} // namespace pollux::sync
