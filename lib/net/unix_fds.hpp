#pragma once

// Private to lib/net: the system calls behind descriptor passing and peer
// credentials, shared by UnixStream (lib/net/unix.cpp) and UnixDatagram
// (lib/net/unix_datagram.cpp). Each is one non-blocking call: would-block
// comes back as an error for poll_io (socket_block.hpp) to wait on.

#include <pollux/core/result.hpp>
#include <pollux/net/unix_fd.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <span>

namespace pollux::net::detail {

/// Linux's SCM_MAX_FD: the most descriptors one message may carry.
inline constexpr std::size_t max_fds_per_message = 253;

/// One sendmsg(MSG_NOSIGNAL) of `buf` with `fds` as SCM_RIGHTS (none: a
/// plain send). invalid_argument for more than max_fds_per_message.
Result<std::size_t>
send_with_fds(int sock, boost::asio::const_buffer buf, std::span<const int> fds);

/// One recvmsg(MSG_CMSG_CLOEXEC) into `buf`, with room for `max_fds`
/// descriptors (clamped to max_fds_per_message). MSG_CTRUNC gives
/// no_buffer_space, after closing the descriptors that did arrive.
Result<RecvFds> recv_with_fds(int sock, boost::asio::mutable_buffer buf, std::size_t max_fds);

/// getsockopt(SO_PEERCRED).
Result<UCred> peer_cred(int sock);

} // namespace pollux::net::detail
