#pragma once

/// @file
/// The one worker pool of an execution context: `spawn_blocking`,
/// `uv::queue_work` (and `uv::getaddrinfo`, `uv::fs`), and `pollux::fs` all
/// run their blocking functions here (docs/design.md, "The worker pool").

#include <pollux/detail/config.hpp>

#include <boost/asio/execution_context.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace pollux::detail {

/// Threads of a context's pool unless a Runtime or uv::Loop says otherwise.
inline constexpr std::size_t default_max_blocking_threads = 16;
/// Jobs that may wait for a thread before submissions are refused.
inline constexpr std::size_t default_max_queued_work = 65536;
/// File-system jobs that may run at once unless a Runtime or uv::Loop says
/// otherwise (libuv's 4 threads, `UV_THREADPOOL_SIZE`'s default).
inline constexpr std::size_t default_max_fs_jobs = 4;

/// What the pool does with a job still queued when the context shuts down.
enum class WorkKind : std::uint8_t {
    /// Dropped unrun (its function is destroyed): spawn_blocking, queue_work,
    /// reads and stats — libuv's and tokio's rule for work not yet started.
    abandonable,
    /// Run before the pool's threads exit: writes, fsyncs, renames —
    /// operations whose future or request may have been dropped but whose
    /// effect the user counts on (tokio's "mandatory" blocking tasks).
    mandatory,
};

/// Which limit a job counts against. `blocking` jobs (spawn_blocking,
/// queue_work, getaddrinfo) may use every thread of the pool; `fs` jobs
/// (pollux::fs, uv::fs, uv::FsPoll's stats) run at most `max_fs_jobs` at
/// once, so that 64 reads in flight keep 4 threads busy, as libuv's pool
/// does, instead of waking 16 threads on 2 cores (docs/performance.md).
enum class WorkLane : std::uint8_t {
    blocking,
    fs,
};

/// A queued unit of work. The pool owns it from a successful submit on, and
/// deletes it after `run()` or, abandoned at shutdown, without running it.
class WorkJob {
public:
    virtual ~WorkJob() = default;
    virtual void run() noexcept = 0;

private:
    friend class WorkPool;
    WorkJob* next_ = nullptr;
    std::uint64_t seq_ = 0; // submission order across both queues
    WorkKind kind_ = WorkKind::abandonable;
    WorkLane lane_ = WorkLane::blocking;
};

/// Counters for metrics (a snapshot; relaxed).
struct WorkPoolMetrics {
    std::size_t threads = 0; ///< threads started so far
    std::size_t max_threads = 0;
    std::size_t queued = 0;     ///< jobs waiting for a thread
    std::size_t running = 0;    ///< jobs on a thread now
    std::size_t fs_running = 0; ///< of them, `WorkLane::fs` jobs
    std::size_t max_fs_jobs = 0;
    std::size_t max_queued = 0; ///< the bound on `queued`
    std::uint64_t completed = 0;
    std::uint64_t refused = 0; ///< submissions refused (queue full or shut down)
    std::size_t spinning = 0;  ///< threads spinning for the next job now
};

/// How long a thread that ended a file job spins for the next submission
/// before it sleeps (see WorkPool).
inline constexpr std::uint32_t fs_spin_us = 50;
/// Threads that may spin at once.
inline constexpr std::size_t max_spinning_threads = 1;

// Jobs run in submission order, each on whichever thread is free; threads
// start on demand, one per runnable job that finds none idle, up to
// `max_threads`, and stay until shutdown (libuv keeps its threads; tokio
// retires idle ones after 10 s — the difference only shows as idle threads).
// The queues hold at most `max_queued` jobs waiting for a thread; a submit
// beyond that is refused (the caller reports EAGAIN), so that a producer
// faster than the disk cannot grow the queue without bound.
//
// Two FIFO queues, one per WorkLane, and a sequence number: a free thread
// takes the older of the two heads, except that an `fs` head is not
// runnable while `max_fs_jobs` fs jobs run. So jobs start in submission
// order among the runnable ones, and a queued fs job waits only for a
// running fs job (which ends: an fs job is one system call or a short run
// of them and never waits for another job), never for a blocking job; a
// blocking job waits for no fs job beyond the ones already running. The cap
// therefore cannot deadlock: no job the cap holds back is one a running job
// waits for. A thread that finishes an fs job takes the next one itself
// without sleeping, and a submit wakes (or starts) a thread only for a job
// that is runnable and has no thread on its way — with 64 reads in flight
// and a cap of 4, four threads run back to back and nobody sleeps.
//
// Spinning: a thread that ends an fs job and finds nothing runnable spins
// for up to `fs_spin_us` (one such thread at a time, `max_spinning_threads`)
// watching `submits_` before it sleeps on the condition variable: a few
// dozen pause instructions, then sched_yield(2) between looks, so that on
// a busy machine the spin gives its core to the loop rather than burn it.
// The loop re-submits a read from the completion a few microseconds later
// (64 in flight), and the spinning thread takes it without the futex wake
// and wait that a sleep costs. While it pauses, a spinning thread counts as
// one on its way: a submit wakes another only for a job beyond it. Once it
// yields it no longer does (a yield may give its core away for a whole time
// slice), and a submit wakes a sleeping thread as without the spin. After the spin
// it takes a job under the mutex as usual or sleeps, so a pool with nothing
// to do costs no CPU beyond one spin after its last file job.
//
// Shutdown (the scheduler service's, when the context is destroyed): refuse
// new jobs; let running jobs finish; run the queued `mandatory` jobs; delete
// the queued `abandonable` ones unrun; join every thread. Everything under
// one mutex: a job costs one lock to submit and one to take, as in libuv.
class POLLUX_API WorkPool {
public:
    WorkPool(std::size_t max_threads, std::size_t max_queued);
    ~WorkPool();
    WorkPool(const WorkPool&) = delete;
    WorkPool& operator=(const WorkPool&) = delete;

    /// Queues `job` (the pool takes ownership) or, when the queue is full or
    /// the pool shut down, deletes it unrun and returns false.
    [[nodiscard]] bool
    submit(std::unique_ptr<WorkJob> job, WorkKind kind, WorkLane lane = WorkLane::blocking);

    /// Settings; they take effect for threads started later / the next submit.
    void set_max_threads(std::size_t n);
    void set_max_queued(std::size_t n);
    /// At least 1; a job already running stays running when it is lowered.
    void set_max_fs_jobs(std::size_t n);
    [[nodiscard]] std::size_t max_threads() const;
    [[nodiscard]] std::size_t max_fs_jobs() const;
    [[nodiscard]] bool started() const;

    /// See above. Safe to call twice; not from a pool thread.
    void shutdown();

    [[nodiscard]] WorkPoolMetrics metrics() const;

private:
    struct Queue {
        WorkJob* head = nullptr;
        WorkJob* tail = nullptr;
        std::size_t size = 0;
        void push(WorkJob* j) noexcept;
        WorkJob* pop() noexcept;
    };
    void worker() noexcept;
    // The next job a free thread may take (popped), or null. Under mutex_.
    WorkJob* take_locked() noexcept;
    // Queued jobs a free thread could start now. Under mutex_.
    [[nodiscard]] std::size_t runnable_locked() const noexcept;
    enum class Wake : std::uint8_t { none, notify, start };
    // Whether a runnable job lacks a thread on its way; counts the one it
    // asks for in `waking_` (and starts it, for `start`). Under mutex_.
    Wake wake_locked();
    // The spin described above: called with `lock` held and nothing
    // runnable; returns with it held, with a job taken or null.
    WorkJob* spin_locked(std::unique_lock<std::mutex>& lock) noexcept;

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    Queue blocking_q_;
    Queue fs_q_;
    std::uint64_t next_seq_ = 0;
    std::size_t queued_ = 0;
    std::size_t running_ = 0;
    std::size_t fs_running_ = 0;
    std::size_t idle_ = 0;
    // Threads notified (or started) and not yet back at the queue: each will
    // take a runnable job, so a submit need not wake another for it.
    std::size_t waking_ = 0;
    // Threads spinning outside the lock (see above); under mutex_.
    std::size_t spinning_ = 0;
    // Of those, the ones still in the pause phase, which count as on their
    // way to a job; a thread in the yield phase does not (see spin_locked).
    std::size_t eager_ = 0;
    // Bumped under mutex_ by each submit made while a thread spins (and by
    // a raised fs cap and by shutdown), read by the spinning thread without
    // the lock: a change says a job may be there.
    std::atomic<std::uint64_t> submits_{0};
    std::size_t max_threads_;
    std::size_t max_queued_;
    std::size_t max_fs_jobs_ = default_max_fs_jobs;
    std::uint64_t completed_ = 0;
    std::uint64_t refused_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

template <class Fn>
class FnWorkJob final : public WorkJob {
public:
    explicit FnWorkJob(Fn fn) : fn_(std::move(fn)) {}
    void run() noexcept override { fn_(); }

private:
    Fn fn_;
};

/// The worker pool of `ctx` (its SchedulerService's; created on first use).
POLLUX_API WorkPool& work_pool(boost::asio::execution_context& ctx);

/// Runs `fn()` (noexcept in effect: an escaping exception terminates) on
/// `ctx`'s worker pool. Returns false, with `fn` destroyed unrun, when the
/// pool refuses it: the queue is at its bound, or the context shut down.
/// A queued `abandonable` job is destroyed unrun if the context shuts down
/// first; a `mandatory` one still runs.
/// `lane` says which limit it counts against (WorkLane::fs: file-system
/// calls that never wait for another job).
template <class Fn>
[[nodiscard]] bool submit_blocking(boost::asio::execution_context& ctx,
                                   Fn&& fn,
                                   WorkKind kind = WorkKind::abandonable,
                                   WorkLane lane = WorkLane::blocking) {
    return work_pool(ctx).submit(
        std::make_unique<FnWorkJob<std::decay_t<Fn>>>(std::forward<Fn>(fn)), kind, lane);
}

} // namespace pollux::detail
