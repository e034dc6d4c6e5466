#pragma once

/// @file
/// `Waker`: the handle a pending future keeps to say "poll me again",
/// Rust's `std::task::Waker`, with the same raw vtable underneath.

#include <pollux/detail/config.hpp>

#include <atomic>
#include <memory>
#include <utility>

namespace pollux {

struct RawWaker;

/// The four operations behind a `Waker`, as in Rust's `RawWakerVTable`.
///
/// - `clone` returns a new `RawWaker` for the same task (usually: bump a
///   reference count and return the same data).
/// - `wake` wakes the task and releases this reference (consuming).
/// - `wake_by_ref` wakes the task and keeps this reference.
/// - `drop` releases this reference.
///
/// Every function must be callable from any thread.
struct RawWakerVTable {
    /// Returns a new `RawWaker` for the same task.
    RawWaker (*clone)(const void*);
    /// Wakes the task and releases this reference.
    void (*wake)(const void*);
    /// Wakes the task and keeps this reference.
    void (*wake_by_ref)(const void*);
    /// Releases this reference.
    void (*drop)(const void*);
};

/// A data pointer and the vtable that knows what it means.
struct RawWaker {
    /// What the vtable functions receive.
    const void* data;
    /// The functions that wake, clone and drop `data`; never null.
    const RawWakerVTable* vtable;
};

namespace detail {

// The no-op waker's vtable, inline: moving a Waker leaves a no-op behind
// and dropping one is a comparison (see ~Waker), so neither calls into
// libpollux (issue 22's spawn + join). Exported (POLLUX_API), so that the
// program and libpollux share one vtable: every no-op waker, moved-from
// or Waker::noop(), is will_wake of every other.
struct POLLUX_API NoopWaker {
    static RawWaker clone(const void*) noexcept { return RawWaker{nullptr, &vtable}; }
    static void op(const void*) noexcept {}
    static constexpr RawWakerVTable vtable{&clone, &op, &op, &op};
    static constexpr RawWaker raw{nullptr, &vtable};
};

} // namespace detail

/// A handle that wakes a task: copying clones it, destroying drops it.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe for the const operations
/// (`wake_by_ref`, `will_wake`, copying from it); a `Waker` may be sent to and
/// woken from any thread.
///
/// A moved-from `Waker` behaves as `Waker::noop()`.
///
/// @par Lifetime
/// A task's waker may outlive the task's Runtime or io_context (docs/design.md,
/// "Lifetimes"): waking it then does nothing, and dropping it frees the
/// task's memory without touching the context. A wake that races the
/// runtime's destruction on another thread either posts before the context
/// closes (the run is dropped with it) or posts nothing.
/// @par Errors
/// Waking a task may throw what Asio's post throws (`std::bad_alloc`); the
/// task is then left idle, and the next wake posts again.
class POLLUX_API Waker {
public:
    /// Takes ownership of one reference held by `raw`.
    [[nodiscard]] static Waker from_raw(RawWaker raw) noexcept { return Waker(raw); }

    /// A waker that does nothing when woken.
    [[nodiscard]] static const Waker& noop() noexcept;

    /// Clones `other` (`RawWakerVTable::clone`).
    Waker(const Waker& other) : raw_(other.raw_.vtable->clone(other.raw_.data)) {}
    /// Moves it; the moved-from Waker behaves as `Waker::noop()`.
    Waker(Waker&& other) noexcept : raw_(std::exchange(other.raw_, noop_raw())) {}
    /// Drops the waker held, then clones `other`.
    Waker& operator=(const Waker& other) {
        if (this != &other) {
            Waker copy(other);
            swap(copy);
        }
        return *this;
    }
    /// Moves it; the moved-from Waker behaves as `Waker::noop()`.
    Waker& operator=(Waker&& other) noexcept {
        Waker moved(std::move(other));
        swap(moved);
        return *this;
    }
    ~Waker() {
        // A moved-from Waker (the usual one to drop) skips the call.
        if (raw_.vtable != &detail::NoopWaker::vtable) {
            raw_.vtable->drop(raw_.data);
        }
    }

    /// Wakes the task and releases this reference; `*this` becomes a no-op
    /// waker.
    void wake() && {
        RawWaker raw = std::exchange(raw_, noop_raw());
        raw.vtable->wake(raw.data);
    }

    /// Wakes the task and keeps this reference.
    void wake_by_ref() const { raw_.vtable->wake_by_ref(raw_.data); }

    /// True when both wakers have the same data and vtable, so waking either
    /// wakes the same task. A future uses it to skip replacing a stored waker.
    [[nodiscard]] bool will_wake(const Waker& other) const noexcept {
        return raw_.data == other.raw_.data && raw_.vtable == other.raw_.vtable;
    }

    /// Exchanges the references held by two wakers.
    void swap(Waker& other) noexcept { std::swap(raw_, other.raw_); }

    /// The raw parts, still owned by `*this`.
    [[nodiscard]] const RawWaker& as_raw() const noexcept { return raw_; }

private:
    explicit Waker(RawWaker raw) noexcept : raw_(raw) {}
    static RawWaker noop_raw() noexcept { return detail::NoopWaker::raw; }

    RawWaker raw_;
};

namespace detail {

// The control block behind `waker_from`: one allocation per `waker_from`
// call, then a clone is one atomic increment. It holds the user's
// shared_ptr, so the woken object lives while any waker does.
template <class W>
struct SharedWakeBlock {
    std::atomic<std::size_t> refs{1};
    std::shared_ptr<W> target;

    static RawWaker clone(const void* p) {
        auto* self = static_cast<SharedWakeBlock*>(const_cast<void*>(p));
        // ORDERING: a new reference is made from an existing one, which keeps
        // the block alive; no other memory is published (as Arc::clone).
        self->refs.fetch_add(1, std::memory_order_relaxed);
        return RawWaker{p, &vtable};
    }
    static void wake(const void* p) {
        wake_by_ref(p);
        drop(p);
    }
    static void wake_by_ref(const void* p) {
        static_cast<const SharedWakeBlock*>(p)->target->wake();
    }
    static void drop(const void* p) {
        auto* self = static_cast<SharedWakeBlock*>(const_cast<void*>(p));
        // ORDERING: acq_rel: the release half publishes this holder's uses
        // of the block, the acquire half lets the last holder see every
        // other's before the delete (Arc::drop, in a form TSan models).
        if (self->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete self;
        }
    }
    static constexpr RawWakerVTable vtable{&clone, &wake, &wake_by_ref, &drop};
};

} // namespace detail

/// A waker from a shared object with a `void wake()` member (Rust's `Wake`
/// trait). Waking calls `w->wake()`, from whichever thread wakes; the object
/// lives as long as any waker made from it.
template <class W>
requires requires(W& w) {
    w.wake();
}
[[nodiscard]] Waker waker_from(std::shared_ptr<W> w) {
    auto* block = new detail::SharedWakeBlock<W>{{1}, std::move(w)};
    return Waker::from_raw(RawWaker{block, &detail::SharedWakeBlock<W>::vtable});
}

} // namespace pollux
