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

#include "../detail/readiness.hpp"
#include "../detail/retry_eintr.hpp"
#include "../detail/tcp_inq.hpp"

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
//  1. If the readiness wait for its direction is in flight, register the
//     poll's waker and look again: still in flight, return Pending (so a
//     change of waker between polls is picked up). Completed (readiness, or
//     aborted by a close): consume it and go on; the syscall decides.
//  2. If the task's cooperative budget is spent, wake the task and return
//     Pending before touching the socket, so nothing is consumed.
//  3. Try the non-blocking syscall. Anything but would-block (data, end of
//     stream, an error) is returned as Ready, after spending one budget unit.
//  4. On would-block, register the waker and start the direction's
//     readiness wait (lib/detail/readiness.hpp): it stays registered with
//     the reactor, costs no syscall to queue, and completes at once if an
//     edge arrived since the reactor last found the direction exhausted, so
//     no readiness is lost between the syscall and the wait.
//
// A read poll whose last read drained the socket (`read_drained`: TCP only,
// see lib/detail/readiness.hpp, "A drained read", for when that is known
// and why no readiness is lost) goes from step 1 to step 4 without the
// syscall, which would only have said would-block.
//
// So buffers are only borrowed during a poll, and dropping a future that
// polls these functions loses nothing: a byte is either returned by the poll
// that read it, or still in the kernel. A wait in flight when its future is
// dropped stays queued until readiness or the socket's close; the next poll
// of that direction, from any future, takes it over (step 1); meanwhile it
// may wake the old waker once: a spurious wake.
//
// Why a block: the public types hold a pointer to it and move freely
// (DESIGN rule 4), while what outlives a move or a drop (the readiness
// waits' shared state, the gate, the descriptor's identity) stays put.
//
// Where the block dies: as pollux/detail/io_block.hpp explains for timers
// (drop_io_block): on the dropping thread. Inside the gate of the socket's
// context, the whole block is destroyed there: it drops the stored wakers,
// then the socket closes, which hands the queued readiness waits back to
// the scheduler with operation_aborted (they hold their own reference to
// the ReadinessOps, so they may run after the block is gone). If the gate
// refuses (the context is shut down, its services may be deleted), the
// socket's destructor is skipped and abandon_closed closes the descriptor
// itself, so no descriptor leaks; the memory goes to the gate's deferred
// frees. `Block` must have `gate`, `sock` and `abandon_closed()`.

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

/// Spends one unit of a budget that has_budget said is not spent (what
/// coop::poll_proceed does then, without its call and its waker path).
inline void spend_budget(Context& cx) noexcept {
    if (Budget* b = cx.budget()) {
        (void)b->consume();
    }
}

using pollux::detail::Direction;

template <class Socket>
struct SocketBlock {
    using Readiness = pollux::detail::ReadinessOps<pollux::detail::WakerSink>;

    // Throws std::bad_alloc (the context's SchedulerService is made on
    // first use, and the ReadinessOps) before it takes `s`, which the
    // caller then still owns.
    explicit SocketBlock(Socket&& s)
        : gate(pollux::detail::gate_of_executor(s.get_executor())),
          ready(new Readiness(pollux::detail::reactor_of(s.get_executor()))), sock(std::move(s)) {
        struct ::stat st {};
        if (int d = sock.native_handle(); d >= 0 && ::fstat(d, &st) == 0) {
            fd = d;
            dev = st.st_dev;
            ino = st.st_ino;
        }
    }
    SocketBlock(const SocketBlock&) = delete;
    SocketBlock& operator=(const SocketBlock&) = delete;
    // Runs before `sock` closes (which aborts the waits still queued).
    ~SocketBlock() {
        ready->sink().clear();
        ready->release();
    }

    pollux::detail::GateRef gate; // of sock's context; moved out by destroy_block
    Readiness* ready;             // the owner's reference
    Socket sock;                  // never moves while the block lives

    // The descriptor `sock` was made with, and its identity: the refused
    // path of destroy_block closes it without asking `sock`, whose service
    // may be deleted (native_handle() goes through the service, and UBSan's
    // vptr check rightly reports the call).
    int fd = -1;
    ::dev_t dev = 0;
    ::ino_t ino = 0;

    // The last read emptied the socket and may be trusted (readiness.hpp,
    // "A drained read"): the next read poll starts the wait without the
    // syscall. Owner only (the thread polling reads).
    bool read_drained = false;

    /// Whether the readiness wait for `d` is still in flight, after
    /// registering `w` to be woken when it completes. A completed wait is
    /// consumed, and its failure (readiness.hpp's wait_failure), if it had
    /// one, is stored in `*failed` (when given; left as it was otherwise). Owner
    /// only (the thread polling the direction).
    ///
    /// Inline, and its rare steps out of line: a readiness round trip
    /// passes here three times (the read the completion woke, the write,
    /// the read that starts the next wait), twice with the direction idle
    /// (issue 22, "deterministic.sh: the coroutine sample in the sweep").
    bool wait_in_flight(Direction d, const Waker& w, boost::system::error_code* failed = nullptr) {
        using State = Readiness::State;
        const State st = ready->state(d);
        if (st == State::idle) {
            return false;
        }
        return wait_in_flight_slow(st, d, w, failed);
    }

    // wait_in_flight with the direction in flight or completed.
    [[gnu::noinline]] bool wait_in_flight_slow(Readiness::State st,
                                               Direction d,
                                               const Waker& w,
                                               boost::system::error_code* failed) {
        using State = Readiness::State;
        if (st == State::in_flight) {
            ready->sink().wakers[static_cast<int>(d)].register_waker(w);
            st = ready->state(d);
            if (st == State::in_flight) {
                return true;
            }
        }
        if (st == State::completed) {
            // Readiness (no error) is the common completion: wait_failure's
            // comparison with operation_aborted only for an error.
            if (failed != nullptr) {
                if (const boost::system::error_code ec = ready->error(d); ec.failed()) {
                    *failed = pollux::detail::wait_failure(ec);
                }
            }
            ready->consume(d);
        }
        return false;
    }

    /// Step 4: registers `w` and starts the readiness wait for `d` (not in
    /// flight).
    void start_wait(Direction d, const Waker& w) {
        ready->sink().wakers[static_cast<int>(d)].register_waker(w);
        ready->start(d, sock.native_handle(), pollux::detail::Registration<Socket>::of(sock));
    }

    /// After a syscall of direction `d` said would-block outside a poll
    /// (try_read, try_write): starts the readiness wait with no waker
    /// registered (a later poll_read_ready/poll_write_ready, or read/write
    /// poll, registers one through wait_in_flight), so the next readiness
    /// poll waits for the edge instead of reporting a spurious readiness
    /// (tokio's try_read clearing readiness). A wait in flight is left to
    /// run; a completed one predates the would-block, which supersedes it:
    /// it is consumed and a new wait started. Owner only.
    void wait_after_would_block(Direction d) {
        using State = Readiness::State;
        State st = ready->state(d);
        if (st == State::in_flight) {
            return;
        }
        if (st == State::completed) {
            ready->consume(d);
        }
        ready->start(d, sock.native_handle(), pollux::detail::Registration<Socket>::of(sock));
    }

    // The refused path of destroy_block: the context is shut down, so the
    // queued waits are destroyed unrun or will be (they give back their own
    // references), and `sock`'s destructor must not run (its service may be
    // deleted). Give back the owner's reference and close the descriptor
    // here, if it is still the socket this block was made with: an owner
    // that closed it through socket()/acceptor() may have let the kernel
    // reuse the number for another file, which fstat tells apart (a
    // socket's inode is unique while it is open).
    void abandon_closed() noexcept {
        ready->sink().clear();
        ready->release();
        ready = nullptr;
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

// Gives the descriptor back without closing it (io::AsyncFd::release,
// net::pipe's release): inside the gate, the descriptor is released from
// the Asio object (which deregisters it and aborts the queued waits) and
// the block then dies without closing it; refused (the context is shut
// down, its service may be deleted), the Asio object is left alone and
// abandon_closed must not close the descriptor. Null `impl`: -1.
template <class Block>
int release_block(Block*& impl) noexcept {
    Block* b = std::exchange(impl, nullptr);
    if (b == nullptr) {
        return -1;
    }
    const int fd = b->fd;
    {
        pollux::detail::GatePass pass(b->gate.get());
        if (pass) {
            (void)b->sock.release();
        }
    }
    b->fd = -1;
    destroy_block(b);
    return fd;
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

/// Steps 1-4 for direction `d` with syscall `op` (returns `Result<T>`, the
/// error would_block when the socket is not ready).
///
/// Inlined into each public poll function (TcpStream::poll_read, ...): a
/// round trip of an echo server runs two read polls and one write poll, and
/// a call here would pass the lambda's captures and the Poll through
/// memory once more for each (issue 22, "deterministic.sh: the coroutine
/// sample in the sweep").
template <class Block, class Op>
[[gnu::always_inline]] inline auto poll_io(Block& b, Direction d, Context& cx, Op&& op)
    -> Poll<std::invoke_result_t<Op&>> {
    using R = std::invoke_result_t<Op&>;
    boost::system::error_code wait_error;
    if (b.wait_in_flight(d, cx.waker(), &wait_error)) {
        return Pending{};
    }
    if (d == Direction::read && std::exchange(b.read_drained, false)) {
        b.start_wait(d, cx.waker()); // nothing consumed: no budget spent
        return Pending{};
    }
    if (!has_budget(cx)) {
        return Pending{};
    }
    R r = op();
    if (r || !is_would_block(r.error())) {
        spend_budget(cx);
        return Ready<R>{std::move(r)};
    }
    if (d == Direction::read) {
        b.ready->read_would_block();
    }
    if (wait_error) {
        // The reactor could not wait on this descriptor (Asio's select
        // reactor refuses one at or above FD_SETSIZE with fd_set_failure),
        // and the syscall still would block: another wait would fail again
        // at once, a busy loop. The caller gets the reactor's error. (An
        // abort is a close's, and never reaches a poll: see the protocol.)
        (void)coop::poll_proceed(cx);
        return Ready<R>{R(wait_error)};
    }
    b.start_wait(d, cx.waker());
    return Pending{};
}

// ---- Stream sockets (TCP and Unix) -------------------------------------------

/// One `recv` into `buf` (non-empty), for both the poll and the try face:
/// with `tcp_inq` (the socket is TCP with TCP_INQ asked for, tcp_inq.hpp)
/// through recvmsg, setting `*emptied` when the kernel says nothing is left
/// (readiness.hpp, "A drained read"); otherwise `*emptied` stays false.
/// Inlined, as poll_io is: it is on every read of an echo round trip.
template <class Block>
[[gnu::always_inline]] inline ssize_t
stream_recv(Block& b, boost::asio::mutable_buffer buf, bool tcp_inq, bool* emptied) {
    const int fd = b.sock.native_handle();
    return tcp_inq
               ? pollux::detail::recv_inq(fd, buf.data(), buf.size(), emptied)
               : pollux::detail::retry_eintr([&] { return ::recv(fd, buf.data(), buf.size(), 0); });
}

/// One `send` of `buf` (non-empty). MSG_NOSIGNAL: a peer that closed gives
/// EPIPE, never SIGPIPE. Inlined, as stream_recv.
template <class Block>
[[gnu::always_inline]] inline ssize_t stream_send(Block& b, boost::asio::const_buffer buf) {
    return pollux::detail::retry_eintr(
        [&] { return ::send(b.sock.native_handle(), buf.data(), buf.size(), MSG_NOSIGNAL); });
}

/// `tcp_inq`: the socket is TCP with TCP_INQ asked for (tcp_inq.hpp), so a
/// read that empties it marks the direction drained (readiness.hpp, "A
/// drained read").
template <class Block>
Poll<Result<std::size_t>>
stream_poll_read(Block& b, Context& cx, boost::asio::mutable_buffer buf, bool tcp_inq) {
    if (buf.size() == 0) {
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    return poll_io(b, Direction::read, cx, [&]() -> Result<std::size_t> {
        bool emptied = false;
        const ssize_t n = stream_recv(b, buf, tcp_inq, &emptied);
        if (n < 0) {
            return last_error();
        }
        b.read_drained = emptied && b.ready->may_mark_drained();
        return static_cast<std::size_t>(n);
    });
}

/// `TcpStream::poll_read_ready` / `poll_write_ready` (tokio's): Ready(ok)
/// unless a wait is in flight, or a read emptied the socket (drained) or a
/// try_read/try_write said would-block (which started the wait), when it
/// waits for the edge. May be spurious: the caller's try_read/try_write
/// tells. A wait that failed (the reactor's error) is reported. Spends one
/// unit of the task's budget when Ready(ok).
template <class Block>
Poll<Result<void>> stream_poll_ready(Block& b, Direction d, Context& cx) {
    boost::system::error_code wait_error;
    if (b.wait_in_flight(d, cx.waker(), &wait_error)) {
        return Pending{};
    }
    if (wait_error) {
        return Ready<Result<void>>{Result<void>(wait_error)};
    }
    if (d == Direction::read && std::exchange(b.read_drained, false)) {
        b.start_wait(d, cx.waker());
        return Pending{};
    }
    if (!has_budget(cx)) {
        return Pending{};
    }
    spend_budget(cx);
    return Ready<Result<void>>{Result<void>()};
}

/// `TcpStream::try_read`: one `recv` now, as stream_poll_read's syscall.
/// would_block starts the read wait (wait_after_would_block). A read that
/// emptied the socket marks it drained only with no wait in flight or
/// completed: a completed wait may carry an edge raised after this read,
/// which a wait started on trust would miss ("A drained read").
template <class Block>
Result<std::size_t> stream_try_read(Block& b, boost::asio::mutable_buffer buf, bool tcp_inq) {
    if (buf.size() == 0) {
        return std::size_t{0};
    }
    bool emptied = false;
    const ssize_t n = stream_recv(b, buf, tcp_inq, &emptied);
    b.read_drained = false;
    if (n < 0) {
        boost::system::error_code ec = last_error();
        if (is_would_block(ec)) {
            // A completed wait is consumed first: its hang-up, if any,
            // predates this would-block, which clears read_unsure_.
            b.wait_after_would_block(Direction::read);
            b.ready->read_would_block();
        }
        return ec;
    }
    using State = typename Block::Readiness::State;
    b.read_drained =
        emptied && b.ready->may_mark_drained() && b.ready->state(Direction::read) == State::idle;
    return static_cast<std::size_t>(n);
}

/// `TcpStream::try_write`: one `send` now; would_block starts the write
/// wait (wait_after_would_block).
template <class Block>
Result<std::size_t> stream_try_write(Block& b, boost::asio::const_buffer buf) {
    if (buf.size() == 0) {
        return std::size_t{0};
    }
    const ssize_t n = stream_send(b, buf);
    if (n < 0) {
        boost::system::error_code ec = last_error();
        if (is_would_block(ec)) {
            b.wait_after_would_block(Direction::write);
        }
        return ec;
    }
    return static_cast<std::size_t>(n);
}

template <class Block>
Poll<Result<std::size_t>> stream_poll_write(Block& b, Context& cx, boost::asio::const_buffer buf) {
    if (buf.size() == 0) {
        return Ready<Result<std::size_t>>{std::size_t{0}};
    }
    return poll_io(b, Direction::write, cx, [&]() -> Result<std::size_t> {
        const ssize_t n = stream_send(b, buf);
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

/// `shutdown(SHUT_WR)` from a drop (an owned write half's, owned_split.hpp):
/// at any time, on any thread, errors ignored. Inside the gate the socket's
/// service is alive and `sock.native_handle()` says whether the descriptor
/// is still the socket's (-1 once the owner closed it through socket()).
/// Refused (the context is shut down, the service may be deleted), the
/// descriptor the block was made with is used if it is still that socket
/// (fstat, as abandon_closed checks): shutdown(2) on a number the kernel
/// reused for another file would act on someone else's socket.
template <class Block>
void stream_shutdown_write_now(Block& b) noexcept {
    pollux::detail::GatePass pass(b.gate.get());
    if (pass) {
        if (const int fd = b.sock.native_handle(); fd >= 0) {
            (void)::shutdown(fd, SHUT_WR);
        }
        return;
    }
    struct ::stat st {};
    if (b.fd >= 0 && ::fstat(b.fd, &st) == 0 && st.st_dev == b.dev && st.st_ino == b.ino) {
        (void)::shutdown(b.fd, SHUT_WR);
    }
}

// ---- Datagram sockets (UDP and Unix) -----------------------------------------

/// One datagram to the connected peer (a 0-length one is a datagram too).
template <class Block>
Poll<Result<std::size_t>> datagram_poll_send(Block& b, Context& cx, boost::asio::const_buffer buf) {
    return poll_io(b, Direction::write, cx, [&]() -> Result<std::size_t> {
        ssize_t n = pollux::detail::retry_eintr(
            [&] { return ::send(b.sock.native_handle(), buf.data(), buf.size(), MSG_NOSIGNAL); });
        if (n < 0) {
            return last_error();
        }
        return static_cast<std::size_t>(n);
    });
}

/// One datagram from the connected peer, truncated to `buf`'s size.
template <class Block>
Poll<Result<std::size_t>>
datagram_poll_recv(Block& b, Context& cx, boost::asio::mutable_buffer buf) {
    return poll_io(b, Direction::read, cx, [&]() -> Result<std::size_t> {
        ssize_t n = pollux::detail::retry_eintr(
            [&] { return ::recv(b.sock.native_handle(), buf.data(), buf.size(), 0); });
        if (n < 0) {
            return last_error();
        }
        return static_cast<std::size_t>(n);
    });
}

/// One datagram to `to` (an Asio endpoint of the socket's protocol).
template <class Block, class Endpoint>
Poll<Result<std::size_t>>
datagram_poll_send_to(Block& b, Context& cx, boost::asio::const_buffer buf, const Endpoint& to) {
    return poll_io(b, Direction::write, cx, [&]() -> Result<std::size_t> {
        ssize_t n = pollux::detail::retry_eintr([&] {
            return ::sendto(b.sock.native_handle(),
                            buf.data(),
                            buf.size(),
                            MSG_NOSIGNAL,
                            to.data(),
                            static_cast<::socklen_t>(to.size()));
        });
        if (n < 0) {
            return last_error();
        }
        return static_cast<std::size_t>(n);
    });
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
        Poll<Result<Accepted>> p = poll_io(b, Direction::read, cx, [&]() -> Result<Accepted> {
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
