#pragma once

/// @file
/// `uv::FsPoll`: libuv's `uv_fs_poll_t` — a callback when a path's status
/// changes, found by calling stat(2) on it at an interval.

#include <pollux/uv/fs_stat.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/request.hpp>
#include <pollux/uv/timer.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pollux::uv {

/// Polls a path's status (`uv_fs_poll_t`); works where inotify does not
/// (network file systems) at the cost of a stat(2) per interval on the
/// loop's worker pool. Active while started.
///
/// libuv's rules: the first stat only records the status (no callback),
/// unless it fails; after that the callback runs when the status changed
/// (its inode, device, size, mode, owner, or its modification, change or
/// birth time), with the previous and the current status. A failed stat
/// calls back with the error, the last good status as `prev` and a zero
/// `Stat` as `curr`, once per distinct error (a missing file is reported
/// once, not at every poll); the next good stat calls back again. Stats are
/// started `interval` apart, counted from the start of the previous one.
///
/// The interval timer is a `uv::Timer` of the handle's own, unreferenced
/// (it never keeps the loop alive), closed with the handle and, as libuv's
/// internal timer, not visited by `uv::walk`; `Loop::handle_count()` counts
/// it while the handle is open.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::FsPoll p(loop);
/// p.start("config.toml", 1000ms, [](uv::FsPoll&, boost::system::error_code ec,
///                                   const uv::Stat&, const uv::Stat& curr) {
///     if (!ec) { /* reload: curr.size bytes */ }
/// });
/// @endcode
class POLLUX_API FsPoll final : public Handle {
public:
    /// `cb(handle, ec, prev, curr)`, as described above.
    using Callback = std::function<void(
        FsPoll& handle, boost::system::error_code ec, const Stat& prev, const Stat& curr)>;
    /// libuv's interval unit.
    using Duration = std::chrono::milliseconds;

    /// An inactive handle on `loop` (`uv_fs_poll_init`).
    explicit FsPoll(Loop& loop);
    /// Closes the handle silently; a stat still running on the pool
    /// finishes there and is ignored. Until it has, it counts as a request
    /// of the loop (`Loop::active_requests()`), as libuv's: run the loop
    /// once more before closing or destroying it.
    ~FsPoll();

    /// Starts polling `path` every `interval` (0 means 1 ms, as libuv); the
    /// first stat is queued at once. Starting a started handle does nothing
    /// and succeeds (libuv). No callback runs inside `start`.
    ///
    /// @par Cancel safety
    /// After `stop()` or `close()` the callback does not run, even for a
    /// stat in flight; a queued stat is cancelled by `close()`.
    /// @par Errors
    /// `bad_descriptor` if closing; `invalid_argument` for a path with a NUL
    /// byte. A missing or unreadable path is not an error here: the
    /// callback reports it.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code start(std::string_view path, Duration interval, Callback cb);
    /// Stops polling (`uv_fs_poll_stop`); no callback runs until the next
    /// `start`. A stat already running completes on the pool and is
    /// ignored (it keeps the loop alive until then, as libuv's request).
    void stop() noexcept;
    /// The path given to `start` while started (`uv_fs_poll_getpath`);
    /// empty when not started.
    [[nodiscard]] std::string_view getpath() const noexcept {
        return started_ ? std::string_view(path_) : std::string_view();
    }

private:
    struct Job;

    void on_close() noexcept override;
    void poll_now();
    void on_stat(const std::shared_ptr<Job>& job, boost::system::error_code ec);

    Timer timer_;
    Callback cb_;
    std::string path_;
    Request req_;              // the stat in flight, if any
    std::shared_ptr<Job> job_; // its result block; null when none
    Stat stat_;                // the last good status, or zeros
    Loop::Clock::time_point poll_start_{};
    Duration interval_{1};
    // libuv's busy_polling: 0 before the first stat of a start, 1 after a
    // good one, the error's value after a failed one.
    int last_ = 0;
    bool started_ = false;
};

} // namespace pollux::uv
