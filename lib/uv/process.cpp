#include <pollux/uv/pipe.hpp>
#include <pollux/uv/process.hpp>
#include <pollux/uv/tcp.hpp>

#include "../process/spawn.hpp"
#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

// uv::Process over the process core (lib/process/spawn.hpp): the core
// starts the child (clone with CLONE_VM|CLONE_VFORK), execs, reports exec
// failures as spawn's error and reaps every child on its
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
// A container's kind: none of these (UV_IGNORE) or exactly one.
constexpr unsigned stdio_kinds =
    StdioContainer::create_pipe | StdioContainer::inherit_fd | StdioContainer::inherit_stream;
// Every bit libuv knows; any other is refused, where libuv asserts. The
// direction bits only qualify create_pipe (libuv ignores them otherwise).
constexpr unsigned known_stdio_flags = stdio_kinds | StdioContainer::readable_pipe |
                                       StdioContainer::writable_pipe |
                                       StdioContainer::nonblock_pipe;

boost::system::error_code invalid() {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
}

boost::system::error_code errno_code() {
    return {errno, boost::system::system_category()};
}

// The descriptor under a stream handle (-1 if none): the stream types
// pollux has.
int stream_descriptor(Stream& s) noexcept {
    if (auto* p = dynamic_cast<Pipe*>(&s)) {
        return p->fd();
    }
    if (auto* t = dynamic_cast<Tcp*>(&s)) {
        return t->socket().is_open() ? t->socket().native_handle() : -1;
    }
    return -1;
}

// The socket pairs of create_pipe containers while spawn runs: the parent's
// end goes to the Pipe once the child runs, the child's end is closed then.
// Whatever is left is closed when spawn returns.
struct CreatedPipe {
    Pipe* pipe = nullptr;
    int parent = -1;
    int child = -1;
};
class CreatedPipes {
public:
    CreatedPipes() = default;
    CreatedPipes(const CreatedPipes&) = delete;
    CreatedPipes& operator=(const CreatedPipes&) = delete;
    ~CreatedPipes() {
        for (auto& p : pipes_) {
            close_fd(p.parent);
            close_fd(p.child);
        }
    }
    std::vector<CreatedPipe>& list() noexcept { return pipes_; }
    static void close_fd(int& fd) noexcept {
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
    }

private:
    std::vector<CreatedPipe> pipes_;
};

// The child's descriptor `index` for `c`, or an error for a container libuv
// would assert on or refuse with UV_EINVAL (or EBUSY for a pipe that has a
// descriptor already).
boost::system::error_code
child_fd(const StdioContainer& c, std::size_t index, CreatedPipes& pipes, core::ChildFd& out) {
    const unsigned kind = c.flags & stdio_kinds;
    if ((c.flags & ~known_stdio_flags) != 0 || (kind & (kind - 1)) != 0) {
        return invalid();
    }
    switch (kind) {
    case StdioContainer::create_pipe: {
        auto* pipe = dynamic_cast<Pipe*>(c.stream);
        if (pipe == nullptr) {
            return invalid(); // libuv: not a UV_NAMED_PIPE
        }
        for (const auto& p : pipes.list()) {
            if (p.pipe == pipe) {
                return invalid(); // one pipe for two descriptors
            }
        }
        if (pipe->is_closing()) {
            return boost::asio::error::bad_descriptor;
        }
        if (pipe->fd() >= 0) {
            return boost::system::errc::make_error_code(
                boost::system::errc::device_or_resource_busy);
        }
        // A socket pair, duplex whatever the direction bits say, as libuv's.
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            return errno_code();
        }
        pipes.list().push_back({pipe, sv[0], sv[1]});
        out = core::ChildFd::from_parent(sv[1]);
        return {};
    }
    case StdioContainer::inherit_fd:
    case StdioContainer::inherit_stream: {
        const int fd = kind == StdioContainer::inherit_fd
                           ? c.fd
                           : (c.stream != nullptr ? stream_descriptor(*c.stream) : -1);
        if (fd < 0) {
            return invalid();
        }
        out = core::ChildFd::from_parent(fd);
        return {};
    }
    default:
        // Ignored: /dev/null for stdin, stdout and stderr, as libuv; nothing
        // above them.
        out = index < 3 ? core::ChildFd::dev_null() : core::ChildFd::close();
        return {};
    }
}

} // namespace

Process::Process(Loop& loop) : Handle(loop, HandleType::process) {
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
    // The last child (exited: its exit was reported) is forgotten; a
    // failed spawn leaves none.
    child_.reset();
    pid_ = 0;
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
    CreatedPipes pipes;
    for (std::size_t i = 0; i < options.stdio.size(); ++i) {
        if (auto ec = child_fd(options.stdio[i], i, pipes, req.fds[i])) {
            return ec;
        }
    }

    // libuv makes the child's stdin, stdout and stderr blocking (in the
    // child; the open file description, and so this flag, is shared with the
    // parent's descriptor either way). Only once every container is valid.
    for (std::size_t i = 0; i < 3 && i < options.stdio.size(); ++i) {
        if ((options.stdio[i].flags &
             (StdioContainer::inherit_fd | StdioContainer::inherit_stream)) != 0) {
            const int fd = req.fds[i].fd;
            const int fl = ::fcntl(fd, F_GETFL);
            if (fl >= 0 && (fl & O_NONBLOCK) != 0) {
                (void)::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
            }
        }
    }

    auto child = core::spawn(req);
    if (!child) {
        // The pipes stay without a descriptor (libuv opens them anyway).
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

    // The child runs: each pipe takes the parent's end. As libuv's, a pipe
    // that cannot be opened (the reactor refuses it) is spawn's error while
    // the handle stays active for the running child.
    boost::system::error_code open_error;
    for (auto& p : pipes.list()) {
        CreatedPipes::close_fd(p.child);
        if (!open_error) {
            open_error = p.pipe->open(p.parent);
            if (!open_error) {
                p.parent = -1; // the pipe's now
            }
        }
    }
    return open_error;
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
