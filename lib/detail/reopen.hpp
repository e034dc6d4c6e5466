#pragma once

// Private to the library: a descriptor's file opened again, for io::std_stream
// and uv::Tty, which need O_NONBLOCK on a file description of their own
// instead of setting it on one shared with std::cout, the shell and every
// other holder (issue 23).

#include "retry_eintr.hpp"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pollux::detail {

/// A pty master: reopening it would make a new pty pair (libuv's
/// uv__tty_is_slave, negated).
inline bool is_pty_master(int fd) noexcept {
    int dummy = 0;
    return ::isatty(fd) != 0 && ::ioctl(fd, TIOCGPTN, &dummy) == 0;
}

/// `fd`'s file opened again: a new open file description with `access`
/// (O_RDONLY, O_WRONLY or O_RDWR) and O_NOCTTY | O_CLOEXEC | O_NONBLOCK, as
/// libuv's uv_tty_init reopens a terminal. Through /proc/self/fd/N (which
/// also reopens an anonymous pipe on Linux), else, for a terminal, through
/// its name (no /proc). Refused for a pty master (ENXIO) and checked to be
/// the same file (device, inode, rdev) after the open. Returns the new
/// descriptor, or -errno (ENXIO for a socket, an eventfd or a FIFO's write
/// end without a reader; EACCES for a terminal the process may not open).
inline int reopen_own(int fd, int access) noexcept {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return -errno;
    }
    const bool tty = ::isatty(fd) != 0;
    if (tty && is_pty_master(fd)) {
        return -ENXIO;
    }
    if (S_ISSOCK(st.st_mode)) {
        return -ENXIO;
    }
    const int flags = access | O_NOCTTY | O_CLOEXEC | O_NONBLOCK;
    char path[64];
    (void)std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int r = retry_eintr([&] { return ::open(path, flags); });
    int err = errno;
    if (r < 0 && tty) {
        char name[256];
        if (::ttyname_r(fd, name, sizeof name) == 0) {
            r = retry_eintr([&] { return ::open(name, flags); });
            err = errno;
        }
    }
    if (r < 0) {
        return -err;
    }
    struct stat now {};
    if (::fstat(r, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino ||
        now.st_rdev != st.st_rdev) {
        ::close(r);
        return -ENXIO;
    }
    return r;
}

} // namespace pollux::detail
