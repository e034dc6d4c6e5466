#include <pollux/uv/process.hpp>

#include "../process/spawn.hpp"
#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>

#include <cerrno>
#include <csignal>
#include <sys/wait.h>
#include <utility>

// uv::Process over the process core (lib/process/spawn.hpp): the core forks,
// execs, reports exec failures as spawn's error and reaps every child on its
// reaper thread; this file maps libuv's options onto a SpawnRequest and the
// reaper's exit report onto the handle's life:
//
// - spawn succeeds -> the handle is active (it counts toward Loop::alive()
//   like any active handle) and asks the record for an exit report posted to
//   the loop's io_context, so the exit callback runs in the poll phase, on
//   the loop thread.
// - the report arrives -> the handle becomes inactive, then the exit
//   callback runs (libuv stops the handle before calling exit_cb).
// - close or destruction first -> cancel_on_exit(), on the loop thread,
//   which the core guarantees leaves no call behind (a report already queued
//   in the io_context sees the cancellation and does nothing). The record
//   stays with the reaper until the child is reaped: no zombie, whether the
//   handle, the loop or both are gone by then.
//
// The report's handler holds the handle's anchor only as a second fence; it
// does not count as an operation in flight, because the cancellation in
// on_close() already guarantees it will not call back.

namespace pollux::uv {

namespace {

namespace core = pollux::detail::process;

// The flags libuv accepts (it asserts on others); the Windows ones are
// ignored on Unix, as libuv's.
constexpr unsigned known_process_flags =
    Process::setuid | Process::setgid | Process::windows_verbatim_arguments | Process::detached |
    Process::windows_hide | Process::windows_hide_console | Process::windows_hide_gui;
// The stdio kinds pollux has (libuv's UV_IGNORE, which is 0, and
// UV_INHERIT_FD); any other bit is refused, where libuv asserts.
constexpr unsigned known_stdio_flags = StdioContainer::inherit_fd;

boost::system::error_code invalid() {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
}

// The child's descriptor `index` for `c`, or an error for a container libuv
// would assert on or refuse with UV_EINVAL.
boost::system::error_code child_fd(const StdioContainer& c, std::size_t index, core::ChildFd& out) {
    if ((c.flags & ~known_stdio_flags) != 0) {
        return invalid();
    }
    if ((c.flags & StdioContainer::inherit_fd) != 0) {
        if (c.fd < 0) {
            return invalid();
        }
        out = core::ChildFd::from_parent(c.fd);
        return {};
    }
    // Ignored: /dev/null for stdin, stdout and stderr, as libuv; nothing
    // above them.
    out = index < 3 ? core::ChildFd::dev_null() : core::ChildFd::close();
    return {};
}

} // namespace

Process::Process(Loop& loop) : Handle(loop) {
}

Process::~Process() {
    destroy_handle();
}

boost::system::error_code Process::spawn(const ProcessOptions& options) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (is_active()) {
        return boost::asio::error::already_started;
    }
    if ((options.flags & ~known_process_flags) != 0) {
        return invalid();
    }
    core::SpawnRequest req;
    req.file = options.file;
    req.args = options.args;
    req.inherit_env = !options.env.has_value();
    if (options.env) {
        req.env = *options.env;
    }
    req.cwd = options.cwd;
    req.new_session = (options.flags & detached) != 0;
    if ((options.flags & setuid) != 0) {
        req.uid = options.uid;
    }
    if ((options.flags & setgid) != 0) {
        req.gid = options.gid;
    }
    // libuv's rule: a descriptor the application left without FD_CLOEXEC
    // is inherited (pollux makes none).
    req.close_other_fds = false;
    req.fds.resize(options.stdio.size() < 3 ? 3 : options.stdio.size(), core::ChildFd::dev_null());
    for (std::size_t i = 0; i < options.stdio.size(); ++i) {
        if (auto ec = child_fd(options.stdio[i], i, req.fds[i])) {
            return ec;
        }
    }

    auto child = core::spawn(req);
    if (!child) {
        return child.error();
    }
    child_ = std::move(*child);
    pid_ = child_->pid();
    exit_cb_ = options.exit_cb;
    set_active(true);
    // The report for this child only: a later spawn of this handle asks for
    // its own child's, and close cancels it.
    child_->on_exit(loop().get_executor(), [a = anchor()](const core::ExitResult& r) {
        Process* self = from_anchor<Process>(a);
        if (self == nullptr) {
            return;
        }
        if (r.error) {
            // Someone else reaped the child (a waitpid(-1) of the
            // application): its status is lost. libuv's handle would stay
            // active forever; ours ends with libuv's negative-errno style.
            self->exited(-ECHILD, 0);
            return;
        }
        const int status = r.status;
        self->exited(WIFEXITED(status) ? WEXITSTATUS(status) : 0,
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    });
    return {};
}

void Process::exited(int exit_status, int term_signal) {
    set_active(false);
    ProcessOptions::ExitCallback cb = std::move(exit_cb_);
    exit_cb_ = nullptr;
    if (cb) {
        // The callback may close, destroy or spawn the handle again.
        (void)guarded([&] { cb(exit_status, term_signal); });
    }
}

boost::system::error_code Process::kill(int signum) {
    if (!child_) {
        return boost::system::errc::make_error_code(boost::system::errc::no_such_process);
    }
    return child_->kill(signum);
}

void Process::on_close() noexcept {
    if (child_) {
        child_->cancel_on_exit();
    }
    exit_cb_ = nullptr;
}

boost::system::error_code kill(int pid, int signum) noexcept {
    if (::kill(pid, signum) != 0) {
        return {errno, boost::system::system_category()};
    }
    return {};
}

} // namespace pollux::uv
