#include <pollux/debug/await_site.hpp>
#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/task.hpp>

#include "../debug/poll_slot.hpp"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <new>

namespace pollux::detail {

extern const RawWakerVTable task_waker_vtable;

// The thread-local uses the initial-exec TLS model: an access is a load at
// a fixed offset from the thread pointer, not a __tls_get_addr call (which
// the default model of a shared library costs on every poll). The price:
// libpollux must be loaded at program start or have room in the static TLS
// surplus when dlopen'ed (8 bytes; glibc reserves over a kilobyte).
//
// One variable serves both the current task and its await-site slot (the
// slot is TaskHeader's base), so a poll saves and restores one pointer
// whether or not the debug record is compiled in.
[[gnu::tls_model("initial-exec")]] thread_local constinit AwaitSiteSlot* current_task_slot =
    nullptr;

// The joiner slot (tokio's LIFO slot, for one case). While a run's
// completion is under way (TaskHeader::run, below), the slot is open. If
// the completed task's JoinHandle waker is a task whose io_context this
// thread runs, the join wake (wake_join) puts that task in the slot instead
// of posting a run for it, and run() polls it right after, in the same
// handler: the joiner gets its output one trip through Asio's queue sooner
// (finding 5 of docs/performance.md), as an Asio handler runs its
// continuation where it runs. Invariants:
// - The slot holds at most one task. Its submit was won (`notified` set,
//   as for a posted run) and the slot holds the reference that run would
//   have held (the join waker's, taken over): to the state word it is a
//   scheduled task whose run handler happens to be this one.
// - It is filled only as the last step of complete() (wake_join), after
//   which nothing throws, so a filled slot is never lost to an exception;
//   and only while the completing run has it open, never by spawn's
//   failure path or the shutdown's wake_join.
// - The joiner's own run keeps the slot closed (its join wake posts), so a
//   handler runs at most two polls, and the second is always the joiner of
//   a task whose run came through Asio's queue: no chain of in-place runs,
//   and nothing starves (the joiner's next child, or its own wake, goes to
//   the back of the queue). docs/design.md, phase 2.
// - A run nested in the completion (a user's waker or exception handler
//   that runs a loop) saves and restores the slot around its own.
//
// - Only the completion of the task whose run opened the slot fills it:
//   the open slot names that task, so a wake_join nested in its
//   completion (the shutdown of another context, run by a user's
//   exception handler or waker) posts as usual.
//
// One pointer: null while closed, slot_open(t) while open and empty for the
// completion of task t, else the task it holds.
[[gnu::tls_model("initial-exec")]] thread_local constinit TaskHeader* joiner_slot = nullptr;

namespace {

// The open, empty joiner slot of task `t`'s completion: `t`'s address with
// the low bit set, which no task has (a task is aligned to at least 8).
TaskHeader* slot_open(const TaskHeader* t) noexcept {
    return reinterpret_cast<TaskHeader*>(reinterpret_cast<std::uintptr_t>(t) | 1u);
}

// CurrentTaskScope for the poll path: not exported, so it inlines.
class PollScope {
public:
    explicit PollScope(TaskHeader* task) noexcept : previous_(current_task_slot) {
        current_task_slot = task;
    }
    ~PollScope() { current_task_slot = previous_; }
    PollScope(const PollScope&) = delete;
    PollScope& operator=(const PollScope&) = delete;

private:
    AwaitSiteSlot* previous_;
};

// Counts this thread as scheduling the task (task_state.hpp, (f)) until
// the scope ends or end() is called.
class SchedulingScope {
public:
    explicit SchedulingScope(TaskState& s) noexcept : s_(&s) {}
    SchedulingScope(const SchedulingScope&) = delete;
    SchedulingScope& operator=(const SchedulingScope&) = delete;
    ~SchedulingScope() { end(); }
    void end() noexcept {
        if (s_) {
            std::exchange(s_, nullptr)->done_scheduling();
        }
    }

private:
    TaskState* s_;
};

// The waker of a task: one reference per waker.
RawWaker waker_clone(const void* p) {
    static_cast<const TaskHeader*>(p)->retain();
    return RawWaker{p, &task_waker_vtable};
}
void waker_wake(const void* p) {
    // The waker's reference goes even when the wake's post throws.
    struct Release {
        const TaskHeader* t;
        ~Release() { t->release(); }
    } r{static_cast<const TaskHeader*>(p)};
    r.t->wake();
}
void waker_wake_by_ref(const void* p) {
    static_cast<const TaskHeader*>(p)->wake();
}
void waker_drop(const void* p) {
    static_cast<const TaskHeader*>(p)->release();
}

} // namespace

const RawWakerVTable task_waker_vtable{&waker_clone, &waker_wake, &waker_wake_by_ref, &waker_drop};

Waker TaskHeader::waker() const {
    retain();
    return Waker::from_raw(RawWaker{this, &task_waker_vtable});
}

// Only used in this file: inline.
// A false return means the context is closed: its shutdown drops this
// task (or has), so no run is wanted.
inline bool TaskHeader::post_run() const {
    retain(); // schedule adopts it
    return vtable_->schedule(const_cast<TaskHeader&>(*this));
}

void TaskHeader::post_submitted() const {
    try {
        post_run();
    } catch (...) {
        // Back to idle, so that a later wake posts again.
        state_.transition_from_failed_submit();
        throw;
    }
}

void TaskHeader::wake() const {
    // Wakes are not counted here: each wake that schedules a poll is
    // counted as that poll (RuntimeMetrics::wakes is polls after the first),
    // so the wake path touches nothing but the state word.
    if (state_.transition_to_notified() == TransitionToNotified::submit) {
        SchedulingScope scheduling(state_);
        post_submitted();
    }
}

void TaskHeader::first_run_failed() noexcept {
    // Registered but never runnable: finish it here, as its run would have
    // on seeing it cancelled (complete() gives back the registry's
    // reference); spawn's caller sees the post's exception. A wake of the
    // JoinHandle's waker that throws here cannot happen: the handle has
    // not been returned, so the slot holds no waker.
    state_.transition_from_failed_submit();
    drop_future_as_current();
    complete();
}

void TaskHeader::refuse() {
    // Nobody else knows the task yet: the JoinHandle is not returned.
    (void)state_.shutdown();
    drop_future_as_current();
    vtable_->release_executor(*this);
    release(); // the registry's (never registered)
    release(); // the first run's (never posted)
}

// Finding 2 of docs/performance.md: a readiness or timer completion used to
// wake its task, whose wake posted a second handler to poll it, so every
// I/O event took two trips through the io_context's queue where a plain
// Asio handler takes one. Polling here, inside the completion handler, is
// what that second handler would do, minus the trip:
// - only on a thread that is running the task's io_context (inside one of
//   its handlers), where the posted run could have run anyway;
// - only when no task is being polled on this thread, so a poll never
//   nests in another;
// - the state word still decides: a task already scheduled, running or
//   complete is not polled (the wake merges as usual), and a wake during
//   this poll re-posts it through transition_to_idle, so a task that keeps
//   waking itself still yields to other handlers.
// Asio never runs a completion handler inside the initiating call, so this
// cannot recurse through the poll it starts.
void TaskHeader::wake_from_handler() const {
    if (state_.transition_to_notified() != TransitionToNotified::submit) {
        return;
    }
    SchedulingScope scheduling(state_);
    if (vtable_->runs_here(*this)) {
        // This thread runs the context: its shutdown is not running.
        scheduling.end();
        // SAFETY: the caller's reference keeps *this alive for the poll.
        const_cast<TaskHeader*>(this)->run();
        return;
    }
    post_submitted();
}

void wake_from_completion(Waker&& w) {
    const RawWaker& raw = w.as_raw();
    if (raw.vtable == &task_waker_vtable && current_task_slot == nullptr) {
        // `w` keeps its reference until the poll is over.
        static_cast<const TaskHeader*>(raw.data)->wake_from_handler();
        return;
    }
    std::move(w).wake();
}

void TaskHeader::abort() const {
    if (state_.transition_to_cancelled() == TransitionToCancelled::submit) {
        SchedulingScope scheduling(state_);
        // Idle: post a run so the future is dropped on the task's executor,
        // never on the aborting thread.
        post_submitted();
    }
}

// Only used in this file: inline, so the poll path has no extra call.
inline bool TaskHeader::poll_once(Context& cx) noexcept {
    try {
        return vtable_->poll(*this, cx);
    } catch (...) {
        error_ = std::current_exception();
        vtable_->drop_future(*this);
        return true;
    }
}

// One run of a task, in the phase order of docs/design.md; then the run of
// the joiner that its completion put in the joiner slot, if any.
void TaskHeader::run() {
    // The completion of `t` (cancelled: its future is dropped first, as
    // finish_cancelled does), with the joiner slot open when `slot`: returns
    // the task put there (holding the slot's reference), or null.
    const auto finish = [](TaskHeader& t, bool slot, bool cancelled) -> TaskHeader* {
        if (cancelled) {
            t.drop_future_as_current();
        }
        if (!slot) {
            t.complete();
            return nullptr;
        }
        // Restores the slot (an outer run's, or closed) however complete()
        // ends; when it throws, nothing was put in the slot.
        struct Open {
            TaskHeader* saved;
            ~Open() { joiner_slot = saved; }
        } open{std::exchange(joiner_slot, slot_open(&t))};
        t.complete();
        TaskHeader* const joiner = joiner_slot;
        return joiner == slot_open(&t) ? nullptr : joiner;
    };
    // One run of `t`: what the run handler does. Returns the joiner that
    // finish put in the slot, or null.
    // Inlined into both calls below (GCC otherwise makes it one
    // out-of-line function: a call and a prologue more per run).
    const auto run_one = [&finish](TaskHeader & t, bool slot) __attribute__((always_inline))
                             ->TaskHeader* {
    again:
        // Phase 2: a posted run claims the task; a stale one (after shutdown)
        // does nothing.
        switch (t.state_.transition_to_running()) {
        case TransitionToRunning::failed:
            return nullptr;
        case TransitionToRunning::cancelled:
            return finish(t, slot, true);
        case TransitionToRunning::success:
            break;
        }

        // The poll borrows the run handler's reference for its waker instead of
        // taking one: the waker lives in raw storage whose destructor never runs.
        alignas(Waker) unsigned char storage[sizeof(Waker)];
        // SAFETY: the handler's reference keeps *this alive for the whole poll;
        // clones made by the future take their own references.
        const Waker* waker = ::new (static_cast<void*>(storage))
            Waker(Waker::from_raw(RawWaker{&t, &task_waker_vtable}));
        // Phase 3: a fresh cooperative budget for this poll.
        Budget budget;
        Context cx(*waker, &budget);

        bool ready = false;
#if !defined(POLLUX_NO_TASK_DEBUG)
        // ORDERING: relaxed load and store, not an RMW: see the debug record
        // in task.hpp (one writer at a time, ordered by the state word).
        t.polls_.store(t.polls_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        if (t.service_->detailed()) [[unlikely]] {
            ready = t.run_timed(cx);
        } else
#endif
        {
            PollScope scope(&t);
            ready = t.poll_once(cx);
        }
        if (ready) {
            return finish(t, slot, false);
        }
        // Phase 2, end: a wake that arrived during the poll re-posts the task
        // rather than looping here, so other handlers get their turn.
        switch (t.state_.transition_to_idle()) {
        case TransitionToIdle::ok:
            return nullptr;
        case TransitionToIdle::resubmit:
            try {
                t.post_run();
            } catch (...) {
                // The post threw (bad_alloc). The task is `notified` with no
                // run queued; rather than lose the wake, this thread, which is
                // on the task's executor, polls it again.
                goto again;
            }
            return nullptr;
        case TransitionToIdle::cancelled:
            return finish(t, slot, true);
        }
        return nullptr; // unreachable: every case returns
    };

    TaskHeader* const joiner = run_one(*this, true);
    if (joiner != nullptr) {
        // The slot's reference, released however the joiner's run ends.
        struct Release {
            TaskHeader* t;
            ~Release() { t->release(); }
        } release{joiner};
        (void)run_one(*joiner, false);
    }
}

// The poll with detailed metrics on: two clock reads, the histogram, and
// the per-thread record that the stall watchdog reads.
bool TaskHeader::run_timed(Context& cx) noexcept {
    const std::int64_t start = steady_now_ns();
    last_poll_ns_.store(start, std::memory_order_relaxed);
    bool ready = false;
    {
        PollSlotScope published(*this, *service_, start);
        PollScope scope(this);
        ready = poll_once(cx);
    }
    const std::int64_t took = steady_now_ns() - start;
    poll_time_ns_.store(poll_time_ns_.load(std::memory_order_relaxed) + took,
                        std::memory_order_relaxed);
    service_->record_poll_time(took);
    return ready;
}

void TaskHeader::drop_future_as_current() noexcept {
    PollScope scope(this);
    vtable_->drop_future(*this);
}

void TaskHeader::finish_cancelled() {
    drop_future_as_current();
    complete();
}

// The registry's side of a completion. Here rather than in
// scheduler_service.cpp, and inline (complete() is its only caller), so
// that complete() inlines it (issue 22).
inline void SchedulerService::unregister_task(TaskHeader& task) noexcept {
    {
        std::lock_guard lock(mutex_);
        if (task.prev_) {
            task.prev_->next_ = task.next_;
        } else if (head_ == &task) {
            head_ = task.next_;
        } else {
            // Already unlinked by shutdown, which owns the reference now.
            return;
        }
        if (task.next_) {
            task.next_->prev_ = task.prev_;
        }
        task.prev_ = task.next_ = nullptr;
        --live_;
        retire_counters(task);
    }
    task.release();
}

void TaskHeader::complete() {
    // Leave the registry first, so that whoever sees the task complete (its
    // JoinHandle, on any thread) also sees it gone from live_tasks and
    // dumps: the unregistration happens before the release in
    // transition_to_complete. The caller (the run) still holds a reference,
    // so the registry's may go here.
    service_->unregister_task(*this);
    // The executor goes with the task's completion, not with its last
    // reference (a JoinHandle or Waker may outlive the context; a strand's
    // destructor needs its service). No post can be reading it: a post
    // reads it before queueing the run that got here.
    vtable_->release_executor(*this);
    const std::uint32_t prev = state_.transition_to_complete();
    // Exactly one of complete() and ~JoinHandle sees the other's bit (the
    // state word orders them), so an exception nobody awaits is reported
    // exactly once.
    if (!(prev & task_state::join_interest) && error_) {
        report_unhandled_exception(error_);
    }
    wake_join(prev);
}

// The completer's side of the join slot ((c) in task_state.hpp): it may
// only read the slot until it clears join_waker.
void TaskHeader::wake_join(std::uint32_t prev) {
    if (!(prev & task_state::join_waker)) {
        return; // no waker, or the handle owns the slot
    }
    struct HandBack {
        TaskHeader* t; // null: the joiner slot adopted the waker, no hand-back
        ~HandBack() {
            if (t != nullptr &&
                !(t->state_.unset_join_waker_after_complete() & task_state::join_interest)) {
                // The handle is gone: the slot is ours alone.
                Waker dropped = std::move(t->join_waker_);
            }
        }
    } hand_back{this};
    if (joiner_slot == slot_open(this)) {
        // The joiner slot is open for this completion: a task that may run
        // on this thread goes there instead of being posted (see
        // joiner_slot).
        const RawWaker& raw = join_waker_.as_raw();
        if (raw.vtable == &task_waker_vtable) {
            auto* joiner = const_cast<TaskHeader*>(static_cast<const TaskHeader*>(raw.data));
            // This thread runs this task's io_context: the run that opened
            // the slot is one of its handlers (a posted run, or
            // wake_from_handler after runs_here). So a joiner on a plain
            // executor of the same context runs here too, which the
            // services' comparison says without the vtable call and Asio's
            // call-stack walk of runs_here (finding 5); any other joiner
            // asks runs_here.
            const bool here = (plain_io_ && joiner->plain_io_ && joiner->service_ == service_) ||
                              joiner->vtable_->runs_here(*joiner);
            if (here) {
                // This thread runs the joiner's io_context, so its shutdown
                // is not running: the submit need not count itself.
                if (joiner->state_.transition_to_notified_on_context() ==
                    TransitionToNotified::submit) {
                    // The slot's run takes over the join waker's reference
                    // to the joiner instead of taking one of its own (one
                    // atomic fewer, and none for the handle's drop of the
                    // waker; issue 22). So the slot is never handed back:
                    // join_waker stays set for good, which tells the handle
                    // the slot is not its to drop, and ~TaskHeader forgets
                    // the waker. This is the completer's last use of the
                    // slot and of the word: the release store publishes that
                    // to the handle's acquire load (JoinHandle::poll).
                    join_adopted_.store(true, std::memory_order_release);
                    hand_back.t = nullptr;
                    joiner_slot = joiner;
                }
                // Otherwise it is scheduled, running or complete: the wake
                // merges, as wake() would.
                return;
            }
        }
    }
    join_waker_.wake_by_ref();
}

CurrentTaskScope::CurrentTaskScope(TaskHeader* task) noexcept : previous_(current_task_slot) {
    current_task_slot = task;
}
CurrentTaskScope::~CurrentTaskScope() {
    current_task_slot = previous_;
}

} // namespace pollux::detail
