#pragma once

/// @file
/// `JoinHandle<T>`: the future of a spawned task's output, and
/// `TaskCancelled`, what awaiting an aborted task throws.

#include <pollux/abort_handle.hpp>
#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/task.hpp>

#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>

namespace pollux {

/// Thrown where a JoinHandle of an aborted task is awaited (or of a task
/// that the runtime dropped at shutdown before it finished).
class TaskCancelled : public std::exception {
public:
    /// "pollux: task was cancelled".
    const char* what() const noexcept override { return "pollux: task was cancelled"; }
};

/// The output of a spawned task, as a `Future<Output = T>`.
///
/// Guarantees (tokio's `JoinHandle`):
/// - Destroying a JoinHandle *detaches* the task: it keeps running to
///   completion, and its output is destroyed with it. If a detached task
///   throws, the exception goes to the handler set with
///   `set_unhandled_exception_handler` (default: a line on stderr), never
///   silently nowhere.
/// - `abort()` is the only way to cancel a task. The task's future is
///   destroyed on the task's executor, at its next scheduling point (at
///   once if it is idle, after the current poll if it is running). A task
///   that already finished keeps its output.
/// - Awaiting the handle yields the output; rethrows what the task threw;
///   throws `TaskCancelled` if the task was aborted (or dropped by runtime
///   shutdown) before it finished, or if it was spawned while its context
///   was being destroyed (such a task never runs: its future is dropped at
///   once).
///
/// @par Lifetime
/// A JoinHandle may outlive its Runtime or io_context (docs/design.md,
/// "Lifetimes"): the task was dropped by the shutdown, so `is_finished()`
/// is true, `abort()` does nothing and awaiting it throws `TaskCancelled`
/// (or yields the output if the task finished first). The task's executor
/// (a strand, too) is released when the task finishes or is shut down, so
/// dropping the handle later touches no Asio object.
///
/// @par Cancel safety
/// Cancel safe: dropping the JoinHandle future loses nothing but the output
/// (the task keeps running); awaiting it again is not possible after that.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: `abort()` and `is_finished()` are
/// safe from any thread; `poll` needs exclusive access.
/// @par Wakes / resumes on
/// The waker of whoever polls it is woken by the thread that completes the
/// task (the task's executor).
/// @par Preconditions
/// Not polled again after it returned Ready or threw (asserts).
// Unlike every other future, JoinHandle is not [[nodiscard]]: discarding it
// is how a task is detached (STYLE H7 yields to the tokio idiom here).
template <class T>
class JoinHandle {
public:
    /// The task's output type.
    using Output = T;

    /// Adopts the JoinHandle's reference of `task` (spawn's business).
    explicit JoinHandle(detail::TaskWithOutput<T>* task) noexcept : task_(task) {}

    /// Takes over the task of `o`, which is left empty.
    JoinHandle(JoinHandle&& o) noexcept : task_(std::exchange(o.task_, nullptr)) {}
    /// Detaches the task it holds (if any), then takes over that of `o`.
    JoinHandle& operator=(JoinHandle&& o) noexcept {
        if (this != &o) {
            detach();
            task_ = std::exchange(o.task_, nullptr);
        }
        return *this;
    }
    // Inline, always, as detach (GCC otherwise keeps it out of line).
    [[gnu::always_inline]] ~JoinHandle() { detach(); }

    // poll, detach and ~JoinHandle are always inlined (issue 22). Inlined
    // into a std::optional<JoinHandle>'s destructor, g++ 12 -O2 warns that
    // task_ "may be used uninitialized" (its known false positive with
    // std::optional's payload); the pragma, down to detach's end, keeps
    // users' -Werror builds quiet.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

    /// `Ready` with the task's output once it finished, else `Pending` (and
    /// `cx`'s waker is woken when it finishes). Counts against the task budget.
    /// @par Cancel safety
    /// See the class.
    /// @par Errors
    /// Rethrows what the task threw; throws `TaskCancelled` if it was aborted or
    /// dropped before it finished.
    // Inline, always: an await's first poll otherwise calls it out of line
    // (a call and its prologue; issue 22).
    [[gnu::always_inline]] Poll<T> poll(Context& cx) {
        POLLUX_ASSERT(task_ != nullptr, "JoinHandle polled after it was moved from");
        POLLUX_ASSERT(!task_->output_taken_, "JoinHandle polled after it returned its output");
        namespace ts = detail::task_state;
        // The join slot has no lock: the join_waker bit says who owns it
        // ((c) in detail/task_state.hpp).
        const std::uint32_t s = task_->state_.load();
        if (!(s & ts::complete) && !register_join_waker(s, cx.waker())) {
            return Pending{};
        }
        if (!coop::poll_proceed(cx)) {
            return Pending{};
        }
        task_->output_taken_ = true;
        if (!(task_->state_.load() & ts::join_waker)) {
            // Ours: drop the waker the completer handed back, now. The
            // completer is done with the word's join_interest too: it read
            // it when it handed the slot back (or, without join_waker, has
            // no slot to hand back), and nothing reads it after that. So
            // detach need not clear it: join_settled_.
            Waker dropped = std::move(task_->join_waker_);
            task_->join_settled_ = true;
        } else if (task_->join_adopted_.load(std::memory_order_acquire)) {
            // The completer gave the slot's waker to the joiner slot's run
            // and keeps join_waker set for good (TaskHeader::wake_join):
            // nothing to drop, and it is done with the slot and the word.
            // ORDERING: acquire pairs with the completer's release store,
            // which follows its last read of both.
            task_->join_settled_ = true;
        }
        if (task_->error_) {
            std::rethrow_exception(std::exchange(task_->error_, nullptr));
        }
        if (!task_->output_) {
            throw TaskCancelled();
        }
        if constexpr (std::is_void_v<T>) {
            task_->output_.reset();
            return Ready<void>{};
        } else {
            return Ready<T>{std::move(*task_->output_)};
        }
    }

    /// Requests cancellation of the task. Thread-safe; does nothing if the
    /// task already finished.
    void abort() const {
        if (task_) {
            task_->abort();
        }
    }

    /// True once the task has finished (output, exception or cancellation).
    [[nodiscard]] bool is_finished() const noexcept {
        return !task_ || task_->is_complete();
    }

    /// A copyable, thread-safe handle that can abort the task but not await
    /// it (tokio's `JoinHandle::abort_handle`). For a moved-from JoinHandle,
    /// an AbortHandle of no task (`is_finished()` true).
    [[nodiscard]] AbortHandle abort_handle() const noexcept {
        return task_ ? AbortHandle(*task_) : AbortHandle();
    }

    /// The task's id, as task dumps and stall reports show it (unique among
    /// the tasks of one execution context); 0 for a moved-from handle.
    /// Thread-safe.
    [[nodiscard]] std::uint64_t id() const noexcept {
        return task_ ? task_->id_ : 0;
    }

private:
    // Leaves `w` in the join slot for the completer to wake. Returns false
    // (Pending) once it is there, true when the task completed meanwhile.
    // `s`: the word the caller loaded, not complete.
    bool register_join_waker(std::uint32_t s, const Waker& w) {
        namespace ts = detail::task_state;
        if (s & ts::join_waker) {
            // Shared: reading the slot is allowed.
            if (task_->join_waker_.will_wake(w)) {
                return false;
            }
            if (task_->state_.unset_join_waker() == detail::UnsetJoinWaker::complete) {
                return true; // the completer wakes the old waker; the slot is its
            }
        }
        // Ours until the bit is set.
        task_->join_waker_ = w;
        if (task_->state_.set_join_waker() == detail::SetJoinWaker::complete) {
            Waker dropped = std::move(task_->join_waker_);
            return true;
        }
        return false;
    }

    // Inline, always: a moved-from handle's destructor (every spawn's
    // temporary) is then one test, and a settled one's a release, without
    // a call and its prologue (issue 22).
    [[gnu::always_inline]] void detach() noexcept {
        if (!task_) {
            return;
        }
        if (task_->join_settled_) {
            // poll returned the output after the completer handed the slot
            // back (see poll): no waker to drop, no exception to report,
            // and nobody reads join_interest any more, so the read-modify-
            // write of drop_join_interest is left out (issue 22).
            std::exchange(task_, nullptr)->release();
            return;
        }
        detach_unsettled();
    }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

    void detach_unsettled() noexcept {
        const std::uint32_t prev = task_->state_.drop_join_interest();
        if (!(prev & detail::task_state::complete) || !(prev & detail::task_state::join_waker)) {
            // Ours (drop_join_interest cleared join_waker of a task that runs
            // on): drop the waker here rather than with the task.
            Waker dropped = std::move(task_->join_waker_);
        }
        if ((prev & detail::task_state::complete) && task_->error_ && !task_->output_taken_) {
            detail::report_unhandled_exception(task_->error_);
        }
        std::exchange(task_, nullptr)->release();
    }

    detail::TaskWithOutput<T>* task_;
};

} // namespace pollux
