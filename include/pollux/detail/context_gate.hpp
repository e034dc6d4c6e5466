#pragma once

/// @file
/// `detail::ContextGate`: how an object that may outlive its io_context (a
/// task, a Waker, a Sleep, a socket block) learns whether the context is
/// still there, and keeps it there while it uses it. Private; the lifetime
/// contract it implements is docs/design.md's "Lifetimes".

#include <pollux/detail/config.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace pollux::detail {

// # The gate of an execution context
//
// One per io_context, made by its SchedulerService (created on the first
// spawn, timer or socket pollux makes there, and by Runtime's constructor)
// and reference counted, so every object that points at the context can
// hold the gate and outlive both.
//
// (a) States. `open` -> `closing` -> `closed` -> `buried`, never back.
//     open     the context is alive: a thread that enters may use it (post
//              to it, destroy an I/O object of it) until it leaves.
//     closing  the context is being destroyed by one thread, the closer:
//              only the closer enters (the futures that the shutdown drops
//              on it destroy their I/O objects as usual); any other thread
//              fails, because the services' shutdowns, which take no lock
//              against it (the reactor unlinks timers without one), run on
//              the closer from here on. Set by close_to_others(): by
//              ~Runtime after it joined its threads, before the io_context's
//              destructor; by SchedulerService::shutdown otherwise.
//     closed   every enter fails. Set by SchedulerService::shutdown after it
//              dropped every task's future.
//     buried   the context's services are being, or have been, deleted.
//              Set by ~SchedulerService (Asio deletes services only after
//              every service's shutdown has run).
//     Each of close_to_others() and close() returns only once every thread
//     that entered before it has left.
//
// (b) What a user does when enter fails.
//     - A wake or abort posts nothing: the task was (or is being) shut down,
//       so no run is wanted.
//     - An I/O block must not run its I/O object's destructor (its service
//       is shut down or deleted). Before `buried` it hands the block to
//       defer_free (the reactor's shutdown may still walk a timer's links,
//       so the memory must stay until then); after, it frees it at once,
//       without the I/O object's destructor (every service's shutdown has
//       unlinked and abandoned what pointed at it).
//
// (c) Ordering. The word holds `closing`, `closed` and the number of
//     threads inside. enter is one fetch_add: it either sees a closing bit
//     (and backs out, unless it is the closer and only `closing` is set),
//     or happens before the fetch_or, which then waits for its leave. The
//     closer's id is written before the fetch_or that publishes `closing`
//     (release) and read after an enter saw it (acquire).
class POLLUX_API ContextGate {
public:
    /// A new, open gate with one reference (the service's).
    static ContextGate* create() { return new ContextGate(); }

    ContextGate(const ContextGate&) = delete;
    ContextGate& operator=(const ContextGate&) = delete;

    void retain() const noexcept {
        // ORDERING: a new reference from one the caller holds.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void release() const noexcept {
        // ORDERING: acq_rel, as every intrusive count: the last holder sees
        // the others' writes before the delete.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

    /// True while the context is open (or closing, to the closer); it then
    /// stays alive until leave().
    [[nodiscard]] bool enter() const noexcept {
        // ORDERING: acquire: pairs with close_to_others' release of the
        // closer's id, and keeps the uses after enter from moving above it.
        const std::uint32_t s = word_.fetch_add(1, std::memory_order_acquire);
        if ((s & (closing_bit | closed_bit)) == 0 ||
            ((s & closed_bit) == 0 && closer_ == std::this_thread::get_id())) {
            return true;
        }
        leave();
        return false;
    }
    void leave() const noexcept {
        // ORDERING: release: this thread's uses of the context happen before
        // close() sees the count drop.
        word_.fetch_sub(1, std::memory_order_release);
    }

    /// Whether close() has run (a hint: the answer may change at once).
    [[nodiscard]] bool is_closed() const noexcept {
        return (word_.load(std::memory_order_acquire) & closed_bit) != 0;
    }

    /// Refuses later enters from every thread but the calling one, and
    /// waits for the threads inside to leave. Does nothing once closing.
    /// Never called from inside the gate.
    void close_to_others() noexcept;

    /// Refuses every later enter and waits for the threads inside to leave.
    /// Idempotent. Never called from inside the gate.
    void close() noexcept;

    /// After a failed enter: runs `free(p)` at bury() if the gate is not
    /// buried yet, and returns true; returns false if it is (the caller then
    /// frees at once).
    bool defer_free(void* p, void (*free)(void*));

    /// Runs every deferred free; later defer_free calls return false.
    void bury() noexcept;

private:
    ContextGate() = default;
    ~ContextGate() = default;

    static constexpr std::uint32_t closed_bit = 1u << 31;
    static constexpr std::uint32_t closing_bit = 1u << 30;
    static constexpr std::uint32_t count_mask = closing_bit - 1;

    void wait_empty() const noexcept;

    mutable std::atomic<std::uint32_t> word_{0};
    std::thread::id closer_; // written once, before `closing` is published
    mutable std::atomic<std::uint32_t> refs_{1};
    std::mutex mutex_;                                     // guards the two below
    std::vector<std::pair<void*, void (*)(void*)>> grave_; // deferred frees
    bool buried_ = false;
};

/// An owning pointer to a gate (one reference).
class GateRef {
public:
    GateRef() noexcept = default;
    /// Takes a new reference to `g` (may be null).
    explicit GateRef(const ContextGate* g) noexcept : g_(g) {
        if (g_) {
            g_->retain();
        }
    }
    GateRef(const GateRef& o) noexcept : GateRef(o.g_) {}
    GateRef(GateRef&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
    GateRef& operator=(GateRef o) noexcept {
        std::swap(g_, o.g_);
        return *this;
    }
    ~GateRef() {
        if (g_) {
            g_->release();
        }
    }
    [[nodiscard]] ContextGate* get() const noexcept { return const_cast<ContextGate*>(g_); }
    ContextGate* operator->() const noexcept { return get(); }
    explicit operator bool() const noexcept { return g_ != nullptr; }

private:
    const ContextGate* g_ = nullptr;
};

/// A scope inside a gate: true when entered (the context stays alive until
/// the scope ends). A null gate is always entered (no context to guard).
class GatePass {
public:
    explicit GatePass(const ContextGate* g) noexcept : g_(g), in_(g == nullptr || g->enter()) {}
    GatePass(const GatePass&) = delete;
    GatePass& operator=(const GatePass&) = delete;
    ~GatePass() {
        if (g_ && in_) {
            g_->leave();
        }
    }
    explicit operator bool() const noexcept { return in_; }

private:
    const ContextGate* g_;
    bool in_;
};

} // namespace pollux::detail
