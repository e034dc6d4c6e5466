#pragma once

// Private to lib/: the process core that both faces build on, the futures face
// (`pollux::process`, lib/process/command.cpp) and the callback face
// (`uv::Process`, lib/uv/process.cpp). Decisions: docs/decisions.md "Child
// processes"; what users see: docs/process.md. Tests include it as
// "process/spawn.hpp" with lib/ on their include path (test/meson.build's
// process_core); the symbols they use are POLLUX_API.
//
// Interface stability: uv::Process is built on this header. Add to it;
// do not change or remove what is here.
//
// # Two parts
//
// 1. `spawn(request)`: clone(2) with CLONE_VM|CLONE_VFORK (the child runs on
//    the parent's memory, on a stack of its own, until its exec) and
//    execve(2), with every failure up to and including the exec reported as
//    the error of `spawn` itself (ENOENT, EACCES, a bad cwd, EPERM from
//    setuid, ...), never as a child that exits 127. The child gets exactly
//    the descriptors of `request.fds` (unless `close_other_fds` is false),
//    the default disposition for every signal and an empty signal mask.
//
// 2. `ChildProcess`: the record of a started child, shared between its owner
//    (a `process::Child`, a `uv::Process`) and the process-wide reaper. The
//    reaper is one helper thread (started with the first child, kept for the
//    process's life with its two descriptors, an epoll instance and an
//    eventfd) that waits for every child of every loop and runtime:
//    - pidfd path: the child's pidfd (pidfd_open(2) right after the exec
//      succeeded, while the child is ours and unreaped) is in the reaper's
//      epoll set; readable means exited, and waitid(P_PIDFD, WEXITED) reaps
//      it.
//    - polling path (no pidfd: an old kernel, EMFILE at pidfd_open, or
//      forced with POLLUX_PROCESS_WAIT=poll in the environment): the reaper
//      tries waitpid(pid, WNOHANG) for each such child on a backoff timer
//      (1 ms doubling to 100 ms, back to 1 ms at each new child and each
//      reap).
//    No SIGCHLD handler is installed, and no signal disposition or mask of
//    the process is changed (DESIGN.md section 8), so a user's own SIGCHLD
//    handler or Asio signal_set keeps working; but a user's waitpid(-1) (or
//    waitpid of our pid) steals the exit status: the child then completes
//    with `no_child_process` (ECHILD).
//
// # Ownership and lifetime
//
// - `spawn` returns a `ChildPtr` (shared_ptr). The reaper holds its own
//   reference until the child is reaped, so a child whose owners all let go
//   is still reaped (no zombie; tokio's orphan queue, without the queue).
// - The pidfd belongs to the record: never close it. It stays open until the
//   reaper has reaped the child (then the reaper closes it, under the
//   record's lock). `pidfd()` is only a hint for diagnostics.
// - The parent descriptors named in `request.fds` stay the caller's: spawn
//   dup2()s them in the child and never closes them in the parent. The
//   caller closes its copies of the child's ends after spawn returns.
//
// # Threads
//
// Every member of ChildProcess is thread-safe (one mutex per record).
// - `on_exit(ex, cb)`: when the child is reaped, a handler is posted to `ex`
//   that calls `cb(ExitResult)` on `ex`: never inline, never on the reaper
//   thread, never from inside on_exit (when the child has already been
//   reaped, on_exit posts it at once). The post is made by whichever thread
//   reaped: the reaper, or a `try_wait` caller.
//   `cancel_on_exit()` made on `ex`'s thread (the loop thread) guarantees
//   that cb is not called afterwards; it destroys cb on the calling thread.
// - `poll_exit(cx)`: the futures face. The reaper wakes the stored waker.
// - io_context shutdown: the handler posted to `ex` is destroyed without
//   being called when the io_context shuts down first; a child that exits
//   after `ex`'s io_context began its destruction posts nothing (the
//   context's gate, pollux/detail/context_gate.hpp). The record holds the
//   executor until it dies and releases it only inside the gate (an
//   executor of a dead context is leaked, not destroyed: its destructor
//   would touch the dead context, e.g. a strand's). The reaper keeps reaping
//   regardless: the child never stays a zombie because its loop is gone.
//   The record holds no work on `ex`: a loop that stops when idle keeps
//   itself running while it wants the callback (uv::Loop counts the handle,
//   a Runtime holds a work guard).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/context_gate.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace pollux::detail::process {

/// What the child's descriptor number i is (`SpawnRequest::fds[i]`).
struct ChildFd {
    enum class Kind {
        closed,    ///< closed in the child
        parent_fd, ///< a duplicate of the parent's descriptor `fd` (FD_CLOEXEC clear)
        null,      ///< /dev/null, opened read-write
    };
    Kind kind = Kind::closed;
    int fd = -1; ///< the parent's descriptor, for parent_fd (stays the caller's)

    static ChildFd from_parent(int parent_fd) noexcept { return {Kind::parent_fd, parent_fd}; }
    static ChildFd dev_null() noexcept { return {Kind::null, -1}; }
    static ChildFd close() noexcept { return {Kind::closed, -1}; }
};

/// Everything `spawn` needs. Strings may not contain NUL (the part before
/// one is used).
struct SpawnRequest {
    /// The program: a path when it contains '/', else a name searched in
    /// PATH (the PATH of `env` when that sets one, else the parent's, else
    /// "/bin:/usr/bin"), as execvp(3) searches: EACCES is reported when some
    /// candidate was found but could not be executed and none could.
    std::string file;
    /// argv, argv[0] included; empty means `{file}`.
    std::vector<std::string> args;
    /// The environment: the parent's (`environ` at the time of the call)
    /// when `inherit_env`, else `env` ("NAME=VALUE" entries).
    bool inherit_env = true;
    std::vector<std::string> env;
    /// The working directory; empty: the parent's.
    std::string cwd;
    /// setsid(2) in the child (libuv's UV_PROCESS_DETACHED).
    bool new_session = false;
    /// setpgid(0, pgid) in the child: 0 puts it in a new group of its own
    /// (tokio's `process_group(0)`). Ignored with `new_session`.
    std::optional<pid_t> process_group;
    /// setgid(2)/setuid(2) in the child (after setgroups(0, NULL), whose
    /// EPERM is ignored, as libuv does).
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    /// The child's descriptor table: child fd i is fds[i]. Usually three
    /// entries: stdin, stdout, stderr.
    std::vector<ChildFd> fds;
    /// Whether the child gets only its table: every descriptor at or above
    /// fds.size() is closed at the exec (close_range(CLOSE_RANGE_CLOEXEC)),
    /// even one the parent holds without FD_CLOEXEC. False: those are
    /// inherited, as libuv and Rust's std do (pollux makes none).
    bool close_other_fds = true;
};

class ChildProcess;
using ChildPtr = std::shared_ptr<ChildProcess>;

/// Starts the child. On success it runs and is already watched by the
/// reaper. Thread-safe. Blocks the calling thread until the child's exec
/// succeeded or failed (CLONE_VFORK: the child writes a failure's errno into
/// the parent's memory before it exits), as uv_spawn does.
/// @par Errors
/// The errno of the step that failed, as a system_category error_code:
/// ENOENT/EACCES/ENOEXEC/... from execve (or the PATH search), ENOENT/
/// ENOTDIR/EACCES from chdir(cwd), EPERM from setuid/setgid/setsid/setpgid,
/// EBADF for a `parent_fd` that is not open, EAGAIN/ENOMEM from mmap (the
/// child's stack) or clone. The failed child, if any, has been reaped.
POLLUX_API Result<ChildPtr> spawn(const SpawnRequest& request);

/// How children are waited for (see the top of this file).
enum class WaitMode {
    pidfd, ///< pidfd_open/waitid(P_PIDFD) when the kernel has them
    poll,  ///< waitpid(pid, WNOHANG) on a backoff timer
};
/// The mode `spawn` uses: `poll` when the environment variable
/// POLLUX_PROCESS_WAIT is "poll" (read once, at the first call), else
/// `pidfd`. A child gets the polling path anyway when its pidfd cannot be
/// made (ENOSYS, EMFILE, ...).
POLLUX_API WaitMode wait_mode() noexcept;

/// How a child ended: `status` is a waitpid(2) status word (WIFEXITED,
/// WEXITSTATUS, WIFSIGNALED, WTERMSIG, WCOREDUMP apply); `error` is set
/// (and `status` 0) when the status could not be had: ECHILD when someone
/// else reaped the child.
struct ExitResult {
    boost::system::error_code error;
    int status = 0;
};

/// Called on the executor given to on_exit with the child's ExitResult.
using ExitCallback = std::function<void(const ExitResult&)>;

/// A started child: see the top of this file. Made by `spawn` only.
class POLLUX_API ChildProcess : public std::enable_shared_from_this<ChildProcess> {
public:
    /// Made by `spawn` only: takes `pidfd` (-1 for none).
    ChildProcess(pid_t pid, int pidfd);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    /// The process id (stays valid as a number after the reap, but then
    /// names no process of ours).
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    /// The pidfd while the child is unreaped and was given one, else -1.
    /// Owned by the record: never close it. A hint; racy by nature.
    [[nodiscard]] int pidfd() const noexcept;
    /// Whether this child is waited for on the pidfd path.
    [[nodiscard]] bool uses_pidfd() const noexcept { return has_pidfd_; }

    /// The exit if the child has been reaped; else reaps it now if it has
    /// exited (waitid/waitpid with WNOHANG on the calling thread); else
    /// nullopt. Never blocks.
    std::optional<ExitResult> try_wait();

    /// Sends `signum` (0 only checks) with pidfd_send_signal or kill(2),
    /// only while the child is unreaped, so never to a recycled pid.
    /// @par Errors
    /// `no_such_process` (ESRCH) once the child has been reaped (or is a
    /// zombie: the kernel's answer); EINVAL for a bad signal number.
    boost::system::error_code kill(int signum);

    /// Asks for `cb(result)` on `ex` once the child is reaped (posted, at
    /// once if it already is). One callback at a time: a second call
    /// replaces the first (which is destroyed). See "Threads" above.
    void on_exit(const boost::asio::any_io_executor& ex, ExitCallback cb);
    /// Forgets the callback; the child is still reaped. See "Threads".
    void cancel_on_exit() noexcept;

    /// Ready with the exit once reaped; else stores a clone of cx's waker,
    /// which the reaper wakes (one waker: a later poll replaces it).
    Poll<ExitResult> poll_exit(Context& cx);

    // The reaper's part (lib/process/reaper.cpp): reaps if the child has
    // exited; true once it is reaped (now or before). Then the pidfd is
    // closed, the waker woken and the callback posted.
    bool reap_if_exited();

private:
    // Reaps if possible (caller holds mutex_); true once reaped. On a reap
    // now, closes the pidfd and takes the waker into `wake`.
    bool reap_locked(std::optional<Waker>& wake);
    // Posts the current callback's handler (caller holds mutex_).
    void post_locked();
    // The posted handler's body.
    void fire(std::uint64_t generation);

    const pid_t pid_;
    const bool has_pidfd_;
    mutable std::mutex mutex_;
    int pidfd_ = -1;                 // closed by the reaper after the reap
    std::optional<ExitResult> exit_; // set once, by the reap
    std::optional<Waker> waker_;     // the futures face's
    ExitCallback callback_;          // the callback face's
    std::uint64_t generation_ = 0;   // bumped by on_exit/cancel_on_exit
    // The callback's executor and its context's gate (see "Threads").
    GateRef gate_;
    alignas(boost::asio::any_io_executor) unsigned char ex_storage_[sizeof(
        boost::asio::any_io_executor)];
    bool has_ex_ = false;
    void drop_executor_locked() noexcept;
    boost::asio::any_io_executor& ex() noexcept;
};

} // namespace pollux::detail::process
