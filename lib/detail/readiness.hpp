#pragma once

// Private to the library: readiness waits for lib/net, lib/io and lib/uv.
// A ReadinessOps holds, per descriptor and direction, at most one wait in
// flight; its owner starts it after a system call said would-block, and
// retries the call when it completes. The interface (ReadinessOps,
// Registration, reactor_of, Direction, the sinks) is the same on both paths
// below; which one a build takes is decided at compile time from Asio's
// configuration (readiness_path.hpp: POLLUX_EPOLL_FAST_PATH).
//
// The epoll fast path (Asio's epoll reactor)
// ------------------------------------------
// Why not `async_wait` there: Asio's epoll reactor registers every
// descriptor once, edge-triggered, when the socket is opened, and re-arms
// it with `epoll_ctl(EPOLL_CTL_MOD)` whenever an operation is started
// without a speculative attempt (epoll_reactor::start_op). `async_wait` is
// never speculative, so each would-block wait would cost one `epoll_ctl`, a
// syscall that also takes the epoll instance's lock: one per round trip of
// an echo server, a third of what raw Asio spends. Asio's own reads are
// speculative and queue without it. (tokio keeps readiness per direction in
// its ScheduledIo and registers a descriptor once; this is the same idea
// within Asio's reactor.)
//
// So the block holds one reactor operation per direction, reused for every
// wait (the read's is part of the block, the write's is made by the first
// write wait), and starts it speculatively. Its perform() does no I/O and always
// answers "done, and the descriptor is exhausted":
//
// - Started (start_op) while the reactor's `try_speculative_` flag for the
//   direction is set, i.e. an edge arrived since the direction was last
//   found exhausted, perform() runs at once: the wait completes at once
//   (posted, never inline) and the flag is cleared. The caller retries its
//   syscall, which decides; if it would block again, the next start finds
//   the flag clear and queues.
// - Started while the flag is clear, it is queued without any syscall. The
//   next edge runs perform(), which completes it and clears the flag again.
//
// Why no readiness is lost: a caller starts a wait only after its syscall
// said would-block (or after a completed wait, see net's poll_io). Data
// that arrives after that syscall raises a new edge (edge-triggered epoll
// reports every arrival after the item left the ready list). If the reactor
// processes that edge before the wait is queued, it sets the flag, and the
// start completes at once; if after, the edge performs the queued wait.
// Both happen under the descriptor's mutex, which start_op holds while it
// decides. A completion may be spurious (the edge's data was already read);
// the syscall then says would-block and the wait starts again.
//
// This path reaches Asio's private members: the sockets' `impl_` (below and
// in asio_private.cpp), reactor_op and epoll_reactor::start_op.
//
// The portable path (any other reactor)
// -------------------------------------
// Each wait is the I/O object's public `async_wait(wait_read/wait_write)`
// with a small handler that completes the direction's wait, so nothing of
// Asio's private state is touched and any reactor works: kqueue, select,
// /dev/poll, io_uring as default, or epoll when the portable path is forced.
//
// Why no readiness is lost: `async_wait` completes when the descriptor is
// ready at or after the moment it was started, whatever came before: a
// non-speculative start re-registers the descriptor (kqueue's EV_ADD,
// epoll's EPOLL_CTL_MOD), which reports a level that is already there;
// select and poll look at the level on every turn; io_uring's poll checks
// it when it is submitted. As on the fast path, a wait is started only
// after a would-block, never completes inline, and may complete spuriously.
// Each wait allocates its operation (Asio's per-thread recycling allocator
// makes that cheap) and costs the reactor's registration syscall where it
// has one; docs/net.md says what each path costs.
//
// A drained read
// --------------
// A read that took everything the kernel had may start the wait at once on
// the next read poll, without the read that would only say would-block
// (tokio clears readiness after a short read). The owner marks its read
// direction drained for that. The hazard: the waits see no event bits, and
// when a peer's last bytes and its end of stream (a FIN, a RST, a pipe's
// last writer closing) arrive before the reactor's epoll_wait, edge-triggered
// epoll reports one edge for both. The wait in flight consumes it, the read
// returns the bytes, and a wait started on trust would wait for an edge that
// never comes: a hang at end of stream (`printf req | nc`). So an owner marks
// the direction drained only after a read that returned n > 0 bytes when
//
// (a) the kernel said that no byte and no end of stream is left after them:
//     - TCP: with TCP_INQ set on the socket (Linux 4.18; tcp_inq.hpp),
//       recvmsg returns a TCP_CM_INQ control message with the bytes still
//       queued, and the kernel counts a received FIN as 1 (tcp_inq_hint:
//       tcp_fin sets SOCK_DONE). Drained needs inq == 0, whatever n is; no
//       message (an older kernel, setsockopt refused) means not drained.
//     - A pipe or FIFO: n < the size asked. pipe_read copies buffer after
//       buffer until the size asked or an empty pipe, except in packet mode
//       (the writer's O_DIRECT: one packet per read), which only pipe2 with
//       O_DIRECT makes, on both ends (a FIFO cannot be opened O_DIRECT, and
//       F_SETFL cannot set it on a pipe): a read end with O_DIRECT is left
//       out. A pipe's end of stream is its last writer closing, which
//       raises EPOLLHUP; (b) covers that.
// (b) and no error or hang-up edge was consumed since the last read that
//     would block. A RST (tcp_reset: sk_err, then tcp_done's SHUTDOWN_MASK)
//     leaves the queued bytes readable before the error (tcp_recvmsg copies
//     queued data first and returns sk_err only from a read that copied
//     nothing) and sets no SOCK_DONE, so TCP_INQ says 0 after the bytes. Its
//     edge carries EPOLLERR|EPOLLHUP; a pipe's last close, EPOLLHUP. Asio's
//     descriptor_state::perform_io sets try_speculative_[except_op] for every
//     edge with EPOLLPRI, EPOLLERR or EPOLLHUP, before it performs the read
//     queue, under the descriptor's mutex; so does register_descriptor.
//     The read wait's perform() runs under that mutex too (from perform_io,
//     or from start_op when it starts speculatively), and takes the flag
//     (reads and clears it: take_hangup_edge, asio_private.cpp) into the
//     wait's `hangup`; consume() moves that into the owner's `read_unsure_`.
//     While that is set no read marks the direction drained; a read that
//     would block clears it (that read proves no end of stream or error
//     was pending then; anything later raises an edge). Clearing the flag
//     changes nothing else: Asio reads it only to start an except operation
//     speculatively (an out-of-band async_receive), which no owner starts
//     (TcpStream::socket() says "do not start Asio operations"); a queued
//     except operation (async_wait(wait_error)) is performed whatever it
//     says. Conservative where it need not be: the registration's flag
//     makes the first read wait of each descriptor count as a hang-up (one
//     read until would-block more per descriptor), and so do EPOLLPRI
//     (urgent data) and an error-queue EPOLLERR. Every read wait takes the
//     flag, uv's too (lib/uv), whether or not its owner uses it. (An except
//     operation kept queued beside the read wait would remember a hang-up
//     as well, but while one is queued start_op starts no read operation
//     speculatively: every read wait would cost an epoll_ctl.)
//
// Why no readiness is lost. A drained mark stands for a read that would
// have said would-block when the marking read ran; what happens after that
// read raises an edge (data: sk_data_ready, pipe_write's wake-up; FIN:
// sk_state_change; RST: sk_error_report; the last writer's close: its
// wake-up), which the wait started on trust sees exactly as one started
// after a would-block (the argument of the paths above). What the read
// cannot see is an edge consumed before it: one that performed the read
// wait whose completion led to this read, or that a speculative start took.
// Its FIN is still in the socket's state (a), and its hang-up or error was
// taken into that wait's `hangup` in the same locked perform_io (b). An edge
// that found no read wait queued set try_speculative_[read_op], which only
// a read operation's perform clears (ours take the except flag then; Asio's
// own reads are not started on these descriptors): the wait started on
// trust then completes at once, and the read that follows sees the state.
//
// Why reads stay cancel-safe. A mark only skips a syscall that would have
// taken nothing; the bytes stay in the kernel. The mark and `read_unsure_`
// belong to the owner's block, not to a future: a dropped future leaves them
// for the next read poll, which starts the wait (or takes over the one in
// flight) like any other.
//
// On the portable path the waits are level-triggered at their start (see
// above): a wait started after a drained read completes at once if
// anything is readable (bytes, end of stream, an error), so no edge can be
// lost and (b) is not needed (`hangup` stays false); (a) is kept, one rule.
//
// The faces (each marks per (a) and reads read_unsure_ via
// may_mark_drained): net's TcpStream and its read half (socket_block.hpp,
// tcp.cpp); io::AsyncFd on a TCP socket (it sets TCP_INQ) or a pipe/FIFO
// (lib/io/async_fd.cpp; process::ChildStdout/ChildStderr, pipe2 ends, are
// AsyncFds); net::pipe::Receiver on a pipe/FIFO (pipe.cpp); uv::Tcp and
// uv::Pipe opened on a pipe/FIFO's read end, in uv::Stream's read loop
// (lib/uv/tcp.cpp sets TCP_INQ on the first read; lib/uv/pipe.cpp takes
// O_DIRECT from the descriptor's F_GETFL at open; stream.cpp waits after
// the callback of a drained read). The wrappers (tls::TlsStream, the split
// halves, io::BufReader, codec::Framed) read through their transport's
// poll_read and inherit its rule (a TlsStream's ciphertext reads from a
// TcpStream are TCP_INQ reads). uv::Pipe on a pipe is net::pipe's case in
// uv::Tcp's read loop: the same (a) and (b), so the same argument above.
//
// Not, and why no signal there is both sound and free:
//
// - Unix stream sockets: net::UnixStream and its halves, uv::Pipe on a
//   socket (uv::socketpair, a process's stdio, connect/accept), an AsyncFd
//   or pipe::Receiver::from_fd_unchecked on one. A short read is not (a):
//   unix_stream_read_generic ends a read after a message that carried
//   descriptors (scm.fp), between messages of different credentials while
//   the reader has SO_PASSCRED, and (5.15+) at an out-of-band mark, with
//   bytes still queued. Those three could be told apart (a recvmsg without
//   a control buffer returns MSG_CTRUNC for the first two; an OOB byte
//   raises EPOLLPRI, which (b) takes), the end of stream cannot: a peer's
//   shutdown(SHUT_WR) sets RCV_SHUTDOWN and raises EPOLLIN|EPOLLRDHUP,
//   EPOLLHUP only once both directions are shut (a close), and Asio
//   registers without EPOLLRDHUP and maps only PRI, ERR and HUP to the
//   except flag; a read that copies bytes returns the same count whether
//   RCV_SHUTDOWN is set or not. So the last bytes and a half-close on one
//   edge would hang a wait started on trust (`printf req | nc -U -N`).
//   SIOCINQ after the read counts queued bytes only (unix_inq_len), no
//   shutdown, and would cost the syscall it saves. These read until
//   would-block: one read more per drained read than TCP.
// - Terminals: AsyncFd on a tty (io::std_stream's stdin on a terminal),
//   uv::Tty. n_tty's canonical read returns at most one line
//   (canon_copy_from_read_buf stops at its end; an EOF character ends a
//   read early) while more lines may be queued; a non-canonical read takes
//   what the line discipline holds, but the mode is the terminal's, which
//   any process sharing it may switch between two reads, and only
//   tcgetattr (a syscall) would tell. (Bytes still in the flip buffer are
//   not the hazard: flush_to_ldisc wakes the reader when it moves them,
//   an edge after the read.) Terminal input is human-paced: a read per
//   line more costs nothing measurable.
// - Datagram sockets (one datagram per read), packet-mode pipes (O_DIRECT,
//   one packet per read) and other descriptors (devices, eventfd ...).
//
// A stdin pipe that io::std_stream reopens is taken as a pipe: its
// reopened end cannot show the O_DIRECT of a packet-mode pipe (not
// handled).
//
// Tests: test/short_read_test.cpp (coalesced data and FIN, data and RST, a
// pipe's data and close for AsyncFd, pipe::Receiver and uv::Pipe, uv::Tcp's
// data and FIN; a dropped read; and for the faces left out, each of which
// hangs if a short read marked it drained: a Unix peer's data and
// shutdown(SHUT_WR) for UnixStream and uv::Pipe, bytes behind a message
// with a descriptor, a terminal's two lines on one edge for AsyncFd
// and uv::Tty),
// test/readiness_syscall_test.cpp (no read syscall after a drained read,
// for each covered face; two per message for uv::Pipe and
// pipe::Receiver on a Unix socket).
// uv::Tcp::socket() lends the socket for Asio operations: an out-of-band
// async_receive started there after a read wait took the flag waits for
// the next urgent byte instead of trying at once.
//
// Common to both paths
// --------------------
// Lifetime: the block is reference counted, one reference for its owner and
// one for each operation (or async_wait handler) the reactor or the
// scheduler holds. Closing the descriptor posts the queued operations with
// operation_aborted and a shut-down io_context destroys them unrun; either
// way their reference is given back after the owner may be gone, which is
// why the operations' state lives here and not in the owner.
//
// Per direction the state goes idle -> in_flight (start, by the owner) ->
// completed (the operation ran or was destroyed, on any thread) -> idle (the
// owner saw it). Only the owner starts or consumes, only the operation
// completes, so each transition has one writer and needs no CAS.
//
// Cancel safety is the owner's (lib/net/socket_block.hpp): a wait whose
// future is dropped stays in flight until readiness or the close, and the
// next poll of its direction takes it over; neither path cancels it.
//
// Tests: the net, io and uv suites run on both paths (CI's build-ci, and
// build-ci-select on Asio's select reactor); test/io_lifetime_test.cpp
// covers waits that outlive their owner or the io_context;
// test/readiness_syscall_test.cpp pins the fast path's "no epoll_ctl per
// wait".

#include <pollux/core/waker.hpp>
#include <pollux/detail/atomic_waker.hpp>
#include <pollux/detail/task.hpp>

#include "readiness_path.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

#if POLLUX_EPOLL_FAST_PATH
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>
#endif

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux::detail {

#if POLLUX_EPOLL_FAST_PATH

using Reactor = boost::asio::detail::reactor;
static_assert(std::is_same_v<Reactor, boost::asio::detail::epoll_reactor>);

/// A wait's direction, as the reactor numbers its operation queues.
enum class Direction : int {
    read = Reactor::read_op,
    write = Reactor::write_op,
};

/// The reactor of an I/O object's execution context, which ReadinessOps is
/// made with.
template <class Executor>
Reactor& reactor_of(const Executor& ex) {
    return boost::asio::use_service<Reactor>(
        boost::asio::query(ex, boost::asio::execution::context));
}

/// The reactor registration of an Asio socket: its `per_descriptor_data`,
/// null while it is closed. `impl_` is protected in basic_socket; a pointer
/// to member named through a derived class may reach it, which is all this
/// class is for. Acceptors and descriptors keep theirs private: the
/// specializations below reach them in asio_private.cpp.
template <class IoObject>
struct Registration : IoObject {
    static Reactor::per_descriptor_data& of(IoObject& io) noexcept {
        return (io.*(&Registration::impl_)).get_implementation().reactor_data_;
    }
};

template <>
struct Registration<boost::asio::ip::tcp::acceptor> {
    static Reactor::per_descriptor_data& of(boost::asio::ip::tcp::acceptor& a) noexcept;
};

template <>
struct Registration<boost::asio::local::stream_protocol::acceptor> {
    static Reactor::per_descriptor_data&
    of(boost::asio::local::stream_protocol::acceptor& a) noexcept;
};

template <>
struct Registration<boost::asio::posix::stream_descriptor> : boost::asio::posix::stream_descriptor {
    static Reactor::per_descriptor_data& of(boost::asio::posix::stream_descriptor& d) noexcept;
};

#else // the portable path

/// A wait's direction.
enum class Direction : int {
    read = 0,
    write = 1,
};

/// What ReadinessOps is made with on the portable path: nothing, the waits
/// go through the I/O object itself.
struct AnyReactor {};

template <class Executor>
AnyReactor reactor_of(const Executor&) noexcept {
    return {};
}

/// What a wait is started on: on the portable path, the I/O object itself,
/// whose public async_wait makes the wait.
template <class IoObject>
struct Registration {
    static IoObject& of(IoObject& io) noexcept { return io; }
};

#endif

static_assert(static_cast<int>(Direction::read) == 0 && static_cast<int>(Direction::write) == 1);

#if POLLUX_EPOLL_FAST_PATH
/// Reads and clears the reactor's try_speculative_[except_op] of a
/// registered descriptor: whether an edge with EPOLLPRI, EPOLLERR or
/// EPOLLHUP was performed since the last call (or the registration). Only
/// under the descriptor's mutex: from a reactor operation's perform().
/// ("A drained read", (b).) In asio_private.cpp.
bool take_hangup_edge(Reactor::per_descriptor_data d) noexcept;
#endif

/// The two readiness waits of one descriptor, and what a completion does:
/// `Sink` has `void on_ready(Direction)`, called on the thread that runs
/// the completion, never for a wait the io_context destroys unrun. The
/// owner makes it with `new`, holds the first reference and gives it back
/// with release().
/// `ec`, a completed wait's error, if the reactor refused the wait
/// (Asio's select reactor past FD_SETSIZE: fd_set_failure; a registration
/// error): another wait on the descriptor would fail the same way at once,
/// so an owner that sees would-block next reports it instead of waiting
/// again. Empty for readiness and for operation_aborted (a close's, which
/// the owner handles as its close).
inline boost::system::error_code wait_failure(const boost::system::error_code& ec) noexcept {
    if (ec == boost::asio::error::operation_aborted) {
        return {};
    }
    return ec;
}

/// A direction's wait: idle -> in_flight (start) -> completed -> idle
/// (consume). ReadinessOps::State.
enum class ReadinessState : std::uint8_t { idle, in_flight, completed };

#if POLLUX_EPOLL_FAST_PATH
template <class Sink>
class ReadinessOps;

/// One direction's reactor operation of a ReadinessOps<Sink> on the fast
/// path. The read direction's is the block's base class (issue 22: an idle
/// connection's block is one operation, and the block's own small members
/// sit in its tail padding); the write direction's is made by the first
/// write wait (ReadinessOps::WriteOp). Private to ReadinessOps.
template <class Sink>
struct ReadinessOp : boost::asio::detail::reactor_op {
    using Status = boost::asio::detail::reactor_op::status;

    explicit ReadinessOp(Direction d)
        : reactor_op(
              boost::system::error_code(), &ReadinessOp::do_perform, &ReadinessOp::do_complete),
          dir(static_cast<std::uint8_t>(d)) {}

    [[nodiscard]] Direction direction() const noexcept { return static_cast<Direction>(dir); }

    // The registration the wait was started on, and whether its perform
    // took a hang-up edge ("A drained read", (b)): the read wait's
    // perform() runs under the descriptor's mutex, before the completion
    // publishes it.
    Reactor::per_descriptor_data reg = nullptr;
    // Three bytes together, and the rest of the word is tail padding that
    // ReadinessOps's first members take.
    std::uint8_t dir;
    std::atomic<ReadinessState> state{ReadinessState::idle};
    bool hangup = false;

    static Status do_perform(reactor_op* base) noexcept {
        auto* op = static_cast<ReadinessOp*>(base);
        if (op->direction() == Direction::read) {
            op->hangup = take_hangup_edge(op->reg);
        }
        return reactor_op::done_and_exhausted;
    }

    // `owner` is null when the io_context destroys the operation unrun
    // (its shutdown): nothing is woken then.
    static void do_complete(void* owner,
                            boost::asio::detail::scheduler_operation* base,
                            const boost::system::error_code&,
                            std::size_t) {
        auto* op = static_cast<ReadinessOp*>(base);
        if (owner == nullptr) {
            op->ec_ = boost::asio::error::operation_aborted;
        }
        ReadinessOps<Sink>::op_done(*op, owner != nullptr);
    }
};
#endif

template <class Sink>
class ReadinessOps
#if POLLUX_EPOLL_FAST_PATH
    : private ReadinessOp<Sink>
#endif
{
public:
    using State = ReadinessState;

#if POLLUX_EPOLL_FAST_PATH
    /// For descriptors registered with `reactor` (reactor_of).
    explicit ReadinessOps(Reactor& reactor) noexcept
        : ReadinessOp<Sink>(Direction::read), reactor_(reactor) {
    }
#else
    /// For descriptors of any I/O object (the argument is reactor_of's).
    explicit ReadinessOps(AnyReactor) noexcept {
    }
#endif
    ReadinessOps(const ReadinessOps&) = delete;
    ReadinessOps& operator=(const ReadinessOps&) = delete;

#if POLLUX_EPOLL_FAST_PATH
    /// Starts the wait for `d` on descriptor `fd`, registered as `reg`
    /// (Registration<IoObject>::of) with the reactor. The state must be
    /// idle. Never completes inline. Throws std::bad_alloc if the first
    /// write wait cannot make its operation (as the portable path's start
    /// may); nothing was started then and the state is idle.
    void start(Direction d, int fd, Reactor::per_descriptor_data& reg) {
        if (d == Direction::write && write_op_ == nullptr) {
            write_op_ = new WriteOp(this);
        }
        Op& op = op_of(d);
        op.ec_ = boost::system::error_code();
        op.reg = reg;
        op.hangup = false;
        // ORDERING: relaxed: the completion that ends this wait runs after
        // start_op queued it under the descriptor's mutex (or posted it),
        // which orders this store before it.
        op.state.store(State::in_flight, std::memory_order_relaxed);
        // ORDERING: a reference for the operation, from the owner's.
        refs_.fetch_add(1, std::memory_order_relaxed);
        reactor_.start_op(static_cast<int>(d), fd, reg, &op, false, true);
    }
#else
    /// Starts the wait for `d` on `io` (Registration<IoObject>::of; the
    /// descriptor number is not needed here). The state must be idle. Never
    /// completes inline. Throws std::bad_alloc if Asio cannot allocate the
    /// wait; nothing was started then and the state is idle again.
    template <class IoObject>
    void start(Direction d, int /*fd*/, IoObject& io) {
        Op& op = op_of(d);
        op.ec = boost::system::error_code();
        // ORDERING: relaxed: the handler that ends this wait runs after
        // async_wait queued it with the reactor (under its lock) or posted
        // it, which orders this store before it.
        op.state.store(State::in_flight, std::memory_order_relaxed);
        // ORDERING: a reference for the handler, from the owner's.
        refs_.fetch_add(1, std::memory_order_relaxed);
        try {
            // wait_read/wait_write: socket_base's or descriptor_base's.
            io.async_wait(d == Direction::read ? IoObject::wait_read : IoObject::wait_write,
                          WaitHandler(this, d));
        } catch (...) {
            // Asio destroys the handler (or the operation holding it) before
            // the exception leaves async_wait, and that gave back its
            // reference and marked the wait completed; nothing is queued.
            op.state.store(State::idle, std::memory_order_relaxed);
            throw;
        }
    }
#endif

    /// The state of direction `d`. After `completed` (acquire), error() is
    /// the wait's result.
    [[nodiscard]] State state(Direction d) const noexcept {
        // ORDERING: acquire pairs with the completion's release store.
#if POLLUX_EPOLL_FAST_PATH
        if (d == Direction::write && write_op_ == nullptr) {
            return State::idle; // never waited
        }
#endif
        return op_of(d).state.load(std::memory_order_acquire);
    }

    /// Consumes a completion: completed -> idle. Owner only. A read wait
    /// whose edge may have carried a hang-up or an error sets
    /// read_unsure_ ("A drained read", (b)).
    void consume(Direction d) noexcept {
#if POLLUX_EPOLL_FAST_PATH
        // Written by perform(), before the completion's release store that
        // state() acquired.
        if (d == Direction::read && read_op().hangup) {
            read_unsure_ = true;
        }
#endif
        op_of(d).state.store(State::idle, std::memory_order_relaxed);
    }

    /// Whether a read that emptied the descriptor ("A drained read", (a))
    /// may mark the read direction drained: false from the completion of a
    /// read wait whose edge may have carried a hang-up or an error until a
    /// read would block ((b)). Owner only.
    [[nodiscard]] bool may_mark_drained() const noexcept {
        return !read_unsure_;
    }

    /// A read said would-block: nothing consumed before it is pending, and
    /// whatever comes later raises an edge. Owner only.
    void read_would_block() noexcept {
        read_unsure_ = false;
    }

    /// The result of the last completed wait for `d`: empty (readiness),
    /// operation_aborted (the descriptor was closed, or the io_context
    /// destroyed the wait), or the reactor's error (bad_descriptor,
    /// operation_not_supported, a registration error such as epoll_ctl's).
    [[nodiscard]] boost::system::error_code error(Direction d) const noexcept {
#if POLLUX_EPOLL_FAST_PATH
        if (d == Direction::write && write_op_ == nullptr) {
            return {}; // never waited
        }
        return op_of(d).ec_;
#else
        return op_of(d).ec;
#endif
    }

    Sink& sink() noexcept {
        return sink_;
    }

    /// Gives back the owner's reference.
    void release() noexcept {
        // ORDERING: acq_rel: the last releaser sees every other holder's
        // writes before it destroys the block.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

private:
    static constexpr std::size_t index(Direction d) noexcept {
        return static_cast<std::size_t>(d);
    }

#if POLLUX_EPOLL_FAST_PATH
    // The last reference is given back once no wait is in flight, so the
    // write operation is no longer the reactor's.
    ~ReadinessOps() {
        delete write_op_;
    }
#else
    ~ReadinessOps() = default;
#endif

    // The end of a wait for `d`, on either path: `ran` is false when the
    // io_context destroys the wait unrun (its shutdown), which wakes nothing.
    // `state` is the direction's, whose error the caller has written.
    void complete(Direction d, std::atomic<State>& state, bool ran) {
        // ORDERING: release publishes the error to the owner's acquire load.
        // The wait is not touched after this store: the owner may start it
        // again at once (even from inside on_ready).
        state.store(State::completed, std::memory_order_release);
        if (ran) {
            sink_.on_ready(d);
        }
        release();
    }

#if POLLUX_EPOLL_FAST_PATH
    friend struct ReadinessOp<Sink>;
    using Op = ReadinessOp<Sink>;

    // The write direction's operation knows its block; the read one is the
    // block.
    struct WriteOp : Op {
        explicit WriteOp(ReadinessOps* s) : Op(Direction::write), self(s) {}
        ReadinessOps* self;
    };

    // ReadinessOp::do_complete's end.
    static void op_done(Op& op, bool ran) {
        ReadinessOps* self = op.direction() == Direction::read ? static_cast<ReadinessOps*>(&op)
                                                               : static_cast<WriteOp&>(op).self;
        self->complete(op.direction(), op.state, ran);
    }

    Op& read_op() noexcept {
        return *this;
    }
    const Op& read_op() const noexcept {
        return *this;
    }
#else
    struct Op {
        Op(ReadinessOps* s, Direction d) noexcept : self(s), dir(d) {}
        ReadinessOps* self;
        Direction dir;
        std::atomic<State> state{State::idle};
        boost::system::error_code ec; // written by the handler, before `state`
    };

    // The async_wait handler: it holds the wait's reference until it runs
    // or is destroyed unrun (the io_context's shutdown, or a throwing
    // async_wait), whichever comes first; a moved-from handler holds none.
    class WaitHandler {
    public:
        WaitHandler(ReadinessOps* self, Direction d) noexcept : self_(self), dir_(d) {}
        WaitHandler(WaitHandler&& o) noexcept
            : self_(std::exchange(o.self_, nullptr)), dir_(o.dir_) {}
        WaitHandler(const WaitHandler&) = delete;
        WaitHandler& operator=(const WaitHandler&) = delete;
        WaitHandler& operator=(WaitHandler&&) = delete;
        ~WaitHandler() {
            if (ReadinessOps* self = std::exchange(self_, nullptr)) {
                Op& op = self->op_of(dir_);
                op.ec = boost::asio::error::operation_aborted;
                self->complete(dir_, op.state, false);
            }
        }

        void operator()(const boost::system::error_code& ec) {
            ReadinessOps* self = std::exchange(self_, nullptr);
            Op& op = self->op_of(dir_);
            op.ec = ec;
            self->complete(dir_, op.state, true);
        }

    private:
        ReadinessOps* self_;
        Direction dir_;
    };
#endif

#if POLLUX_EPOLL_FAST_PATH
    // The write operation is made by the first write wait (issue 22: an
    // idle connection only waits to read, and each operation is Asio's
    // reactor_op, 72 B, and 16 B of ours; WriteOp 8 more). A direction that never waited is
    // idle with no error. The pointer is the owner's: written by start(),
    // read by the owner's calls and by the destructor (after the last
    // release, which orders it).
    Op& op_of(Direction d) noexcept {
        return d == Direction::read ? read_op() : *write_op_;
    }
    const Op& op_of(Direction d) const noexcept {
        return d == Direction::read ? read_op() : *write_op_;
    }
#else
    Op& op_of(Direction d) noexcept {
        return ops_[index(d)];
    }
    const Op& op_of(Direction d) const noexcept {
        return ops_[index(d)];
    }
#endif
    // Owner only: see may_mark_drained. Never set on the portable path.
    // (First, with refs_: in the read operation's tail padding on the fast
    // path, beside each other on the portable one.)
    bool read_unsure_ = false;
    std::atomic<std::uint32_t> refs_{1};
#if POLLUX_EPOLL_FAST_PATH
    Reactor& reactor_;
    WriteOp* write_op_ = nullptr;
#else
    Op ops_[2] = {{this, Direction::read}, {this, Direction::write}};
#endif
    Sink sink_;
};

/// The Sink of a callback handle (lib/uv): calls `fn(target, int(d))` while the
/// owner lives; the owner nulls `target` before it gives back its
/// reference. Loop-thread only, as the handles are.
struct CallbackSink {
    void (*fn)(void*, int) = nullptr;
    void* target = nullptr;

    void on_ready(Direction d) {
        if (target != nullptr) {
            fn(target, static_cast<int>(d));
        }
    }
};

/// The callback readiness of a uv handle (uv::Tcp, uv::Udp, uv::Poll): the
/// handle holds a `ReadinessOps<CallbackSink>*`, made by the first wait, whose
/// completions call `fn(target, direction)`. Starts the wait for `d` on `io`
/// (not in flight). Throws std::bad_alloc (making the block; the portable
/// path's start) with nothing started.
template <class IoObject>
void start_callback_wait(ReadinessOps<CallbackSink>*& ready,
                         IoObject& io,
                         Direction d,
                         void (*fn)(void*, int),
                         void* target) {
    if (ready == nullptr) {
        ready = new ReadinessOps<CallbackSink>(reactor_of(io.get_executor()));
        ready->sink().fn = fn;
        ready->sink().target = target;
    }
    ready->start(d, io.native_handle(), Registration<IoObject>::of(io));
}

/// The handle is going away, before its I/O object closes: the waits still
/// queued then complete (or are destroyed with the io_context) into a sink
/// that calls no one, and the last of them frees the block.
inline void drop_callback_readiness(ReadinessOps<CallbackSink>*& ready) noexcept {
    if (ready != nullptr) {
        ready->sink().target = nullptr;
        std::exchange(ready, nullptr)->release();
    }
}

/// The Sink of a readiness wait awaited by a task: one AtomicWaker per
/// direction, woken by the completion.
struct WakerSink {
    AtomicWaker wakers[2];

    void on_ready(Direction d) {
        if (std::optional<Waker> w = wakers[static_cast<int>(d)].take()) {
            // A task's own waker may poll the task right here (one trip
            // through the scheduler per readiness event, as a plain handler).
            wake_from_completion(std::move(*w));
        }
    }

    /// Drops the stored wakers (the owner is going away). Any thread.
    void clear() noexcept {
        for (AtomicWaker& w : wakers) {
            (void)w.take();
        }
    }
};

} // namespace pollux::detail
