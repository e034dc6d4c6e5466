#pragma once

/// @file
/// `detail::ArcWake<D>`: an intrusively reference-counted object that can
/// hand out `Waker`s to itself without a second allocation (futures-rs's
/// `ArcWake`). Used by block_on's parker and by the per-child wakers of
/// `FuturesUnordered`.

#include <pollux/core/waker.hpp>

#include <atomic>
#include <cstddef>
#include <utility>

namespace pollux::detail {

// `D` derives from `ArcWake<D>` and defines `void wake() const` (callable
// from any thread). The object starts with one reference, owned by whoever
// created it (see `adopt`/`release`); each waker made by `waker()` holds one
// more. The last release deletes the object through `D*`.
template <class D>
class ArcWake {
public:
    ArcWake() = default;
    ArcWake(const ArcWake&) = delete;
    ArcWake& operator=(const ArcWake&) = delete;

    /// A new waker for this object; it holds its own reference.
    [[nodiscard]] Waker waker() const {
        retain();
        return Waker::from_raw(RawWaker{static_cast<const D*>(this), &vtable});
    }

    void retain() const noexcept {
        // ORDERING: a new reference is made from one the caller holds, which
        // keeps the object alive; nothing else is published.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }

    void release() const noexcept {
        // ORDERING: acq_rel: the release half publishes this holder's last
        // uses, the acquire half lets the last holder see every other's
        // before the delete (Arc's release + fence, in a form TSan models).
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete static_cast<const D*>(this);
        }
    }

protected:
    ~ArcWake() = default;

private:
    static RawWaker clone(const void* p) {
        static_cast<const D*>(p)->retain();
        return RawWaker{p, &vtable};
    }
    static void wake(const void* p) {
        const D* self = static_cast<const D*>(p);
        self->wake();
        self->release();
    }
    static void wake_by_ref(const void* p) { static_cast<const D*>(p)->wake(); }
    static void drop(const void* p) { static_cast<const D*>(p)->release(); }

    static constexpr RawWakerVTable vtable{&clone, &wake, &wake_by_ref, &drop};

    mutable std::atomic<std::size_t> refs_{1};
};

/// Owns the creator's reference of an `ArcWake` object.
template <class D>
class ArcPtr {
public:
    ArcPtr() = default;
    explicit ArcPtr(D* adopted) noexcept : p_(adopted) {}
    ArcPtr(const ArcPtr& o) noexcept : p_(o.p_) {
        if (p_) {
            p_->retain();
        }
    }
    ArcPtr(ArcPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    ArcPtr& operator=(ArcPtr o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~ArcPtr() {
        if (p_) {
            p_->release();
        }
    }
    D* operator->() const noexcept { return p_; }
    D& operator*() const noexcept { return *p_; }
    D* get() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    D* p_ = nullptr;
};

template <class D, class... Args>
[[nodiscard]] ArcPtr<D> make_arc(Args&&... args) {
    return ArcPtr<D>(new D(std::forward<Args>(args)...));
}

} // namespace pollux::detail
