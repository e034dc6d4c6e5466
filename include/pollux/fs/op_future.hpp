#pragma once

/// @file
/// `fs::OpFuture<T>`: the future every `pollux::fs` function that runs one
/// operation on the worker pool returns (`fs::read`, `fs::metadata`,
/// `File::open`, ...). Its output is `Result<T>`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/fs/error.hpp>

#include <boost/asio/execution_context.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pollux::fs {

namespace detail {

// The block shared by an OpFuture and the job (or, later, the ring entry)
// that completes it. The job writes the result and takes the waker under the
// mutex, then wakes outside it; the future reads the result after seeing
// `done` under the same mutex. Whoever drops the last reference frees it: the
// job when the future was dropped first (the result, a File say, is then
// destroyed on the pool thread), else the future.
//
// `path`: the future's (first) path, moved here by the first poll before the
// operation starts, so that a job may read it (the pool's open does) without
// a copy of its own; nobody writes it after the start, and the future names
// its errors with it.
template <class T>
struct OpState {
    std::mutex mutex;
    bool done = false;
    std::optional<Result<T>> result;
    Waker waker = Waker::noop();
    std::filesystem::path path;

    // Called once, from the completing thread.
    void complete(Result<T> r) {
        Waker w = Waker::noop();
        {
            std::lock_guard lock(mutex);
            result.emplace(std::move(r));
            done = true;
            w = std::move(waker);
        }
        std::move(w).wake();
    }
};

// Starts the operation on `ctx` (the pool, or another backend) and arranges
// for `state->complete` to be called once; returns false, having called
// nothing, when the backend refused it (the pool's queue is full or the
// context shut down).
template <class T>
using OpStarter = std::function<bool(boost::asio::execution_context& ctx,
                                     const std::shared_ptr<OpState<T>>& state)>;

// The execution context of the task polling now; throws std::logic_error,
// naming `what`, outside a pollux task.
POLLUX_API boost::asio::execution_context& current_context(const char* what);

// The error of a refused submission: EAGAIN, system category.
POLLUX_API boost::system::error_code refused_error() noexcept;

} // namespace detail

/// A file-system operation that runs on the worker pool of the current
/// task's io_context (docs/fs.md, "The pool"). Nothing starts until the first
/// poll; then the operation is queued on the pool and the future waits for
/// it. `path()` is the path it works on.
///
/// @par Cancel safety
/// Dropping the future after its first poll does not stop the operation: a
/// running one finishes on the pool and its result is dropped (a `File` that
/// it opened is closed there). One still queued when the runtime shuts down
/// is dropped unrun if it only reads (reads, stats, opens without create),
/// and still runs if it changes the file system (writes, renames, removes,
/// creates, `set_permissions`). Each function's docs say which it is.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be dropped on any
/// thread.
/// @par Wakes / resumes on
/// A pool thread wakes the polling task, which resumes on its executor.
/// @par Errors
/// `Result<T>` with the errno of the failing system call as an
/// `error_code` whose message names the path ("<path>: <strerror>", or
/// "<from> -> <to>: <strerror>" for the two-path operations; see
/// pollux/fs/error.hpp): compare it with `errc` conditions;
/// `invalid_argument` for a path with a NUL byte;
/// `resource_unavailable_try_again` (EAGAIN) when the pool refused the job
/// (queue full: `RuntimeOptions::max_queued_blocking`). Throws
/// `std::logic_error` when first polled outside a pollux task.
/// @par Preconditions
/// Not polled after Ready (asserts).
template <class T>
class POLLUX_NODISCARD_FUTURE OpFuture {
public:
    /// What it completes with.
    using Output = Result<T>;

    /// Made by the `pollux::fs` functions; `start` runs on the first poll.
    OpFuture(std::filesystem::path path, const char* what, detail::OpStarter<T> start)
        : path_(std::move(path)), what_(what), start_(std::move(start)) {}
    /// As above, for an operation on two paths (`rename`, `copy`, ...): its
    /// errors name both.
    OpFuture(std::filesystem::path from,
             std::filesystem::path to,
             const char* what,
             detail::OpStarter<T> start)
        : path_(std::move(from)), to_(std::move(to)), two_paths_(true), what_(what),
          start_(std::move(start)) {}
    OpFuture(OpFuture&& o) noexcept = default;
    OpFuture& operator=(OpFuture&& o) noexcept {
        if (this != &o) {
            forget_waker();
            path_ = std::move(o.path_);
            to_ = std::move(o.to_);
            two_paths_ = o.two_paths_;
            what_ = o.what_;
            start_ = std::move(o.start_);
            state_ = std::move(o.state_);
            finished_ = o.finished_;
        }
        return *this;
    }
    OpFuture(const OpFuture&) = delete;
    OpFuture& operator=(const OpFuture&) = delete;
    // The job may hold the state longer: the task's waker is released here,
    // on the dropping thread, rather than wherever the job ends.
    ~OpFuture() { forget_waker(); }

    /// The path the operation works on (the first one, for two-path
    /// operations such as `rename` and `copy`).
    [[nodiscard]] const std::filesystem::path& path() const noexcept {
        return state_ ? state_->path : path_;
    }

    /// Polls the operation; see the class for cancel safety and errors.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!finished_, "pollux::fs future polled after it returned Ready");
        if (!state_) {
            boost::asio::execution_context& ctx = detail::current_context(what_);
            auto state = std::make_shared<detail::OpState<T>>();
            {
                std::lock_guard lock(state->mutex);
                state->waker = cx.waker();
            }
            state->path = std::move(path_);
            auto start = std::move(start_);
            if (!start(ctx, state)) {
                path_ = std::move(state->path);
                finished_ = true;
                return Ready<Output>{
                    named(Output(boost::system::in_place_error, detail::refused_error()))};
            }
            state_ = std::move(state);
        }
        std::unique_lock lock(state_->mutex);
        if (!state_->done) {
            if (!state_->waker.will_wake(cx.waker())) {
                state_->waker = cx.waker();
            }
            return Pending{};
        }
        lock.unlock();
        finished_ = true;
        return Ready<Output>{named(std::move(*state_->result))};
    }

private:
    // The one place where an operation's error gets its path: the jobs and
    // ring completions report plain errnos (pollux/fs/error.hpp).
    Output named(Output r) const {
        if (r) {
            return r;
        }
        return Output(boost::system::in_place_error,
                      two_paths_ ? detail::path_error(r.error(), path(), to_)
                                 : detail::path_error(r.error(), path()));
    }

    void forget_waker() noexcept {
        if (state_) {
            Waker old = Waker::noop();
            {
                std::lock_guard lock(state_->mutex);
                old = std::exchange(state_->waker, Waker::noop());
            }
        }
    }

    std::filesystem::path path_;
    std::filesystem::path to_; // the second path of a two-path operation
    bool two_paths_ = false;
    const char* what_;
    detail::OpStarter<T> start_;
    std::shared_ptr<detail::OpState<T>> state_;
    bool finished_ = false;
};

} // namespace pollux::fs
