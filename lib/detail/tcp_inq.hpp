#pragma once

// Private to the library: TCP reads that say whether they emptied the
// socket, for the drained reads of lib/detail/readiness.hpp ("A drained
// read", (a)). Linux's TCP_INQ (4.18): once set on a socket, every recvmsg
// with room for it returns a TCP_CM_INQ control message with the bytes still
// queued after the read, a received FIN counting as 1.

#include "retry_eintr.hpp"

#include <cstddef>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>

namespace pollux::detail {

/// Asks the kernel for TCP_CM_INQ messages on TCP socket `fd`. False where
/// it refuses (a kernel before 4.18) or has no TCP_INQ: reads then never
/// say they emptied the socket.
inline bool enable_tcp_inq(int fd) noexcept {
#ifdef TCP_INQ
    const int on = 1;
    return ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof(on)) == 0;
#else
    (void)fd;
    return false;
#endif
}

/// `recv(fd, data, size, 0)`, retried on EINTR; `*emptied` is set when it
/// returned bytes and the kernel said that no byte and no FIN is left after
/// them (inq == 0). Returns -1 with errno on failure.
inline ssize_t recv_inq(int fd, void* data, std::size_t size, bool* emptied) noexcept {
    *emptied = false;
#ifdef TCP_INQ
    ::iovec iov{data, size};
    alignas(::cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    ::msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = retry_eintr([&] { return ::recvmsg(fd, &msg, 0); });
    if (n > 0 && msg.msg_controllen >= CMSG_LEN(sizeof(int))) {
        const ::cmsghdr* c = CMSG_FIRSTHDR(&msg);
        if (c != nullptr && c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
            int inq = 0;
            std::memcpy(&inq, CMSG_DATA(c), sizeof(inq));
            *emptied = inq == 0;
        }
    }
    return n;
#else
    return retry_eintr([&] { return ::recv(fd, data, size, 0); });
#endif
}

} // namespace pollux::detail
