// An LD_PRELOAD fault injector for test/eintr_test.cpp: it makes every Nth
// data-moving call on a socket fail with EINTR, without doing anything, as if
// a signal handler had run while the call was about to block.
//
// Configuration: POLLUX_EINTR_EVERY=N (N >= 2), read at the first
// intercepted call. Unset, empty or not a number: nothing is injected.
// N = 1 is raised to 2, since a caller that retries on EINTR (as it should)
// would otherwise never get through.
//
// Intercepted: read, write, readv, writev, recv, send, recvfrom, sendto,
// recvmsg and sendmsg, when the descriptor is a socket (fstat says
// S_ISSOCK); other descriptors (Asio's eventfd, pipes, files, the terminal)
// pass straight through. One process-wide counter numbers the intercepted
// socket calls, so a failed call's retry is the next call and gets through.
// Each original is found with dlsym(RTLD_NEXT, ...), which works whether
// the next library is libc or a sanitizer runtime that intercepts it too.
//
// `pollux_eintr_injected()` returns how many failures were injected, so that
// the test can prove that injection was on (it finds the function with
// dlsym(RTLD_DEFAULT, ...)).

// The fortified inline wrappers of glibc's headers would clash with the
// definitions below.
#undef _FORTIFY_SOURCE

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

std::atomic<unsigned long> socket_calls{0};
std::atomic<unsigned long> injected{0};

unsigned long every() {
    static const unsigned long n = [] {
        const char* s = std::getenv("POLLUX_EINTR_EVERY");
        if (s == nullptr || *s == '\0') {
            return 0UL;
        }
        char* end = nullptr;
        unsigned long v = std::strtoul(s, &end, 10);
        if (*end != '\0') {
            return 0UL;
        }
        return v == 1 ? 2UL : v;
    }();
    return n;
}

bool is_socket(int fd) {
    const int saved = errno;
    struct stat st {};
    const bool sock = ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    errno = saved;
    return sock;
}

// True (with errno set to EINTR) when this call is to fail.
bool inject(int fd) {
    const unsigned long n = every();
    if (n == 0 || !is_socket(fd)) {
        return false;
    }
    // ORDERING: a plain counter; nothing is published through it.
    if ((socket_calls.fetch_add(1, std::memory_order_relaxed) + 1) % n != 0) {
        return false;
    }
    // ORDERING: read by pollux_eintr_injected() only for its value.
    injected.fetch_add(1, std::memory_order_relaxed);
    errno = EINTR;
    return true;
}

// The next definition of `name` after this library, as `Fn*`.
template <class Fn>
Fn* next(const char* name) {
    void* p = ::dlsym(RTLD_NEXT, name);
    if (p == nullptr) {
        std::abort(); // no libc below us: nothing sensible to do
    }
    return reinterpret_cast<Fn*>(p);
}

} // namespace

#define POLLUX_EINTR_FORWARD(name, fd, ...)                                                        \
    static auto* const real = next<decltype(::name)>(#name);                                       \
    if (inject(fd)) {                                                                              \
        return -1;                                                                                 \
    }                                                                                              \
    return real(__VA_ARGS__)

extern "C" {

__attribute__((visibility("default"))) unsigned long pollux_eintr_injected() {
    return injected.load(std::memory_order_relaxed);
}

__attribute__((visibility("default"))) ssize_t read(int fd, void* buf, size_t n) {
    POLLUX_EINTR_FORWARD(read, fd, fd, buf, n);
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void* buf, size_t n) {
    POLLUX_EINTR_FORWARD(write, fd, fd, buf, n);
}

__attribute__((visibility("default"))) ssize_t readv(int fd, const struct iovec* iov, int cnt) {
    POLLUX_EINTR_FORWARD(readv, fd, fd, iov, cnt);
}

__attribute__((visibility("default"))) ssize_t writev(int fd, const struct iovec* iov, int cnt) {
    POLLUX_EINTR_FORWARD(writev, fd, fd, iov, cnt);
}

__attribute__((visibility("default"))) ssize_t recv(int fd, void* buf, size_t n, int flags) {
    POLLUX_EINTR_FORWARD(recv, fd, fd, buf, n, flags);
}

__attribute__((visibility("default"))) ssize_t send(int fd, const void* buf, size_t n, int flags) {
    POLLUX_EINTR_FORWARD(send, fd, fd, buf, n, flags);
}

__attribute__((visibility("default"))) ssize_t
recvfrom(int fd, void* buf, size_t n, int flags, struct sockaddr* addr, socklen_t* addr_len) {
    POLLUX_EINTR_FORWARD(recvfrom, fd, fd, buf, n, flags, addr, addr_len);
}

__attribute__((visibility("default"))) ssize_t sendto(
    int fd, const void* buf, size_t n, int flags, const struct sockaddr* addr, socklen_t addr_len) {
    POLLUX_EINTR_FORWARD(sendto, fd, fd, buf, n, flags, addr, addr_len);
}

__attribute__((visibility("default"))) ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
    POLLUX_EINTR_FORWARD(recvmsg, fd, fd, msg, flags);
}

__attribute__((visibility("default"))) ssize_t
sendmsg(int fd, const struct msghdr* msg, int flags) {
    POLLUX_EINTR_FORWARD(sendmsg, fd, fd, msg, flags);
}

} // extern "C"
