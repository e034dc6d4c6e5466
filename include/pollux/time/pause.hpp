#pragma once

/// @file
/// `time::pause()`, `time::advance(d)`, `time::resume()` and
/// `time::is_paused()`: a virtual clock for tests (tokio's
/// `time::pause`/`advance`/`resume`).

#include <pollux/detail/config.hpp>
#include <pollux/time/clock.hpp>

namespace pollux::time {

/// Freezes `Clock` at its current instant. Meant for tests and for
/// `sim::Runtime`: the paused clock is process-wide (one per process, not
/// per io_context), so every runtime and thread sees the same virtual time.
///
/// While paused, `sleep`, `sleep_until`, `timeout`, `timeout_at`, `Interval`
/// and `uv::Timer` wait on virtual time: they complete only when the clock is
/// moved past their deadline, by `advance`, or by auto-advance: a
/// current-thread `Runtime::block_on` (and `uv::Loop::run`), when every task
/// is idle, moves the clock to the earliest virtual deadline at once (tokio's
/// `start_paused`), so a 30-second timeout takes microseconds. Auto-advance
/// needs a pollux loop: an io_context run by hand (`io.run()`) or by a
/// multi-thread Runtime gets pause and `advance` but never auto-advances.
///
/// Not virtual: raw Asio timers (`steady_timer`), which keep real time, and
/// a pollux timer whose real wait was already armed before `pause()`: it
/// keeps its real expiry until it fires (pause first, then start timers;
/// `RuntimeOptions::start_paused` does).
///
/// Called from inside a task of a current-thread `Runtime::block_on`, it
/// switches that loop to auto-advance at once.
///
/// @par Thread safety
/// Safe from any thread.
/// @par Errors
/// Throws `std::logic_error` if the clock is already paused.
POLLUX_API void pause();

/// Unfreezes the clock: it runs on from the virtual instant it had (never
/// backwards), and every timer waiting on virtual time re-arms on real time
/// (those whose deadline has passed complete at once).
///
/// @par Thread safety
/// Safe from any thread.
/// @par Errors
/// Throws `std::logic_error` if the clock is not paused.
POLLUX_API void resume();

/// Moves the paused clock forward by `d` and wakes, in deadline order, every
/// timer whose deadline is now reached; the others stay pending. Zero is
/// allowed (wakes what is due now).
///
/// @par Thread safety
/// Safe from any thread.
/// @par Errors
/// Throws `std::logic_error` if the clock is not paused and
/// `std::invalid_argument` if `d` is negative.
POLLUX_API void advance(Duration d);

/// True while the clock is paused.
///
/// @par Thread safety
/// Safe from any thread.
POLLUX_API bool is_paused() noexcept;

} // namespace pollux::time
