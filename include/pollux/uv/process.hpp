#pragma once

/// @file
/// `uv::Process`: libuv's `uv_process_t` — a child process started with
/// `spawn` (`uv_spawn`), an exit callback with its exit status and
/// terminating signal, `kill` (`uv_process_kill`); and `uv::kill`
/// (`uv_kill`).

#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace pollux::detail::process {
class ChildProcess;
} // namespace pollux::detail::process

namespace pollux::uv {

class Stream;

/// What the child gets as one descriptor (libuv's `uv_stdio_container_t`):
/// `ProcessOptions::stdio[i]` becomes descriptor `i` of the child.
///
/// @code
/// uv::Pipe out(loop);
/// o.stdio = {{},                                               // stdin: /dev/null
///            {uv::StdioContainer::create_pipe | uv::StdioContainer::writable_pipe, -1, &out},
///            {uv::StdioContainer::inherit_fd, 2}};              // our stderr
/// @endcode
struct StdioContainer {
    /// libuv's `uv_stdio_flags`, with its values: one kind (`ignore`,
    /// `create_pipe`, `inherit_fd`, `inherit_stream`), and with
    /// `create_pipe` the direction.
    enum Flags : unsigned {
        /// Descriptors 0, 1 and 2 are opened on `/dev/null` in the child
        /// (libuv does the same); a higher one is left closed.
        ignore = 0x00,
        /// A new UNIX-domain socket pair: the child gets one end, `stream`
        /// (a `uv::Pipe` without a descriptor) the other, opened once the
        /// child runs, ready for `read_start` and `write`.
        create_pipe = 0x01,
        /// The child gets `fd`, the caller's descriptor (which stays open and
        /// the caller's).
        inherit_fd = 0x02,
        /// The child gets the descriptor of `stream` (a `uv::Pipe` or
        /// `uv::Tcp` that has one), which stays the stream's.
        inherit_stream = 0x04,
        /// With `create_pipe`: the child reads from it. The socket pair is
        /// duplex either way (as libuv's), so the `Pipe` is readable and
        /// writable whatever the direction.
        readable_pipe = 0x10,
        /// With `create_pipe`: the child writes to it.
        writable_pipe = 0x20,
        /// libuv's `UV_NONBLOCK_PIPE`: accepted and, as by libuv 1.44 on
        /// Unix, without effect (the child's end is blocking).
        nonblock_pipe = 0x40,
    };

    /// A combination of `Flags`.
    unsigned flags = ignore;
    /// The descriptor of `inherit_fd`.
    int fd = -1;
    /// The stream of `create_pipe` and `inherit_stream`; it must outlive the
    /// `spawn` call.
    Stream* stream = nullptr;
};

/// What `Process::spawn` starts (libuv's `uv_process_options_t`).
struct ProcessOptions {
    /// Runs on the loop once the child has exited and been reaped, with its
    /// exit status (0 if a signal ended it) and the signal that ended it (0
    /// if it exited), as libuv's `uv_exit_cb`.
    using ExitCallback = std::function<void(std::int64_t exit_status, int term_signal)>;

    /// The program: a name without `/` is looked up in `PATH` (the
    /// child's, from `env`, when `env` sets one; else the parent's), as
    /// `execvp`.
    std::string file;
    /// The argument vector, `args[0]` first (by convention the program's
    /// name). Empty means `{file}`.
    std::vector<std::string> args;
    /// The child's environment as `NAME=value` strings; `std::nullopt`
    /// (libuv's null `env`) passes the parent's environment.
    std::optional<std::vector<std::string>> env;
    /// The child's working directory; empty (libuv's null `cwd`) keeps the
    /// parent's. A relative `file` with a `/` is resolved from it.
    std::string cwd;
    /// A combination of `Process::Flags`.
    unsigned flags = 0;
    /// The child's user id, used with `Process::setuid`.
    uid_t uid = 0;
    /// The child's group id, used with `Process::setgid`.
    gid_t gid = 0;
    /// The child's descriptors from 0 up; descriptors 0, 1 and 2 that are
    /// not given are `ignore` (`/dev/null`). Above them the child has only
    /// what the application left without `FD_CLOEXEC` (pollux makes every
    /// descriptor close-on-exec), as with libuv.
    std::vector<StdioContainer> stdio;
    /// Optional.
    ExitCallback exit_cb;
};

/// A child process (`uv_process_t`). The handle is active from a successful
/// `spawn` until the child has exited; the exit callback runs on the loop
/// (its poll phase) after the child was reaped, with the handle already
/// inactive. While it is active and referenced, the child keeps
/// `Loop::run()` alive; `unref()` lets the loop end while the child runs
/// (libuv's rule for detached daemons).
///
/// No zombies: a handle closed or destroyed while its child runs calls no
/// callback, and the child is still reaped (by pollux's reaper) when it
/// exits — also after the loop is gone. The child is never killed by the
/// handle's close or destruction; kill it first if it must end.
///
/// Every child starts with default signal dispositions, an empty signal
/// mask, and the descriptors of `stdio` (plus any the application left
/// without `FD_CLOEXEC`; every descriptor pollux makes is close-on-exec).
///
/// If the application reaps the child itself (`waitpid(-1)`), its status
/// is lost: the exit callback gets `exit_status == -ECHILD` and
/// `term_signal == 0`.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only;
/// `uv::kill` may be called from any thread.
/// @par Example
/// @code
/// uv::Process child(loop);
/// uv::ProcessOptions o;
/// o.file = "/bin/sh";
/// o.args = {"sh", "-c", "exit 3"};
/// o.exit_cb = [&](std::int64_t status, int signal) { child.close(); };
/// if (auto ec = child.spawn(o)) { child.close(); }   // ENOENT, EACCES, ...
/// loop.run();
/// @endcode
class POLLUX_API Process final : public Handle {
public:
    /// libuv's `uv_process_flags`, with its values.
    enum Flags : unsigned {
        /// Run the child as `ProcessOptions::uid` (`setuid`, after
        /// `setgroups(0, nullptr)` where permitted).
        setuid = 1U << 0,
        /// Run the child as `ProcessOptions::gid` (`setgid`).
        setgid = 1U << 1,
        /// Windows only; ignored, as on libuv's Unix.
        windows_verbatim_arguments = 1U << 2,
        /// The child starts a new session (`setsid`), so it is the leader of
        /// a new process group, and lives on after the parent exits. It
        /// still keeps the loop alive until `unref()`.
        detached = 1U << 3,
        /// Windows only; ignored.
        windows_hide = 1U << 4,
        /// Windows only; ignored.
        windows_hide_console = 1U << 5,
        /// Windows only; ignored.
        windows_hide_gui = 1U << 6,
    };

    /// A handle on `loop` with no child yet (libuv's `uv_spawn` initialises
    /// and spawns in one call; here `spawn` does the second part).
    explicit Process(Loop& loop);
    /// Closes the handle silently: no callback runs; a running child is not
    /// killed, and it is reaped when it exits.
    ~Process();

    /// Starts `options.file` as a child (`uv_spawn`). On success the handle
    /// is active and `pid()` is the child's; the exit callback runs once,
    /// from the loop, never inside `spawn`. `spawn` returns only after the
    /// child has executed the program (or failed to), so a program that
    /// cannot be started is `spawn`'s error, as libuv's.
    ///
    /// @par Cancel safety
    /// After `close()` or destruction the exit callback does not run (the
    /// child is still reaped).
    /// @par Errors
    /// The child's `errno` from starting the program: `ENOENT` (no such
    /// file, or a `cwd` that does not exist), `EACCES` (not executable),
    /// `ENOTDIR`, `EPERM` (`setuid`/`setgid` not permitted), `EBADF` (an
    /// `inherit_fd` descriptor that is not open), ...; the system's error
    /// if a child or a socket pair cannot be made (`EAGAIN`, `ENOMEM`,
    /// `EMFILE`). `invalid_argument` for options libuv asserts on or
    /// refuses: unknown `flags` bits, an unknown stdio flag or two kinds in
    /// one container, `inherit_fd` with a negative descriptor,
    /// `inherit_stream` of a stream without one, `create_pipe` without a
    /// `uv::Pipe` or with one pipe for two descriptors;
    /// `device_or_resource_busy` for a `create_pipe` pipe that has a
    /// descriptor, `bad_descriptor` for one that is closing.
    /// `already_started` while a child of this handle runs; `bad_descriptor`
    /// if the handle is closing. On these errors the handle stays inactive,
    /// no child is left behind, the `create_pipe` pipes are untouched, and
    /// the exit callback is never called. One error comes with a running
    /// child, as in libuv: a `create_pipe` pipe the loop's reactor refuses
    /// once the child runs (it cannot happen with epoll); the handle is then
    /// active, and the pipes after it are left without a descriptor.
    ///
    /// The descriptors given as the child's 0, 1 and 2 are made blocking,
    /// as libuv does: the flag belongs to the open file, which the parent's
    /// descriptor shares, so a `uv::Pipe` given with `inherit_stream` is
    /// blocking afterwards (close it in the parent, as libuv's tests do).
    boost::system::error_code spawn(const ProcessOptions& options);

    /// Sends `signum` to the child (`uv_process_kill`); 0 checks that it is
    /// still there. Once the child has been reaped this is `ESRCH`, never a
    /// signal to a process that reused its pid (pollux signals through the
    /// child's pidfd).
    /// @par Errors
    /// `no_such_process` (ESRCH) if the child has exited (or none was
    /// spawned), `invalid_argument` for a bad signal number, the system's
    /// error.
    boost::system::error_code kill(int signum);

    /// The pid of the last child spawned, 0 before the first (as libuv's
    /// `uv_process_get_pid`); it stays set after the child exited.
    [[nodiscard]] int pid() const noexcept { return pid_; }

private:
    void on_close() noexcept override;
    void exited(int exit_status, int term_signal);

    // The running (or last) child's record, shared with the process-wide
    // reaper (lib/process/spawn.hpp).
    std::shared_ptr<pollux::detail::process::ChildProcess> child_;
    ProcessOptions::ExitCallback exit_cb_;
    int pid_ = 0;
};

/// Sends `signum` to the process `pid` (`uv_kill`, which is `kill(2)`); 0
/// checks that it exists.
/// @par Errors
/// `invalid_argument` (EINVAL) for a bad signal number, `no_such_process`
/// (ESRCH), `operation_not_permitted` (EPERM).
/// @par Thread safety
/// Safe from any thread.
POLLUX_API boost::system::error_code kill(int pid, int signum) noexcept;

} // namespace pollux::uv
