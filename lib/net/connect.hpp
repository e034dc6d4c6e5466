#pragma once

// Private to lib/net: one non-blocking connect attempt on a fresh socket,
// driven by write readiness (tokio's `TcpStream::connect_mio`), shared by
// TcpStream and UnixStream.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>

#include "socket_block.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/socket_base.hpp>

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <utility>

namespace pollux::net::detail {

/// Marks `fd` close-on-exec (Asio opens sockets without SOCK_CLOEXEC).
inline void set_cloexec(int fd) noexcept {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) {
        (void)::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

/// Opens a non-blocking, close-on-exec socket of `protocol` on `ex`.
template <class Socket, class Protocol>
Result<Socket> open_socket(const boost::asio::any_io_executor& ex, const Protocol& protocol) {
    Socket s(ex);
    boost::system::error_code ec;
    s.open(protocol, ec);
    if (!ec) {
        set_cloexec(s.native_handle());
        s.non_blocking(true, ec);
    }
    if (ec) {
        return ec;
    }
    return Result<Socket>(std::move(s));
}

// States: empty (no socket) -> opened (socket, connect not called) ->
// connecting (connect returned EINPROGRESS; waiting for write readiness) ->
// released (the caller took the block) or reset (failed; socket closed).
// Completion check after readiness: SO_ERROR holds a failure; otherwise
// getpeername tells connected (ok) from still in progress (ENOTCONN, a
// spurious wake: wait again).
template <class Block>
class ConnectAttempt {
public:
    ConnectAttempt() noexcept = default;
    ConnectAttempt(const ConnectAttempt&) = delete;
    ConnectAttempt& operator=(const ConnectAttempt&) = delete;
    ~ConnectAttempt() { reset(); }

    [[nodiscard]] bool active() const noexcept { return b_ != nullptr; }

    template <class Protocol>
    Result<void> open(const boost::asio::any_io_executor& ex, const Protocol& protocol) {
        reset();
        auto s = open_socket<decltype(b_->sock)>(ex, protocol);
        if (!s) {
            return s.error();
        }
        b_ = new Block(std::move(*s));
        started_ = false;
        return {};
    }

    template <class Endpoint>
    Poll<Result<void>> poll(Context& cx, const Endpoint& ep) {
        return poll_io(*b_, Direction::write, cx, [&]() -> Result<void> {
            int fd = b_->sock.native_handle();
            if (!started_) {
                started_ = true;
                if (::connect(fd, ep.data(), static_cast<::socklen_t>(ep.size())) == 0) {
                    return {};
                }
                // An interrupted connect goes on in the background, like
                // one in progress; calling it again would fail with
                // EALREADY, so EINTR is not retried here
                // (lib/detail/retry_eintr.hpp).
                if (errno == EINPROGRESS || errno == EINTR) {
                    return boost::asio::error::would_block;
                }
                return last_error();
            }
            int err = 0;
            ::socklen_t len = sizeof(err);
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                return last_error();
            }
            if (err != 0) {
                return boost::system::error_code(err, boost::asio::error::get_system_category());
            }
            ::sockaddr_storage peer{};
            ::socklen_t plen = sizeof(peer);
            if (::getpeername(fd, reinterpret_cast<::sockaddr*>(&peer), &plen) == 0) {
                return {};
            }
            if (errno == ENOTCONN) {
                return boost::asio::error::would_block;
            }
            return last_error();
        });
    }

    /// Takes `s`, a socket made elsewhere (TcpSocket::connect: bound or
    /// given options first), as if `open` had made it.
    template <class Socket>
    void adopt(Socket&& s) {
        reset();
        b_ = new Block(std::move(s));
        started_ = false;
    }

    /// Hands the connected block to the caller.
    [[nodiscard]] Block* release() noexcept { return std::exchange(b_, nullptr); }

    void reset() noexcept { destroy_block(std::exchange(b_, nullptr)); }

private:
    Block* b_ = nullptr;
    bool started_ = false;
};

} // namespace pollux::net::detail
