#pragma once

/// @file
/// `fs::watch(path)`: a `Stream` of the changes to a file or a directory
/// (inotify), the futures face of `uv::FsEvent`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_fd.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace pollux::fs {

/// What happened (libuv's mapping of inotify's events, as `uv::FsEvent`).
enum class EventKind {
    /// Contents or attributes changed (`IN_MODIFY`, `IN_ATTRIB`).
    change,
    /// An entry was created, deleted or moved in the watched directory, or
    /// the watched file or directory itself was deleted or moved.
    rename,
    /// The kernel's event queue overflowed and events were lost
    /// (`IN_Q_OVERFLOW`): look at the watched path again. `name` is empty.
    overflow,
};

/// One change reported by a `Watcher`.
struct Event {
    EventKind kind;
    /// The entry's name for a watched directory; the watched path's last
    /// component for a watched file.
    std::string name;
};

/// The stream `fs::watch` returns: `Result<Event>` items, in the order the
/// kernel queued them; owns one inotify descriptor (close-on-exec).
///
/// The stream ends (`nullopt`) after the kernel removed the watch because
/// the watched file or directory was deleted (or its file system unmounted)
/// and every event before that was delivered; the deletion itself comes
/// first, as a `rename` event. A failed read of the descriptor is yielded
/// once as an error item, then the stream ends.
///
/// Dropping closes the descriptor on the dropping thread; dropped after its
/// runtime (or io_context) shut down it touches nothing of the dead context
/// (`io::AsyncFd`'s rule).
///
/// @par Cancel safety
/// `poll_next` (and so `next(watcher)`) is cancel safe: events read from
/// the kernel are buffered in the `Watcher`, so a `next` future dropped
/// before it is ready loses none; the next one gets them.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on the executor
/// it was made on.
/// @par Wakes / resumes on
/// The executor the watcher was made on.
/// @par Example
/// @code
/// auto w = pollux::fs::watch("/tmp").value();
/// while (auto ev = co_await pollux::next(w)) {
///     if (!*ev) break; // an error
///     std::printf("%s\n", (*ev)->name.c_str());
/// }
/// @endcode
class POLLUX_NODISCARD_FUTURE Watcher {
public:
    /// The item type (the `Stream` concept).
    using Item = Result<Event>;

    /// Made by `fs::watch`.
    POLLUX_API Watcher(io::AsyncFd fd, std::string base) noexcept;
    Watcher(Watcher&&) noexcept = default;
    Watcher& operator=(Watcher&&) noexcept = default;
    ~Watcher() = default;

    /// The next event: Ready(event), Ready(error) once, Ready(nullopt) at
    /// the end (see the class), or Pending with `cx`'s waker registered for
    /// the descriptor's readiness. Polling again after the end keeps
    /// returning Ready(nullopt).
    /// @par Cancel safety
    /// Cancel safe (see the class).
    POLLUX_API Poll<std::optional<Item>> poll_next(Context& cx);

private:
    // Reads every queued event into `queue_`; false on a read error (kept
    // in `error_`).
    bool drain();

    io::AsyncFd fd_;
    std::string base_; // the watched path's last component
    std::deque<Event> queue_;
    boost::system::error_code error_; // a read error not yielded yet
    bool ignored_ = false;            // the kernel removed the watch
    bool ended_ = false;
};

/// Watches `path`, a file or a directory (one level: entries of
/// subdirectories are not watched), on the current task's event loop.
///
/// @par Errors
/// As values: `no_such_file_or_directory` for a missing or empty path,
/// `permission_denied`, `not_a_directory` for a path through a file,
/// `invalid_argument` for a path with a NUL byte, and `too_many_files_open`
/// or `no_space_on_device` (ENOSPC) at the system's inotify limits
/// (`fs.inotify.max_user_instances`, `max_user_watches`); their messages
/// name the path (pollux/fs/error.hpp). Errors of the stream (a failed
/// read of the inotify descriptor) do not. Throws `std::logic_error`
/// outside a pollux task (as `io::AsyncFd::create`).
/// @par Cancel safety
/// Not a future: it watches at once, so events after the call are seen.
[[nodiscard]] POLLUX_API Result<Watcher> watch(std::string_view path);
/// As above, on `ex`; callable anywhere.
[[nodiscard]] POLLUX_API Result<Watcher> watch(std::string_view path,
                                               const boost::asio::any_io_executor& ex);

} // namespace pollux::fs
