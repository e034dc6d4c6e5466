#pragma once

/// @file
/// `uv::Signal`: libuv's `uv_signal_t` — a callback on the loop each time the
/// process receives a signal.

#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/asio/signal_set.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <functional>

namespace pollux::uv {

/// Watches one signal number (`uv_signal_t`). While started it installs a
/// process-wide handler for that signal (through Asio's `signal_set`);
/// stopping the last watcher of a signal restores the default disposition.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Signal sigint(loop);
/// sigint.start([&](int) { server.close(); sigint.close(); }, SIGINT);
/// @endcode
class POLLUX_API Signal final : public Handle {
public:
    /// Runs on the loop with the signal number, once per delivery.
    using Callback = std::function<void(int signum)>;

    /// An inactive handle on `loop` (start it with `start`).
    explicit Signal(Loop& loop);
    ~Signal();

    /// Starts watching `signum` (a started handle switches to the new
    /// signal); `cb(signum)` runs on the loop for each delivery. Deliveries
    /// that arrive together may be reported once.
    ///
    /// @par Cancel safety
    /// After `stop()` or `close()` the callback does not run again.
    /// @par Errors
    /// `bad_descriptor` if the handle is closing; Asio's error if the signal
    /// cannot be watched (for instance `errc::invalid_argument`). The
    /// callback is then never called.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code start(Callback cb, int signum);
    /// As `start`, but the handle stops itself (and so becomes inactive,
    /// and the watch ends) just before the callback's one call
    /// (`uv_signal_start_oneshot`). Where libuv resets the disposition in
    /// the kernel (`SA_RESETHAND`), pollux restores the default disposition
    /// when the handle stops, if it was the signal's last watcher; a signal
    /// arriving between the delivery and that moment is not seen by it.
    /// Starting a started handle switches it to the new mode.
    ///
    /// @par Cancel safety
    /// After `stop()` or `close()` the callback does not run.
    /// @par Errors
    /// As `start`.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code start_oneshot(Callback cb, int signum);
    /// Stops watching; no callback runs afterwards.
    void stop() noexcept;
    /// The watched signal, or 0.
    [[nodiscard]] int signum() const noexcept { return signum_; }

private:
    void on_close() noexcept override { stop(); }
    void arm();
    boost::system::error_code start(Callback cb, int signum, bool oneshot);

    boost::asio::signal_set set_;
    Callback cb_;
    int signum_ = 0;
    bool oneshot_ = false;
    std::uint64_t generation_ = 0; // bumped by stop(): old waits are ignored
};

} // namespace pollux::uv
