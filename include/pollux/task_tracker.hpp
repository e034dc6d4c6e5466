#pragma once

/// @file
/// `TaskTracker`: counts tasks and futures, and waits until it is closed and
/// they have all finished, for graceful shutdown (tokio-util's
/// `task::TaskTracker`); with `TrackedFuture<F>`, `TaskTrackerToken` and
/// `TaskTrackerWait`, the future of `wait()`.

#include <pollux/core/context.hpp>
#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/notify.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

namespace pollux {

namespace detail {

// The shared state of a TaskTracker and its copies, tokens and wait
// futures (each holds a shared_ptr to it).
//
// `state_` packs the count of live tokens (times 2) with the `closed` bit
// (bit 0), so "closed and empty" is one word equal to 1, and the transition
// into it is a single read-modify-write: either `close` (count already 0) or
// the release of the last token (closed already). Exactly that RMW calls
// `notify_waiters`. A waiter (TaskTrackerWait) follows Notify's documented
// order: it makes its Notified (reading Notify's generation) *before* it
// reads `state_`; the notifier changes `state_` *before* notify_waiters bumps
// the generation. So either the waiter reads the new state, or its Notified
// predates the bump and completes. All operations are seq_cst.
//
// Tests: task_tracker_test.cpp ("TaskTracker wait completes when closed and
// the last task finishes", "TaskTracker wait completes at once when closed
// and empty", "TaskTracker reopen makes wait wait again").
class TaskTrackerState {
public:
    static constexpr std::size_t closed_bit = 1;
    static constexpr std::size_t one_task = 2;

    void add() noexcept { state_.fetch_add(one_task); }
    void remove() noexcept {
        if (state_.fetch_sub(one_task) == (closed_bit | one_task)) {
            notify_.notify_waiters();
        }
    }
    bool close() noexcept {
        const std::size_t prev = state_.fetch_or(closed_bit);
        if (prev == 0) {
            notify_.notify_waiters();
        }
        return (prev & closed_bit) == 0;
    }
    bool reopen() noexcept { return (state_.fetch_and(~closed_bit) & closed_bit) != 0; }

    [[nodiscard]] bool is_closed() const noexcept { return (state_.load() & closed_bit) != 0; }
    [[nodiscard]] std::size_t len() const noexcept { return state_.load() / one_task; }
    [[nodiscard]] bool is_closed_and_empty() const noexcept { return state_.load() == closed_bit; }

    sync::Notify& notify() noexcept { return notify_; }

private:
    std::atomic<std::size_t> state_{0};
    sync::Notify notify_;
};

} // namespace detail

/// One tracked task's share of a TaskTracker (tokio-util's
/// `TaskTrackerToken`): the tracker counts it until it is destroyed. Move-only.
///
/// @par Thread safety
/// Distinct objects: safe; it may be destroyed on any thread.
class TaskTrackerToken {
public:
    /// Counts one more task in `state`. (TaskTracker's business.)
    explicit TaskTrackerToken(std::shared_ptr<detail::TaskTrackerState> state) noexcept
        : state_(std::move(state)) {
        state_->add();
    }
    /// Takes over `o`'s count; `o` then counts nothing.
    TaskTrackerToken(TaskTrackerToken&& o) noexcept = default;
    TaskTrackerToken& operator=(TaskTrackerToken&& o) noexcept {
        if (this != &o) {
            drop();
            state_ = std::move(o.state_);
        }
        return *this;
    }
    /// Stops counting; if the tracker is closed and this was the last one,
    /// wakes every `wait()`.
    ~TaskTrackerToken() { drop(); }

private:
    void drop() noexcept {
        if (state_) {
            std::exchange(state_, nullptr)->remove();
        }
    }

    std::shared_ptr<detail::TaskTrackerState> state_;
};

/// A future counted by a TaskTracker until it is destroyed (completed,
/// aborted or dropped): it polls `F` and holds a `TaskTrackerToken`.
///
/// @par Cancel safety
/// As `F`: dropping it drops `F`, and the tracker stops counting it.
template <class F>
class POLLUX_NODISCARD_FUTURE TrackedFuture {
public:
    /// `F`'s output.
    using Output = output_t<F>;

    /// Made by `TaskTracker::track_future`.
    template <class G>
    TrackedFuture(G&& fut, TaskTrackerToken token)
        : inner_(std::forward<G>(fut)), token_(std::move(token)) {}

    /// Polls `F`.
    Poll<Output> poll(Context& cx) { return inner_.poll(cx); }

private:
    F inner_;
    TaskTrackerToken token_;
};

/// The future of `TaskTracker::wait()`: Output `void`.
class POLLUX_NODISCARD_FUTURE TaskTrackerWait {
public:
    /// What it completes with.
    using Output = void;

    /// Made by `TaskTracker::wait`.
    explicit TaskTrackerWait(std::shared_ptr<detail::TaskTrackerState> state) noexcept
        : state_(std::move(state)) {}

    /// Ready once the tracker is closed and counts no task.
    Poll<void> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "TaskTrackerWait polled after it returned Ready");
        for (;;) {
            if (!notified_) {
                // Before reading the state: see the order in TaskTrackerState.
                notified_.emplace(state_->notify().notified());
            }
            if (state_->is_closed_and_empty()) {
                if (!coop::poll_proceed(cx)) {
                    return Pending{};
                }
                notified_.reset();
                done_ = true;
                return Ready<void>{};
            }
            if (notified_->poll(cx).is_pending()) {
                return Pending{};
            }
            // Notified, but reopened or refilled since: wait again.
            notified_.reset();
        }
    }

private:
    // Declared first, so it outlives the Notified below (Notify's rule).
    std::shared_ptr<detail::TaskTrackerState> state_;
    std::optional<sync::Notified> notified_;
    bool done_ = false;
};

/// Counts tasks and futures so that a shutdown can wait for all of them
/// (tokio-util's `TaskTracker`). Copies share one tracker.
///
/// Each tracked task (`spawn`, `spawn_on`) or future (`track_future`) is
/// counted until its future is destroyed: when it completes, when it is
/// aborted, or when its runtime shuts down. `wait()` completes once the
/// tracker is closed *and* counts nothing; closing does not stop tracking
/// (a closed tracker still spawns and counts: closing only allows `wait` to
/// complete).
///
/// Unlike a JoinSet, a tracker keeps no JoinHandles and no outputs: each
/// task's memory is freed when it finishes, so it suits servers that spawn
/// a task per connection and must wait for them at shutdown.
///
/// @par Lifetime
/// A tracker belongs to no runtime: tokens of tasks that a runtime's
/// shutdown dropped are released then, and the tracker may outlive it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe: every member is const and
/// thread-safe, and copies may be used on any thread.
/// @par Example
/// @code
/// pollux::TaskTracker tracker;
/// while (auto conn = co_await accept_or_shutdown()) {
///     tracker.spawn(serve(std::move(*conn)));
/// }
/// tracker.close();
/// co_await tracker.wait();   // every connection task has finished
/// @endcode
class TaskTracker {
public:
    /// A new, open, empty tracker.
    /// @par Errors
    /// `std::bad_alloc`.
    TaskTracker() : state_(std::make_shared<detail::TaskTrackerState>()) {}

    /// Wraps `fut` so that the tracker counts it until it is destroyed.
    template <Future F>
    POLLUX_NODISCARD_FUTURE TrackedFuture<std::remove_cvref_t<F>> track_future(F&& fut) const {
        return TrackedFuture<std::remove_cvref_t<F>>(std::forward<F>(fut), token());
    }

    /// `pollux::spawn(track_future(f))`: spawns on the executor of the task
    /// running on this thread.
    /// @par Errors
    /// Throws `std::logic_error` outside a task; `std::bad_alloc`.
    template <Future F>
    JoinHandle<output_t<F>>
    spawn(F&& f, std::source_location site = std::source_location::current()) const {
        return pollux::spawn(track_future(std::forward<F>(f)), site);
    }

    /// `pollux::spawn(ex, track_future(f))`. Safe outside a task.
    template <boost::asio::execution::executor Executor, Future F>
    JoinHandle<output_t<F>>
    spawn_on(const Executor& ex,
             F&& f,
             std::source_location site = std::source_location::current()) const {
        return pollux::spawn(ex, track_future(std::forward<F>(f)), site);
    }

    /// `spawn_on(io.get_executor(), f)`.
    template <Future F>
    JoinHandle<output_t<F>>
    spawn_on(boost::asio::io_context& io,
             F&& f,
             std::source_location site = std::source_location::current()) const {
        return pollux::spawn(io.get_executor(), track_future(std::forward<F>(f)), site);
    }

    /// A token that the tracker counts until it is destroyed: for work that
    /// is neither a future nor a task (a thread, a callback chain).
    [[nodiscard]] TaskTrackerToken token() const noexcept { return TaskTrackerToken(state_); }

    /// Closes the tracker, so that `wait()` completes once it counts nothing.
    /// Returns true if it was open. Thread-safe.
    bool close() const noexcept { return state_->close(); }
    /// Reopens a closed tracker: `wait()` waits for the next `close()`.
    /// Returns true if it was closed. Thread-safe.
    bool reopen() const noexcept { return state_->reopen(); }
    /// True while closed. Thread-safe.
    [[nodiscard]] bool is_closed() const noexcept { return state_->is_closed(); }
    /// How many tasks, futures and tokens it counts now. Thread-safe.
    [[nodiscard]] std::size_t len() const noexcept { return state_->len(); }
    /// True when it counts nothing. Thread-safe.
    [[nodiscard]] bool is_empty() const noexcept { return state_->len() == 0; }

    /// A future that completes once the tracker is closed and counts nothing
    /// (at once, if it already is).
    ///
    /// @par Cancel safety
    /// Cancel safe: it consumes nothing; a new `wait()` completes just the
    /// same. No Asio cancellation applies.
    /// @par Thread safety
    /// Shared objects: safe.
    /// @par Wakes / resumes on
    /// Woken by the thread that destroys the last tracked future (the
    /// task's executor, or the thread of a runtime's shutdown) or calls
    /// `close()`; a task resumes on its own executor.
    /// @par Errors
    /// Polling may throw `std::bad_alloc`.
    /// @par Preconditions
    /// Not polled after Ready.
    POLLUX_NODISCARD_FUTURE TaskTrackerWait wait() const noexcept {
        return TaskTrackerWait(state_);
    }

private:
    std::shared_ptr<detail::TaskTrackerState> state_;
};

} // namespace pollux
