#include "spawn.hpp"

#include "reaper.hpp"

#include <boost/system/system_error.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

// glibc's clone(2) wrapper under its own name: `clone` is a weak alias of
// it, the name sanitizers intercept. TSan's `clone` interceptor runs its
// fork bookkeeping in the child (marks every descriptor, unlocks its
// mutexes), which with CLONE_VM would act on the parent's tables; the child
// here never enters a sanitizer's runtime (see POLLUX_CHILD_CODE), so the
// sanitizers need not know of it.
extern "C" int __clone(int (*fn)(void*), void* stack, int flags, void* arg, ...);

namespace pollux::detail::process {

namespace {

// Everything the child uses, made before the clone as plain data: the child
// shares the parent's memory (CLONE_VM) while the parent's other threads run
// on, so it allocates nothing, takes no lock and reads only these.
struct Prepared {
    std::vector<std::string> candidates;    // execve paths, in order
    std::vector<const char*> candidate_ptr; // their c_str()s
    std::vector<char*> argv;                // null-terminated
    char** envp = nullptr;                  // environ or env_ptrs.data()
    std::vector<char*> env_ptrs;
    // For the child: the vectors above, as pointers, and the request.
    const char* const* cands = nullptr;
    std::size_t ncands = 0;
    char* const* argvp = nullptr;
    const ChildFd* fds = nullptr;
    int nfds = 0;
    const char* cwd = nullptr; // nullptr: the parent's
    bool new_session = false;
    bool set_pgroup = false;
    pid_t pgroup = 0;
    bool set_uid = false;
    uid_t uid = 0;
    bool set_gid = false;
    gid_t gid = 0;
    bool close_other_fds = true;
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

// What the child shares with the parent: its input, and the errno of the
// step that failed, which the child writes into the parent's memory (the
// same memory: CLONE_VM) before it exits 127. Nothing is written when execve
// succeeds. CLONE_VFORK keeps the parent's thread in clone() until the child
// has exec'd or exited, so the parent reads `error` only after the child's
// last write.
struct ChildArgs {
    const Prepared* p;
    int error;
};

// The child's code, between clone() and execve(), runs on the parent's
// memory with the parent thread's TLS, so it stays out of every runtime that
// keeps state there:
// - only raw system calls, never glibc's wrappers: glibc's setuid/setgid/
//   setgroups act on every thread of glibc's thread list (the parent's), and
//   a sanitizer intercepts sigaction, close, dup2, _exit, ... and records
//   them in its own tables, which are the parent's too (TSan itself turns a
//   vfork into a fork for that reason);
// - no sanitizer instrumentation (frames that never return would leave
//   ASan's shadow poisoned and TSan's shadow stack unbalanced);
// - only the plain data of Prepared.
// syscall(3) sets errno, the parent thread's: the parent reads it only
// after a failed clone.
#define POLLUX_CHILD_CODE __attribute__((no_sanitize("address", "thread", "undefined")))

[[noreturn]] POLLUX_CHILD_CODE void child_exit() noexcept {
    for (;;) {
        ::syscall(SYS_exit_group, 127);
    }
}

[[noreturn]] POLLUX_CHILD_CODE void child_fail(ChildArgs& a, int error) noexcept {
    a.error = error;
    child_exit();
}

// The kernel's sigset_t size (glibc's NSIG is the kernel's _NSIG + 1).
constexpr long kernel_sigset_size = (NSIG - 1) / 8;

// close_range(first, ~0U, CLOSE_RANGE_CLOEXEC) (Linux 5.11), else the same
// one descriptor at a time up to the descriptor limit.
POLLUX_CHILD_CODE void mark_cloexec_from(int first) noexcept {
#if defined(SYS_close_range)
    constexpr unsigned close_range_cloexec = 1u << 2; // CLOSE_RANGE_CLOEXEC
    if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, close_range_cloexec) == 0) {
        return;
    }
#endif
    struct {
        unsigned long long cur, max;
    } lim{};
    long last = 65536;
    if (::syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &lim) == 0 &&
        lim.cur < static_cast<unsigned long long>(last)) {
        last = static_cast<long>(lim.cur);
    }
    for (long fd = first; fd < last; ++fd) {
        const long flags = ::syscall(SYS_fcntl, fd, F_GETFD);
        if (flags >= 0 && (flags & FD_CLOEXEC) == 0) {
            ::syscall(SYS_fcntl, fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
}

// Credentials, with the 32-bit-id calls where the plain ones take 16 bits.
#if defined(SYS_setgroups32)
constexpr long sys_setgroups = SYS_setgroups32, sys_setgid = SYS_setgid32,
               sys_setuid = SYS_setuid32;
#else
constexpr long sys_setgroups = SYS_setgroups, sys_setgid = SYS_setgid, sys_setuid = SYS_setuid;
#endif

// The child: clone()'s entry, `arg` the parent's ChildArgs. Order as
// libuv's uv__process_child_init: signals, session/group, the descriptor
// table, cwd, groups/gid/uid, then the mask and the exec.
[[noreturn]] POLLUX_CHILD_CODE int child_main(void* arg) noexcept {
    ChildArgs& a = *static_cast<ChildArgs*>(arg);
    const Prepared& p = *a.p;

    // Default dispositions for every signal (the parent blocked them all
    // before the clone, so no handler of the parent runs here meanwhile).
    // Every one, caught ones included: exec would reset a handler itself,
    // but one that ran between the unmasking below and the exec would run
    // on the parent's memory. The kernel's struct sigaction, all zero, is
    // SIG_DFL with no flags and an empty mask on every architecture.
    // (glibc's two internal signals are reset too, as the exec would.)
    const unsigned long dfl[6] = {};
    for (long s = 1; s < NSIG; ++s) {
        if (s != SIGKILL && s != SIGSTOP) {
            ::syscall(SYS_rt_sigaction, s, dfl, nullptr, kernel_sigset_size);
        }
    }

    if (p.new_session) {
        if (::syscall(SYS_setsid) < 0) {
            child_fail(a, errno);
        }
    } else if (p.set_pgroup) {
        if (::syscall(SYS_setpgid, 0, static_cast<long>(p.pgroup)) < 0) {
            child_fail(a, errno);
        }
    }

    // The descriptor table. First every source moves above the table
    // (close-on-exec copies), so that filling slot i cannot overwrite the
    // source of a later slot; /dev/null likewise.
    const int n = p.nfds;
    long devnull = -1;
    // At most 1024 slots are supported this way; larger tables are refused
    // by spawn() before the clone.
    long moved_src[1024];
    for (int i = 0; i < n; ++i) {
        const ChildFd& c = p.fds[i];
        moved_src[i] = -1;
        if (c.kind == ChildFd::Kind::parent_fd) {
            moved_src[i] = ::syscall(
                SYS_fcntl, static_cast<long>(c.fd), F_DUPFD_CLOEXEC, static_cast<long>(n));
            if (moved_src[i] < 0) {
                child_fail(a, errno);
            }
        } else if (c.kind == ChildFd::Kind::null && devnull < 0) {
            const long d = ::syscall(SYS_openat,
                                     static_cast<long>(AT_FDCWD),
                                     "/dev/null",
                                     static_cast<long>(O_RDWR | O_CLOEXEC));
            if (d < 0) {
                child_fail(a, errno);
            }
            devnull = d >= n ? d : ::syscall(SYS_fcntl, d, F_DUPFD_CLOEXEC, static_cast<long>(n));
            if (devnull < 0) {
                child_fail(a, errno);
            }
            if (d != devnull) {
                ::syscall(SYS_close, d);
            }
        }
    }
    for (int i = 0; i < n; ++i) {
        const ChildFd& c = p.fds[i];
        // dup3 clears FD_CLOEXEC on the new descriptor (src is above the
        // table, never i); the copies above the table keep it and vanish at
        // exec.
        const long src = c.kind == ChildFd::Kind::parent_fd ? moved_src[i]
                         : c.kind == ChildFd::Kind::null    ? devnull
                                                            : -1;
        if (src < 0) {
            ::syscall(SYS_close, static_cast<long>(i));
        } else if (::syscall(SYS_dup3, src, static_cast<long>(i), 0L) < 0) {
            child_fail(a, errno);
        }
    }

    // Every descriptor above the table is marked close-on-exec: the child
    // gets its table and nothing else, even what the parent inherited
    // without FD_CLOEXEC.
    if (p.close_other_fds) {
        mark_cloexec_from(n);
    }

    if (p.cwd != nullptr && ::syscall(SYS_chdir, p.cwd) < 0) {
        child_fail(a, errno);
    }
    if (p.set_uid || p.set_gid) {
        // Drop supplementary groups; EPERM when not root, as libuv ignores.
        ::syscall(sys_setgroups, 0L, nullptr);
    }
    if (p.set_gid && ::syscall(sys_setgid, static_cast<long>(p.gid)) < 0) {
        child_fail(a, errno);
    }
    if (p.set_uid && ::syscall(sys_setuid, static_cast<long>(p.uid)) < 0) {
        child_fail(a, errno);
    }

    const unsigned long none[2] = {};
    ::syscall(
        SYS_rt_sigprocmask, static_cast<long>(SIG_SETMASK), none, nullptr, kernel_sigset_size);

    // execvp's rules: go on past ENOENT/ENOTDIR (and the other "not here"
    // answers), remember EACCES, stop at any other error.
    bool saw_eacces = false;
    int last = ENOENT;
    for (std::size_t i = 0; i < p.ncands; ++i) {
        ::syscall(SYS_execve, p.cands[i], p.argvp, p.envp);
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
    child_fail(a, last);
}

#undef POLLUX_CHILD_CODE

boost::system::error_code sys_error(int e) {
    return {e, boost::system::system_category()};
}

// Blocks every signal of the calling thread for its lifetime, so that no
// handler of the parent runs in the child between the clone and the reset of
// the dispositions (the child inherits the mask).
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
    p.candidates = candidates_of(req);
    for (const std::string& c : p.candidates) {
        p.candidate_ptr.push_back(c.c_str());
    }
    p.cands = p.candidate_ptr.data();
    p.ncands = p.candidate_ptr.size();
    const std::vector<std::string> file_only{req.file};
    for (const std::string& a : req.args.empty() ? file_only : req.args) {
        p.argv.push_back(const_cast<char*>(a.c_str()));
    }
    p.argv.push_back(nullptr);
    p.argvp = p.argv.data();
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
    p.fds = req.fds.data();
    p.nfds = static_cast<int>(req.fds.size());
    p.cwd = req.cwd.empty() ? nullptr : req.cwd.c_str();
    p.new_session = req.new_session;
    p.set_pgroup = req.process_group.has_value();
    p.pgroup = req.process_group.value_or(0);
    p.set_uid = req.uid.has_value();
    p.uid = req.uid.value_or(0);
    p.set_gid = req.gid.has_value();
    p.gid = req.gid.value_or(0);
    p.close_other_fds = req.close_other_fds;

    if (const boost::system::error_code ec = reaper_start()) {
        return ec;
    }

    // The child runs on a stack of its own in the parent's memory
    // (CLONE_VM: no page table is copied, unlike fork's) while the parent's
    // thread waits in clone() (CLONE_VFORK) until the child has exec'd or
    // exited: glibc's posix_spawn, tokio's and Rust std's way. Its frames
    // hold at most an 8 KiB table and a few structs.
    constexpr std::size_t stack_size = 128 * 1024;
    void* const stack = ::mmap(nullptr,
                               stack_size,
                               PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                               -1,
                               0);
    if (stack == MAP_FAILED) {
        return sys_error(errno);
    }
    ChildArgs args{&p, 0};
    pid_t pid;
    int clone_errno = 0;
    {
        BlockAllSignals blocked;
        // The stack grows down on every architecture Linux runs glibc's
        // clone() on that pollux builds for.
        pid = ::__clone(child_main,
                        static_cast<char*>(stack) + stack_size,
                        CLONE_VM | CLONE_VFORK | SIGCHLD,
                        &args);
        if (pid < 0) {
            clone_errno = errno; // before the mask is restored
        }
    }
    ::munmap(stack, stack_size);
    if (pid < 0) {
        return sys_error(clone_errno);
    }

    // No error: the exec succeeded. An error: the child exited 127 at once;
    // reap it here, it never reaches the reaper.
    if (args.error != 0) {
        int st = 0;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        return sys_error(args.error);
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
