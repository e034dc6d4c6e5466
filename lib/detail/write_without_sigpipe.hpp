#pragma once

// write(2) to a pipe without SIGPIPE, for every face that writes pipes on
// the futures side (net::pipe::Sender, io::AsyncFd and io::StdStream over a
// pipe or FIFO, process::ChildStdin): sockets have MSG_NOSIGNAL, pipes have
// nothing like it, and the library never changes a signal's disposition.

#include "retry_eintr.hpp"

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <ctime>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

namespace pollux::detail {

// write(2) without SIGPIPE. A write to a pipe with no reader raises
// SIGPIPE for the writing thread, and a pipe has no MSG_NOSIGNAL. So the
// write runs with SIGPIPE blocked in this thread's mask; the signal it
// raised, if any, is then pending for this thread only, and sigtimedwait
// takes it back before the mask is restored, so it is never delivered. If
// the caller had SIGPIPE blocked already, its mask is its choice: the
// signal stays pending, as a plain write would leave it. (A SIGPIPE that
// was pending before could not be told apart, but with SIGPIPE unblocked
// none is: it would have been delivered.) The process-wide disposition is
// never touched. Cost: two pthread_sigmask calls per write.
inline ssize_t write_without_sigpipe(int fd, const void* data, std::size_t size) noexcept {
    ::sigset_t pipe_set;
    ::sigset_t old;
    ::sigemptyset(&pipe_set);
    ::sigaddset(&pipe_set, SIGPIPE);
    const bool masked = ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old) == 0;
    const ssize_t n = retry_eintr([&] { return ::write(fd, data, size); });
    const int saved = errno;
    if (masked) {
        if (n < 0 && saved == EPIPE && ::sigismember(&old, SIGPIPE) == 0) {
            const ::timespec zero{};
            (void)retry_eintr([&] { return ::sigtimedwait(&pipe_set, nullptr, &zero); });
        }
        (void)::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    errno = saved;
    return n;
}

} // namespace pollux::detail
