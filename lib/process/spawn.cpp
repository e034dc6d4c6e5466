#include "spawn.hpp"

#include "reaper.hpp"

#include <boost/system/system_error.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace pollux::detail::process {

namespace {

// What the child reports through the error pipe before it exits 127: the
// errno of the step that failed. Nothing is written when execve succeeds;
// the pipe's write end is close-on-exec, so the parent then reads EOF.
struct ChildError {
    int step;
    int error;
};

// Everything the child uses, made before fork(): after fork() in a
// multi-threaded process the child may call only async-signal-safe functions
// (no malloc, no locks), so it only reads these.
struct Prepared {
    std::vector<std::string> candidates; // execve paths, in order
    std::vector<char*> argv;             // null-terminated
    char** envp = nullptr;               // environ or env_ptrs.data()
    std::vector<char*> env_ptrs;
    const SpawnRequest* req = nullptr;
};

std::string path_of(const SpawnRequest& req) {
    if (!req.inherit_env) {
        for (const std::string& e : req.env) {
            if (e.rfind("PATH=", 0) == 0) {
                return e.substr(5);
            }
        }
    }
    if (const char* p = std::getenv("PATH")) {
        return p;
    }
    return "/bin:/usr/bin";
}

// execvp(3)'s candidates: the name itself when it has a '/', else each PATH
// entry joined with it (an empty entry is the current directory).
std::vector<std::string> candidates_of(const SpawnRequest& req) {
    const std::string file(req.file.c_str()); // up to a NUL
    if (file.empty() || file.find('/') != std::string::npos) {
        return {file};
    }
    std::vector<std::string> out;
    const std::string path = path_of(req);
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = path.find(':', start);
        std::string dir = path.substr(start, end == std::string::npos ? end : end - start);
        out.push_back(dir.empty() ? file : dir + "/" + file);
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return out;
}

[[noreturn]] void child_fail(int pipe_fd, int step, int error) noexcept {
    const ChildError e{step, error};
    // 8 bytes on a pipe are written whole (PIPE_BUF); a write cannot fail
    // here short of a bug, which would look to the parent like a success.
    [[maybe_unused]] ssize_t n = ::write(pipe_fd, &e, sizeof e);
    ::_exit(127);
}

// close_range(first, ~0U, CLOSE_RANGE_CLOEXEC) (Linux 5.11), else the same
// one descriptor at a time up to the descriptor limit. Async-signal-safe.
void mark_cloexec_from(int first) noexcept {
#if defined(SYS_close_range)
    constexpr unsigned close_range_cloexec = 1u << 2; // CLOSE_RANGE_CLOEXEC
    if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, close_range_cloexec) == 0) {
        return;
    }
#endif
    rlimit lim{};
    int last = 65536;
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < static_cast<rlim_t>(last)) {
        last = static_cast<int>(lim.rlim_cur);
    }
    for (int fd = first; fd < last; ++fd) {
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0 && (flags & FD_CLOEXEC) == 0) {
            ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
}

// The child, between fork() and execve(): async-signal-safe calls only.
// Order as libuv's uv__process_child_init: signals, session/group, the
// descriptor table, cwd, groups/gid/uid, then the mask and the exec.
[[noreturn]] void child_main(const Prepared& p, int pipe_fd) noexcept {
    const SpawnRequest& req = *p.req;

    // Default dispositions for every signal (the parent blocked them all
    // before fork, so no handler of the parent runs here meanwhile). glibc
    // refuses its two internal signals (EINVAL): they are not the user's.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int s = 1; s < NSIG; ++s) {
        if (s != SIGKILL && s != SIGSTOP) {
            ::sigaction(s, &dfl, nullptr);
        }
    }

    if (req.new_session) {
        if (::setsid() < 0) {
            child_fail(pipe_fd, 1, errno);
        }
    } else if (req.process_group) {
        if (::setpgid(0, *req.process_group) < 0) {
            child_fail(pipe_fd, 2, errno);
        }
    }

    // The descriptor table. First every source moves above the table
    // (close-on-exec copies), so that filling slot i cannot overwrite the
    // source of a later slot; /dev/null likewise. The error pipe is
    // close-on-exec already, and may lie inside the table: it is moved too.
    const int n = static_cast<int>(req.fds.size());
    if (pipe_fd < n) {
        const int moved = ::fcntl(pipe_fd, F_DUPFD_CLOEXEC, n);
        if (moved < 0) {
            child_fail(pipe_fd, 3, errno);
        }
        pipe_fd = moved;
    }
    int devnull = -1;
    // At most 1024 slots are supported this way; larger tables are refused
    // by spawn() before fork.
    int moved_src[1024];
    for (int i = 0; i < n; ++i) {
        const ChildFd& c = req.fds[static_cast<std::size_t>(i)];
        moved_src[i] = -1;
        if (c.kind == ChildFd::Kind::parent_fd) {
            moved_src[i] = ::fcntl(c.fd, F_DUPFD_CLOEXEC, n);
            if (moved_src[i] < 0) {
                child_fail(pipe_fd, 4, errno);
            }
        } else if (c.kind == ChildFd::Kind::null && devnull < 0) {
            const int d = ::open("/dev/null", O_RDWR | O_CLOEXEC);
            if (d < 0) {
                child_fail(pipe_fd, 5, errno);
            }
            devnull = d >= n ? d : ::fcntl(d, F_DUPFD_CLOEXEC, n);
            if (devnull < 0) {
                child_fail(pipe_fd, 5, errno);
            }
            if (d != devnull) {
                ::close(d);
            }
        }
    }
    for (int i = 0; i < n; ++i) {
        const ChildFd& c = req.fds[static_cast<std::size_t>(i)];
        // dup2 clears FD_CLOEXEC on the new descriptor; the copies above the
        // table keep it and vanish at exec.
        const int src = c.kind == ChildFd::Kind::parent_fd ? moved_src[i]
                        : c.kind == ChildFd::Kind::null    ? devnull
                                                           : -1;
        if (src < 0) {
            ::close(i);
        } else if (::dup2(src, i) < 0) {
            child_fail(pipe_fd, 6, errno);
        }
    }

    // Every descriptor above the table is marked close-on-exec: the child
    // gets its table and nothing else, even what the parent inherited
    // without FD_CLOEXEC. (The error pipe is close-on-exec already and must
    // stay open until the exec.)
    if (req.close_other_fds) {
        mark_cloexec_from(n);
    }

    if (!req.cwd.empty() && ::chdir(req.cwd.c_str()) < 0) {
        child_fail(pipe_fd, 7, errno);
    }
    if (req.uid || req.gid) {
        // Drop supplementary groups; EPERM when not root, as libuv ignores.
        ::setgroups(0, nullptr);
    }
    if (req.gid && ::setgid(*req.gid) < 0) {
        child_fail(pipe_fd, 8, errno);
    }
    if (req.uid && ::setuid(*req.uid) < 0) {
        child_fail(pipe_fd, 9, errno);
    }

    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);

    // execvp's rules: go on past ENOENT/ENOTDIR (and the other "not here"
    // answers), remember EACCES, stop at any other error.
    bool saw_eacces = false;
    int last = ENOENT;
    for (const std::string& c : p.candidates) {
        ::execve(c.c_str(), p.argv.data(), p.envp);
        last = errno;
        if (last == EACCES) {
            saw_eacces = true;
        } else if (last != ENOENT && last != ENOTDIR && last != ESTALE && last != ENODEV &&
                   last != ETIMEDOUT) {
            break;
        }
    }
    if (saw_eacces && (last == ENOENT || last == ENOTDIR || last == ESTALE || last == ENODEV ||
                       last == ETIMEDOUT)) {
        last = EACCES;
    }
    child_fail(pipe_fd, 10, last);
}

boost::system::error_code sys_error(int e) {
    return {e, boost::system::system_category()};
}

// Blocks every signal of the calling thread for its lifetime, so that no
// handler of the parent runs in the child between fork and the reset of the
// dispositions (the child inherits the mask).
class BlockAllSignals {
public:
    BlockAllSignals() noexcept {
        sigset_t all;
        sigfillset(&all);
        ::pthread_sigmask(SIG_SETMASK, &all, &old_);
    }
    ~BlockAllSignals() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    BlockAllSignals(const BlockAllSignals&) = delete;
    BlockAllSignals& operator=(const BlockAllSignals&) = delete;

private:
    sigset_t old_;
};

int open_pidfd(pid_t pid) noexcept {
#if defined(SYS_pidfd_open)
    // pidfd_open's descriptors are close-on-exec.
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

} // namespace

Result<ChildPtr> spawn(const SpawnRequest& req) {
    if (req.fds.size() > 1024) {
        return sys_error(EINVAL);
    }
    Prepared p;
    p.req = &req;
    p.candidates = candidates_of(req);
    const std::vector<std::string> file_only{req.file};
    for (const std::string& a : req.args.empty() ? file_only : req.args) {
        p.argv.push_back(const_cast<char*>(a.c_str()));
    }
    p.argv.push_back(nullptr);
    if (req.inherit_env) {
        p.envp = environ;
    } else {
        for (const std::string& e : req.env) {
            p.env_ptrs.push_back(const_cast<char*>(e.c_str()));
        }
        p.env_ptrs.push_back(nullptr);
        p.envp = p.env_ptrs.data();
    }
    for (const ChildFd& c : req.fds) {
        if (c.kind == ChildFd::Kind::parent_fd && ::fcntl(c.fd, F_GETFD) < 0) {
            return sys_error(EBADF);
        }
    }

    if (const boost::system::error_code ec = reaper_start()) {
        return ec;
    }

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) {
        return sys_error(errno);
    }
    pid_t pid;
    {
        BlockAllSignals blocked;
        pid = ::fork();
        if (pid == 0) {
            ::close(pipe_fds[0]);
            child_main(p, pipe_fds[1]);
        }
    }
    const int fork_errno = errno;
    ::close(pipe_fds[1]);
    if (pid < 0) {
        ::close(pipe_fds[0]);
        return sys_error(fork_errno);
    }

    // EOF: the exec succeeded (the write end closed at exec). A report: the
    // child exits 127 at once; reap it here, it never reaches the reaper.
    ChildError err{};
    ssize_t got;
    do {
        got = ::read(pipe_fds[0], &err, sizeof err);
    } while (got < 0 && errno == EINTR);
    ::close(pipe_fds[0]);
    if (got != 0) {
        int st = 0;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        return sys_error(got == static_cast<ssize_t>(sizeof err) ? err.error : EIO);
    }

    int pidfd = -1;
    if (wait_mode() == WaitMode::pidfd) {
        // The child is ours and unreaped, so the pid cannot name another
        // process yet. Any failure (ENOSYS, EMFILE) means the polling path.
        pidfd = open_pidfd(pid);
    }
    ChildPtr child = std::make_shared<ChildProcess>(pid, pidfd);
    reaper_watch(child);
    return child;
}

WaitMode wait_mode() noexcept {
    static const WaitMode mode = [] {
        const char* v = std::getenv("POLLUX_PROCESS_WAIT");
        return v != nullptr && std::strcmp(v, "poll") == 0 ? WaitMode::poll : WaitMode::pidfd;
    }();
    return mode;
}

} // namespace pollux::detail::process
