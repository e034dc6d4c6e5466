#include "reaper.hpp"

#include <pollux/detail/io_block.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <new>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace pollux::detail::process {

namespace {

boost::system::error_code sys_error(int e) {
    return {e, boost::system::system_category()};
}

// # The reaper
//
// One thread for the whole process, started by the first spawn and never
// stopped (it holds an epoll instance and an eventfd, both close-on-exec,
// for the rest of the process's life). Its loop:
//
//   1. epoll_wait on {eventfd, every watched pidfd}, with no timeout while
//      no child is polled, else the polling backoff (1 ms doubling to
//      100 ms; back to 1 ms after a new child or a reap).
//   2. For each readable pidfd: reap that child (ChildProcess::
//      reap_if_exited: waitid(P_PIDFD), close the pidfd, wake, post).
//   3. For each polled child: reap_if_exited (waitpid(pid, WNOHANG)).
//   4. Forget the reaped children (drop the reaper's reference).
//
// The thread runs with every signal blocked, so that no handler of the
// user's runs on it and its epoll_wait is never interrupted.
//
// Who may reap: a child is reaped under its record's mutex, by the reaper
// or by try_wait on the owner's thread, exactly once (exit_ is set once).
// A pid is thus never waited for after its reap, when it may name another
// process. The pidfd is closed only by the reaper (step 2 or 3), after the
// reap, so the epoll set never holds a closed descriptor: a record reaped
// by try_wait stays readable and is forgotten at the reaper's next turn.
struct Reaper {
    int epfd = -1;
    int evfd = -1;
    std::mutex mutex; // guards the two below
    std::unordered_map<ChildProcess*, ChildPtr> by_pidfd;
    std::vector<ChildPtr> polled;

    void run() noexcept;
    void forget(ChildProcess* c) {
        std::lock_guard<std::mutex> lock(mutex);
        by_pidfd.erase(c);
    }
};

// Leaked on purpose: the thread uses it until the process exits, and no
// static destructor may pull it away from under the thread.
// ORDERING: stored with release once the reaper is complete, loaded with
// acquire by its users.
std::atomic<Reaper*> the_reaper{nullptr};
std::mutex start_mutex; // serializes reaper_start

void Reaper::run() noexcept {
    constexpr int min_backoff_ms = 1;
    constexpr int max_backoff_ms = 100;
    int backoff_ms = min_backoff_ms;
    std::vector<ChildPtr> batch;
    for (;;) {
        bool any_polled;
        {
            std::lock_guard<std::mutex> lock(mutex);
            any_polled = !polled.empty();
        }
        // Phase 1: wait.
        epoll_event evs[64];
        const int n = ::epoll_wait(epfd, evs, 64, any_polled ? backoff_ms : -1);
        bool progress = false;
        // Phase 2: readable pidfds (and the eventfd: a new child).
        for (int i = 0; i < n; ++i) {
            if (evs[i].data.ptr == nullptr) {
                std::uint64_t v;
                [[maybe_unused]] ssize_t r = ::read(evfd, &v, sizeof v);
                progress = true;
                continue;
            }
            auto* c = static_cast<ChildProcess*>(evs[i].data.ptr);
            ChildPtr keep;
            {
                std::lock_guard<std::mutex> lock(mutex);
                auto it = by_pidfd.find(c);
                if (it != by_pidfd.end()) {
                    keep = it->second;
                }
            }
            if (keep && keep->reap_if_exited()) {
                forget(c);
                progress = true;
            }
        }
        // Phase 3: polled children.
        {
            std::lock_guard<std::mutex> lock(mutex);
            batch = polled;
        }
        if (!batch.empty()) {
            std::vector<ChildProcess*> done;
            for (const ChildPtr& c : batch) {
                if (c->reap_if_exited()) {
                    done.push_back(c.get());
                }
            }
            // Phase 4: forget the reaped.
            if (!done.empty()) {
                progress = true;
                std::lock_guard<std::mutex> lock(mutex);
                std::erase_if(polled, [&](const ChildPtr& c) {
                    return std::find(done.begin(), done.end(), c.get()) != done.end();
                });
            }
            batch.clear();
        }
        backoff_ms = progress ? min_backoff_ms : std::min(backoff_ms * 2, max_backoff_ms);
    }
}

void wake_reaper(Reaper& r) noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(r.evfd, &one, sizeof one);
}

} // namespace

boost::system::error_code reaper_start() noexcept {
    if (the_reaper.load(std::memory_order_acquire) != nullptr) {
        return {};
    }
    std::lock_guard<std::mutex> lock(start_mutex);
    if (the_reaper.load(std::memory_order_acquire) != nullptr) {
        return {};
    }
    auto* r = new (std::nothrow) Reaper();
    if (r == nullptr) {
        return sys_error(ENOMEM);
    }
    r->epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0) {
        const int e = errno;
        delete r;
        return sys_error(e);
    }
    r->evfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    if (r->evfd < 0 || ::epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) < 0) {
        const int e = errno;
        if (r->evfd >= 0) {
            ::close(r->evfd);
        }
        ::close(r->epfd);
        delete r;
        return sys_error(e);
    }
    // The thread inherits the creating thread's mask: block everything
    // around its creation.
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        std::thread([r] { r->run(); }).detach();
    } catch (const std::system_error& e) {
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
        ::close(r->evfd);
        ::close(r->epfd);
        delete r;
        return e.code().value() != 0 ? sys_error(e.code().value()) : sys_error(EAGAIN);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    the_reaper.store(r, std::memory_order_release);
    return {};
}

void reaper_watch(const ChildPtr& child) noexcept {
    Reaper* r = the_reaper.load(std::memory_order_acquire);
    std::lock_guard<std::mutex> lock(r->mutex);
    const int pidfd = child->pidfd();
    if (pidfd >= 0) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = child.get();
        // Inserted first: an event may arrive as soon as the add is made,
        // and the reaper looks the record up under this mutex.
        try {
            r->by_pidfd.emplace(child.get(), child);
            if (::epoll_ctl(r->epfd, EPOLL_CTL_ADD, pidfd, &ev) == 0) {
                return;
            }
            r->by_pidfd.erase(child.get());
        } catch (const std::bad_alloc&) {
        }
    }
    // No pidfd, or the epoll set refused it (ENOSPC, ENOMEM): polled. The
    // vector's push_back may throw only on memory exhaustion, when nothing
    // better than the terminate of noexcept is left.
    r->polled.push_back(child);
    wake_reaper(*r);
}

// ---- ChildProcess ----------------------------------------------------------

ChildProcess::ChildProcess(pid_t pid, int pidfd)
    : pid_(pid), has_pidfd_(pidfd >= 0), pidfd_(pidfd) {
}

ChildProcess::~ChildProcess() {
    if (pidfd_ >= 0) {
        ::close(pidfd_);
    }
    drop_executor_locked();
}

int ChildProcess::pidfd() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return pidfd_;
}

boost::asio::any_io_executor& ChildProcess::ex() noexcept {
    // SAFETY: has_ex_ says an executor was placement-new'ed into ex_storage_.
    return *std::launder(reinterpret_cast<boost::asio::any_io_executor*>(ex_storage_));
}

void ChildProcess::drop_executor_locked() noexcept {
    if (!has_ex_) {
        return;
    }
    has_ex_ = false;
    GatePass pass(gate_.get());
    if (pass) {
        ex().~any_io_executor();
    }
    // Else the context is gone (or going, on another thread): the
    // executor's destructor must not run; its storage is ours and is
    // released with the record.
    gate_ = GateRef();
}

bool ChildProcess::reap_locked(std::optional<Waker>& wake) {
    if (exit_) {
        return true;
    }
    ExitResult r;
    bool done = false;
    if (pidfd_ >= 0) {
        siginfo_t si{};
        int rc;
        do {
            rc = ::waitid(
                static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &si, WEXITED | WNOHANG);
        } while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            if (si.si_pid == 0) {
                return false; // running
            }
            done = true;
            switch (si.si_code) {
            case CLD_EXITED:
                r.status = (si.si_status & 0xff) << 8;
                break;
            case CLD_DUMPED:
                r.status = (si.si_status & 0x7f) | 0x80;
                break;
            default: // CLD_KILLED
                r.status = si.si_status & 0x7f;
                break;
            }
        } else if (errno != EINVAL) {
            // ECHILD: someone else reaped it.
            done = true;
            r.error = sys_error(errno);
        }
        // EINVAL: a kernel with pidfd_open but no P_PIDFD (5.3): waitpid.
    }
    if (!done) {
        int st = 0;
        pid_t rc;
        do {
            rc = ::waitpid(pid_, &st, WNOHANG);
        } while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            return false;
        }
        if (rc < 0) {
            r.error = sys_error(errno);
        } else {
            r.status = st;
        }
    }
    exit_ = r;
    if (waker_) {
        wake = std::move(waker_);
        waker_.reset();
    }
    if (callback_) {
        post_locked();
    }
    return true;
}

bool ChildProcess::reap_if_exited() {
    std::optional<Waker> wake;
    bool done;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        done = reap_locked(wake);
        if (done && pidfd_ >= 0) {
            // Out of the epoll set first: a copy of the descriptor in a
            // forked process would keep the registration alive.
            if (Reaper* r = the_reaper.load(std::memory_order_acquire)) {
                ::epoll_ctl(r->epfd, EPOLL_CTL_DEL, pidfd_, nullptr);
            }
            ::close(pidfd_);
            pidfd_ = -1;
        }
    }
    if (wake) {
        std::move(*wake).wake();
    }
    return done;
}

std::optional<ExitResult> ChildProcess::try_wait() {
    std::optional<Waker> wake;
    std::optional<ExitResult> out;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (reap_locked(wake)) {
            out = exit_;
        }
    }
    if (wake) {
        std::move(*wake).wake();
    }
    return out;
}

boost::system::error_code ChildProcess::kill(int signum) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (exit_) {
        return sys_error(ESRCH);
    }
    if (pidfd_ >= 0) {
#if defined(SYS_pidfd_send_signal)
        if (::syscall(SYS_pidfd_send_signal, pidfd_, signum, nullptr, 0) == 0) {
            return {};
        }
        if (errno != ENOSYS) {
            return sys_error(errno);
        }
#endif
    }
    // Unreaped, so the pid is still our child's.
    if (::kill(pid_, signum) == 0) {
        return {};
    }
    return sys_error(errno);
}

void ChildProcess::post_locked() {
    if (!has_ex_) {
        return;
    }
    GatePass pass(gate_.get());
    if (!pass) {
        return; // the context is gone or going: no callback
    }
    boost::asio::post(ex(), [self = shared_from_this(), gen = generation_] { self->fire(gen); });
}

void ChildProcess::fire(std::uint64_t generation) {
    ExitCallback cb;
    ExitResult r;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (generation != generation_ || !callback_ || !exit_) {
            return;
        }
        cb = std::move(callback_);
        callback_ = nullptr;
        r = *exit_;
    }
    cb(r);
}

void ChildProcess::on_exit(const boost::asio::any_io_executor& ex, ExitCallback cb) {
    GateRef gate = gate_of_executor(ex);
    ExitCallback old;
    std::lock_guard<std::mutex> lock(mutex_);
    old = std::move(callback_);
    callback_ = std::move(cb);
    ++generation_;
    drop_executor_locked();
    new (ex_storage_) boost::asio::any_io_executor(ex);
    has_ex_ = true;
    gate_ = std::move(gate);
    if (exit_) {
        post_locked();
    }
}

void ChildProcess::cancel_on_exit() noexcept {
    ExitCallback old;
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    old = std::move(callback_);
    callback_ = nullptr;
}

Poll<ExitResult> ChildProcess::poll_exit(Context& cx) {
    // A replaced waker is dropped after the unlock: dropping a task's last
    // reference may destroy the task, and with it anything it owns.
    std::optional<Waker> old;
    std::lock_guard<std::mutex> lock(mutex_);
    if (exit_) {
        return Ready{*exit_};
    }
    if (!waker_ || !waker_->will_wake(cx.waker())) {
        old = std::exchange(waker_, cx.waker());
    }
    return Pending{};
}

} // namespace pollux::detail::process
