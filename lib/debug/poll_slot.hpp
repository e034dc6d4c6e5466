#pragma once

// Per-thread "poll in progress" records, read by the stall watchdog. Private
// to the library.
//
// Each thread that polls a task while detailed metrics are on owns one
// PollSlot, registered in a global list on first use and removed when the
// thread exits. Only the owning thread writes a slot; the watchdog reads
// slots under the list's mutex (which keeps them alive), never the task.
//
// Protocol (a seqlock whose sequence is the poll's start time): at the
// start of a poll the writer issues a release fence, stores the fields
// (relaxed), then `start_ns` (release); at the end it stores `start_ns = 0`
// (release). A reader loads `start_ns` (acquire), the fields (relaxed), an
// acquire fence, and `start_ns` again; if the two differ, a poll ended or
// began in between and the reader skips the slot this round. If the reader
// saw a field of the next poll, the fences make the end-of-poll store of 0
// visible to its second load, so torn fields are never accepted. Two polls
// cannot share a start: each is stamped after the previous one ended, on a
// steady clock with nanosecond ticks. A poll nested inside another poll on
// the same thread leaves the slot to the outer one.

#include <pollux/detail/task.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <source_location>

namespace pollux::detail {

struct PollSlot {
    std::atomic<const SchedulerService*> service{nullptr};
    std::atomic<std::uint64_t> task_id{0};
    std::atomic<std::int64_t> start_ns{0}; // 0: no poll in progress
    std::atomic<std::source_location> spawn_site{};
    std::atomic<std::source_location> resumed_from{};
};

/// This thread's slot (registered on first use).
PollSlot& this_thread_poll_slot();

/// Calls `fn` for every registered slot, under the list's mutex.
void visit_poll_slots(const std::function<void(const PollSlot&)>& fn);

/// steady_clock now, in nanoseconds since its epoch (never 0 in practice).
std::int64_t steady_now_ns() noexcept;

/// Publishes the poll of `task` on this thread's slot for its lifetime
/// (unless a poll is already published there: see the file comment).
class PollSlotScope {
public:
    PollSlotScope(const TaskHeader& task, const SchedulerService& service, std::int64_t start);
    ~PollSlotScope();
    PollSlotScope(const PollSlotScope&) = delete;
    PollSlotScope& operator=(const PollSlotScope&) = delete;

private:
    PollSlot& slot_;
    bool active_ = false;
};

} // namespace pollux::detail
