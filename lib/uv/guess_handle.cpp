#include <pollux/uv/guess_handle.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pollux::uv {

// The order of libuv's checks: isatty first (a terminal is a character
// device, which is otherwise a file), then the file type, then for a socket
// its family and type.
HandleType guess_handle(int fd) noexcept {
    if (fd < 0) {
        return HandleType::unknown;
    }
    if (::isatty(fd) != 0) {
        return HandleType::tty;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return HandleType::unknown;
    }
    if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)) {
        return HandleType::file;
    }
    if (S_ISFIFO(st.st_mode)) {
        return HandleType::named_pipe;
    }
    if (!S_ISSOCK(st.st_mode)) {
        return HandleType::unknown;
    }
    ::sockaddr_storage ss{};
    ::socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<::sockaddr*>(&ss), &len) != 0) {
        return HandleType::unknown;
    }
    int type = 0;
    len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
        return HandleType::unknown;
    }
    const bool inet = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
    if (type == SOCK_DGRAM && inet) {
        return HandleType::udp;
    }
    if (type == SOCK_STREAM) {
        if (inet) {
            return HandleType::tcp;
        }
        if (ss.ss_family == AF_UNIX) {
            return HandleType::named_pipe;
        }
    }
    return HandleType::unknown;
}

} // namespace pollux::uv
