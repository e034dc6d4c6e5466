#pragma once

/// @file
/// `process::Child` (tokio's `Child`): a running or finished child process
/// with its piped streams, and the futures `WaitFuture` and `KillFuture`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/process/exit_status.hpp>
#include <pollux/process/stdio.hpp>

#include <cstdint>
#include <memory>
#include <optional>

namespace pollux::detail::process {
class ChildProcess;
} // namespace pollux::detail::process

namespace pollux::process {

class WaitFuture;
class KillFuture;

/// A child process started by `Command::spawn` (tokio's `Child`).
///
/// The child is reaped by pollux whatever happens to this object: dropping
/// a `Child` before the child exits leaves it running (unless
/// `Command::kill_on_drop(true)`, which sends SIGKILL), and it is reaped
/// when it exits, with or without a runtime (no zombie; docs/process.md).
/// Dropping it before, during or after its Runtime's shutdown is safe.
///
/// `stdin`, `stdout`, `stderr` hold the parent's ends of the streams made
/// with `Stdio::piped()`; take them out (`std::move(*child.stdout)`) to use
/// them apart from the Child. (The names are tokio's; C's `stdin`,
/// `stdout` and `stderr` macros expand to themselves on glibc.)
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class POLLUX_API Child {
public:
    /// The parent's end of the child's stdin, when piped.
    std::optional<ChildStdin> stdin;
    /// The parent's end of the child's stdout, when piped.
    std::optional<ChildStdout> stdout;
    /// The parent's end of the child's stderr, when piped.
    std::optional<ChildStderr> stderr;

    /// Made by `Command::spawn`.
    Child(std::shared_ptr<detail::process::ChildProcess> proc, bool kill_on_drop) noexcept;
    Child(Child&&) noexcept;
    Child& operator=(Child&&) noexcept;
    /// With `kill_on_drop`, sends SIGKILL to a child that has not been
    /// waited for; then lets go (the child is still reaped).
    ~Child();

    /// The process id, until a wait (or try_wait) saw the exit; then none
    /// (tokio's `id()`).
    [[nodiscard]] std::optional<std::uint32_t> id() const noexcept;

    /// Waits for the exit; Output `Result<ExitStatus>`. Drops `stdin` first
    /// (so a child that reads to end of file can finish), as tokio's.
    ///
    /// @par Cancel safety
    /// Cancel safe: the exit is kept, a later `wait()` or `try_wait()`
    /// returns it.
    /// @par Wakes / resumes on
    /// Woken by pollux's reaper thread when the child is reaped; the task
    /// resumes on its own executor.
    /// @par Errors
    /// `no_child_process` (ECHILD) when someone else reaped the child (a
    /// `waitpid(-1)` of the user's); `invalid_argument` on a moved-from Child.
    POLLUX_NODISCARD_FUTURE WaitFuture wait() noexcept;

    /// The exit if the child has exited (reaping it now if need be), else
    /// none; never blocks. Errors as `wait()`.
    Result<std::optional<ExitStatus>> try_wait();

    /// Sends SIGKILL and returns at once (tokio's `start_kill`).
    /// @par Errors
    /// `invalid_argument` once a wait saw the exit (tokio's InvalidInput);
    /// the kill's error otherwise (ESRCH if it was reaped meanwhile).
    Result<void> start_kill();

    /// `start_kill()`, then `wait()`; Output `Result<void>`.
    ///
    /// @par Cancel safety
    /// The signal is sent at the first poll; dropping the future later loses
    /// nothing (the exit is kept for `wait()`).
    /// @par Errors
    /// `start_kill`'s, then `wait`'s.
    POLLUX_NODISCARD_FUTURE KillFuture kill() noexcept;

    /// The waiting part of `wait()` as a poll function.
    Poll<Result<ExitStatus>> poll_wait(Context& cx);

private:
    std::shared_ptr<detail::process::ChildProcess> proc_;
    std::optional<ExitStatus> status_;
    bool kill_on_drop_ = false;
};

/// The future `Child::wait()` returns; borrows the Child, which must
/// outlive it. Output `Result<ExitStatus>`.
///
/// @par Cancel safety
/// Cancel safe (see `Child::wait`).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class POLLUX_NODISCARD_FUTURE WaitFuture {
public:
    /// What it completes with.
    using Output = Result<ExitStatus>;
    explicit WaitFuture(Child& c) noexcept : child_(&c) {}
    /// Polls `Child::poll_wait`.
    Poll<Output> poll(Context& cx) { return child_->poll_wait(cx); }

private:
    Child* child_;
};

/// The future `Child::kill()` returns; borrows the Child, which must
/// outlive it. Output `Result<void>`.
///
/// @par Cancel safety
/// See `Child::kill`.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class POLLUX_NODISCARD_FUTURE KillFuture {
public:
    /// What it completes with.
    using Output = Result<void>;
    explicit KillFuture(Child& c) noexcept : child_(&c) {}
    /// Sends the signal at the first poll, then waits.
    POLLUX_API Poll<Output> poll(Context& cx);

private:
    Child* child_;
    bool sent_ = false;
};

inline WaitFuture Child::wait() noexcept {
    return WaitFuture(*this);
}
inline KillFuture Child::kill() noexcept {
    return KillFuture(*this);
}

} // namespace pollux::process
