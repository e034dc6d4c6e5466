#pragma once

/// @file
/// `uv::Mailbox<T>`: a cross-thread queue whose `send(value)` delivers every
/// value exactly once, in order per sender, to a callback on the loop.

#include <pollux/detail/config.hpp>
#include <pollux/uv/async_handle.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace pollux::uv {

/// A multi-producer queue into the loop: any thread `send`s values; the
/// loop calls the callback once per value, in the order the sends took
/// effect (so in order per sender). Like `AsyncHandle` it is active from
/// construction until closed.
///
/// Every value whose `send` returned true is delivered exactly once: values
/// still queued when `close()` is called are delivered before the close
/// callback. If the mailbox is *destroyed* instead, queued values are
/// destroyed undelivered.
///
/// @par Thread safety
/// `send()` is safe from any thread, concurrently. Everything else: loop
/// thread only. Do not destroy the mailbox while other threads may still
/// call `send()`.
/// @par Example
/// @code
/// uv::Mailbox<std::string> inbox(loop, [&](std::string line) { handle(line); });
/// std::thread t([&] { inbox.send("hello"); });
/// @endcode
template <class T>
class Mailbox final : public detail::AsyncCore {
public:
    /// What runs on the loop for each value sent, in order.
    using Callback = std::function<void(T)>;

    /// @par Preconditions
    /// `cb` is not empty (asserts).
    Mailbox(Loop& loop, Callback cb) : AsyncCore(loop), cb_(std::move(cb)) {
        POLLUX_ASSERT(static_cast<bool>(cb_), "Mailbox needs a callback");
    }
    ~Mailbox() { destroy_handle(); }

    /// Queues `value` for the loop and wakes it. Returns false (and destroys
    /// `value`) once the mailbox is closing.
    ///
    /// @par Thread safety
    /// Safe from any thread.
    /// @par Wakes / resumes on
    /// The callback runs on the loop's thread, in its poll phase.
    bool send(T value) {
        {
            std::lock_guard lock(mutex_);
            if (closed_) {
                return false;
            }
            queue_.push_back(std::move(value));
        }
        // A notify that finds the handle closing posts nothing; the value is
        // then delivered by on_closed().
        (void)notify();
        return true;
    }

private:
    void on_async() override { (void)drain(); }

    void on_close() noexcept override {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        AsyncCore::on_close();
    }

    // Closing phase: values that were accepted before close() still arrive.
    void on_closed() override { (void)drain(); }

    // Delivers everything queued now. Returns false if a callback destroyed
    // the mailbox (the rest of the batch is then destroyed undelivered).
    bool drain() {
        std::vector<T> batch;
        {
            std::lock_guard lock(mutex_);
            batch.swap(queue_);
        }
        for (T& v : batch) {
            if (!invoke(cb_, std::move(v))) {
                return false;
            }
        }
        return true;
    }

    Callback cb_;
    std::mutex mutex_;
    std::vector<T> queue_; // under mutex_
    bool closed_ = false;  // under mutex_
};

} // namespace pollux::uv
