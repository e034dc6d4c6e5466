#pragma once

/// @file
/// `uv::Check`: a callback that runs once per loop iteration, right after the loop polled for I/O
/// (libuv's `uv_check_t`).

#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/system/error_code.hpp>

#include <utility>

namespace pollux::uv {

/// A handle whose callback runs once per loop iteration, right after the loop polled for I/O
/// (libuv's `uv_check_t`). The most recently started handle runs first, as in libuv. Handles
/// started during the phase run from the next iteration on.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Check w(loop);
/// w.start([&] { if (++n == 10) w.close(); });
/// @endcode
class POLLUX_API Check final : public detail::Watcher {
public:
    /// An inactive handle on `loop` (start it with `start`).
    explicit Check(Loop& loop) : Watcher(loop, detail::WatcherKind::check) {}
    ~Check() { destroy_handle(); }

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
