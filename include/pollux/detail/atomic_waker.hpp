#pragma once

/// @file
/// `detail::AtomicWaker`: one waker slot that a single poller registers into
/// and any thread wakes, without a lock (futures-core's `AtomicWaker`).

#include <pollux/core/waker.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

namespace pollux::detail {

// Protocol (futures-core atomic_waker.rs, restated):
//   state = waiting | registering | waking (bits)
// register(w), by the one poller:
//   waiting -> registering (CAS, acquire): we own the slot; store w if it
//     would not wake the same task; then registering -> waiting (CAS,
//     acq_rel). If that CAS fails, a wake arrived meanwhile (the state is
//     registering|waking): take the waker, reset to waiting, and wake it.
//   waking: a wake is taking the old waker right now; wake w directly so the
//     new registration is not lost.
// wake(), by any thread:
//   fetch_or(waking): if the state was waiting, we own the slot: take the
//     waker, clear waking (release), wake it outside. Otherwise a register is
//     in progress (it will see waking and wake) or another wake is under way.
// So a wake that races with register is never lost, and the slot is touched
// by one party at a time.
class AtomicWaker {
public:
    AtomicWaker() = default;
    AtomicWaker(const AtomicWaker&) = delete;
    AtomicWaker& operator=(const AtomicWaker&) = delete;

    /// Stores `w` to be woken by the next wake(). One poller at a time.
    void register_waker(const Waker& w) {
        std::uint32_t expected = waiting;
        // ORDERING: acquire pairs with the release that ended the previous
        // owner's use of the slot.
        if (state_.compare_exchange_strong(
                expected, registering, std::memory_order_acquire, std::memory_order_acquire)) {
            if (!waker_ || !waker_->will_wake(w)) {
                waker_.emplace(w);
            }
            expected = registering;
            // ORDERING: acq_rel: release publishes the stored waker to the
            // next wake(); acquire sees a concurrent wake's request.
            if (!state_.compare_exchange_strong(
                    expected, waiting, std::memory_order_acq_rel, std::memory_order_acquire)) {
                // A wake arrived while we held the slot: deliver it ourselves.
                std::optional<Waker> taken = std::move(waker_);
                waker_.reset();
                // ORDERING: release ends our use of the slot.
                state_.store(waiting, std::memory_order_release);
                if (taken) {
                    std::move(*taken).wake();
                }
            }
            return;
        }
        if (expected & waking) {
            w.wake_by_ref();
        }
        // Otherwise a concurrent register: a misuse we tolerate by ignoring it.
    }

    /// Wakes and clears the stored waker, if any. Any thread.
    void wake() {
        if (auto w = take()) {
            std::move(*w).wake();
        }
    }

    /// Takes the stored waker, if no one else holds the slot. Any thread.
    std::optional<Waker> take() {
        // ORDERING: acq_rel: acquire pairs with register's release of the
        // stored waker; release orders what the waking thread wrote before.
        if (state_.fetch_or(waking, std::memory_order_acq_rel) == waiting) {
            std::optional<Waker> w = std::move(waker_);
            waker_.reset();
            // ORDERING: release ends our use of the slot (pairs with
            // register's acquire).
            state_.fetch_and(~waking, std::memory_order_release);
            return w;
        }
        return std::nullopt;
    }

private:
    static constexpr std::uint32_t waiting = 0;
    static constexpr std::uint32_t registering = 1;
    static constexpr std::uint32_t waking = 2;

    std::atomic<std::uint32_t> state_{waiting};
    std::optional<Waker> waker_;
};

} // namespace pollux::detail
