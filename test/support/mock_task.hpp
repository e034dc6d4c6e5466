#pragma once

// `MockTask`: polls a future by hand with a waker of its own and records
// wakes (tokio-test's `task::spawn`). `interleave_pending`: a future adaptor
// that returns Pending (and wakes itself) before each poll of the inner
// future (futures-test's `interleave_pending`).

#include <pollux/core/future.hpp>
#include <pollux/detail/arc_wake.hpp>

#include <atomic>
#include <cstddef>
#include <optional>
#include <utility>

namespace pollux::test {

namespace detail_mock {
struct WakeFlag final : pollux::detail::ArcWake<WakeFlag> {
    mutable std::atomic<std::size_t> count{0};
    mutable std::atomic<bool> woken{false};
    void wake() const noexcept {
        count.fetch_add(1);
        woken.store(true);
    }
};
} // namespace detail_mock

/// Owns a future and polls it with a waker whose wakes it counts.
template <Future F>
class MockTask {
public:
    explicit MockTask(F f)
        : fut_(std::move(f)), flag_(pollux::detail::make_arc<detail_mock::WakeFlag>()),
          waker_(flag_->waker()) {}

    /// Polls once; clears the woken flag first.
    Poll<output_t<F>> poll() {
        flag_->woken.store(false);
        ++polls_;
        Context cx(waker_);
        return fut_.poll(cx);
    }

    /// True when woken since the last poll.
    bool is_woken() const { return flag_->woken.load(); }
    std::size_t wake_count() const { return flag_->count.load(); }
    std::size_t poll_count() const { return polls_; }
    const Waker& waker() const { return waker_; }
    F& future() { return fut_; }

private:
    F fut_;
    pollux::detail::ArcPtr<detail_mock::WakeFlag> flag_;
    Waker waker_;
    std::size_t polls_ = 0;
};

template <Future F>
MockTask(F) -> MockTask<F>;

/// Forces a Pending (with a self-wake) before every poll of the inner future,
/// so code that assumes "ready on the first poll" shows its bugs.
template <Future F>
class InterleavePending {
public:
    using Output = output_t<F>;
    explicit InterleavePending(F f) : inner_(std::move(f)) {}

    Poll<Output> poll(Context& cx) {
        if (!pended_) {
            pended_ = true;
            cx.waker().wake_by_ref();
            return Pending{};
        }
        pended_ = false;
        return inner_.poll(cx);
    }

private:
    F inner_;
    bool pended_ = false;
};

template <Future F>
InterleavePending<std::remove_cvref_t<F>> interleave_pending(F&& f) {
    return InterleavePending<std::remove_cvref_t<F>>(std::forward<F>(f));
}

} // namespace pollux::test
