#pragma once

// The process-wide state of the pausable clock (pollux/time/clock.hpp,
// pollux/time/pause.hpp, pollux/detail/virtual_clock.hpp). Private to
// lib/time.

#include <pollux/core/waker.hpp>
#include <pollux/detail/virtual_clock.hpp>
#include <pollux/time/clock.hpp>

#include <mutex>
#include <optional>
#include <vector>

namespace pollux::detail {

// Invariants, all under `mu`:
// - `paused`: `frozen` is the virtual now; Clock::now() returns it.
//   Unpaused: Clock::now() is steady_clock::now() + `offset`.
// - `offset` is the total time the clock was moved forward while paused
//   (advance, auto-advance); it never decreases, so time never goes back:
//   pausing freezes steady + offset, resuming continues from steady + offset,
//   which is at least the frozen instant.
// - `waiters` holds exactly the linked VirtualTimer nodes (node->pos_
//   engaged, pointing at its own entry); it is empty while unpaused.
// - `runs` lists the RealTimeRun registrations (current-thread loops in a
//   long run()); pause() stops each io_context on it.
// - `clock_altered` is set (by the first pause) before `paused` is first
//   true, and never cleared.
// Wakers are woken only after `mu` is released: a waker may run the task
// inline or take other locks.
struct ClockState {
    std::mutex mu;
    bool paused = false;
    time::Instant frozen{};
    time::Duration offset{};
    VirtualTimer::List waiters;
    RealTimeRun* runs = nullptr;

    static ClockState& get() noexcept;

    // Unlinks every waiter due at `frozen` (all of them if `all`) and
    // returns their wakers, in deadline order.
    std::vector<Waker> take_due(bool all);
    // Moves the frozen clock to `t` if that is later (paused, under mu).
    void move_frozen_to(time::Instant t) noexcept;

    static void link(RealTimeRun& r, ClockState& s) noexcept;
    static void unlink(RealTimeRun& r, ClockState& s) noexcept;
    static boost::asio::io_context* io_of(const RealTimeRun& r) noexcept { return r.io_; }
    static RealTimeRun* next_of(const RealTimeRun& r) noexcept { return r.next_; }
};

// Wakes each waker (outside the lock).
void wake_all(std::vector<Waker>& wakers);

// advance_paused_clock_to, but a no-op returning false when the clock is
// not paused (the loops race with resume() on other threads).
bool advance_paused_clock_if_paused(time::Instant t);

} // namespace pollux::detail
