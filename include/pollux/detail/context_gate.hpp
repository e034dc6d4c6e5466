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
// (a) States. `open` -> `closed` -> `buried`, never back.
//     open     the context is alive: a thread that enters may use it (post
//              to it, destroy an I/O object of it) until it leaves.
//     closed   the context is shutting down or gone: enter fails. Set by
//              SchedulerService::shutdown after it dropped every task's
//              future (those drops still see the gate open), and close()
//              returns only once every thread that entered has left.
//     buried   the context's services are being, or have been, deleted.
//              Set by ~SchedulerService (Asio deletes services only after
//              every service's shutdown has run).
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
// (c) Ordering. The word holds `closed` and the number of threads inside.
//     enter is one fetch_add: it either sees `closed` (and backs out), or
//     happens before close's fetch_or, which then waits for its leave. So
//     after close() returns, no thread is inside and none will get in.
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

    /// True while the context is open; it then stays alive until leave().
    [[nodiscard]] bool enter() const noexcept {
        // ORDERING: acquire pairs with nothing the closer publishes (the
        // closer only reads the count); it keeps the uses after enter from
        // moving above it.
        if ((word_.fetch_add(1, std::memory_order_acquire) & closed_bit) == 0) {
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

    /// Refuses later enters and waits for the threads inside to leave.
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

    mutable std::atomic<std::uint32_t> word_{0};
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
