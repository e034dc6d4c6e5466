#pragma once

// Private to lib/: system calls made again when a signal interrupted them.
//
// A signal handler that runs while a thread is inside a system call makes
// that call fail with EINTR, unless the handler was installed with
// SA_RESTART, and some calls fail with EINTR even then (signal(7), "Interruption
// of system calls and library functions by signal handlers"). The call did
// nothing and nothing is wrong with the descriptor, so the only right answer
// is to make it again; reporting EINTR as an error would close a healthy
// connection. libuv does the same (`uv__recvmsg`, `uv__try_write`), and so
// does Asio's reactor for its own asynchronous operations
// (`socket_ops::non_blocking_recv`), but not Asio's synchronous calls on a
// socket the user made non-blocking (`socket_ops::sync_recv1` returns
// `error::interrupted`), which is how `uv::Tcp` and `uv::Udp` read and write.
//
// The retry is unbounded: each EINTR means one signal handler ran, so the
// loop spins only as long as signals keep arriving.
//
// Calls that must NOT go through these helpers, with the reason:
// - close(2). On Linux the descriptor is released before the call can be
//   interrupted, so close never needs retrying, and a retry could close a
//   descriptor that another thread has opened in the meantime under the same
//   number (close(2), "Dealing with error returns from close()"). EINTR from
//   close is ignored instead.
// - connect(2) on a new socket. An interrupted connect carries on in the
//   background; calling it again fails with EALREADY. lib/net/connect.hpp
//   treats its EINTR as EINPROGRESS and waits for writability.

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <cerrno>
#include <type_traits>

namespace pollux::detail {

/// Calls `f`, a system call that returns -1 and sets errno on failure, until
/// it does not fail with EINTR, and returns its last result (errno is then
/// that call's).
template <class F>
auto retry_eintr(F&& f) -> decltype(f()) {
    for (;;) {
        auto r = f();
        if (r != -1 || errno != EINTR) {
            return r;
        }
    }
}

/// Calls `f(ec)`, an Asio synchronous operation that reports failure in
/// `ec`, until `ec` is not `error::interrupted` (EINTR), and returns its last
/// result.
template <class F>
auto retry_eintr(boost::system::error_code& ec, F&& f) -> decltype(f(ec)) {
    for (;;) {
        if constexpr (std::is_void_v<decltype(f(ec))>) {
            f(ec);
            if (ec != boost::asio::error::interrupted) {
                return;
            }
        } else {
            auto r = f(ec);
            if (ec != boost::asio::error::interrupted) {
                return r;
            }
        }
    }
}

} // namespace pollux::detail
