#pragma once

/// @file
/// The scheduler as an Asio service: one per execution context, created on
/// the first spawn onto it. It keeps the registry of live tasks, so that
/// destroying the io_context destroys every task's future, and it owns the
/// context's worker pool (work_pool.hpp: spawn_blocking, uv::queue_work, fs).

#include <pollux/debug/runtime_metrics.hpp>
#include <pollux/debug/task_info.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/context_gate.hpp>
#include <pollux/detail/light_mutex.hpp>
#include <pollux/detail/work_pool.hpp>

#include <boost/asio/execution_context.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pollux::detail {

class TaskHeader;

class POLLUX_API SchedulerService final : public boost::asio::execution_context::service {
public:
    static boost::asio::execution_context::id id;

    explicit SchedulerService(boost::asio::execution_context& ctx);
    ~SchedulerService() override;

    /// Adds a new task; the registry adopts one of its references. Returns
    /// false, registering nothing, once the shutdown has drained the
    /// registry (the caller then refuses the task: TaskHeader::refuse).
    // Out of line on purpose: inline, it tipped GCC's inlining budget of
    // a spawning translation unit so that Asio's handler allocation there
    // stopped being inlined (+31 instructions a post; issue 22).
    [[nodiscard]] bool register_task(TaskHeader& task);
    /// Removes a completed task and releases the registry's reference.
    POLLUX_LOCAL void unregister_task(TaskHeader& task) noexcept;

    /// Number of tasks spawned here and not yet complete.
    [[nodiscard]] std::size_t live_tasks() const;

    /// The worker pool (its threads start on first use).
    WorkPool& work_pool() noexcept { return pool_; }

    /// Turns on detailed metrics (poll timing and the stall watchdog's
    /// records) for every later poll; they stay on.
    void enable_detailed_metrics() noexcept { detailed_.store(true, std::memory_order_relaxed); }
    [[nodiscard]] bool detailed() const noexcept {
        return detailed_.load(std::memory_order_relaxed);
    }
    // The detailed poll-time histogram, on the calling thread's shard.
    void record_poll_time(std::int64_t ns) noexcept;

    /// A snapshot of every live task, oldest first.
    [[nodiscard]] std::vector<debug::TaskInfo> tasks() const;
    /// The live task `id`, if it is still registered.
    [[nodiscard]] std::optional<debug::TaskInfo> task(std::uint64_t id) const;
    [[nodiscard]] RuntimeMetrics metrics() const;

    /// The context's gate (context_gate.hpp): open until this service's
    /// shutdown has dropped every task, buried when the service is deleted.
    [[nodiscard]] const ContextGate* gate() const noexcept { return gate_.get(); }
    /// Starts the context's destruction on the calling thread: the gate
    /// refuses every other thread (ContextGate::close_to_others).
    void close_gate_to_others() noexcept { gate_->close_to_others(); }

private:
    // Phase 5 of docs/design.md: called when the context is destroyed (or
    // shut down), after no thread runs it any more.
    void shutdown() override;

    // Per-thread-group counters of the detailed metrics: a thread adds to
    // the shard its thread index picks, so worker threads do not all hammer
    // one cache line; a snapshot sums the shards (relaxed: counters only).
    struct alignas(64) Shard {
        std::array<std::atomic<std::uint64_t>, RuntimeMetrics::poll_time_buckets> poll_times{};
    };
    static constexpr std::size_t shard_count = 8;

    debug::TaskInfo describe(const TaskHeader& task, std::int64_t now_ns) const;
    // Adds an unlinked task's counters to the retired totals; under mutex_.
    // Defined in task.hpp (inline: a completion calls it).
    inline void retire_counters(const TaskHeader& task) noexcept;

    // Taken twice per spawned task (register, unregister), so a LightMutex
    // (one inline atomic each way) rather than std::mutex. It stays a lock
    // even on a context run by one thread (concurrency hint 1): spawn is
    // allowed from any thread, and dumps and metrics read the list from
    // others (the stall watchdog, a signal's dump).
    mutable LightMutex mutex_;
    TaskHeader* head_ = nullptr;      // intrusive list of live tasks, newest first, under mutex_
    std::size_t live_ = 0;            // under mutex_
    std::uint64_t next_id_ = 1;       // under mutex_
    bool closed_ = false;             // registry drained by shutdown, under mutex_
    std::uint64_t retired_polls_ = 0; // polls of unregistered tasks, under mutex_
    // Unregistered tasks that were never polled, under mutex_. Their wakes
    // (polls after the first) are retired_polls_ less the retired tasks
    // that were polled, so a completion adds to two counters, one of them
    // rarely, instead of computing its wakes (issue 22).
    std::uint64_t retired_unpolled_ = 0;
    std::atomic<bool> detailed_{false};
    std::array<Shard, shard_count> shards_{};
    WorkPool pool_{default_max_blocking_threads, default_max_queued_work};
    GateRef gate_;
};

/// The gate of `ctx`, whose SchedulerService this creates if needed. The
/// pointer lives as long as the service; take a GateRef to keep it longer.
POLLUX_API const ContextGate* gate_of(boost::asio::execution_context& ctx);

} // namespace pollux::detail
