#pragma once

/// @file
/// `process::Command` (tokio's `Command`): a builder for child processes,
/// with `spawn()`, and the futures `status()` and `output()`; `Output`;
/// `Child::wait_with_output` as `wait_with_output(Child)`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/process/child.hpp>
#include <pollux/process/exit_status.hpp>
#include <pollux/process/stdio.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace pollux::process {

class StatusFuture;
class OutputFuture;

/// What `output()` collects: the exit status and everything the child
/// wrote to its stdout and stderr (bytes, in `std::string`s), tokio's.
struct Output {
    ExitStatus status;
    std::string stdout;
    std::string stderr;
};

/// A builder of child processes (tokio's `Command`; Rust std's names and
/// defaults).
///
/// - The program is a path when it contains '/', else it is searched in the
///   PATH of the child's environment when the Command sets PATH, else in the
///   parent's (execvp's rules).
/// - The environment is the parent's at spawn time, changed by `env`,
///   `env_remove` (in call order, later calls win), or empty after
///   `env_clear`.
/// - Standard streams: inherited by `spawn()` and `status()` unless set;
///   `output()` pipes stdout and stderr and gives stdin /dev/null unless set.
/// - The child gets exactly its three standard descriptors (every other one
///   is closed at exec), default signal dispositions and an empty signal
///   mask, whatever the parent's.
///
/// Starting the program fails in `spawn()` itself (a missing program is
/// ENOENT, one without execute permission EACCES, a missing `current_dir`
/// ENOENT), never as a child that exits 127.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class POLLUX_API Command {
public:
    /// A command that runs `program` with no arguments (argv[0] is
    /// `program`).
    explicit Command(std::string program);

    /// Adds one argument.
    Command& arg(std::string a);
    /// Adds arguments.
    ///
    /// g++ 12 rejects a braced list inside a `co_await` expression ("array
    /// used as initializer", its coroutine bug with the list's temporary
    /// array): build the Command in a statement of its own, then
    /// `co_await cmd.output()`.
    Command& args(std::initializer_list<std::string> as);
    /// Adds arguments from any range of strings.
    template <class Range>
    Command& args(const Range& as) {
        for (const auto& a : as) {
            arg(std::string(a));
        }
        return *this;
    }
    /// Sets one variable of the child's environment.
    Command& env(std::string key, std::string value);
    /// Removes one variable of the child's environment.
    Command& env_remove(const std::string& key);
    /// Starts the child's environment empty (and forgets earlier `env` and
    /// `env_remove` calls).
    Command& env_clear();
    /// The child's working directory.
    Command& current_dir(std::string dir);
    /// The child's stdin.
    Command& stdin(Stdio s);
    /// The child's stdout.
    Command& stdout(Stdio s);
    /// The child's stderr.
    Command& stderr(Stdio s);
    /// Whether dropping the `Child` (or a pending `status()`/`output()`)
    /// sends SIGKILL to a child that has not been waited for. Default false.
    Command& kill_on_drop(bool on);
    /// setpgid(0, pgid) in the child; 0 puts it in a new process group of
    /// its own (which `kill(-pid, sig)` then signals as a whole).
    Command& process_group(pid_t pgid);
    /// setuid(2) in the child (after dropping supplementary groups).
    Command& uid(uid_t id);
    /// setgid(2) in the child.
    Command& gid(gid_t id);

    /// The program.
    [[nodiscard]] const std::string& get_program() const noexcept { return program_; }
    /// The arguments after argv[0].
    [[nodiscard]] const std::vector<std::string>& get_args() const noexcept { return args_; }

    /// Starts the child. Piped streams are registered with the event loop of
    /// the task that calls it (with `ex`'s, for the second form).
    /// @par Errors
    /// As values: the errno of the step that failed (ENOENT, EACCES,
    /// ENOTDIR, EPERM, EMFILE, EAGAIN, ...), nothing left behind. Throws
    /// `std::logic_error` outside a pollux task when a stream is piped (the
    /// first form).
    Result<Child> spawn();
    /// As `spawn()`, with piped streams on `ex`; callable anywhere.
    Result<Child> spawn(const boost::asio::any_io_executor& ex);

    /// Spawns (at the first poll) with inherited streams unless set, drops
    /// the child's stdin, and waits; Output `Result<ExitStatus>`.
    ///
    /// @par Cancel safety
    /// Dropping it before it completes lets go of the child, as dropping a
    /// `Child` does: it keeps running (SIGKILL with `kill_on_drop`) and is
    /// reaped. The future holds a copy of this Command.
    /// @par Errors
    /// `spawn`'s, then `Child::wait`'s.
    POLLUX_NODISCARD_FUTURE StatusFuture status() const;

    /// Spawns (at the first poll) with stdout and stderr piped and stdin
    /// /dev/null unless set, reads both to end of file while waiting for
    /// the exit; Output `Result<Output>`.
    ///
    /// @par Cancel safety
    /// Not cancel safe: what was read so far is lost if it is dropped; the
    /// child is let go as a dropped `Child` (SIGKILL with `kill_on_drop`).
    /// @par Errors
    /// `spawn`'s, the reads', then `Child::wait`'s.
    POLLUX_NODISCARD_FUTURE OutputFuture output() const;

private:
    friend class OutputFuture;
    friend class StatusFuture;
    Result<Child> spawn_with(const boost::asio::any_io_executor* ex,
                             Stdio::Kind in,
                             Stdio::Kind out,
                             Stdio::Kind err);

    std::string program_;
    std::vector<std::string> args_;
    bool env_clear_ = false;
    std::map<std::string, std::optional<std::string>> env_; // nullopt: removed
    std::string cwd_;
    std::optional<Stdio> stdin_;
    std::optional<Stdio> stdout_;
    std::optional<Stdio> stderr_;
    bool kill_on_drop_ = false;
    std::optional<pid_t> pgid_;
    std::optional<uid_t> uid_;
    std::optional<gid_t> gid_;
};

/// The future `Command::status()` returns. Output `Result<ExitStatus>`.
///
/// @par Cancel safety
/// See `Command::status`.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class POLLUX_NODISCARD_FUTURE StatusFuture {
public:
    /// What it completes with.
    using Output = Result<ExitStatus>;
    explicit StatusFuture(Command c) : cmd_(std::move(c)) {}
    /// Spawns at the first poll, then waits.
    POLLUX_API Poll<Output> poll(Context& cx);

private:
    Command cmd_;
    std::optional<Child> child_;
};

/// The future of `Command::output()` and `wait_with_output(Child)`. Output
/// `Result<process::Output>`.
///
/// @par Cancel safety
/// Not cancel safe: see `Command::output`.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class POLLUX_NODISCARD_FUTURE OutputFuture {
public:
    /// What it completes with.
    using Output = Result<process::Output>;
    explicit OutputFuture(Command c) : cmd_(std::move(c)) {}
    explicit OutputFuture(Child c) : child_(std::move(c)) {}
    /// Spawns at the first poll (from a Command), reads stdout and stderr
    /// to end of file, then waits.
    POLLUX_API Poll<Output> poll(Context& cx);

private:
    std::optional<Command> cmd_;
    std::optional<Child> child_;
    std::string out_;
    std::string err_;
};

/// Takes `child`, drops its stdin, reads its piped stdout and stderr to end
/// of file and waits for it (tokio's `Child::wait_with_output`). A stream
/// that was not piped reads as empty. Cancel safety as `Command::output`.
[[nodiscard]] inline OutputFuture wait_with_output(Child child) {
    return OutputFuture(std::move(child));
}

inline StatusFuture Command::status() const {
    return StatusFuture(*this);
}
inline OutputFuture Command::output() const {
    return OutputFuture(*this);
}

} // namespace pollux::process
