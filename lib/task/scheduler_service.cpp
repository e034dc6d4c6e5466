#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/task.hpp>

#include "../debug/poll_slot.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <utility>

namespace pollux::detail {

boost::asio::execution_context::id SchedulerService::id;

SchedulerService::SchedulerService(boost::asio::execution_context& ctx)
    : boost::asio::execution_context::service(ctx) {
    ContextGate* g = ContextGate::create();
    gate_ = GateRef(g);
    g->release(); // GateRef took its own
}

// Asio deletes services only after every service's shutdown has run, so
// nothing still links what the gate's deferred frees release.
SchedulerService::~SchedulerService() {
    gate_->bury();
}

const ContextGate* gate_of(boost::asio::execution_context& ctx) {
    return boost::asio::use_service<SchedulerService>(ctx).gate();
}

bool SchedulerService::register_task(TaskHeader& task) {
    std::lock_guard lock(mutex_);
    if (closed_) {
        return false;
    }
    task.id_ = next_id_++;
    task.prev_ = nullptr;
    task.next_ = head_;
    if (head_) {
        head_->prev_ = &task;
    }
    head_ = &task;
    ++live_;
    return true;
}

namespace {

// Wakes are counted as the polls they cause: every poll but a task's first
// (which spawn schedules) follows a wake that found the task idle, or one
// merged into a running poll (a resubmit). Counting them here keeps the wake
// path free of any metrics work.
std::uint64_t wakes_of(std::uint64_t polls) noexcept {
    return polls == 0 ? 0 : polls - 1;
}

} // namespace

std::size_t SchedulerService::live_tasks() const {
    std::lock_guard lock(mutex_);
    return live_;
}

namespace {

// The shard of the calling thread: threads take indexes in turn.
std::size_t this_thread_shard(std::size_t count) noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
    return index % count;
}

debug::TaskRunState run_state(std::uint32_t s) noexcept {
    if (s & task_state::complete) {
        return debug::TaskRunState::complete;
    }
    const bool running = (s & task_state::running) != 0;
    const bool notified = (s & task_state::notified) != 0;
    if (running) {
        return notified ? debug::TaskRunState::running_and_notified : debug::TaskRunState::running;
    }
    return notified ? debug::TaskRunState::scheduled : debug::TaskRunState::idle;
}

} // namespace

void SchedulerService::record_poll_time(std::int64_t ns) noexcept {
    const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0) / 1000);
    const std::size_t bucket =
        std::min<std::size_t>(std::bit_width(us), RuntimeMetrics::poll_time_buckets - 1);
    shards_[this_thread_shard(shard_count)].poll_times[bucket].fetch_add(1,
                                                                         std::memory_order_relaxed);
}

// Called under mutex_, which keeps `task` registered and so alive; see the
// debug record in task.hpp for why its fields may be read here.
debug::TaskInfo SchedulerService::describe(const TaskHeader& task, std::int64_t now_ns) const {
    debug::TaskInfo info;
    info.id = task.id_;
    info.name = task.name_;
    info.spawn_site = task.spawn_site_;
    const std::uint32_t s = task.state_.load();
    info.state = run_state(s);
    info.cancelled = (s & task_state::cancelled) != 0 && !(s & task_state::complete);
    info.await_site = task.await_site_.load(std::memory_order_relaxed);
    info.polls = task.polls_.load(std::memory_order_relaxed);
    if (const std::int64_t last = task.last_poll_ns_.load(std::memory_order_relaxed); last != 0) {
        info.since_last_poll = std::chrono::nanoseconds(now_ns - last);
    }
    info.poll_time = std::chrono::nanoseconds(task.poll_time_ns_.load(std::memory_order_relaxed));
    return info;
}

std::vector<debug::TaskInfo> SchedulerService::tasks() const {
    const std::int64_t now = steady_now_ns();
    std::vector<debug::TaskInfo> out;
    std::lock_guard lock(mutex_);
    out.reserve(live_);
    for (const TaskHeader* t = head_; t; t = t->next_) {
        out.push_back(describe(*t, now));
    }
    std::reverse(out.begin(), out.end()); // the list is newest first
    return out;
}

std::optional<debug::TaskInfo> SchedulerService::task(std::uint64_t id) const {
    const std::int64_t now = steady_now_ns();
    std::lock_guard lock(mutex_);
    for (const TaskHeader* t = head_; t; t = t->next_) {
        if (t->id_ == id) {
            return describe(*t, now);
        }
    }
    return std::nullopt;
}

RuntimeMetrics SchedulerService::metrics() const {
    RuntimeMetrics m;
    {
        std::lock_guard lock(mutex_);
        m.live_tasks = live_;
        m.spawned = next_id_ - 1;
        m.polls = retired_polls_;
        // Every retired task's polls but its first (retire_counters): the
        // retired tasks are those registered (next_id_ - 1) and no longer
        // live, and each that was polled had a first poll.
        const std::uint64_t retired = next_id_ - 1 - live_;
        m.wakes = retired_polls_ - (retired - retired_unpolled_);
        for (const TaskHeader* t = head_; t; t = t->next_) {
            const std::uint64_t polls = t->polls_.load(std::memory_order_relaxed);
            m.polls += polls;
            m.wakes += wakes_of(polls);
        }
    }
    m.detailed = detailed();
    for (const Shard& sh : shards_) {
        for (std::size_t i = 0; i < RuntimeMetrics::poll_time_buckets; ++i) {
            m.poll_time_histogram[i] += sh.poll_times[i].load(std::memory_order_relaxed);
        }
    }
    return m;
}

WorkPool& work_pool(boost::asio::execution_context& ctx) {
    return boost::asio::use_service<SchedulerService>(ctx).work_pool();
}

// Phase 5 (docs/design.md): shutdown order.
// 1. Shut the worker pool down (work_pool.hpp): wait for running jobs, run
//    the queued mandatory ones, drop the rest (their completions may still
//    wake tasks, which posts handlers that the io_context destroys later).
// 2. Take each live task off the registry, mark it complete and cancelled,
//    destroy its future without polling it (with the task current, as a
//    completing poll does), and wake its JoinHandle. Destroying a future may
//    drop other tasks' handles or spawn new tasks, so we take one task at a
//    time until the list stays empty; the registry then closes (a later
//    spawn is refused: TaskHeader::refuse). Cycles (a future holding its own
//    task's waker) break here, because the future, and with it the waker,
//    is destroyed. The drained tasks keep the registry's reference on a
//    private list (linked through `next_`, free once unlinked).
// 3. Close the gate (context_gate.hpp): wait for the threads that are
//    posting a wake or abort from outside the context, and refuse later
//    ones. A wake that won its submit just before step 2 marked its task
//    complete either posted before the gate closed (the handler is
//    destroyed unrun with the context) or finds the gate closed.
// 4. Only now release the drained tasks' executors (a post in step 3 could
//    still have been reading one) and their registry references.
// After this, every wake of these tasks finds `complete` and does nothing,
// and a JoinHandle or Waker that outlives the context holds a task with no
// future and no executor, which touches nothing when it goes.
void SchedulerService::shutdown() {
    // From here on only this thread uses the context (context_gate.hpp).
    // ~Runtime has done this already, before the newer services shut down;
    // for a plain io_context, this is the first moment pollux hears of it.
    gate_->close_to_others();
    pool_.shutdown();
    TaskHeader* drained = nullptr;
    for (;;) {
        TaskHeader* task = nullptr;
        {
            std::lock_guard lock(mutex_);
            task = head_;
            if (!task) {
                closed_ = true;
                break;
            }
            head_ = task->next_;
            if (head_) {
                head_->prev_ = nullptr;
            }
            task->prev_ = task->next_ = nullptr;
            --live_;
            retire_counters(*task);
        }
        const std::uint32_t prev = task->state_.shutdown();
        // A wake or abort that won its submit just before may still be
        // reading the executor (task_state.hpp, (f)).
        task->state_.wait_for_schedulers();
        if (!(prev & task_state::complete)) {
            task->drop_future_as_current();
            try {
                task->wake_join(prev);
            } catch (...) {
                // A JoinHandle awaited on another context whose post threw:
                // its task stays idle (TaskHeader::wake); shutdown goes on.
            }
        }
        task->next_ = drained;
        drained = task;
    }
    gate_->close();
    while (drained) {
        TaskHeader* task = std::exchange(drained, drained->next_);
        task->next_ = nullptr;
        task->vtable_->release_executor(*task);
        task->release();
    }
}

namespace {

std::mutex hook_mutex;
std::function<void(std::exception_ptr)>& hook() {
    static std::function<void(std::exception_ptr)> h;
    return h;
}

void default_report(std::exception_ptr e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        std::fprintf(stderr, "pollux: a detached task threw: %s\n", ex.what());
    } catch (...) {
        std::fprintf(stderr, "pollux: a detached task threw a non-std::exception\n");
    }
}

} // namespace

void report_unhandled_exception(std::exception_ptr e) noexcept {
    std::function<void(std::exception_ptr)> h;
    {
        std::lock_guard lock(hook_mutex);
        h = hook();
    }
    if (!h) {
        default_report(e);
        return;
    }
    try {
        h(e);
    } catch (...) {
        default_report(std::current_exception());
    }
}

} // namespace pollux::detail

namespace pollux {

POLLUX_API std::function<void(std::exception_ptr)>
set_unhandled_exception_handler(std::function<void(std::exception_ptr)> handler) {
    std::lock_guard lock(detail::hook_mutex);
    return std::exchange(detail::hook(), std::move(handler));
}

} // namespace pollux
