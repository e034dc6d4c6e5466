#pragma once

/// @file
/// `uv::Idle`: a callback that runs once per loop iteration, before prepare, and keeps the loop
/// from blocking for I/O while active (libuv's `uv_idle_t`). Use it for low-priority work that
/// should run whenever the loop has nothing better to do.

#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/system/error_code.hpp>

#include <utility>

namespace pollux::uv {

/// A handle whose callback runs once per loop iteration, before prepare, and keeps the loop from
/// blocking for I/O while active (libuv's `uv_idle_t`). Use it for low-priority work that should
/// run whenever the loop has nothing better to do. The most recently started handle runs first,
/// as in libuv. Handles started during the phase run from the next iteration on.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Idle w(loop);
/// w.start([&] { if (++n == 10) w.close(); });
/// @endcode
class POLLUX_API Idle final : public detail::Watcher {
public:
    /// An inactive handle on `loop` (start it with `start`).
    explicit Idle(Loop& loop) : Watcher(loop, detail::WatcherKind::idle) {}
    ~Idle() { destroy_handle(); }

    /// Starts the handle (or replaces the callback of a started one).
    /// @par Errors
    /// `boost::asio::error::bad_descriptor` if the handle is closing; the
    /// callback is then never called.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code start(Callback cb) { return Watcher::start(std::move(cb)); }
    /// Stops the handle; its callback does not run again until restarted.
    void stop() noexcept { Watcher::stop(); }
};

} // namespace pollux::uv
