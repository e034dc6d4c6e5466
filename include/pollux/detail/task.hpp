#pragma once

/// @file
/// The spawned task: a type-erased header (state word, references, join
/// slot, registry links) and the typed task that owns the future, its output
/// and its executor. Private; the public faces are JoinHandle and spawn.

#include <pollux/core/context.hpp>
#include <pollux/core/future.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/debug/await_site.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/context_gate.hpp>
#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/task_state.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/detail/thread_info_base.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace pollux::detail {

class TaskHeader;

/// A task's name for dumps: one pointer, null for an unnamed task (most
/// are), where a `std::string` costs every task 32 bytes. Set at most once,
/// before the task is registered.
class TaskName {
public:
    [[nodiscard]] bool empty() const noexcept { return text_ == nullptr; }
    void assign(std::string_view name) { text_ = std::make_unique<std::string>(name); }
    operator std::string_view() const noexcept {
        return text_ ? std::string_view(*text_) : std::string_view();
    }

private:
    std::unique_ptr<std::string> text_;
};

/// Where a task was spawned and the name it was given (empty: none).
struct TaskOrigin {
    std::source_location site;
    std::string_view name;
};

// What the header needs from the typed task.
struct TaskVTable {
    // Polls the future. On Ready stores the output, destroys the future and
    // returns true. May throw (the caller stores the exception).
    bool (*poll)(TaskHeader&, Context&);
    // Destroys the future if it is still there.
    void (*drop_future)(TaskHeader&) noexcept;
    // Posts a run handler to the task's executor and returns true, or
    // returns false when the executor's context is closed (context_gate.hpp)
    // and posts nothing. Adopts one reference that the caller has already
    // taken: the posted handler owns it, or it is released when nothing was
    // posted (closed, or the post threw: it throws what the post throws).
    bool (*schedule)(TaskHeader&);
    // The task's executor, for spawn(fut) and timers created inside it.
    // Only while the task runs (the executor is released when it completes).
    boost::asio::any_io_executor (*executor)(const TaskHeader&);
    // Destroys the executor: when the task completes, or after the context's
    // gate closed at shutdown (no post can be reading it then).
    void (*release_executor)(TaskHeader&) noexcept;
    // Deletes the typed task.
    void (*destroy)(TaskHeader*) noexcept;
    // True when the calling thread is running the task's io_context (inside
    // one of its handlers), so the task may be polled right here; false for
    // executors that are not an io_context's.
    bool (*runs_here)(const TaskHeader&) noexcept;
    // The task's executor when it is a plain io_context executor (stored as
    // one, or inside an any_io_executor), else null; spawn(f) gives a child
    // that concrete type without making an any_io_executor. Only while the
    // task runs, as `executor`.
    const boost::asio::io_context::executor_type* (*io_executor)(const TaskHeader&) noexcept;
};

/// The type-erased part of every spawned task. See task_state.hpp for the
/// state machine and the reference rules.
class POLLUX_API TaskHeader : public AwaitSiteSlot {
public:
    TaskHeader(const TaskHeader&) = delete;
    TaskHeader& operator=(const TaskHeader&) = delete;

    void retain() const noexcept {
        // ORDERING: a new reference from one the caller holds; nothing is
        // published.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void release() const noexcept {
        // ORDERING: acq_rel: the release half publishes this holder's last
        // uses, the acquire half lets the last holder see every other's
        // before the delete (Arc's release + fence, in a form TSan models).
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            vtable_->destroy(const_cast<TaskHeader*>(this));
        }
    }

    /// A new waker for this task (one more reference).
    [[nodiscard]] Waker waker() const;

    /// Wakes the task: posts a run unless it is scheduled, running or done.
    void wake() const;

    /// Wakes the task from an Asio completion handler: as wake(), but when
    /// the calling thread runs the task's io_context the task is polled
    /// right here instead of through a posted run. The caller holds a
    /// reference for the duration, and no task is being polled on this
    /// thread. See wake_from_completion.
    void wake_from_handler() const;

    /// Runs one poll. Called by the run handler, which holds a reference.
    void run();

    /// Task::post_first_run's post threw: registered but never runnable, the task
    /// is finished here, as its run would have on seeing it cancelled
    /// (complete() gives back the registry's reference). The caller
    /// rethrows.
    void first_run_failed() noexcept;

    /// A task that its context refused (spawned after the scheduler shut
    /// down): marks it complete and cancelled, drops its future with the
    /// task current, releases its executor and the references of the
    /// registry and the first run. Its JoinHandle reports TaskCancelled.
    void refuse();

    /// Requests cancellation; thread-safe.
    void abort() const;

    [[nodiscard]] bool is_complete() const noexcept {
        return (state_.load() & task_state::complete) != 0;
    }

    /// The executor the task runs on.
    [[nodiscard]] boost::asio::any_io_executor executor() const { return vtable_->executor(*this); }
    /// The executor the task runs on if it is a plain io_context executor,
    /// else null. Only while the task runs.
    [[nodiscard]] const boost::asio::io_context::executor_type* io_executor() const noexcept {
        return vtable_->io_executor(*this);
    }
    /// The scheduler of the task's execution context.
    [[nodiscard]] SchedulerService& service() const noexcept { return *service_; }

    // Fields shared with JoinHandle and SchedulerService (see (c) in
    // task_state.hpp for who may touch what).
    mutable TaskState state_{task_state::initial | task_state::notified};
    // The join slot: owned as the join_waker bit says. Starts as a no-op
    // waker made inline (no call into libpollux, no clone).
    Waker join_waker_ = Waker::from_raw(NoopWaker::raw);
    std::exception_ptr error_;  // written before complete, read after
    bool output_taken_ = false; // the JoinHandle's alone
    // The JoinHandle's alone: its poll took the output after the completer
    // had handed the join slot back, so the completer reads neither the
    // slot nor join_interest again, and ~JoinHandle only releases its
    // reference. In the padding after output_taken_: no size change.
    bool join_settled_ = false;
    // The executor is a plain io_context executor (stored as one, or inside
    // an any_io_executor): set by the typed task's constructor, never
    // changed. Unlike io_executor() it stays readable after the task
    // completed, from any thread (the joiner slot's check in wake_join).
    bool plain_io_ = false;
    // Set once, by the completer, when the joiner slot's run took over the
    // join waker's reference (wake_join): join_waker then stays set for
    // good, nobody drops the slot's waker, and ~TaskHeader forgets it. Its
    // release store follows the completer's last read of the slot and of
    // the word, so a JoinHandle that loads it true (acquire) is settled.
    // In the padding after the bools: no size change.
    std::atomic<bool> join_adopted_{false};
    TaskHeader* prev_ = nullptr; // registry links, under the service's mutex
    TaskHeader* next_ = nullptr;

    // # The debug record (docs/debugging.md)
    //
    // Immutable once spawn registered the task: id_ (set by register_task
    // under the registry mutex, before anyone else can see the task), name_,
    // spawn_site_.
    //
    // Written only by the thread that polls the task, read by dumps on any
    // thread (under the registry mutex, which keeps the task alive):
    // polls_, await_site_ (in the AwaitSiteSlot base), last_poll_ns_,
    // poll_time_ns_. The `running` bit
    // makes the writer one thread at a time, and its acquire/release
    // transitions order consecutive writers, so the writer uses a relaxed
    // load and store, never a read-modify-write; the reader needs only
    // untorn values, which relaxed atomics give. last_poll_ns_ and
    // poll_time_ns_ are written only while the service's detailed metrics
    // are on (they cost two clock reads per poll).
    std::uint64_t id_ = 0;
    // One pointer: a Task<Async<>> on an io_context executor is 184 B, one
    // 192-byte malloc chunk (docs/performance.md, "Idle memory (issue 22):
    // the coroutine sample").
    TaskName name_;
    std::source_location spawn_site_;
    std::atomic<std::uint64_t> polls_{0};
    std::atomic<std::int64_t> last_poll_ns_{0}; // steady_clock, at the start of the last poll
    std::atomic<std::int64_t> poll_time_ns_{0}; // sum over polls

protected:
    // Inline, always: spawn makes the task without a call (GCC otherwise
    // keeps it out of line in spawn_task_in, a call and a prologue more).
    [[gnu::always_inline]] TaskHeader(const TaskVTable* vtable,
                                      SchedulerService& service,
                                      const TaskOrigin& origin)
        : spawn_site_(origin.site), gate_(service.gate()), vtable_(vtable), service_(&service) {
        // Most tasks have no name: an empty std::string from an empty
        // string_view still costs a construct call per spawn (finding 5).
        if (!origin.name.empty()) {
            name_.assign(origin.name);
        }
    }
    ~TaskHeader() {
        // The last release (acq_rel) orders the completer's store before
        // this load.
        if (join_adopted_.load(std::memory_order_relaxed)) {
            // The joiner slot's run took over the join waker's reference
            // and released it: forget the waker, do not drop it.
            ::new (static_cast<void*>(&join_waker_)) Waker(Waker::from_raw(NoopWaker::raw));
        }
    }

    // The gate of the executor's context: held for the task's whole life,
    // so a late wake can ask it whether the context is still there.
    GateRef gate_;

private:
    friend class SchedulerService;

    // The members below are called only inside libpollux: hidden
    // (POLLUX_LOCAL), so those calls are direct and may be inlined.
    POLLUX_LOCAL void complete();
    POLLUX_LOCAL void finish_cancelled();
    // After the transition to complete (or shutdown) that returned `prev`:
    // wakes the JoinHandle's waker if the slot holds one, then hands the
    // slot back (or drops the waker when the handle is gone). Throws what
    // the wake throws, after handing the slot back.
    POLLUX_LOCAL void wake_join(std::uint32_t prev);
    // Drops the future with this task current (as a completing poll does),
    // so a destructor may use spawn(f) or the task's executor.
    POLLUX_LOCAL void drop_future_as_current() noexcept;
    // One poll of the future; an exception is stored and counts as Ready.
    POLLUX_LOCAL bool poll_once(Context& cx) noexcept;
    POLLUX_LOCAL bool run_timed(Context& cx) noexcept;
    // Posts a run handler with a new reference: every submit and resubmit.
    // Returns false when the context is closed (nothing posted).
    POLLUX_LOCAL bool post_run() const;
    // The post of a won submit (wake, abort). If it throws, puts the task
    // back to idle so that a later wake posts again, then rethrows.
    POLLUX_LOCAL void post_submitted() const;

    // Initial references: the registry, the JoinHandle and the first run
    // handler (spawn submits the task at once, hence `notified` above).
    mutable std::atomic<std::size_t> refs_{3};
    const TaskVTable* vtable_;
    SchedulerService* service_;
};

/// The task with its output slot, which is all a JoinHandle<T> needs.
template <class T>
class TaskWithOutput : public TaskHeader {
public:
    std::optional<value_t<T>> output_; // written before complete, read after

protected:
    // Spelled out rather than inherited (`using TaskHeader::TaskHeader`):
    // an inheriting constructor is a function of its own, which GCC kept
    // out of line in every spawn (a call, five pushes and pops; issue 22),
    // whatever the always_inline on TaskHeader's.
    [[gnu::always_inline]] TaskWithOutput(const TaskVTable* vtable,
                                          SchedulerService& service,
                                          const TaskOrigin& origin)
        : TaskHeader(vtable, service, origin) {}
};

// Calls TaskHeader::run and holds the reference that schedule() took. A
// handler that Asio destroys without running (the loop shut down) releases
// the reference and does nothing else.
class RunHandler {
public:
    explicit RunHandler(TaskHeader* task) noexcept : task_(task) {}
    RunHandler(RunHandler&& o) noexcept : task_(std::exchange(o.task_, nullptr)) {}
    RunHandler& operator=(RunHandler&&) = delete;
    ~RunHandler() {
        if (task_) {
            task_->release();
        }
    }
    // The reference goes with the handler even when run() throws (a wake
    // of the JoinHandle's waker may fail to post).
    void operator()() {
        RunHandler self(std::exchange(task_, nullptr));
        self.task_->run();
    }

private:
    TaskHeader* task_;
};

/// A task owning future `F`, run on `Executor`.
template <class F, class Executor>
class Task final : public TaskWithOutput<output_t<F>> {
public:
    // The task's memory comes from Asio's per-thread recycling cache, as a
    // handler's does: a spawn on a thread that runs an io_context usually
    // reuses the block of a task freed there before instead of calling
    // malloc (finding 5 of docs/performance.md). Freed on any thread; a
    // thread outside any io_context frees it to the heap. The cache slots
    // are those of Asio's awaitable frames, not the handlers' (default_tag,
    // what recycling_allocator uses): there a task's block and the
    // handlers' smaller ones would evict each other, and a second user of
    // default_tag's allocate in a translation unit made GCC stop inlining
    // it into every Asio post of that unit (+24 instructions a post).
    // pollux reaches into Asio's detail here (Boost 1.81's
    // thread_info_base), as docs/decisions.md says it does for readiness.
    using CacheTag = boost::asio::detail::thread_info_base::awaitable_frame_tag;

    // Makes a task in cached memory; destroy() gives it back.
    template <class G>
    static Task*
    create(const Executor& ex, G&& fut, SchedulerService& service, const TaskOrigin& origin) {
        void* mem = boost::asio::detail::thread_info_base::allocate(
            CacheTag(),
            boost::asio::detail::thread_context::top_of_thread_call_stack(),
            sizeof(Task),
            alignof(Task));
        try {
            // SAFETY: placement-new into memory allocated for one Task.
            return ::new (mem) Task(ex, std::forward<G>(fut), service, origin);
        } catch (...) {
            deallocate(mem);
            throw;
        }
    }

    /// Posts the first run of a task that spawn registered; the run handler
    /// adopts the initial reference meant for it (or it is released if the
    /// context closed meanwhile: the shutdown drops the task). Inline, so a
    /// spawn makes no call into libpollux for it; the rare failure is. Here
    /// rather than in TaskHeader: spawn knows the task's type, so it calls
    /// schedule directly instead of through the vtable. (Inlining schedule
    /// here too gained nothing: GCC then split Asio's post into three
    /// out-of-line pieces, as many instructions in all; issue 22.)
    void post_first_run() {
        try {
            // A closed context (false) posts nothing: its shutdown drops
            // the task.
            (void)schedule(*this);
        } catch (...) {
            this->first_run_failed();
            throw;
        }
    }

    template <class G>
    Task(const Executor& ex, G&& fut, SchedulerService& service, const TaskOrigin& origin)
        : TaskWithOutput<output_t<F>>(&vtable, service, origin), executor_(std::in_place, ex),
          future_(std::in_place, std::forward<G>(fut)) {
        this->plain_io_ = io_executor(*this) != nullptr;
    }

private:
    static bool poll(TaskHeader& h, Context& cx) {
        auto& self = static_cast<Task&>(h);
        auto p = self.future_->poll(cx);
        if (p.is_pending()) {
            return false;
        }
        if constexpr (std::is_void_v<output_t<F>>) {
            self.output_.emplace();
        } else {
            self.output_.emplace(std::move(p).value());
        }
        self.future_.reset();
        return true;
    }
    static void drop_future(TaskHeader& h) noexcept { static_cast<Task&>(h).future_.reset(); }
    // Lifetimes (docs/design.md): a wake may come from any thread, at any
    // time, even while the context is being destroyed. A thread that runs
    // the task's io_context posts at once: the context cannot be destroyed
    // under a thread inside its run(). Any other thread posts from inside
    // the context's gate, which the shutdown closes (waiting for threads
    // inside) before anything is torn down; a closed gate means the task is
    // being dropped by the shutdown, so no run is wanted.
    //
    // The post uses a copy of the executor: once the handler is queued the
    // task may run and complete on another thread, which releases
    // executor_, before Asio's post has returned. The copy is destroyed
    // inside the gate too (a strand's destructor locks its service).
    static bool schedule(TaskHeader& h) {
        auto& self = static_cast<Task&>(h);
        RunHandler run(&h); // owns the adopted reference from here on
        if (runs_here(h)) {
            const Executor ex(*self.executor_);
            boost::asio::post(ex, std::move(run));
            return true;
        }
        GatePass pass(self.gate_.get());
        if (!pass) {
            return false;
        }
        const Executor ex(*self.executor_);
        boost::asio::post(ex, std::move(run));
        return true;
    }
    static boost::asio::any_io_executor executor(const TaskHeader& h) {
        const auto& self = static_cast<const Task&>(h);
        POLLUX_ASSERT(self.executor_.has_value(), "executor of a completed task");
        return boost::asio::any_io_executor(*self.executor_);
    }
    static void release_executor(TaskHeader& h) noexcept {
        static_cast<Task&>(h).executor_.reset();
    }
    static void deallocate(void* mem) noexcept {
        boost::asio::detail::thread_info_base::deallocate(
            CacheTag(),
            boost::asio::detail::thread_context::top_of_thread_call_stack(),
            mem,
            sizeof(Task));
    }
    static void destroy(TaskHeader* h) noexcept {
        Task* self = static_cast<Task*>(h);
        self->~Task();
        deallocate(self);
    }
    using IoExecutor = boost::asio::io_context::executor_type;
    static bool runs_here(const TaskHeader& h) noexcept {
        const IoExecutor* io = io_executor(h);
        return io != nullptr && io->running_in_this_thread();
    }
    static const IoExecutor* io_executor(const TaskHeader& h) noexcept {
        const auto& self = static_cast<const Task&>(h);
        if (!self.executor_) {
            return nullptr;
        }
        if constexpr (std::is_same_v<Executor, IoExecutor>) {
            return &*self.executor_;
        } else if constexpr (std::is_same_v<Executor, boost::asio::any_io_executor>) {
            return self.executor_->template target<IoExecutor>();
        } else {
            return nullptr;
        }
    }

    static constexpr TaskVTable vtable{&poll,
                                       &drop_future,
                                       &schedule,
                                       &executor,
                                       &release_executor,
                                       &destroy,
                                       &runs_here,
                                       &io_executor};

    // Engaged from spawn until the task completes or its context's shutdown
    // has closed the gate; see release_executor.
    std::optional<Executor> executor_;
    std::optional<F> future_; // only under `running`, or at shutdown
};

/// The task whose poll is running on this thread, or null.
inline TaskHeader* current_task() noexcept {
    // static_cast keeps null null.
    return static_cast<TaskHeader*>(current_task_slot);
}

// SchedulerService::retire_counters, here where TaskHeader is complete.
// Every poll but the first follows a wake, so the retired tasks' wakes are
// their polls less the number of them that were polled (metrics()).
inline void SchedulerService::retire_counters(const TaskHeader& task) noexcept {
    const std::uint64_t polls = task.polls_.load(std::memory_order_relaxed);
    retired_polls_ += polls;
    if (polls == 0) [[unlikely]] {
        ++retired_unpolled_;
    }
}

/// Wakes `w` from an Asio completion handler (use_future's). A task's own
/// waker, woken on a thread that runs the task's io_context while no task
/// is being polled, polls the task at once (TaskHeader::wake_from_handler)
/// instead of posting a run for a second trip through the scheduler; any
/// other waker is woken as usual.
POLLUX_API void wake_from_completion(Waker&& w);

static_assert(std::atomic<std::source_location>::is_always_lock_free,
              "the await site is stored with one untorn atomic store");

/// Sets the current task for the lifetime of the scope.
class POLLUX_API CurrentTaskScope {
public:
    explicit CurrentTaskScope(TaskHeader* task) noexcept;
    ~CurrentTaskScope();
    CurrentTaskScope(const CurrentTaskScope&) = delete;
    CurrentTaskScope& operator=(const CurrentTaskScope&) = delete;

private:
    AwaitSiteSlot* previous_;
};

/// Hands an exception that no JoinHandle will observe to the hook set with
/// pollux::set_unhandled_exception_handler.
POLLUX_API void report_unhandled_exception(std::exception_ptr e) noexcept;

} // namespace pollux::detail
