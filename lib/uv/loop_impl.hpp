#pragma once

// The private state of a uv::Loop and the loop iteration itself. Handles'
// implementation files reach it through Loop::impl(); nothing outside lib/uv
// includes this header.
//
// Invariants (all loop-thread only):
// - `active_handles` counts handles that are active, referenced and open;
//   `active_reqs` counts requests whose callback has not run; a closing
//   handle is on `closing` until its close callback runs. alive() is
//   exactly libuv's rule over these three.
// - `now` is the cached loop time; after a poll it may be stale until
//   cached_now() is first called (now_stale), which every reader uses.
// - A handle is on at most one of idle/prepare/check/ready_timers (through
//   its phase node), and on `closing` (through its closing node) only while
//   closing. Destroying a handle unlinks both nodes and nulls its pending
//   items, so no list ever points at freed memory.
// - A closing handle's close callback runs only when its in-flight count is
//   0: every Asio completion and deferred callback of it has run first.

#include <pollux/detail/work_pool.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include "marker.hpp"

#include <boost/asio/detail/scheduler.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace pollux::uv {
class Timer;
}

namespace pollux::uv::detail {

class Inotify; // lib/uv/fs_event.cpp

class LoopImpl : public std::enable_shared_from_this<LoopImpl> {
public:
    using Clock = Loop::Clock;
    using TimerKey = std::pair<Clock::time_point, std::uint64_t>;

    explicit LoopImpl(boost::asio::io_context* external);
    ~LoopImpl();
    LoopImpl(const LoopImpl&) = delete;
    LoopImpl& operator=(const LoopImpl&) = delete;

    int run(RunMode mode);

    [[nodiscard]] bool alive() const noexcept {
        return active_handles > 0 || active_reqs > 0 || !closing.empty();
    }
    void update_time() noexcept {
        now = Clock::now();
        now_stale = false;
    }
    // The cached time (uv_now). After a poll that may have blocked it is
    // refreshed once, on first use: libuv updates the time when epoll_wait
    // returns, before any I/O callback, and a handler of ours runs inside
    // run_one() right after the wait, so the first reader refreshes it
    // instead (see poll_io).
    [[nodiscard]] Clock::time_point cached_now() const noexcept {
        if (now_stale) {
            now = Clock::now();
            now_stale = false;
        }
        return now;
    }

    List& watchers(WatcherKind kind) noexcept {
        switch (kind) {
        case WatcherKind::idle:
            return idle;
        case WatcherKind::prepare:
            return prepare;
        case WatcherKind::check:
            break;
        }
        return check;
    }

    // Pending phase queue (libuv's pending_queue).
    void defer(Handle* h, std::function<void()> fn) { pending.push_back({h, std::move(fn)}); }
    // Drops the items of a handle that is being destroyed.
    void forget_pending(Handle* h) noexcept;

    // The io_context's worker pool (pollux/detail/work_pool.hpp), which
    // queue_work, getaddrinfo, getnameinfo and the fs requests share with
    // spawn_blocking and pollux::fs; its threads start on first use.
    pollux::detail::WorkPool& work_pool() { return pollux::detail::work_pool(*io); }

    // libuv's uv_backend_timeout, at the clock's resolution: 0, the time to
    // the next timer (rounded up to a microsecond), or nullopt (infinite).
    [[nodiscard]] std::optional<Clock::duration> backend_timeout() const;

    // The read buffer of every uv::Stream of this loop (lib/uv/stream.cpp),
    // lent to one read callback at a time; made on the first read.
    std::unique_ptr<char[]> stream_read_buffer;

    // The inotify descriptor every uv::FsEvent of this loop shares
    // (lib/uv/fs_event.cpp): owned by the started handles, so it is closed
    // when the last one stops; the next start opens a new one.
    std::weak_ptr<Inotify> inotify;

    std::unique_ptr<boost::asio::io_context> owned_io;
    boost::asio::io_context* io;
    // owned_io's scheduler, whose queue the poll phase looks at (loop.cpp);
    // null for an external io_context and on the portable readiness path
    // (lib/detail/scheduler_peek.hpp), which drain up to a marker instead.
    boost::asio::detail::scheduler* own_scheduler = nullptr;
    mutable Clock::time_point now;
    mutable bool now_stale = false; // see cached_now()
    bool stop_flag = false;
    bool running = false;

    std::size_t active_handles = 0;
    std::size_t active_reqs = 0;
    std::size_t handle_count = 0;   // neither closed nor destroyed
    std::size_t handle_objects = 0; // not destroyed

    // Every handle neither closed nor destroyed, in creation order (libuv's
    // handle_queue, which uv_walk visits).
    List handles;
    List idle;
    List prepare;
    List check;
    List closing;
    List ready_timers;
    // The timer queue, ordered by (due, start order). Timers are added and
    // removed through add_timer/remove_timer, which reuse the map's nodes
    // (extract and re-insert), so re-arming a timer allocates nothing after
    // the queue has once been as long as it is now.
    std::map<TimerKey, Timer*> timers;
    std::uint64_t timer_seq = 0;
    void add_timer(TimerKey key, Timer* t);
    void remove_timer(std::map<TimerKey, Timer*>::iterator it) noexcept;
    void remove_timer(const TimerKey& key) noexcept;

private:
    struct PendingItem {
        Handle* handle; // null once the handle is destroyed
        std::function<void()> fn;
    };

    // The phases of one iteration, in docs/callbacks.md's order.
    void run_timers();
    void run_pending();
    static void run_watchers(List& list);
    // Returns the number of handlers it ran (its own markers not counted).
    std::size_t poll_io(std::optional<Clock::duration> timeout);
    // The poll phase while the clock is paused; see run().
    void poll_io_paused(std::optional<Clock::duration> timeout);
    void run_closing();

    // Nodes of removed timers, for add_timer to reuse.
    std::vector<std::map<TimerKey, Timer*>::node_type> spare_timer_nodes;

    std::deque<PendingItem> pending;
    std::deque<PendingItem> running_pending; // the batch the pending phase is running

    // The poll phase drains the io_context up to a marker handler, which
    // writes its number into this block when it runs (marker.hpp).
    MarkerBlockPtr markers{MarkerBlock::create()};
    std::uint64_t marker_posted = 0;
};

} // namespace pollux::uv::detail
