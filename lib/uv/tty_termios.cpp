#include "tty_termios.hpp"

#include "../detail/retry_eintr.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace pollux::uv {

namespace {

boost::system::error_code sys_error(int e) noexcept {
    return {e, boost::system::system_category()};
}

// The process-wide original mode (see tty_termios.hpp). Constant-initialized:
// usable from a signal handler at any time, also during static destruction.
std::atomic_flag g_lock = ATOMIC_FLAG_INIT;
int g_fd = -1; // a duplicate of the first terminal set to raw or io mode
::termios g_orig{};

int tcsetattr_retry(int fd, int how, const ::termios& t) noexcept {
    return pollux::detail::retry_eintr([&] { return ::tcsetattr(fd, how, &t); });
}

} // namespace

boost::system::error_code tty_reset_mode() noexcept {
    const int saved_errno = errno;
    if (g_lock.test_and_set(std::memory_order_acquire)) {
        return sys_error(EBUSY); // in set_mode (libuv's UV_EBUSY)
    }
    int err = 0;
    if (g_fd != -1 && tcsetattr_retry(g_fd, TCSANOW, g_orig) != 0) {
        err = errno;
    }
    g_lock.clear(std::memory_order_release);
    errno = saved_errno;
    return err != 0 ? sys_error(err) : boost::system::error_code();
}

namespace detail {

boost::system::error_code TtyTermios::set_mode(int fd, TtyMode m) noexcept {
    if (mode == m) {
        return {};
    }
    if (mode == TtyMode::normal) {
        ::termios now{};
        if (pollux::detail::retry_eintr([&] { return ::tcgetattr(fd, &now); }) != 0) {
            return sys_error(errno);
        }
        orig = now;
        while (g_lock.test_and_set(std::memory_order_acquire)) {
            // Held only for a copy (or by tty_reset_mode for one tcsetattr).
        }
        int err = 0;
        if (g_fd == -1) {
            const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
            if (dup >= 0) {
                g_orig = now;
                g_fd = dup;
            } else {
                err = errno;
            }
        }
        g_lock.clear(std::memory_order_release);
        if (err != 0) {
            return sys_error(err); // EMFILE: nothing changed
        }
    }
    ::termios t = orig;
    switch (m) {
    case TtyMode::normal:
        break;
    case TtyMode::raw: // libuv's UV_TTY_MODE_RAW, flag for flag
        t.c_iflag &= ~static_cast<tcflag_t>(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
        t.c_oflag |= ONLCR;
        t.c_cflag |= CS8;
        t.c_lflag &= ~static_cast<tcflag_t>(ECHO | ICANON | IEXTEN | ISIG);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        break;
    case TtyMode::io: // UV_TTY_MODE_IO: cfmakeraw
        ::cfmakeraw(&t);
        break;
    }
    if (tcsetattr_retry(fd, TCSADRAIN, t) != 0) {
        return sys_error(errno);
    }
    mode = m;
    return {};
}

boost::system::error_code get_winsize(int fd, int& width, int& height) noexcept {
    ::winsize ws{};
    if (pollux::detail::retry_eintr([&] { return ::ioctl(fd, TIOCGWINSZ, &ws); }) != 0) {
        return sys_error(errno);
    }
    width = ws.ws_col;
    height = ws.ws_row;
    return {};
}

} // namespace detail

} // namespace pollux::uv
