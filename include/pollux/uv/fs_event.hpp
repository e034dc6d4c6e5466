#pragma once

/// @file
/// `uv::FsEvent`: libuv's `uv_fs_event_t` — a callback when a file, or an
/// entry of a directory, changes or is renamed (inotify on Linux).

#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pollux::uv {

namespace detail {
class Inotify;
}

/// Watches a file or a directory (`uv_fs_event_t`). Active while started.
///
/// As libuv on Linux, every `FsEvent` of a loop shares one inotify
/// descriptor (close-on-exec, non-blocking), opened by the first `start`
/// and closed when the last handle stops; handles watching the same file
/// share its inotify watch. The descriptor is watched for readiness by the
/// loop's reactor, so events arrive in the poll phase.
///
/// Events, as libuv maps inotify's: `change` for a modification or an
/// attribute change (`IN_MODIFY`, `IN_ATTRIB`); `rename` for anything else
/// (an entry created, deleted or moved in a watched directory, the watched
/// file itself deleted or moved, and the watch's removal by the kernel that
/// follows). The file name is the entry's name for a directory, and the
/// watched path's last component for a file. Events the kernel dropped
/// because its queue overflowed are lost silently, as in libuv.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::FsEvent ev(loop);
/// ev.start("/tmp", 0, [](uv::FsEvent&, std::string_view name, int events,
///                        boost::system::error_code ec) {
///     if (!ec && (events & uv::FsEvent::change)) { /* reread name */ }
/// });
/// @endcode
class POLLUX_API FsEvent final : public Handle {
public:
    /// libuv's `uv_fs_event` values (`UV_RENAME`, `UV_CHANGE`).
    enum Event : int {
        rename = 1,
        change = 2,
    };
    /// libuv's `uv_fs_event_flags`. Linux knows none of them: `watch_entry`
    /// and `stat` are accepted and ignored, as libuv does; `recursive` is
    /// refused (see `start`).
    enum Flags : unsigned {
        watch_entry = 1,
        stat = 2,
        recursive = 4,
    };
    /// `cb(handle, filename, events, ec)`: `events` is a mask of `Event`.
    /// `ec` is set only when the shared descriptor failed (its readiness
    /// wait or a read reported an error other than would-block); the handle
    /// is then stopped, `filename` is empty and `events` is 0. The view is
    /// valid only during the call.
    using Callback = std::function<void(
        FsEvent& handle, std::string_view filename, int events, boost::system::error_code ec)>;

    /// An inactive handle on `loop` (`uv_fs_event_init`).
    explicit FsEvent(Loop& loop);
    /// Closes the handle silently.
    ~FsEvent();

    /// Starts watching `path` (`uv_fs_event_start`). The first callback
    /// runs on a later loop turn, never inside `start`.
    ///
    /// @par Cancel safety
    /// After `stop()` or `close()` no callback runs, even for events the
    /// kernel had already queued.
    /// @par Errors
    /// `invalid_argument` if already started (libuv's `UV_EINVAL`);
    /// `bad_descriptor` if closing; `not_supported` for the `recursive`
    /// flag (libuv 1.44 ignores it on Linux and watches one level; pollux
    /// says so instead); the error of `inotify_init1` or
    /// `inotify_add_watch` otherwise: `no_such_file_or_directory` for a
    /// missing or empty path, `too_many_files_open` / `ENOSPC` at the
    /// system's inotify limits. The callback is then never called and the
    /// handle stays inactive.
    /// @par Preconditions
    /// `cb` is not empty (asserts).
    boost::system::error_code start(std::string_view path, unsigned flags, Callback cb);
    /// Stops watching (`uv_fs_event_stop`); no callback runs until the next
    /// `start`. Does nothing if not started.
    void stop() noexcept;
    /// The path given to `start` while started (`uv_fs_event_getpath`);
    /// empty when not started.
    [[nodiscard]] std::string_view path() const noexcept {
        return started_ ? std::string_view(path_) : std::string_view();
    }

private:
    friend class detail::Inotify;
    void on_close() noexcept override { stop(); }

    Callback cb_;
    std::string path_;
    std::shared_ptr<detail::Inotify> inotify_; // while started
    std::uint64_t start_id_ = 0;               // unique per start, see lib/uv/fs_event.cpp
    int wd_ = -1;
    bool started_ = false;
};

} // namespace pollux::uv
