#pragma once

/// @file
/// The state word of a spawned task and its transitions. Private: included
/// by detail/task.hpp; its rules are tested in test/task_state_test.cpp.

#include <pollux/detail/config.hpp>

#include <atomic>
#include <cstdint>
#include <thread>

namespace pollux::detail {

// # The task state machine
//
// (a) References. A task is intrusively reference counted (`TaskHeader::refs_`,
//     kept apart from the state word). Holders: the scheduler's registry (one,
//     from spawn until the task completes or the loop shuts down), the
//     JoinHandle (one, until it is destroyed), every Waker made for the task
//     (one each), and every posted run handler (one each). The last release
//     deletes the task.
//
// (b) Bits of `state`:
//     running       a thread is inside poll (or dropping the future). Only the
//                   thread that set it touches the future.
//     notified      a wake arrived that has not been acted on. With running
//                   clear it means "a run handler is posted" (scheduled); with
//                   running set it means "poll once more after this poll".
//     complete      the future is gone and the output (value, exception or
//                   cancellation) is final. Never unset once set.
//     cancelled     abort() was called, or the loop shut down. Never unset.
//     join_interest a JoinHandle is alive; cleared by its destructor,
//                   except when it took the output after the completer
//                   had handed the slot back (`join_settled_`): then the
//                   completer is past its last read of the bit, and it
//                   stays set, unread, until the task is deleted.
//     join_waker    the join slot (`TaskHeader::join_waker_`) holds the
//                   waker of the JoinHandle's last Pending poll, and the
//                   completer may read it (tokio's JOIN_WAKER).
//
//     The five states of DESIGN.md are:
//       idle                 = !running && !notified && !complete
//       scheduled            = !running &&  notified && !complete
//       running              =  running && !notified
//       running-and-notified =  running &&  notified
//       complete             =  complete
//
// (c) Fields. The future: only under `running` (or by the registry's shutdown,
//     when no thread runs the loop). The output: written under `running`
//     before `complete` is set (release); read by the JoinHandle after it saw
//     `complete` (acquire). `output_taken_`: the JoinHandle's alone.
//     The join slot has no lock; the two bits say who may touch it (tokio's
//     rules, runtime/task/state.rs):
//       !join_waker              the JoinHandle owns it: it may write it,
//                                and nobody else reads it.
//       join_waker, !complete    shared: both may read it (the handle's
//                                will_wake, nobody writes).
//       join_waker, complete     the completer reads it (wake_by_ref), then
//                                clears join_waker, which hands the slot
//                                back to the handle, or drops the waker
//                                itself when join_interest is already gone.
//                                Or the joiner slot's run takes over the
//                                waker's reference (wake_join): then
//                                join_waker stays set for good, nobody
//                                drops the slot's waker (~TaskHeader
//                                forgets it), and `join_adopted_` (a
//                                release store after the completer's last
//                                read of the slot and the word) tells the
//                                handle so.
//     So the handle writes the slot only with join_waker clear, and sets the
//     bit after writing (release); the completer reads it only after
//     setting `complete` (acq_rel) saw the bit.
//
// (d) Transitions (each one read-modify-write, each returning an enum):
//     wake:     complete or notified -> do_nothing
//               running              -> set notified; do_nothing (the runner re-posts)
//               idle                 -> set notified; submit (post a run handler)
//     run:      scheduled -> running, clear notified; success, or cancelled
//               when the cancelled bit is set; complete -> failed (a stale
//               handler after shutdown)
//     idle:     (after a Pending poll) cancelled -> stays running; cancelled
//               notified -> clear running, keep notified; resubmit
//               otherwise -> clear running; ok
//     complete: running -> complete, clear running and notified
//     abort:    complete or cancelled -> do_nothing
//               running or scheduled  -> set cancelled; do_nothing (the runner sees it)
//               idle                  -> set cancelled and notified; submit
//     failed submit: (the post of a submit threw) clear notified: idle again
//     set join waker:   (handle, after writing the slot) !complete -> set
//                       join_waker; ok. complete -> complete (the handle
//                       drops what it wrote and takes the output)
//     unset join waker: (handle, to replace the waker) !complete -> clear
//                       join_waker; ok. complete -> complete (the slot stays
//                       the completer's)
//     unset join waker after complete: (completer, after waking the slot's
//                       waker) clear join_waker; returns the word, whose
//                       join_interest says who drops the waker
//     drop join interest: (~JoinHandle) clear join_interest, and join_waker
//                       too unless complete (then the handle drops the
//                       slot's waker; a complete task's slot with join_waker
//                       set is the completer's to drop)
//     shutdown: set complete and cancelled (the registry's drain; the gate
//               then closes, so a submit that raced it posts nothing)
//
// (e) Safety.
//     - A wake that races with the end of a poll is never lost: either it set
//       notified before `idle` read the word (then idle resubmits), or it
//       comes after and finds the task idle (then it submits itself).
//     - Waking an already scheduled task posts nothing, so a wake storm costs
//       one run per poll, not one per wake (test: "wake of a scheduled task
//       posts nothing").
//     - Re-polling a notified task goes through a fresh post instead of a
//       loop inside run, so one busy task cannot starve other handlers.
//     - After `complete`, every transition but drop does nothing, so late
//       wakes after shutdown touch no executor.
//     - The join slot is never written while another thread may read it:
//       the handle's CAS that sets or clears join_waker fails once
//       `complete` is set, so after completion it never writes a slot the
//       completer may be reading; the completer only reads it (wake_by_ref)
//       until its own clear of join_waker hands it back. A completion that
//       races the handle's replacement of its waker either saw join_waker
//       (then it wakes the old waker, which the handle still polls with,
//       or the handle's unset failed and the handle takes the output), or
//       did not (then the handle's set fails and it takes the output): the
//       JoinHandle never misses the completion (tests: join_handle_test
//       "JoinHandle awaited from another thread ...", task_state_test
//       "join waker ...").
//
// (f) Schedulers in flight. A wake or abort that wins a submit goes on to
//     read the task's executor (is this thread running it? then post to
//     it), possibly from a thread that does not run the context while the
//     context shuts down. The winning CAS adds `scheduling_one` to the
//     upper half of the word and the thread subtracts it when its schedule
//     is over (done_scheduling). The shutdown marks the task complete (no
//     later submit can win) and then waits for the count to reach zero
//     (wait_for_schedulers) before it may release the executor. The count
//     rides in the same CAS as the submit, so there is no window between
//     winning and being counted. A submit by a thread inside one of the
//     context's handlers (the joiner slot's, transition_to_notified_on_context)
//     is not counted: the shutdown cannot run while that thread is there.
namespace task_state {

/// A thread is polling the future.
inline constexpr std::uint32_t running = 1u << 0;
/// A wake has not been acted on yet.
inline constexpr std::uint32_t notified = 1u << 1;
/// The output is final. Never unset once set.
inline constexpr std::uint32_t complete = 1u << 2;
/// abort() was called or the loop shut down. Never unset once set.
inline constexpr std::uint32_t cancelled = 1u << 3;
/// A JoinHandle is alive.
inline constexpr std::uint32_t join_interest = 1u << 4;
/// The join slot holds the JoinHandle's waker (see (c) for who owns it).
inline constexpr std::uint32_t join_waker = 1u << 5;

/// One thread between winning a submit (wake, abort) and the end of its
/// schedule: the upper half of the word counts them (see (f) above).
inline constexpr std::uint32_t scheduling_one = 1u << 16;
inline constexpr std::uint32_t scheduling_mask = 0xffffu << 16;

/// A new task: not yet scheduled (spawn submits it at once), with a
/// JoinHandle.
inline constexpr std::uint32_t initial = join_interest;

} // namespace task_state

enum class [[nodiscard]] TransitionToNotified{do_nothing, submit};
enum class [[nodiscard]] TransitionToRunning{success, cancelled, failed};
enum class [[nodiscard]] TransitionToIdle{ok, resubmit, cancelled};
enum class [[nodiscard]] TransitionToCancelled{do_nothing, submit};
enum class [[nodiscard]] SetJoinWaker{ok, complete};
enum class [[nodiscard]] UnsetJoinWaker{ok, complete};

/// The state word, with the transitions of the comment above.
class TaskState {
public:
    explicit TaskState(std::uint32_t initial = task_state::initial) noexcept : word_(initial) {}

    std::uint32_t load() const noexcept {
        // ORDERING: acquire pairs with the release in transition_to_complete,
        // so a reader that sees `complete` also sees the output.
        return word_.load(std::memory_order_acquire);
    }

    TransitionToNotified transition_to_notified() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (s & (task_state::complete | task_state::notified)) {
                return TransitionToNotified::do_nothing;
            }
            const bool submit = (s & task_state::running) == 0;
            const std::uint32_t next =
                (s | task_state::notified) + (submit ? task_state::scheduling_one : 0u);
            // ORDERING: acq_rel: release publishes what the waker wrote before
            // waking to the poll that follows (which acquires in
            // transition_to_running); acquire orders us after that poll's end.
            if (word_.compare_exchange_weak(
                    s, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
                return submit ? TransitionToNotified::submit : TransitionToNotified::do_nothing;
            }
        }
    }

    /// As transition_to_notified, for a thread that runs the task's
    /// io_context (the joiner slot's submit): it does not count itself in
    /// `scheduling` ((f): the context's shutdown cannot run while this
    /// thread is inside one of its handlers), one read-modify-write fewer.
    TransitionToNotified transition_to_notified_on_context() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (s & (task_state::complete | task_state::notified)) {
                return TransitionToNotified::do_nothing;
            }
            // ORDERING: acq_rel, as transition_to_notified.
            if (word_.compare_exchange_weak(s,
                                            s | task_state::notified,
                                            std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
                return (s & task_state::running) == 0 ? TransitionToNotified::submit
                                                      : TransitionToNotified::do_nothing;
            }
        }
    }

    TransitionToRunning transition_to_running() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (s & task_state::complete) {
                return TransitionToRunning::failed;
            }
            POLLUX_ASSERT((s & task_state::running) == 0, "task run while already running");
            const std::uint32_t next = (s | task_state::running) & ~task_state::notified;
            // ORDERING: acquire pairs with the release of the wake (see
            // transition_to_notified) and of the previous poll's idle.
            if (word_.compare_exchange_weak(
                    s, next, std::memory_order_acquire, std::memory_order_relaxed)) {
                return (s & task_state::cancelled) ? TransitionToRunning::cancelled
                                                   : TransitionToRunning::success;
            }
        }
    }

    TransitionToIdle transition_to_idle() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            POLLUX_ASSERT(s & task_state::running, "transition_to_idle of a task not running");
            if (s & task_state::cancelled) {
                return TransitionToIdle::cancelled;
            }
            const std::uint32_t next = s & ~task_state::running;
            // ORDERING: release publishes this poll's writes to the next run;
            // acquire pairs with a concurrent wake's release.
            if (word_.compare_exchange_weak(
                    s, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
                return (s & task_state::notified) ? TransitionToIdle::resubmit
                                                  : TransitionToIdle::ok;
            }
        }
    }

    /// Sets complete and clears running and notified. Returns the previous word.
    std::uint32_t transition_to_complete() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            const std::uint32_t next =
                (s | task_state::complete) & ~(task_state::running | task_state::notified);
            // ORDERING: release publishes the output to JoinHandle::poll's
            // acquire load; acquire orders us after a concurrent abort or wake.
            if (word_.compare_exchange_weak(
                    s, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
                return s;
            }
        }
    }

    TransitionToCancelled transition_to_cancelled() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            if (s & (task_state::complete | task_state::cancelled)) {
                return TransitionToCancelled::do_nothing;
            }
            const bool idle = (s & (task_state::running | task_state::notified)) == 0;
            const std::uint32_t next =
                (s | task_state::cancelled) +
                (idle ? task_state::notified + task_state::scheduling_one : 0u);
            // ORDERING: acq_rel, as a wake.
            if (word_.compare_exchange_weak(
                    s, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
                return idle ? TransitionToCancelled::submit : TransitionToCancelled::do_nothing;
            }
        }
    }

    /// Undoes a submit whose post failed (it threw): clears `notified`, so
    /// the task is idle again and the next wake submits. Only the thread
    /// that won the submit calls it; until then no run exists and every
    /// other wake saw `notified` and did nothing. A `cancelled` set
    /// meanwhile stays, and the next run acts on it.
    void transition_from_failed_submit() noexcept {
        // ORDERING: release, as idle: the next submit's poll sees our writes.
        word_.fetch_and(~task_state::notified, std::memory_order_acq_rel);
    }

    /// Ends the schedule that a submit (wake, abort) began: see (f).
    void done_scheduling() noexcept {
        // ORDERING: release: this thread's reads of the executor happen
        // before wait_for_schedulers sees the count drop.
        word_.fetch_sub(task_state::scheduling_one, std::memory_order_release);
    }

    /// Returns once no thread is between winning a submit and the end of
    /// its schedule. Called by the shutdown after it marked the task
    /// complete; the threads it waits for are in the middle of a post.
    void wait_for_schedulers() const noexcept {
        // ORDERING: acquire pairs with done_scheduling's release.
        while ((word_.load(std::memory_order_acquire) & task_state::scheduling_mask) != 0) {
            std::this_thread::yield();
        }
    }

    /// Clears join_interest, and join_waker unless the task is complete (the
    /// handle then owns the slot and drops its waker); returns the previous
    /// word.
    std::uint32_t drop_join_interest() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            POLLUX_ASSERT(s & task_state::join_interest, "JoinHandle dropped twice");
            std::uint32_t next = s & ~task_state::join_interest;
            if (!(s & task_state::complete)) {
                next &= ~task_state::join_waker;
            }
            // ORDERING: acq_rel: acquire sees a completed output (to report
            // an exception nobody will await) and the completer's last read
            // of the slot; release orders the handle's last reads of the slot
            // before a completer that then drops its waker.
            if (word_.compare_exchange_weak(
                    s, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
                return s;
            }
        }
    }

    /// JoinHandle only, with join_waker clear and its waker just written to
    /// the slot: lends the slot to the completer, unless the task completed.
    SetJoinWaker set_join_waker() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            POLLUX_ASSERT((s & task_state::join_waker) == 0, "join waker set twice");
            if (s & task_state::complete) {
                return SetJoinWaker::complete;
            }
            // ORDERING: acq_rel: release publishes the slot's waker to the
            // completer's acq_rel in transition_to_complete (or shutdown);
            // acquire, on the complete path, as the handle's load.
            if (word_.compare_exchange_weak(s,
                                            s | task_state::join_waker,
                                            std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return SetJoinWaker::ok;
            }
        }
    }

    /// JoinHandle only, with join_waker set: takes the slot back to replace
    /// its waker, unless the task completed (the slot stays the completer's).
    UnsetJoinWaker unset_join_waker() noexcept {
        std::uint32_t s = word_.load(std::memory_order_relaxed);
        for (;;) {
            POLLUX_ASSERT(s & task_state::join_waker, "join waker unset while not set");
            if (s & task_state::complete) {
                return UnsetJoinWaker::complete;
            }
            // ORDERING: acq_rel, as set_join_waker (acquire on failure: the
            // complete path reads the output).
            if (word_.compare_exchange_weak(s,
                                            s & ~task_state::join_waker,
                                            std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
                return UnsetJoinWaker::ok;
            }
        }
    }

    /// The completer only, after waking the slot's waker: hands the slot
    /// back. Returns the previous word: without join_interest, the handle is
    /// gone and the completer drops the waker.
    std::uint32_t unset_join_waker_after_complete() noexcept {
        // ORDERING: acq_rel: release orders the completer's read of the slot
        // before the handle's next write (its acquire load sees the bit
        // clear); acquire orders a detached handle's last use before the
        // completer drops the waker.
        return word_.fetch_and(~task_state::join_waker, std::memory_order_acq_rel);
    }

    /// Marks the task complete and cancelled at shutdown; returns the previous word.
    std::uint32_t shutdown() noexcept {
        return word_.fetch_or(task_state::complete | task_state::cancelled,
                              std::memory_order_acq_rel);
    }

private:
    std::atomic<std::uint32_t> word_;
};

} // namespace pollux::detail
