#pragma once

/// @file
/// `uv::AsyncHandle`: libuv's `uv_async_t` — wakes the loop from any thread;
/// sends that arrive before the callback runs coalesce into one call.

#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <functional>
#include <memory>

namespace pollux::uv {

namespace detail {

struct AsyncState;

// The cross-thread wake-up shared by AsyncHandle and Mailbox: notify() from
// any thread posts one call of on_async() to the loop unless one is already
// posted and has not started yet.
class POLLUX_API AsyncCore : public Handle {
protected:
    explicit AsyncCore(Loop& loop);
    ~AsyncCore();

    // Thread-safe. Returns false if the handle is closing (nothing posted).
    bool notify() noexcept;
    // Loop thread, never after close(): the coalesced notification.
    virtual void on_async() = 0;
    void on_close() noexcept override;

private:
    friend struct AsyncState;
    std::shared_ptr<AsyncState> state_;
};

} // namespace detail

/// Wakes its loop from any thread (`uv_async_t`). It is active from
/// construction until closed, so it keeps the loop alive unless `unref()`ed.
///
/// Coalescing: any number of `send()` calls made before the callback starts
/// run it once; a `send()` made while the callback runs (or later) runs it
/// again. So the last send is never lost, and the callback always sees what
/// a sender wrote before its `send()`.
///
/// @par Thread safety
/// `send()` is safe from any thread, concurrently. Everything else: loop
/// thread only. Do not destroy the handle while other threads may still
/// call `send()`.
/// @par Example
/// @code
/// uv::AsyncHandle wake(loop, [&] { drain_work(); });
/// std::thread t([&] { produce(); wake.send(); });
/// @endcode
class POLLUX_API AsyncHandle final : public detail::AsyncCore {
public:
    /// What runs on the loop after one or more `send()` calls.
    using Callback = std::function<void()>;

    /// @par Preconditions
    /// `cb` is not empty (asserts).
    AsyncHandle(Loop& loop, Callback cb);
    ~AsyncHandle();

    /// Schedules the callback on the loop (coalescing, see above). Sends
    /// after `close()` are ignored.
    ///
    /// @par Thread safety
    /// Safe from any thread.
    /// @par Wakes / resumes on
    /// The callback runs on the loop's thread, in its poll phase.
    void send() noexcept { (void)notify(); }

private:
    void on_async() override;

    Callback cb_;
};

} // namespace pollux::uv
