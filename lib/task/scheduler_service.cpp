#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/task.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <utility>

namespace pollux::detail {

boost::asio::execution_context::id SchedulerService::id;

SchedulerService::SchedulerService(boost::asio::execution_context& ctx)
    : boost::asio::execution_context::service(ctx) {
}

SchedulerService::~SchedulerService() = default;

void SchedulerService::register_task(TaskHeader& task) {
    std::lock_guard lock(mutex_);
    task.prev_ = nullptr;
    task.next_ = head_;
    if (head_) {
        head_->prev_ = &task;
    }
    head_ = &task;
    ++live_;
}

void SchedulerService::unregister_task(TaskHeader& task) noexcept {
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
    }
    task.release();
}

std::size_t SchedulerService::live_tasks() const {
    std::lock_guard lock(mutex_);
    return live_;
}

void SchedulerService::set_max_blocking_threads(std::size_t n) {
    std::lock_guard lock(mutex_);
    max_blocking_threads_ = n == 0 ? 1 : n;
}

boost::asio::thread_pool& SchedulerService::blocking_pool() {
    std::lock_guard lock(mutex_);
    if (!blocking_) {
        blocking_ = std::make_unique<boost::asio::thread_pool>(max_blocking_threads_);
    }
    return *blocking_;
}

// Phase 5 (docs/design.md): shutdown order.
// 1. Wait for running spawn_blocking functions (their completions may still
//    wake tasks, which posts handlers that the io_context destroys later).
// 2. Take each live task off the registry, mark it complete and cancelled,
//    destroy its future without polling it, wake its JoinHandle, and release
//    the registry's reference. Destroying a future may drop other tasks'
//    handles or spawn new tasks, so we take one task at a time until the list
//    stays empty. Cycles (a future holding its own task's waker) break here,
//    because the future, and with it the waker, is destroyed.
// After this, every wake of these tasks finds `complete` and does nothing.
void SchedulerService::shutdown() {
    std::unique_ptr<boost::asio::thread_pool> pool;
    {
        std::lock_guard lock(mutex_);
        pool = std::move(blocking_);
    }
    if (pool) {
        pool->join();
    }
    for (;;) {
        TaskHeader* task = nullptr;
        {
            std::lock_guard lock(mutex_);
            task = head_;
            if (!task) {
                break;
            }
            head_ = task->next_;
            if (head_) {
                head_->prev_ = nullptr;
            }
            task->prev_ = task->next_ = nullptr;
            --live_;
        }
        const std::uint32_t prev = task->state_.shutdown();
        if (!(prev & task_state::complete)) {
            task->vtable_->drop_future(*task);
            Waker join = Waker::noop();
            {
                std::lock_guard lock(task->join_mutex_);
                join = std::move(task->join_waker_);
            }
            std::move(join).wake();
        }
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
