#pragma once

/// @file
/// `JoinSet<T>`: a set of spawned tasks, joined in completion order and
/// aborted together (tokio's `task::JoinSet`), and `JoinNext<T>`, the
/// future of `join_next()`.

#include <pollux/abort_handle.hpp>
#include <pollux/core/future.hpp>
#include <pollux/core/futures_unordered.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/spawn.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>

#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>
#include <vector>

namespace pollux {

namespace detail {

// How it works. The JoinHandles live in a slab (`JoinSetSlots`): a vector
// of optional handles plus a free list of indices, behind a unique_ptr so
// that its address survives moves of the JoinSet. A FuturesUnordered holds
// one small `JoinSetEntry` per task, which polls the handle in its slot;
// FuturesUnordered gives each entry its own waker, so a task's completion
// wakes only its entry and `join_next` polls only the entries that were
// woken (O(1) per completion, not O(n)). The slab, not the FuturesUnordered,
// owns the handles so that `abort_all` can reach every task.
//
// An entry never throws out of poll: it hands the handle's exception back
// as a value together with its slot index, so the set always learns which
// slot to free, and rethrows only after freeing it.
template <class T>
struct JoinSetSlots {
    std::vector<std::optional<JoinHandle<T>>> handles;
    std::vector<std::size_t> free; // indices of empty slots

    // Reserves room for one more handle and returns its index. Strong
    // guarantee: throws (bad_alloc) before changing anything.
    std::size_t reserve() {
        if (!free.empty()) {
            const std::size_t i = free.back();
            free.pop_back();
            return i;
        }
        free.reserve(handles.size() + 1); // so release() never allocates
        handles.emplace_back();
        return handles.size() - 1;
    }
    void release(std::size_t i) noexcept {
        handles[i].reset();
        free.push_back(i); // no throw: capacity reserved in reserve()
    }
};

// A finished task of a JoinSet: its slot, and its output or exception.
template <class T>
struct JoinSetCompletion {
    std::size_t slot;
    std::optional<value_t<T>> value;
    std::exception_ptr error;
};

// The future that FuturesUnordered runs for one task of a JoinSet.
template <class T>
class JoinSetEntry {
public:
    using Output = JoinSetCompletion<T>;

    JoinSetEntry(JoinSetSlots<T>* slots, std::size_t slot) noexcept : slots_(slots), slot_(slot) {}

    Poll<Output> poll(Context& cx) {
        try {
            auto p = (*slots_->handles[slot_]).poll(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            if constexpr (std::is_void_v<T>) {
                return Ready{Output{slot_, Unit{}, nullptr}};
            } else {
                return Ready{Output{slot_, std::move(p).value(), nullptr}};
            }
        } catch (...) {
            return Ready{Output{slot_, std::nullopt, std::current_exception()}};
        }
    }

private:
    JoinSetSlots<T>* slots_; // owned by the JoinSet, which outlives the entry
    std::size_t slot_;
};

} // namespace detail

template <class T>
class JoinSet;

/// The future of `JoinSet::join_next()`: the output of the next task to
/// finish, or `std::nullopt` when the set is empty.
template <class T>
class POLLUX_NODISCARD_FUTURE JoinNext {
public:
    /// `std::optional<T>` (`std::optional<Unit>` for `JoinSet<void>`).
    using Output = std::optional<value_t<T>>;

    /// Made by `JoinSet::join_next()`.
    explicit JoinNext(JoinSet<T>& set) noexcept : set_(&set) {}

    /// See `JoinSet::join_next()`.
    Poll<Output> poll(Context& cx) { return set_->poll_join_next(cx); }

private:
    JoinSet<T>* set_;
};

/// A set of spawned tasks with outputs of type `T`, joined in the order they
/// finish (tokio's `JoinSet`). Every task is spawned by the set (`spawn`,
/// `spawn_on`), and the set owns its JoinHandle. Destroying the set aborts
/// every task still in it.
///
/// Differences from tokio: tokio's `join_next` returns
/// `Option<Result<T, JoinError>>`. pollux's JoinHandle throws instead of
/// returning a `JoinError`, and so does `join_next`: it returns
/// `std::optional<T>` (nullopt when the set is empty) and rethrows a task's
/// exception, or throws `TaskCancelled` for a task that was aborted (by
/// `abort_all`, an AbortHandle, or runtime shutdown). Either way that task
/// has left the set, and the next `join_next` goes on with the others.
///
/// @par Lifetime
/// The set may outlive its Runtime: its tasks were then finished by the
/// shutdown (`join_next` throws `TaskCancelled` for each, or returns the
/// output of one that finished before), and destroying it touches no Asio
/// object.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe (tokio's `&mut self`): one
/// task at a time uses a set. Its tasks run wherever they were spawned, and
/// the AbortHandles it returns are thread-safe.
/// @par Example
/// @code
/// pollux::JoinSet<int> set;
/// for (int i = 0; i < 100; ++i) set.spawn(fetch(i));
/// int total = 0;
/// while (auto v = co_await set.join_next()) total += *v;
/// @endcode
template <class T>
class JoinSet {
public:
    /// An empty set.
    /// @par Errors
    /// `std::bad_alloc`.
    JoinSet() : slots_(std::make_unique<detail::JoinSetSlots<T>>()) {}

    /// Takes over `o`'s tasks; `o` is left empty and may be reused.
    JoinSet(JoinSet&& o) noexcept
        : slots_(std::exchange(o.slots_, nullptr)), entries_(std::move(o.entries_)) {}
    /// Aborts the tasks of `*this`, then takes over `o`'s.
    JoinSet& operator=(JoinSet&& o) noexcept {
        if (this != &o) {
            abort_all_noexcept();
            entries_ = std::move(o.entries_);
            slots_ = std::exchange(o.slots_, nullptr);
        }
        return *this;
    }
    JoinSet(const JoinSet&) = delete;
    JoinSet& operator=(const JoinSet&) = delete;

    /// Aborts every task still in the set (as `abort_all`), then detaches
    /// them: the set does not wait for them to stop. A task that already
    /// threw and was never joined goes to the unhandled-exception hook, as
    /// for a dropped JoinHandle.
    ~JoinSet() { abort_all_noexcept(); }

    /// Spawns `f` on the executor of the task running on this thread (as
    /// `pollux::spawn(f)`) and adds it to the set. Returns an AbortHandle of
    /// the new task.
    /// @par Errors
    /// Throws `std::logic_error` outside a task, `std::bad_alloc`; on any
    /// error the set is unchanged and no task keeps running.
    template <Future F>
    requires std::same_as<output_t<F>, T>
        AbortHandle spawn(F&& f, std::source_location site = std::source_location::current()) {
        return add([&] { return pollux::spawn(std::forward<F>(f), site); });
    }

    /// Spawns `f` on `ex` (as `pollux::spawn(ex, f)`) and adds it to the set.
    /// Returns an AbortHandle of the new task. Safe to call outside a task.
    /// @par Errors
    /// `std::bad_alloc`; on any error the set is unchanged and no task keeps
    /// running.
    template <boost::asio::execution::executor Executor, Future F>
    requires std::same_as<output_t<F>, T> AbortHandle spawn_on(
        const Executor& ex, F&& f, std::source_location site = std::source_location::current()) {
        return add([&] { return pollux::spawn(ex, std::forward<F>(f), site); });
    }

    /// `spawn_on(io.get_executor(), f)`.
    template <Future F>
    requires std::same_as<output_t<F>, T>
        AbortHandle spawn_on(boost::asio::io_context& io,
                             F&& f,
                             std::source_location site = std::source_location::current()) {
        return spawn_on(io.get_executor(), std::forward<F>(f), site);
    }

    /// Waits for the next task to finish and removes it from the set:
    /// `std::optional<T>` with its output, or `std::nullopt` at once when the
    /// set is empty. Tasks are joined in the order they finish; only tasks
    /// that finished since the last call are looked at.
    ///
    /// @par Cancel safety
    /// Cancel safe: an output leaves the set only in the poll that returns
    /// it, so dropping the future (e.g. as a losing `select` branch) loses
    /// no task; the next `join_next` yields it. No Asio cancellation applies.
    /// @par Thread safety
    /// Shared objects: unsafe; the tasks may finish on any thread.
    /// @par Wakes / resumes on
    /// Woken by the thread that completes a task (the task's executor).
    /// @par Errors
    /// Rethrows the exception of a task that threw; throws `TaskCancelled`
    /// for a task that was aborted or dropped by runtime shutdown. In both
    /// cases that task has left the set.
    /// @par Preconditions
    /// The set outlives the future and is not moved while it exists; not
    /// polled after Ready.
    POLLUX_NODISCARD_FUTURE JoinNext<T> join_next() noexcept { return JoinNext<T>(*this); }

    /// The number of tasks in the set (finished but not yet joined ones
    /// included).
    [[nodiscard]] std::size_t len() const noexcept { return entries_.size(); }
    /// `len()`.
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    /// True when the set holds no task.
    [[nodiscard]] bool is_empty() const noexcept { return entries_.empty(); }

    /// Aborts every task in the set (`JoinHandle::abort`). They stay in the
    /// set: `join_next` then throws `TaskCancelled` for each (or returns the
    /// output of one that finished before it saw the abort).
    /// @par Errors
    /// `std::bad_alloc` if posting an idle task's final run failed; every
    /// task was still marked cancelled (one whose post failed is dropped at
    /// its next wake, or by its runtime's shutdown).
    void abort_all() {
        if (!slots_) {
            return;
        }
        std::exception_ptr first;
        for (const auto& h : slots_->handles) {
            if (h) {
                try {
                    h->abort();
                } catch (...) {
                    if (!first) {
                        first = std::current_exception();
                    }
                }
            }
        }
        if (first) {
            std::rethrow_exception(first);
        }
    }

    /// Removes every task from the set without aborting it: each keeps
    /// running, detached, as a dropped JoinHandle's does.
    void detach_all() noexcept {
        entries_.clear();
        if (slots_) {
            slots_->handles.clear();
            slots_->free.clear();
        }
    }

private:
    friend class JoinNext<T>;

    // For the destructor and move assignment, which cannot report
    // abort_all's bad_alloc; see its Errors for why nothing is lost.
    void abort_all_noexcept() noexcept {
        try {
            abort_all();
        } catch (...) {
        }
    }

    // Spawns through `spawn_fn` into a reserved slot. If pushing the entry
    // fails, the task is aborted and its slot freed: no task runs on that
    // nobody can join or abort.
    template <class SpawnFn>
    AbortHandle add(SpawnFn&& spawn_fn) {
        if (!slots_) {
            slots_ = std::make_unique<detail::JoinSetSlots<T>>();
        }
        const std::size_t slot = slots_->reserve();
        try {
            slots_->handles[slot].emplace(spawn_fn());
        } catch (...) {
            slots_->release(slot);
            throw;
        }
        AbortHandle abort = slots_->handles[slot]->abort_handle();
        try {
            entries_.push(detail::JoinSetEntry<T>(slots_.get(), slot));
        } catch (...) {
            abort.abort();
            slots_->release(slot);
            throw;
        }
        return abort;
    }

    Poll<std::optional<value_t<T>>> poll_join_next(Context& cx) {
        auto p = entries_.poll_next(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        std::optional<detail::JoinSetCompletion<T>>& done = p.value();
        if (!done) {
            return Ready{std::optional<value_t<T>>()};
        }
        slots_->release(done->slot);
        if (done->error) {
            std::rethrow_exception(done->error);
        }
        return Ready{std::move(done->value)};
    }

    // Declared first so that it is destroyed last: the entries point into it.
    std::unique_ptr<detail::JoinSetSlots<T>> slots_; // null only when moved from
    FuturesUnordered<detail::JoinSetEntry<T>> entries_;
};

} // namespace pollux
