#pragma once

/// @file
/// The scheduler as an Asio service: one per execution context, created on
/// the first spawn onto it. It keeps the registry of live tasks, so that
/// destroying the io_context destroys every task's future, and it owns the
/// bounded thread pool of spawn_blocking.

#include <pollux/detail/config.hpp>

#include <boost/asio/execution_context.hpp>

#include <cstddef>
#include <memory>
#include <mutex>

namespace boost::asio {
class thread_pool;
}

namespace pollux::detail {

class TaskHeader;

class POLLUX_API SchedulerService final : public boost::asio::execution_context::service {
public:
    static boost::asio::execution_context::id id;

    explicit SchedulerService(boost::asio::execution_context& ctx);
    ~SchedulerService() override;

    /// Adds a new task; the registry adopts one of its references.
    void register_task(TaskHeader& task);
    /// Removes a completed task and releases the registry's reference.
    void unregister_task(TaskHeader& task) noexcept;

    /// Number of tasks spawned here and not yet complete.
    [[nodiscard]] std::size_t live_tasks() const;

    /// The blocking pool (created on first use), for spawn_blocking.
    boost::asio::thread_pool& blocking_pool();

    /// Sets the blocking pool's size; takes effect if the pool does not
    /// exist yet. Default: 16 threads.
    void set_max_blocking_threads(std::size_t n);

private:
    // Phase 5 of docs/design.md: called when the context is destroyed (or
    // shut down), after no thread runs it any more.
    void shutdown() override;

    mutable std::mutex mutex_;
    TaskHeader* head_ = nullptr; // intrusive list of live tasks, under mutex_
    std::size_t live_ = 0;       // under mutex_
    std::size_t max_blocking_threads_ = 16;
    std::unique_ptr<boost::asio::thread_pool> blocking_; // under mutex_
};

} // namespace pollux::detail
