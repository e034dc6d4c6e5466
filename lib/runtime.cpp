#include <pollux/debug/dump.hpp>
#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/uring.hpp>
#include <pollux/runtime.hpp>

#include <boost/asio/io_context.hpp>

namespace pollux {

Runtime::Runtime() : Runtime(RuntimeOptions{}) {
}

Runtime::Runtime(RuntimeOptions options)
    : options_(options),
      io_(options.worker_threads == 0 ? 1 : static_cast<int>(options.worker_threads)) {
    auto& pool = detail::work_pool(io_);
    pool.set_max_threads(options_.max_blocking_threads);
    pool.set_max_queued(options_.max_queued_blocking);
    pool.set_max_fs_jobs(options_.max_fs_threads);
    if (!options_.io_uring) {
        detail::disable_uring(io_);
    }
    if (options_.detailed_metrics) {
        debug::enable_detailed_metrics(io_);
    }
    if (options_.stall_threshold > std::chrono::nanoseconds::zero()) {
        watchdog_ = std::make_unique<debug::StallWatchdog>(
            io_, options_.stall_threshold, options_.on_stall);
    }
    if (options_.worker_threads > 0) {
        guard_.emplace(io_.get_executor());
        workers_.reserve(options_.worker_threads);
        for (std::size_t i = 0; i < options_.worker_threads; ++i) {
            workers_.emplace_back([this] { io_.run(); });
        }
    }
}

Runtime::~Runtime() {
    watchdog_.reset();
    guard_.reset();
    io_.stop();
    for (auto& w : workers_) {
        w.join();
    }
    // The io_context is destroyed by this thread alone from here on: a
    // wake, abort or I/O drop on another thread no longer touches it
    // (docs/design.md, "Lifetimes"). Done here, before the io_context's
    // destructor shuts down the services newer than the scheduler service
    // (the reactor's shutdown unlinks timers without a lock).
    boost::asio::use_service<detail::SchedulerService>(io_).close_gate_to_others();
    // The io_context member is destroyed after this body; its shutdown runs
    // SchedulerService::shutdown, which drops every task still alive.
}

std::size_t Runtime::live_tasks() const {
    auto& ctx = const_cast<boost::asio::io_context&>(io_);
    return boost::asio::use_service<detail::SchedulerService>(ctx).live_tasks();
}

std::vector<debug::TaskInfo> Runtime::tasks() const {
    return debug::tasks(const_cast<boost::asio::io_context&>(io_));
}

std::string Runtime::dump() const {
    return debug::dump(const_cast<boost::asio::io_context&>(io_));
}

RuntimeMetrics Runtime::metrics() const {
    return debug::metrics(const_cast<boost::asio::io_context&>(io_));
}

} // namespace pollux
