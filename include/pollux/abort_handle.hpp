#pragma once

/// @file
/// `AbortHandle`: a copyable, thread-safe handle that aborts a spawned task
/// without owning its output (tokio's `task::AbortHandle`).

#include <pollux/detail/config.hpp>
#include <pollux/detail/task.hpp>

#include <cstdint>
#include <utility>

namespace pollux {

/// Cancels a spawned task, as `JoinHandle::abort()` does, but cannot await
/// its output. Get one from `JoinHandle::abort_handle()` or from
/// `JoinSet::spawn`.
///
/// It holds one reference to the task (as a `Waker` does): that keeps the
/// task's memory, never the task itself, alive. Dropping every AbortHandle
/// does nothing to the task, and neither does dropping the JoinHandle: an
/// AbortHandle of a detached task still aborts it.
///
/// @par Lifetime
/// An AbortHandle may outlive its Runtime or io_context (docs/design.md,
/// "Lifetimes"): the runtime's shutdown finished the task, so
/// `is_finished()` is true, `abort()` does nothing, and dropping the last
/// reference frees the task's memory and touches no Asio object.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe (every member is const and
/// thread-safe). Copies may be used and dropped on any thread.
/// @par Example
/// @code
/// pollux::JoinHandle<void> h = pollux::spawn(serve(conn));
/// pollux::AbortHandle stop = h.abort_handle();
/// std::thread([stop] { wait_for_operator(); stop.abort(); }).detach();
/// co_await std::move(h);   // throws TaskCancelled once aborted
/// @endcode
class AbortHandle {
public:
    /// A handle of no task: `is_finished()` is true, `abort()` does nothing.
    AbortHandle() noexcept : task_(nullptr) {}

    /// A handle of `task`: takes a reference of its own. (JoinHandle's and
    /// JoinSet's business.)
    explicit AbortHandle(const detail::TaskHeader& task) noexcept : task_(&task) { task.retain(); }

    /// Another handle of the same task.
    AbortHandle(const AbortHandle& o) noexcept : task_(o.task_) {
        if (task_) {
            task_->retain();
        }
    }
    /// Takes over the reference of `o`, which then refers to no task (as a
    /// moved-from JoinHandle: `is_finished()` true, `abort()` does nothing).
    AbortHandle(AbortHandle&& o) noexcept : task_(std::exchange(o.task_, nullptr)) {}
    AbortHandle& operator=(AbortHandle o) noexcept {
        std::swap(task_, o.task_);
        return *this;
    }
    /// Drops the reference; the task is not affected.
    ~AbortHandle() {
        if (task_) {
            task_->release();
        }
    }

    /// Requests cancellation of the task, exactly as `JoinHandle::abort()`:
    /// its future is destroyed on its executor at its next scheduling point,
    /// and its JoinHandle (if any) throws `TaskCancelled`. Does nothing if the
    /// task already finished.
    /// @par Thread safety
    /// Safe from any thread, also after the runtime is gone.
    /// @par Errors
    /// `std::bad_alloc` if posting the task's final run fails (the task is
    /// then still cancelled at its next wake).
    void abort() const {
        if (task_) {
            task_->abort();
        }
    }

    /// True once the task has finished (output, exception, abort or runtime
    /// shutdown). Thread-safe.
    [[nodiscard]] bool is_finished() const noexcept { return !task_ || task_->is_complete(); }

    /// The task's id, the same as `JoinHandle::id()`; 0 for a moved-from
    /// handle. Thread-safe.
    [[nodiscard]] std::uint64_t id() const noexcept { return task_ ? task_->id_ : 0; }

private:
    const detail::TaskHeader* task_;
};

} // namespace pollux
