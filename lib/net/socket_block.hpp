#pragma once

// Private to lib/net: the heap block that owns a socket and the readiness
// waits in flight on it, and the readiness loop every pollux::net type runs
// in its poll functions (tokio's `PollEvented`, restated for Asio).

#include <pollux/asio.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/io_block.hpp>

#include "../detail/retry_eintr.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <type_traits>
#include <unistd.h>
#include <utility>

namespace pollux::net::detail {

// The readiness protocol
// ----------------------
// A poll function (poll_read, poll_write, poll_accept, ...) runs, in order:
//
//  1. If a readiness wait for its direction is engaged, poll it. Pending:
//     return Pending (the wait's AtomicWaker now holds this poll's waker, so
//     a change of waker between polls is picked up). Ready (readable,
//     writable, or aborted): disengage it and go on; the syscall decides.
//  2. If the task's cooperative budget is spent, wake the task and return
//     Pending before touching the socket, so nothing is consumed.
//  3. Try the non-blocking syscall. Anything but would-block (data, end of
//     stream, an error) is returned as Ready, after spending one budget unit.
//  4. On would-block, start `sock.async_wait(wait_read | wait_write)` with
//     `use_future` and poll it once, which registers the waker and initiates
//     the wait. Asio's epoll reactor re-arms the descriptor with
//     EPOLL_CTL_MOD when a wait is queued, which reports readiness that
//     arrived between the syscall and the wait, so no wake is lost.
//
// So buffers are only borrowed during a poll, and dropping a future that
// polls these functions loses nothing: a byte is either returned by the poll
// that read it, or still in the kernel.
//
// Why a block: Asio's per-operation cancellation handler that a socket wait
// installs keeps a pointer into the socket's implementation, so the socket
// must not move while a wait is in flight. The public types hold a pointer
// to the block and move freely (DESIGN rule 4). A wait left engaged when a
// future is dropped stays with the block until the next poll of that
// direction (which takes it over) or the block's destruction (which cancels
// it); meanwhile it may wake the old waker once: a spurious wake.
//
// Where the block dies: as pollux/detail/io_block.hpp explains for timers
// (drop_io_block): on the dropping thread. Inside the gate of the socket's
// context, the whole block is destroyed there: the waits emit their terminal
// cancellation synchronously (a reactor operation's cancellation handler
// takes the reactor's locks), then the socket closes. If the gate refuses
// (the context is shut down, its services may be deleted), the socket's
// destructor is skipped, the waits are disowned, and abandon_closed closes
// the descriptor itself, so no descriptor leaks; the memory goes to the
// gate's deferred frees. `Block` must have `gate`, `sock` and
// `abandon_closed()`.

/// The error_code for the current errno.
inline boost::system::error_code last_error() noexcept {
    return boost::system::error_code(errno, boost::asio::error::get_system_category());
}

inline bool is_would_block(const boost::system::error_code& ec) noexcept {
    return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}

/// Step 2: false (after waking the task) when the task's budget is spent.
inline bool has_budget(Context& cx) noexcept {
    Budget* b = cx.budget();
    if (b != nullptr && b->remaining() == 0) {
        cx.waker().wake_by_ref();
        return false;
    }
    return true;
}

template <class Socket>
struct SocketBlock {
    using Wait = decltype(std::declval<Socket&>().async_wait(Socket::wait_read, use_future));

    // Throws std::bad_alloc (the context's SchedulerService is made on
    // first use); `s` then closes as the parameter dies.
    explicit SocketBlock(Socket s)
        : gate(pollux::detail::gate_of_executor(s.get_executor())), sock(std::move(s)) {
        struct ::stat st {};
        if (int d = sock.native_handle(); d >= 0 && ::fstat(d, &st) == 0) {
            fd = d;
            dev = st.st_dev;
            ino = st.st_ino;
        }
    }
    SocketBlock(const SocketBlock&) = delete;
    SocketBlock& operator=(const SocketBlock&) = delete;

    // Member order: the waits are declared after the socket, so they are
    // destroyed (and emit their terminal cancellation) while it is open.
    pollux::detail::GateRef gate;   // of sock's context; moved out by destroy_block
    Socket sock;                    // never moves while the block lives
    std::optional<Wait> read_wait;  // engaged while a read wait may be in flight
    std::optional<Wait> write_wait; // engaged while a write wait may be in flight

    // The descriptor `sock` was made with, and its identity: the refused
    // path of destroy_block closes it without asking `sock`, whose service
    // may be deleted (native_handle() goes through the service, and UBSan's
    // vptr check rightly reports the call).
    int fd = -1;
    ::dev_t dev = 0;
    ::ino_t ino = 0;

    // The refused path of destroy_block: the context is shut down, so the
    // waits' handlers are destroyed or will be, unrun, and `sock`'s
    // destructor must not run (its service may be deleted). Forget the
    // waits without emitting and close the descriptor here, if it is still
    // the socket this block was made with: an owner that closed it through
    // socket()/acceptor() may have let the kernel reuse the number for
    // another file, which fstat tells apart (a socket's inode is unique
    // while it is open).
    void abandon_closed() noexcept {
        auto forget = [](std::optional<Wait>& w) noexcept {
            if (w) {
                w->disown();
                w.reset();
            }
        };
        forget(read_wait);
        forget(write_wait);
        struct ::stat st {};
        if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
            // Not retried on EINTR: Linux frees the descriptor even then.
            ::close(fd);
        }
    }
};

/// Destroys a block where the comment above says.
template <class Block>
void destroy_block(Block* b) noexcept {
    if (b != nullptr) {
        // Blocks are made with `new Block(...)`: the storage goes back with
        // the matching ::operator delete, with or without the destructor.
        pollux::detail::drop_io_block(b, [](void* p) noexcept { ::operator delete(p); });
    }
}

/// Polls an engaged wait with a context that has no budget (a readiness
/// notification is not a unit of work; the syscall that moves data is), and
/// disengages it once it completed. True when it is still pending.
template <class Wait>
bool wait_pending(std::optional<Wait>& wait, Context& cx) {
    Context unconstrained(cx.waker());
    try {
        if (wait->poll(unconstrained).is_pending()) {
            return true;
        }
    } catch (...) {
        wait.reset();
        throw;
    }
    wait.reset();
    return false;
}

/// Steps 1-4 for direction `w` with syscall `op` (returns `Result<T>`, the
/// error would_block when the socket is not ready).
template <class Block, class Op>
auto poll_io(Block& b, boost::asio::socket_base::wait_type w, Context& cx, Op&& op)
    -> Poll<std::invoke_result_t<Op&>> {
    using R = std::invoke_result_t<Op&>;
    auto& wait = w == boost::asio::socket_base::wait_read ? b.read_wait : b.write_wait;
    if (wait && wait_pending(wait, cx)) {
        return Pending{};
    }
    if (!has_budget(cx)) {
        return Pending{};
    }
    for (;;) {
        R r = op();
        if (r || !is_would_block(r.error())) {
            (void)coop::poll_proceed(cx); // cannot fail: has_budget said so
            return Ready<R>{std::move(r)};
        }
        wait.emplace(b.sock.async_wait(w, use_future));
        if (wait_pending(wait, cx)) {
            return Pending{};
        }
        // Completed at once (Asio posts completions, so this does not
        // happen in practice): the syscall decides again.
    }
}

// ---- Stream sockets (TCP and Unix) -------------------------------------------

template <class Block>
Poll<Result<std::size_t>> stream_poll_read(Block& b, Context& cx, boost::asio::mutable_buffer buf) {
    if (buf.size() == 0) {
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    return poll_io(b, boost::asio::socket_base::wait_read, cx, [&]() -> Result<std::size_t> {
        ssize_t n = pollux::detail::retry_eintr(
            [&] { return ::recv(b.sock.native_handle(), buf.data(), buf.size(), 0); });
        if (n < 0) {
            return last_error();
        }
        return static_cast<std::size_t>(n);
    });
}

template <class Block>
Poll<Result<std::size_t>> stream_poll_write(Block& b, Context& cx, boost::asio::const_buffer buf) {
    if (buf.size() == 0) {
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    return poll_io(b, boost::asio::socket_base::wait_write, cx, [&]() -> Result<std::size_t> {
        // MSG_NOSIGNAL: a peer that closed gives EPIPE, never SIGPIPE.
        ssize_t n = pollux::detail::retry_eintr(
            [&] { return ::send(b.sock.native_handle(), buf.data(), buf.size(), MSG_NOSIGNAL); });
        if (n < 0) {
            return last_error();
        }
        return static_cast<std::size_t>(n);
    });
}

template <class Block>
Poll<Result<void>> stream_poll_shutdown(Block& b) {
    if (::shutdown(b.sock.native_handle(), SHUT_WR) != 0) {
        return Ready<Result<void>>{Result<void>(last_error())};
    }
    return Ready<Result<void>>{Result<void>()};
}

// ---- Accept with back-off ----------------------------------------------------

// Accept errors (DESIGN section 8, docs/net.md):
// - per-connection: the connection that failed is gone, the next one may be
//   fine. Retried at once, in the same poll. Linux also reports pending
//   network errors of the new socket this way (accept(2), "Error handling").
// - resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): retrying at once would
//   fail again at once, and the listening socket stays readable, so the
//   loop would spin. The listener backs off on a timer instead: 10 ms,
//   doubling up to 1 s, reset by the next successful accept. Meanwhile
//   poll_accept returns Pending, the connections wait in the kernel's
//   backlog, and accepting resumes when the timer fires and a descriptor is
//   free again.
inline bool is_per_connection_accept_error(int e) noexcept {
    switch (e) {
    case EINTR: // not a connection's error at all: the call is simply made again
    case ECONNABORTED:
    case EPROTO:
    case ECONNRESET:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT:
        return true;
    default:
        return false;
    }
}

inline bool is_resource_accept_error(const boost::system::error_code& ec) noexcept {
    if (ec.category() != boost::asio::error::get_system_category()) {
        return false;
    }
    switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return true;
    default:
        return false;
    }
}

inline constexpr std::chrono::milliseconds accept_backoff_initial{10};
inline constexpr std::chrono::milliseconds accept_backoff_max{1000};

/// A descriptor accept4 returned, with the peer's address.
struct Accepted {
    int fd = -1;
    ::sockaddr_storage addr{};
    ::socklen_t len = 0;
};

template <class Acceptor>
struct ListenerBlock : SocketBlock<Acceptor> {
    using TimerWait = decltype(std::declval<boost::asio::steady_timer&>().async_wait(use_future));

    explicit ListenerBlock(Acceptor a)
        : SocketBlock<Acceptor>(std::move(a)), timer(this->sock.get_executor()) {}

    // After the acceptor's waits in destruction order: the timer wait goes
    // first, then the timer, then the acceptor's waits and the acceptor.
    boost::asio::steady_timer timer;
    std::optional<TimerWait> timer_wait; // engaged while backing off
    std::chrono::milliseconds next_backoff = accept_backoff_initial;

    // As SocketBlock's, and the back-off wait too (`timer` is skipped like
    // the socket).
    void abandon_closed() noexcept {
        if (timer_wait) {
            timer_wait->disown();
            timer_wait.reset();
        }
        SocketBlock<Acceptor>::abandon_closed();
    }
};

/// Accepts one connection (non-blocking, close-on-exec), retrying
/// per-connection errors and backing off on resource errors.
template <class Acceptor>
Poll<Result<Accepted>> poll_accept_fd(ListenerBlock<Acceptor>& b, Context& cx) {
    for (;;) {
        if (b.timer_wait && wait_pending(b.timer_wait, cx)) {
            return Pending{}; // backing off
        }
        Poll<Result<Accepted>> p =
            poll_io(b, boost::asio::socket_base::wait_read, cx, [&]() -> Result<Accepted> {
                for (;;) {
                    Accepted a;
                    a.len = sizeof(a.addr);
                    a.fd = ::accept4(b.sock.native_handle(),
                                     reinterpret_cast<::sockaddr*>(&a.addr),
                                     &a.len,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (a.fd >= 0) {
                        return a;
                    }
                    if (!is_per_connection_accept_error(errno)) {
                        return last_error();
                    }
                }
            });
        if (p.is_pending()) {
            return Pending{};
        }
        Result<Accepted>& r = p.value();
        if (r) {
            b.next_backoff = accept_backoff_initial;
            return p;
        }
        if (!is_resource_accept_error(r.error())) {
            return p;
        }
        b.timer.expires_after(b.next_backoff);
        b.next_backoff = std::min(b.next_backoff * 2, accept_backoff_max);
        b.timer_wait.emplace(b.timer.async_wait(use_future));
    }
}

/// Wraps an accepted descriptor in a socket of `Socket` on `ex`; closes the
/// descriptor if that fails. (close is never retried on EINTR: see
/// lib/detail/retry_eintr.hpp.)
template <class Socket, class Protocol>
Result<Socket>
adopt_fd(const boost::asio::any_io_executor& ex, const Protocol& protocol, int fd) noexcept {
    try {
        Socket s(ex);
        boost::system::error_code ec;
        s.assign(protocol, fd, ec);
        if (ec) {
            ::close(fd);
            return ec;
        }
        s.non_blocking(true, ec);
        if (ec) {
            return ec;
        }
        return Result<Socket>(std::move(s));
    } catch (...) {
        ::close(fd);
        return boost::system::error_code(ENOMEM, boost::asio::error::get_system_category());
    }
}

/// The executor for a new socket: `ex` if given, else the current task's.
inline boost::asio::any_io_executor executor_or_current(const boost::asio::any_io_executor* ex,
                                                        const char* what) {
    if (ex != nullptr) {
        return *ex;
    }
    pollux::detail::TaskHeader* task = pollux::detail::current_task();
    if (task == nullptr) {
        throw std::logic_error(std::string(what) +
                               " was called outside a pollux task, so there is no event loop to "
                               "put the socket on: call it inside a task or pass an executor");
    }
    return task->executor();
}

} // namespace pollux::net::detail
