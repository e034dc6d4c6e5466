#pragma once

// Private to the library: readiness waits that keep a descriptor's epoll
// registration as it is, for lib/net, lib/io and lib/uv.
//
// Why not `async_wait`: Asio's epoll reactor registers every descriptor
// once, edge-triggered, when the socket is opened, and re-arms it with
// `epoll_ctl(EPOLL_CTL_MOD)` whenever an operation is started without a
// speculative attempt (epoll_reactor::start_op). `async_wait` is never
// speculative, so each would-block wait cost one `epoll_ctl`, a syscall that
// also takes the epoll instance's lock: one per round trip of an echo
// server, a third of what raw Asio spends. Asio's own reads are speculative
// and queue without it. (tokio keeps readiness per direction in its
// ScheduledIo and registers a descriptor once; this is the same idea within
// Asio's reactor.)
//
// A ReadinessOps holds one reactor operation per direction, reused for every
// wait, and starts it speculatively. Its perform() does no I/O and always
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
// Lifetime: the block is reference counted, one reference for its owner and
// one for each operation the reactor or the scheduler holds. Closing the
// descriptor (deregister_descriptor) posts the queued operations with
// operation_aborted and a shut-down io_context destroys them unrun; either
// way their reference is given back after the owner may be gone, which is
// why the operations live here and not in the owner.
//
// Per direction the state goes idle -> in_flight (start, by the owner) ->
// completed (the operation ran or was destroyed, on any thread) -> idle (the
// owner saw it). Only the owner starts or consumes, only the operation
// completes, so each transition has one writer and needs no CAS.

#include <pollux/core/waker.hpp>
#include <pollux/detail/atomic_waker.hpp>
#include <pollux/detail/task.hpp>

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/query.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

namespace pollux::detail {

using Reactor = boost::asio::detail::reactor;

#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "pollux's readiness waits need Asio's epoll reactor (Linux, without io_uring as default)"
#endif
static_assert(std::is_same_v<Reactor, boost::asio::detail::epoll_reactor>);

/// A wait's direction, as the reactor numbers its operation queues.
enum class Direction : int {
    read = Reactor::read_op,
    write = Reactor::write_op,
};

/// The reactor of an I/O object's execution context.
template <class Executor>
Reactor& reactor_of(const Executor& ex) {
    return boost::asio::use_service<Reactor>(
        boost::asio::query(ex, boost::asio::execution::context));
}

/// The reactor registration of an Asio socket: its `per_descriptor_data`,
/// null while it is closed. `impl_` is protected in basic_socket; a pointer
/// to member named through a derived class may reach it, which is all this
/// class is for. Acceptors and descriptors keep theirs private: the
/// specializations below reach them in registration.cpp.
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

/// The two persistent readiness operations of one descriptor, and what a
/// completion does: `Sink` has `void on_ready(Direction)`, called on the
/// thread that runs the completion, never for an operation the io_context
/// destroys unrun. The owner makes it with `new`, holds the first
/// reference and gives it back with release().
template <class Sink>
class ReadinessOps {
public:
    enum class State : std::uint8_t { idle, in_flight, completed };

    /// For descriptors registered with `reactor`.
    explicit ReadinessOps(Reactor& reactor) noexcept : reactor_(reactor) {}
    ReadinessOps(const ReadinessOps&) = delete;
    ReadinessOps& operator=(const ReadinessOps&) = delete;

    /// Starts the wait for `d` on descriptor `fd`, registered as `reg` with
    /// the reactor. The state must be idle. Never completes inline.
    void start(Direction d, int fd, Reactor::per_descriptor_data& reg) noexcept {
        Op& op = ops_[index(d)];
        op.ec_ = boost::system::error_code();
        // ORDERING: relaxed: the completion that ends this wait runs after
        // start_op queued it under the descriptor's mutex (or posted it),
        // which orders this store before it.
        op.state.store(State::in_flight, std::memory_order_relaxed);
        // ORDERING: a reference for the operation, from the owner's.
        refs_.fetch_add(1, std::memory_order_relaxed);
        reactor_.start_op(static_cast<int>(d), fd, reg, &op, false, true);
    }

    /// The state of direction `d`. After `completed` (acquire), error() is
    /// the wait's result.
    [[nodiscard]] State state(Direction d) const noexcept {
        // ORDERING: acquire pairs with the completion's release store.
        return ops_[index(d)].state.load(std::memory_order_acquire);
    }

    /// Consumes a completion: completed -> idle. Owner only.
    void consume(Direction d) noexcept {
        ops_[index(d)].state.store(State::idle, std::memory_order_relaxed);
    }

    /// The result of the last completed wait for `d`: empty (readiness),
    /// operation_aborted (the descriptor was closed, or the io_context
    /// destroyed the wait), or the reactor's error (bad_descriptor,
    /// operation_not_supported, an epoll_ctl error).
    [[nodiscard]] boost::system::error_code error(Direction d) const noexcept {
        return ops_[index(d)].ec_;
    }

    Sink& sink() noexcept { return sink_; }

    /// Gives back the owner's reference.
    void release() noexcept {
        // ORDERING: acq_rel: the last releaser sees every other holder's
        // writes before it destroys the block.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

private:
    using Status = boost::asio::detail::reactor_op::status;

    struct Op : boost::asio::detail::reactor_op {
        Op() : reactor_op(boost::system::error_code(), &Op::do_perform, &Op::do_complete) {}
        ReadinessOps* self = nullptr;
        Direction dir = Direction::read;
        std::atomic<State> state{State::idle};

        static Status do_perform(reactor_op*) noexcept { return reactor_op::done_and_exhausted; }

        // `owner` is null when the io_context destroys the operation unrun
        // (its shutdown): nothing is woken then.
        static void do_complete(void* owner,
                                boost::asio::detail::scheduler_operation* base,
                                const boost::system::error_code&,
                                std::size_t) {
            Op* op = static_cast<Op*>(base);
            ReadinessOps* self = op->self;
            const Direction d = op->dir;
            if (owner == nullptr) {
                op->ec_ = boost::asio::error::operation_aborted;
            }
            // ORDERING: release publishes ec_ to the owner's acquire load.
            // The operation is not touched after this store: the owner may
            // start it again at once (even from inside on_ready).
            op->state.store(State::completed, std::memory_order_release);
            if (owner != nullptr) {
                self->sink_.on_ready(d);
            }
            self->release();
        }
    };

    static constexpr std::size_t index(Direction d) noexcept { return static_cast<std::size_t>(d); }

    ~ReadinessOps() = default;

    struct Ops {
        Op ops[2];
        explicit Ops(ReadinessOps* self) noexcept {
            for (int i = 0; i < 2; ++i) {
                ops[i].self = self;
                ops[i].dir = static_cast<Direction>(i);
            }
        }
        Op& operator[](std::size_t i) noexcept { return ops[i]; }
        const Op& operator[](std::size_t i) const noexcept { return ops[i]; }
    };

    Reactor& reactor_;
    std::atomic<std::uint32_t> refs_{1};
    Ops ops_{this};
    Sink sink_;
};

static_assert(static_cast<int>(Direction::read) == 0 && static_cast<int>(Direction::write) == 1);

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
