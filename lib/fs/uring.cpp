#include <pollux/detail/uring.hpp>

#include "../detail/readiness.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vector>

#if POLLUX_HAVE_LIBURING
#include <liburing.h>
#endif

// The state machine of the ring
// -----------------------------
// Everything below is under `mutex`, except the counters (relaxed atomics)
// and the vector of reaped completions (`reaped`), which only the one
// eventfd wait's callback touches (at most one such wait is in flight).
//
// Slots: each accepted operation takes a slot (a free list over a vector)
// that holds its completion and kind; the SQE's user_data, and the ticket,
// is (generation << 32 | index + 1), so 0 is never an operation (a cancel's
// own CQE carries 0 and is skipped) and a stale ticket never matches a
// reused slot. `in_flight` counts the taken slots: queued in the SQ,
// submitted, or with a CQE not reaped yet.
//
// The eventfd wait (`armed`): started by the submit that takes `in_flight`
// from 0 (armed false -> true), and by the wait's own callback while
// `in_flight` > 0 after it reaped; the callback leaves `armed` false when
// nothing is in flight, so an idle ring holds no work on the io_context.
// Only these two start it and each holds the mutex and sees `armed` false,
// so at most one wait is in flight and the readiness block's direction is
// idle when it starts. No CQE is missed: the callback clears the eventfd
// before it reaps, so a CQE posted after the reap makes the counter
// non-zero (the portable path's level) and raises an edge (the epoll fast
// path records it in the reactor's try_speculative_ flag when no wait is
// queued): either way the next wait completes at once.
//
// Flush (`flush_posted`): the first submit after a flush posts one flush
// handler; it calls io_uring_submit for every SQE queued since. A full SQ
// is submitted on the spot instead. io_uring_submit refusing with EBUSY or
// EAGAIN (completions overflowing, kernel memory) leaves the entries queued
// and sets `flush_after_reap`: the next reap retries.
//
// Tests (test/fs_uring_test.cpp): slots and stale tickets, "cancel of a
// finished operation's ticket leaves a newer operation alone"; the wait,
// "idle ring keeps no work", "more operations than ring entries" (the CQ
// overflow) and "completions run on the threads that run the io_context";
// the shutdown (UringService::Impl::shutdown), "teardown with operations in
// flight", "submit from a completion dropped at teardown" and "Runtime with
// worker threads destroyed with a read in flight".

namespace pollux::detail {

boost::asio::execution_context::id UringService::id;

namespace {

// Submission entries: a batch larger than this is submitted in parts.
constexpr unsigned ring_entries = 256;
// Completion entries: more in flight than this wait on the kernel's
// overflow list, which reap() drains.
constexpr unsigned cq_entries = 4096;
constexpr std::uint64_t ignored_user_data = 0;

#if POLLUX_HAVE_LIBURING
bool cancelled_at_shutdown(UringOpKind k) noexcept {
    return k == UringOpKind::read || k == UringOpKind::statx || k == UringOpKind::openat;
}

// Read when a context decides, not once per process: a test (or a program)
// may set it between contexts.
bool env_disables() noexcept {
    const char* v = std::getenv("POLLUX_IO_URING");
    return v != nullptr && std::strcmp(v, "0") == 0;
}
#endif

} // namespace

struct UringService::Impl {
    using Backend = UringMetrics::Backend;
    using Sink = ReadinessOps<CallbackSink>;

    struct Slot {
        std::unique_ptr<UringCompletion> done;
        std::uint32_t gen = 1;
        std::uint32_t next_free = 0; // index + 1 of the next free slot; 0: none
        UringOpKind kind = UringOpKind::read;
        bool busy = false;
    };

    explicit Impl(boost::asio::io_context& io) : io(io), efd(io) {}

    boost::asio::io_context& io;
    boost::asio::posix::stream_descriptor efd; // made here: see UringService's constructor
    Sink* ready = nullptr;

    mutable std::mutex mutex;
    // ORDERING: relaxed everywhere: written under `mutex` (detect), and
    // read outside it only by metrics(), a snapshot that orders nothing.
    std::atomic<Backend> backend{Backend::undecided};
    bool disabled = false;
    bool shut_down = false;
    bool armed = false;
    bool flush_posted = false;
    bool flush_after_reap = false;
    std::vector<Slot> slots;
    std::uint32_t free_head = 0; // index + 1; 0: none free
    std::size_t in_flight = 0;

    // ORDERING: relaxed: counters for metrics only.
    std::atomic<std::uint64_t> submitted{0};
    std::atomic<std::uint64_t> completed{0};

    // The wait callback's, see above.
    std::vector<std::pair<std::unique_ptr<UringCompletion>, int>> reaped;

#if POLLUX_HAVE_LIBURING
    io_uring ring{};

    // Under mutex. Sets the ring up, or chooses the pool for good.
    void detect() {
        if (disabled || env_disables()) {
            backend.store(Backend::pool, std::memory_order_relaxed);
            return;
        }
        io_uring_params params{};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = cq_entries;
        if (io_uring_queue_init_params(ring_entries, &ring, &params) < 0) {
            backend.store(Backend::pool, std::memory_order_relaxed);
            return;
        }
        if (!probe() || !watch_eventfd()) {
            io_uring_queue_exit(&ring);
            backend.store(Backend::pool, std::memory_order_relaxed);
            return;
        }
        backend.store(Backend::io_uring, std::memory_order_relaxed);
    }

    // Every operation the seam offers is there (they came in 5.6), and no
    // CQE is ever dropped (5.5).
    bool probe() {
        if ((ring.features & IORING_FEAT_NODROP) == 0) {
            return false;
        }
        io_uring_probe* p = io_uring_get_probe_ring(&ring);
        if (p == nullptr) {
            return false;
        }
        bool ok = true;
        for (int op : {IORING_OP_READ,
                       IORING_OP_WRITE,
                       IORING_OP_OPENAT,
                       IORING_OP_STATX,
                       IORING_OP_FSYNC,
                       IORING_OP_CLOSE,
                       IORING_OP_ASYNC_CANCEL}) {
            ok = ok && io_uring_opcode_supported(p, op) != 0;
        }
        io_uring_free_probe(p);
        return ok;
    }

    // The completion eventfd, close-on-exec and non-blocking, owned by `efd`.
    bool watch_eventfd() {
        const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0) {
            return false;
        }
        if (io_uring_register_eventfd(&ring, fd) < 0) {
            ::close(fd);
            return false;
        }
        boost::system::error_code ec;
        efd.assign(fd, ec);
        if (ec) {
            ::close(fd);
            return false;
        }
        return true;
    }

    // Under mutex: a free slot for `done`; its user_data.
    std::uint64_t take_slot(std::unique_ptr<UringCompletion> done, UringOpKind kind) {
        std::uint32_t index;
        if (free_head != 0) {
            index = free_head - 1;
            free_head = slots[index].next_free;
        } else {
            slots.emplace_back();
            index = static_cast<std::uint32_t>(slots.size() - 1);
        }
        Slot& s = slots[index];
        s.done = std::move(done);
        s.kind = kind;
        s.busy = true;
        ++in_flight;
        return (std::uint64_t{s.gen} << 32) | (index + 1);
    }

    // Under mutex: the slot of a live operation, or null.
    Slot* slot_of(std::uint64_t user_data) noexcept {
        const std::uint64_t index = (user_data & 0xffffffffu) - 1;
        if (user_data == ignored_user_data || index >= slots.size()) {
            return nullptr;
        }
        Slot& s = slots[index];
        if (!s.busy || s.gen != static_cast<std::uint32_t>(user_data >> 32)) {
            return nullptr;
        }
        return &s;
    }

    // Under mutex: frees the slot, handing its completion out.
    std::unique_ptr<UringCompletion> release_slot(Slot& s) noexcept {
        const auto index = static_cast<std::uint32_t>(&s - slots.data());
        std::unique_ptr<UringCompletion> done = std::move(s.done);
        s.busy = false;
        ++s.gen;
        s.next_free = free_head;
        free_head = index + 1;
        --in_flight;
        return done;
    }

    // Under mutex: an SQE, submitting the full queue once to make room.
    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (sqe == nullptr) {
            submit_now();
            sqe = io_uring_get_sqe(&ring);
        }
        return sqe;
    }

    // Under mutex: io_uring_submit, retried on EINTR; see "Flush".
    void submit_now() {
        for (;;) {
            const int r = io_uring_submit(&ring);
            if (r == -EINTR) {
                continue;
            }
            flush_after_reap = r == -EBUSY || r == -EAGAIN;
            return;
        }
    }

    // Under mutex: the flush handler for this batch, if none is posted.
    void schedule_flush() {
        if (flush_posted) {
            return;
        }
        boost::asio::post(io, [this] {
            std::lock_guard lock(mutex);
            flush_posted = false;
            if (!shut_down) {
                submit_now();
            }
        });
        flush_posted = true;
    }

    // Under mutex: starts the eventfd wait when none is in flight.
    void arm() {
        if (armed) {
            return;
        }
        start_callback_wait(ready, efd, Direction::read, &Impl::on_ready, this);
        armed = true;
    }

    static void prep(io_uring_sqe* sqe, const UringRequest& r) noexcept {
        switch (r.kind) {
        case UringOpKind::read:
            io_uring_prep_read(sqe, r.fd, r.buf, r.len, r.offset);
            break;
        case UringOpKind::write:
            io_uring_prep_write(sqe, r.fd, r.buf, r.len, r.offset);
            break;
        case UringOpKind::openat:
            io_uring_prep_openat(sqe, r.fd, r.path, r.flags | O_CLOEXEC, r.mode);
            break;
        case UringOpKind::statx:
            io_uring_prep_statx(sqe, r.fd, r.path, r.flags, r.mask, r.stx);
            break;
        case UringOpKind::fsync:
            io_uring_prep_fsync(sqe, r.fd, 0);
            break;
        case UringOpKind::fdatasync:
            io_uring_prep_fsync(sqe, r.fd, IORING_FSYNC_DATASYNC);
            break;
        case UringOpKind::close:
            io_uring_prep_close(sqe, r.fd);
            break;
        }
    }

    // Under mutex: a cancel SQE for `user_data` (its own CQE is skipped).
    void prep_cancel(std::uint64_t user_data) {
        if (io_uring_sqe* sqe = get_sqe()) {
            io_uring_prep_cancel64(sqe, user_data, 0);
            io_uring_sqe_set_data64(sqe, ignored_user_data);
        }
    }

    // Under mutex: moves every CQE's completion into `out`.
    template <class Out>
    void reap(Out&& out) {
        for (;;) {
            io_uring_cqe* cqe = nullptr;
            unsigned head = 0;
            unsigned seen = 0;
            io_uring_for_each_cqe(&ring, head, cqe) {
                ++seen;
                if (Slot* s = slot_of(io_uring_cqe_get_data64(cqe))) {
                    const UringOpKind kind = s->kind;
                    out(release_slot(*s), cqe->res, kind);
                }
            }
            io_uring_cq_advance(&ring, seen);
            // CQEs that found the CQ ring full wait on the kernel's overflow
            // list (IORING_FEAT_NODROP) until a system call moves them in.
            if (!io_uring_cq_has_overflow(&ring)) {
                return;
            }
            (void)io_uring_get_events(&ring);
        }
    }

    // The eventfd wait completed (or was aborted by the shutdown's close,
    // which then finds the sink's target null: no call).
    static void on_ready(void* p, int /*direction*/) {
        Impl* self = static_cast<Impl*>(p);
        self->ready->consume(Direction::read);
        {
            std::lock_guard lock(self->mutex);
            if (self->shut_down) {
                self->armed = false;
                return;
            }
            std::uint64_t counter = 0;
            // Clears the eventfd before the reap (see "The eventfd wait").
            // Would-block (already zero) is fine.
            (void)!::read(self->efd.native_handle(), &counter, sizeof counter);
            self->reap([self](std::unique_ptr<UringCompletion> done, int res, UringOpKind) {
                self->reaped.emplace_back(std::move(done), res);
            });
            if (self->flush_after_reap) {
                self->submit_now();
            }
        }
        // Outside the lock: a completion may submit or cancel.
        for (auto& [done, res] : self->reaped) {
            done->complete(res);
            self->completed.fetch_add(1, std::memory_order_relaxed);
            done.reset();
        }
        self->reaped.clear();
        std::lock_guard lock(self->mutex);
        self->armed = false;
        if (self->in_flight > 0 && !self->shut_down) {
            self->arm();
        }
    }

    void shutdown() {
        std::vector<std::unique_ptr<UringCompletion>> unrun;
        {
            std::lock_guard lock(mutex);
            shut_down = true;
            if (backend.load(std::memory_order_relaxed) != Backend::io_uring) {
                return;
            }
            for (std::size_t i = 0; i < slots.size(); ++i) {
                if (slots[i].busy && cancelled_at_shutdown(slots[i].kind)) {
                    prep_cancel((std::uint64_t{slots[i].gen} << 32) | (i + 1));
                }
            }
            submit_now();
            while (in_flight > 0) {
                io_uring_cqe* cqe = nullptr;
                const int r = io_uring_wait_cqe(&ring, &cqe);
                if (r == -EINTR) {
                    continue;
                }
                if (r < 0) {
                    // Nothing more can arrive (the ring is broken): the
                    // completions stay owned by their slots and are leaked
                    // rather than freed under the kernel.
                    for (Slot& s : slots) {
                        (void)s.done.release();
                    }
                    break;
                }
                reap([&](std::unique_ptr<UringCompletion> done, int res, UringOpKind kind) {
                    if (kind == UringOpKind::openat && res >= 0) {
                        ::close(res); // an open that nobody will see
                    }
                    unrun.push_back(std::move(done));
                    completed.fetch_add(1, std::memory_order_relaxed);
                });
                if (flush_after_reap) {
                    submit_now();
                }
            }
        }
        // Outside the lock: a completion's destructor may call cancel.
        unrun.clear();
        // The wait in flight, if any, completes (or is destroyed with the
        // context) into a sink that calls no one; closing the eventfd
        // aborts it. Then the ring goes.
        drop_callback_readiness(ready);
        boost::system::error_code ec;
        efd.close(ec);
        io_uring_queue_exit(&ring);
    }
#else
    void detect() {
        backend.store(Backend::pool, std::memory_order_relaxed);
    }

    void shutdown() {
        std::lock_guard lock(mutex);
        shut_down = true;
    }
#endif
};

UringService::UringService(boost::asio::execution_context& ctx)
    : boost::asio::execution_context::service(ctx),
      // The eventfd's descriptor object is made here, before this service
      // joins the registry, so that the reactor it creates is older and
      // shuts down after this service: its wait is aborted while the
      // reactor is still whole.
      impl_(std::make_unique<Impl>(static_cast<boost::asio::io_context&>(ctx))) {
}

UringService::~UringService() = default;

bool UringService::available() {
    std::lock_guard lock(impl_->mutex);
    if (impl_->backend.load(std::memory_order_relaxed) == UringMetrics::Backend::undecided &&
        !impl_->shut_down) {
        impl_->detect();
    }
    return impl_->backend.load(std::memory_order_relaxed) == UringMetrics::Backend::io_uring &&
           !impl_->shut_down;
}

void UringService::disable() noexcept {
    std::lock_guard lock(impl_->mutex);
    impl_->disabled = true;
}

UringTicket UringService::submit_erased(const UringRequest& req,
                                        std::unique_ptr<UringCompletion> done) {
#if POLLUX_HAVE_LIBURING
    // Destroyed after the lock is released (a completion's destructor may
    // call back into the service): a refused or undone operation's.
    std::unique_ptr<UringCompletion> dropped;
    std::lock_guard lock(impl_->mutex);
    if (impl_->shut_down ||
        impl_->backend.load(std::memory_order_relaxed) != UringMetrics::Backend::io_uring) {
        return {};
    }
    // The only allocation before the SQE is taken; take_slot cannot throw.
    if (impl_->free_head == 0 && impl_->slots.size() == impl_->slots.capacity()) {
        impl_->slots.reserve(impl_->slots.empty() ? 64 : 2 * impl_->slots.size());
    }
    io_uring_sqe* sqe = impl_->get_sqe();
    if (sqe == nullptr) {
        return {};
    }
    Impl::prep(sqe, req);
    const std::uint64_t user_data = impl_->take_slot(std::move(done), req.kind);
    io_uring_sqe_set_data64(sqe, user_data);
    try {
        impl_->schedule_flush();
        impl_->arm();
    } catch (...) {
        // No flush or no wait (bad_alloc): the operation must not go. Its
        // SQE becomes a no-op whose CQE is skipped, and nothing else of it
        // is left.
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, ignored_user_data);
        dropped = impl_->release_slot(*impl_->slot_of(user_data));
        throw;
    }
    impl_->submitted.fetch_add(1, std::memory_order_relaxed);
    return UringTicket{user_data};
#else
    (void)req;
    (void)done;
    return {};
#endif
}

void UringService::cancel(UringTicket t) {
#if POLLUX_HAVE_LIBURING
    std::lock_guard lock(impl_->mutex);
    if (impl_->shut_down || impl_->slot_of(t.id) == nullptr) {
        return;
    }
    impl_->prep_cancel(t.id);
    impl_->schedule_flush();
#else
    (void)t;
#endif
}

UringMetrics UringService::metrics() const noexcept {
    UringMetrics m;
    m.backend = impl_->backend.load(std::memory_order_relaxed);
    m.submitted = impl_->submitted.load(std::memory_order_relaxed);
    m.completed = impl_->completed.load(std::memory_order_relaxed);
    return m;
}

void UringService::shutdown() {
    impl_->shutdown();
}

UringService* uring_of(boost::asio::io_context& io) {
    auto& s = boost::asio::use_service<UringService>(io);
    return s.available() ? &s : nullptr;
}

void disable_uring(boost::asio::io_context& io) {
    boost::asio::use_service<UringService>(io).disable();
}

UringMetrics uring_metrics(boost::asio::execution_context& ctx) {
    if (!boost::asio::has_service<UringService>(ctx)) {
        return {};
    }
    return boost::asio::use_service<UringService>(ctx).metrics();
}

} // namespace pollux::detail
