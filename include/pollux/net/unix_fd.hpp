#pragma once

/// @file
/// What Unix-domain sockets carry besides bytes: `net::OwnedFd` (a
/// descriptor received with `SCM_RIGHTS`, closed when dropped),
/// `net::RecvFds` (the output of `recv_with_fds`) and `net::UCred` (the
/// peer's credentials, `SO_PEERCRED`).

#include <pollux/detail/config.hpp>

#include <cstddef>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace pollux::net {

/// A descriptor this object owns (Rust's `OwnedFd`): closed by the
/// destructor unless `release()` gave it away. Move-only.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class POLLUX_API OwnedFd {
public:
    /// Holds none (`get()` is -1).
    OwnedFd() noexcept = default;
    /// Takes ownership of `fd` (-1: none).
    explicit OwnedFd(int fd) noexcept : fd_(fd) {}
    /// Takes `o`'s descriptor; `o` holds none.
    OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    /// Closes the descriptor held, then takes `o`'s. Self-assignment does
    /// nothing.
    OwnedFd& operator=(OwnedFd&& o) noexcept {
        if (this != &o) {
            reset(std::exchange(o.fd_, -1));
        }
        return *this;
    }
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    ~OwnedFd() { reset(); }

    /// The descriptor, still owned (-1 when none).
    [[nodiscard]] int get() const noexcept { return fd_; }
    /// Gives the descriptor to the caller, who must close it; -1 when none.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    /// Closes the descriptor held (not retried on `EINTR`: Linux frees it
    /// even then), then owns `fd`.
    void reset(int fd = -1) noexcept;
    /// Whether it holds a descriptor.
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

/// What `UnixStream::recv_with_fds` and `UnixDatagram::recv_with_fds`
/// complete with: the bytes read into the buffer and the descriptors that
/// came with them, in the order sent, close-on-exec.
struct RecvFds {
    /// Bytes read (0 on a stream: end of stream).
    std::size_t bytes = 0;
    /// The descriptors received with those bytes (often none).
    std::vector<OwnedFd> fds;
};

/// A peer's credentials (`SO_PEERCRED`): those of the process that called
/// `connect`, `listen` or `socketpair`, at that time (tokio's `UCred`).
struct UCred {
    ::pid_t pid = 0;
    ::uid_t uid = 0;
    ::gid_t gid = 0;
};

} // namespace pollux::net
