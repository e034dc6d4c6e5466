#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/task.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <new>

namespace pollux::detail {

extern const RawWakerVTable task_waker_vtable;

namespace {

thread_local TaskHeader* current = nullptr;

// The waker of a task: one reference per waker.
RawWaker waker_clone(const void* p) {
    static_cast<const TaskHeader*>(p)->retain();
    return RawWaker{p, &task_waker_vtable};
}
void waker_wake(const void* p) {
    const auto* t = static_cast<const TaskHeader*>(p);
    t->wake();
    t->release();
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

void TaskHeader::wake() const {
    if (state_.transition_to_notified() == TransitionToNotified::submit) {
        retain(); // adopted by the run handler
        vtable_->schedule(const_cast<TaskHeader&>(*this));
    }
}

void TaskHeader::abort() const {
    if (state_.transition_to_cancelled() == TransitionToCancelled::submit) {
        // Idle: post a run so the future is dropped on the task's executor,
        // never on the aborting thread.
        retain();
        vtable_->schedule(const_cast<TaskHeader&>(*this));
    }
}

// One run of a task, in the phase order of docs/design.md.
void TaskHeader::run() {
    // Phase 2: a posted run claims the task; a stale one (after shutdown)
    // does nothing.
    switch (state_.transition_to_running()) {
    case TransitionToRunning::failed:
        return;
    case TransitionToRunning::cancelled:
        finish_cancelled();
        return;
    case TransitionToRunning::success:
        break;
    }

    // The poll borrows the run handler's reference for its waker instead of
    // taking one: the waker lives in raw storage whose destructor never runs.
    alignas(Waker) unsigned char storage[sizeof(Waker)];
    // SAFETY: the handler's reference keeps *this alive for the whole poll;
    // clones made by the future take their own references.
    const Waker* waker = ::new (static_cast<void*>(storage))
        Waker(Waker::from_raw(RawWaker{this, &task_waker_vtable}));
    // Phase 3: a fresh cooperative budget for this poll.
    Budget budget;
    Context cx(*waker, &budget);

    bool ready = false;
    {
        CurrentTaskScope scope(this);
        try {
            ready = vtable_->poll(*this, cx);
        } catch (...) {
            error_ = std::current_exception();
            vtable_->drop_future(*this);
            ready = true;
        }
    }
    if (ready) {
        complete();
        return;
    }
    // Phase 2, end: a wake that arrived during the poll re-posts the task
    // rather than looping here, so other handlers get their turn.
    switch (state_.transition_to_idle()) {
    case TransitionToIdle::ok:
        return;
    case TransitionToIdle::resubmit:
        retain();
        vtable_->schedule(*this);
        return;
    case TransitionToIdle::cancelled:
        finish_cancelled();
        return;
    }
}

void TaskHeader::finish_cancelled() {
    vtable_->drop_future(*this);
    complete();
}

void TaskHeader::complete() {
    const std::uint32_t prev = state_.transition_to_complete();
    Waker join = Waker::noop();
    {
        std::lock_guard lock(join_mutex_);
        join = std::move(join_waker_);
    }
    std::move(join).wake();
    // Exactly one of complete() and ~JoinHandle sees the other's bit (the
    // state word orders them), so an exception nobody awaits is reported
    // exactly once.
    if (!(prev & task_state::join_interest) && error_) {
        report_unhandled_exception(error_);
    }
    service_->unregister_task(*this);
}

TaskHeader* current_task() noexcept {
    return current;
}

CurrentTaskScope::CurrentTaskScope(TaskHeader* task) noexcept : previous_(current) {
    current = task;
}
CurrentTaskScope::~CurrentTaskScope() {
    current = previous_;
}

} // namespace pollux::detail
