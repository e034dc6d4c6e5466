#include <pollux/detail/config.hpp>
#include <pollux/detail/virtual_clock.hpp>
#include <pollux/time/pause.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>
#include <pollux/uv/work.hpp>

#include "../detail/scheduler_peek.hpp"
#include "../time/clock_state.hpp"
#include "loop_impl.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/errc.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>

namespace pollux::uv {

namespace detail {

namespace {

// libuv's threadpool.c: UV_THREADPOOL_SIZE, read once per process; 0 (or
// anything that does not start with a number) means 1, more than the
// maximum (a negative number included, which libuv reads as a huge
// unsigned) means the maximum.
std::size_t env_threadpool_size() noexcept {
    static const std::size_t size = [] {
        const char* v = std::getenv("UV_THREADPOOL_SIZE");
        if (v == nullptr) {
            return default_threadpool_size;
        }
        errno = 0;
        const long long n = std::strtoll(v, nullptr, 10);
        if (n < 0 || errno == ERANGE || static_cast<unsigned long long>(n) > max_threadpool_size) {
            return max_threadpool_size;
        }
        return std::max<std::size_t>(1, static_cast<std::size_t>(n));
    }();
    return size;
}

} // namespace

LoopImpl::LoopImpl(boost::asio::io_context* external)
    : owned_io(external == nullptr ? std::make_unique<boost::asio::io_context>(1) : nullptr),
      io(external == nullptr ? owned_io.get() : external), now(Clock::now()) {
    if (owned_io) {
        own_scheduler = pollux::detail::scheduler_with_reactor(*owned_io);
        // A loop's own context gets libuv's pool size; on a Runtime's
        // context the runtime's setting stands (set_threadpool_size may
        // still change it before the first job).
        // libuv's one pool runs file operations on all of its threads.
        work_pool().set_max_threads(env_threadpool_size());
        work_pool().set_max_fs_jobs(env_threadpool_size());
    }
}

LoopImpl::~LoopImpl() {
    POLLUX_ASSERT(handle_objects == 0, "a uv::Loop was destroyed before its handles");
    // Destroying an owned io_context shuts its worker pool down: work still
    // queued is abandoned (mandatory fs writes excepted, work_pool.hpp);
    // work running now finishes first. Its completion, posted to the
    // io_context, is destroyed unrun. On a shared context the pool lives on,
    // and a later completion finds the loop gone (WorkState holds it weakly).
    owned_io.reset();
}

void LoopImpl::forget_pending(Handle* h) noexcept {
    for (auto* q : {&pending, &running_pending}) {
        for (auto& item : *q) {
            if (item.handle == h) {
                item.handle = nullptr;
                item.fn = nullptr;
            }
        }
    }
}

// One iteration, libuv's uv_run (docs/callbacks.md, "The loop iteration").
// The order is libuv 1.45's, which runs due timers once per iteration, at
// its end (1.44 ran them at the start and, under Once, again at the end, so
// an overdue repeating timer ran twice in one Once):
//   0. Default only, before the first iteration: update the time, run due
//      timers
//   1. pending callbacks (deferred completions)
//   2. idle, 3. prepare
//   4. poll: run the io_context's ready handlers, blocking for at most
//      backend_timeout() first; the time is refreshed after the wait
//   5. check, 6. closing callbacks
//   7. update the time, run due timers
int LoopImpl::run(RunMode mode) {
    POLLUX_ASSERT(!running, "uv::Loop::run is not reentrant");
    running = true;
    struct Reset {
        LoopImpl* self;
        ~Reset() { self->running = false; }
    } reset{this};

    // Without outstanding work an io_context stops as soon as it finds its
    // queue empty; the guard lets the poll phase block until the next timer
    // is due even when no Asio operation is in flight.
    const bool was_stopped = io->stopped();
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard(
        io->get_executor());

    int r = alive() ? 1 : 0;
    update_time();
    if (mode == RunMode::Default) {
        // Phase 0: timers, once before the first iteration.
        run_timers();
    }
    while (r != 0 && !stop_flag) {
        // libuv decides whether Once may block *before* the pending and idle
        // phases: a callback there that stops the last idle handle (or
        // empties the pending queue) must not make this iteration block.
        const bool can_sleep = pending.empty() && idle.empty();
        // Phase 1: pending callbacks.
        run_pending();
        // Phases 2 and 3: idle, prepare.
        run_watchers(idle);
        run_watchers(prepare);
        // Phase 4: poll for I/O.
        std::optional<Clock::duration> timeout = Clock::duration::zero();
        if ((mode == RunMode::Once && can_sleep) || mode == RunMode::Default) {
            timeout = backend_timeout();
        }
        if (timeout != Clock::duration::zero() &&
            pollux::detail::clock_altered.load(std::memory_order_relaxed)) [[unlikely]] {
            poll_io_paused(timeout);
        } else {
            poll_io(timeout);
        }
        // Phases 5 and 6: check, closing callbacks.
        run_watchers(check);
        run_closing();
        // Phase 7: timers. Once promises progress even when the poll only
        // timed out: the timer that bounded it is due now.
        update_time();
        run_timers();
        r = alive() ? 1 : 0;
        if (mode != RunMode::Default) {
            break;
        }
    }
    stop_flag = false;

    // Releasing the guard stops an io_context that has no other work; undo
    // that, so whoever runs it next (a Runtime, io.run()) is not surprised.
    guard.reset();
    if (!was_stopped && io->stopped()) {
        io->restart();
    }
    return r;
}

void LoopImpl::run_timers() {
    // libuv collects every due timer first, so timers started by these
    // callbacks (even with timeout 0) run in a later iteration.
    while (!timers.empty()) {
        auto it = timers.begin();
        if (it->first.first > now) {
            break;
        }
        Timer* t = it->second;
        remove_timer(it);
        t->in_heap_ = false;
        ready_timers.push_back(t->phase_node_);
    }
    while (ListNode* n = ready_timers.front()) {
        n->unlink();
        static_cast<Timer*>(static_cast<Handle*>(n->owner))->fire();
    }
}

void LoopImpl::add_timer(TimerKey key, Timer* t) {
    if (spare_timer_nodes.empty()) {
        timers.emplace(key, t);
        return;
    }
    auto node = std::move(spare_timer_nodes.back());
    spare_timer_nodes.pop_back();
    node.key() = key;
    node.mapped() = t;
    timers.insert(std::move(node));
}

void LoopImpl::remove_timer(std::map<TimerKey, Timer*>::iterator it) noexcept {
    auto node = timers.extract(it);
    try {
        spare_timer_nodes.push_back(std::move(node));
    } catch (...) {
        // Out of memory for the spare list: the node is simply freed.
    }
}

void LoopImpl::remove_timer(const TimerKey& key) noexcept {
    if (auto it = timers.find(key); it != timers.end()) {
        remove_timer(it);
    }
}

void LoopImpl::run_pending() {
    if (pending.empty()) {
        return;
    }
    POLLUX_ASSERT(running_pending.empty(), "pending phase re-entered");
    // Items queued by these callbacks run in the next iteration.
    running_pending.swap(pending);
    struct Clear {
        std::deque<PendingItem>* q;
        ~Clear() { q->clear(); }
    } clear{&running_pending};
    for (std::size_t i = 0; i < running_pending.size(); ++i) {
        PendingItem& item = running_pending[i];
        if (item.handle == nullptr) {
            continue;
        }
        Handle* h = std::exchange(item.handle, nullptr);
        auto fn = std::move(item.fn);
        h->op_finished();
        fn();
    }
}

void LoopImpl::run_watchers(List& list) {
    // libuv's loop-watcher.c: take the list, put each handle back (at the
    // end, so the order is kept) before its callback, so handles started
    // meanwhile (at the front of `list`) wait for the next iteration and
    // handles stopped meanwhile simply leave either list. Starting puts a
    // handle at the front, so the most recently started runs first.
    List batch;
    batch.splice(list);
    while (ListNode* n = batch.front()) {
        list.push_back(*n);
        static_cast<Watcher*>(static_cast<Handle*>(n->owner))->fire();
    }
}

std::optional<LoopImpl::Clock::duration> LoopImpl::backend_timeout() const {
    // libuv's uv_backend_timeout.
    if (stop_flag || (active_handles == 0 && active_reqs == 0) || !idle.empty() ||
        !pending.empty()) {
        return Clock::duration::zero();
    }
    bool close_ready = false;
    closing.for_each([&](const ListNode& n) {
        close_ready = close_ready || static_cast<Handle*>(n.owner)->inflight_ == 0;
    });
    if (close_ready) {
        return Clock::duration::zero();
    }
    if (timers.empty()) {
        return std::nullopt;
    }
    auto left = timers.begin()->first.first - cached_now();
    // Round up so that the wake-up finds the timer due.
    return std::max(Clock::duration::zero(),
                    Clock::duration(std::chrono::ceil<std::chrono::microseconds>(left)));
}

std::size_t LoopImpl::poll_io(std::optional<Clock::duration> timeout) {
    if (io->stopped()) {
        io->restart();
    }
    std::size_t ran = 0;
    // The wait below may block; the handler run_one() runs right after it
    // must see the time of the wake-up, as libuv's I/O callbacks do. So the
    // cached time goes stale here and the first reader refreshes it; if no
    // handler read it, the refresh happens when the wait returns.
    if (timeout != Clock::duration::zero()) {
        now_stale = true;
    }
    // Block until one handler ran or the timeout passed. With the run's
    // work guard, run_one() waits for I/O (epoll) or a post from another
    // thread. It runs a handler that is already queued without polling.
    if (!timeout) {
        ran += io->run_one();
    } else if (*timeout > Clock::duration::zero()) {
        ran += io->run_one_for(*timeout);
    } else if (own_scheduler != nullptr) {
        ran += io->poll_one(); // the reactor's turn, if it is next
    }
    (void)cached_now();
    // Then run what is ready now, but not what those handlers queue (a task
    // that keeps waking itself must not starve the other phases).
    //
    // The loop's own io_context runs on this thread only, and its reactor
    // exists from the start, so the reactor's turn is in the queue: what is
    // ready now is what lies before it, and what handlers queue goes behind
    // it. So run handlers until the reactor is next. One epoll_wait per
    // iteration, as libuv makes.
    if (own_scheduler != nullptr) {
        while (!pollux::detail::reactor_is_next(*own_scheduler) && io->poll_one() != 0) {
            ++ran;
        }
        return ran;
    }
    // Someone else's io_context may be run by other threads too, one of
    // which may be inside epoll_wait: drain up to a marker instead. Asio
    // runs its reactor (a non-blocking epoll_wait) when the reactor's turn
    // comes, before the marker; what it finds queues behind the marker and
    // runs in the next iteration.
    const std::uint64_t target = ++marker_posted;
    boost::asio::post(*io, Marker(markers.get(), target));
    const auto reached = [&] { return markers->seen.load(std::memory_order_relaxed) >= target; };
    while (!reached() && io->poll_one() != 0) {
        ++ran;
    }
    if (reached()) {
        --ran; // the marker
    }
    // Otherwise someone stopped the io_context; the marker runs later and
    // writes an old number, which is harmless.
    return ran;
}

// The poll phase when the loop would wait (timeout non-zero) and the process
// has paused the clock at some point. Paused, waiting on real time would
// stall virtual timers, so this is the loop's auto-advance: poll without
// blocking, and if nothing at all ran (every handle and task is idle), move
// the clock to the earliest virtual deadline, the loop's own timers' and the
// pollux timers' (tasks on this io_context) alike; the next iteration's
// timer phase then finds it due. With no virtual deadline, it blocks as
// usual: only I/O or another thread can wake it.
void LoopImpl::poll_io_paused(std::optional<Clock::duration> timeout) {
    if (!time::is_paused()) {
        poll_io(timeout);
        return;
    }
    std::optional<Clock::time_point> next = pollux::detail::next_paused_deadline();
    if (!timers.empty() && (!next || timers.begin()->first.first < *next)) {
        next = timers.begin()->first.first;
    }
    if (!next) {
        poll_io(timeout);
        return;
    }
    if (poll_io(Clock::duration::zero()) == 0) {
        (void)pollux::detail::advance_paused_clock_if_paused(*next);
    }
}

void LoopImpl::run_closing() {
    List batch;
    batch.splice(closing);
    while (ListNode* n = batch.front()) {
        Handle* h = static_cast<Handle*>(n->owner);
        if (h->inflight_ > 0) {
            // Its cancelled operations have not come back yet: next time.
            closing.push_back(*n);
            continue;
        }
        n->unlink();
        h->finish_close();
    }
}

} // namespace detail

Loop::Loop() : impl_(std::make_shared<detail::LoopImpl>(nullptr)) {
}

Loop::Loop(boost::asio::io_context& io) : impl_(std::make_shared<detail::LoopImpl>(&io)) {
}

Loop::~Loop() = default;

int Loop::run(RunMode mode) {
    return impl_->run(mode);
}

void Loop::stop() noexcept {
    impl_->stop_flag = true;
}

bool Loop::alive() const noexcept {
    return impl_->alive();
}

Loop::Clock::time_point Loop::now() const noexcept {
    return impl_->cached_now();
}

std::optional<std::chrono::milliseconds> Loop::backend_timeout() const noexcept {
    auto t = impl_->backend_timeout();
    if (!t) {
        return std::nullopt;
    }
    return std::chrono::ceil<std::chrono::milliseconds>(*t);
}

std::size_t Loop::threadpool_size() const noexcept {
    return impl_->work_pool().max_threads();
}

boost::system::error_code Loop::set_threadpool_size(std::size_t threads) noexcept {
    auto& pool = impl_->work_pool();
    if (pool.started()) {
        return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
    }
    const std::size_t n = std::clamp<std::size_t>(threads, 1, max_threadpool_size);
    pool.set_max_threads(n);
    pool.set_max_fs_jobs(n); // libuv runs fs requests on every pool thread
    return {};
}

void Loop::update_time() noexcept {
    impl_->update_time();
}

boost::asio::io_context& Loop::io_context() noexcept {
    return *impl_->io;
}

boost::asio::io_context::executor_type Loop::get_executor() noexcept {
    return impl_->io->get_executor();
}

std::size_t Loop::handle_count() const noexcept {
    return impl_->handle_count;
}

std::size_t Loop::active_requests() const noexcept {
    return impl_->active_reqs;
}

boost::system::error_code Loop::close() noexcept {
    if (impl_->handle_count > 0 || impl_->active_reqs > 0) {
        return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
    }
    return {};
}

} // namespace pollux::uv
