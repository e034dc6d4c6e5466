#include <pollux/detail/virtual_clock.hpp>
#include <pollux/time/clock.hpp>
#include <pollux/time/pause.hpp>

#include "clock_state.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <stdexcept>
#include <utility>

namespace pollux::detail {

std::atomic<bool> clock_altered{false};

using steady = std::chrono::steady_clock;

// `t + d` or `t - d`, clamped to the clock's range.
static time::Instant add_clamped(time::Instant t, time::Duration d) noexcept {
    if (d > time::Duration::zero() && t > time::Instant::max() - d) {
        return time::Instant::max();
    }
    if (d < time::Duration::zero() && t < time::Instant::min() - d) {
        return time::Instant::min();
    }
    return t + d;
}

ClockState& ClockState::get() noexcept {
    // Never destroyed: futures in static storage may unlink their nodes
    // during static destruction.
    static ClockState* const state = new ClockState;
    return *state;
}

std::vector<Waker> ClockState::take_due(bool all) {
    std::vector<Waker> out;
    while (!waiters.empty()) {
        auto it = waiters.begin();
        if (!all && it->first > frozen) {
            break;
        }
        VirtualTimer* node = it->second;
        out.push_back(std::exchange(node->waker_, Waker::noop()));
        node->pos_.reset();
        waiters.erase(it);
    }
    return out;
}

void ClockState::move_frozen_to(time::Instant t) noexcept {
    if (t > frozen) {
        offset += t - frozen;
        frozen = t;
    }
}

void ClockState::link(RealTimeRun& r, ClockState& s) noexcept {
    r.next_ = s.runs;
    if (s.runs != nullptr) {
        s.runs->prev_ = &r;
    }
    s.runs = &r;
}

void ClockState::unlink(RealTimeRun& r, ClockState& s) noexcept {
    if (r.prev_ != nullptr) {
        r.prev_->next_ = r.next_;
    } else {
        s.runs = r.next_;
    }
    if (r.next_ != nullptr) {
        r.next_->prev_ = r.prev_;
    }
}

void wake_all(std::vector<Waker>& wakers) {
    for (Waker& w : wakers) {
        std::move(w).wake();
    }
}

steady::time_point altered_clock_now() noexcept {
    ClockState& s = ClockState::get();
    std::lock_guard lock(s.mu);
    return s.paused ? s.frozen : add_clamped(steady::now(), s.offset);
}

steady::time_point altered_to_steady(steady::time_point t) noexcept {
    if (t == time::Instant::max()) {
        return t; // "never" stays never
    }
    ClockState& s = ClockState::get();
    std::lock_guard lock(s.mu);
    return add_clamped(t, -s.offset);
}

VirtualTimer::~VirtualTimer() {
    cancel();
}

VirtualTimer::Wait VirtualTimer::wait_until(time::Instant deadline, const Waker& w) {
    ClockState& s = ClockState::get();
    Waker old = Waker::noop(); // dropped after the lock is released
    std::lock_guard lock(s.mu);
    if (!s.paused) {
        return Wait::not_paused;
    }
    if (s.frozen >= deadline) {
        if (pos_) {
            s.waiters.erase(*pos_);
            pos_.reset();
            old = std::exchange(waker_, Waker::noop());
        }
        return Wait::due;
    }
    if (pos_ && (*pos_)->first != deadline) {
        s.waiters.erase(*pos_);
        pos_.reset();
    }
    if (!pos_) {
        pos_ = s.waiters.emplace(deadline, this);
    }
    if (!waker_.will_wake(w)) {
        old = std::exchange(waker_, w);
    }
    return Wait::registered;
}

void VirtualTimer::cancel() noexcept {
    ClockState& s = ClockState::get();
    Waker old = Waker::noop();
    std::lock_guard lock(s.mu);
    if (pos_) {
        s.waiters.erase(*pos_);
        pos_.reset();
        old = std::exchange(waker_, Waker::noop());
    }
}

std::optional<time::Instant> next_paused_deadline() {
    ClockState& s = ClockState::get();
    std::lock_guard lock(s.mu);
    if (!s.paused || s.waiters.empty()) {
        return std::nullopt;
    }
    return s.waiters.begin()->first;
}

bool advance_paused_clock_if_paused(time::Instant t) {
    ClockState& s = ClockState::get();
    std::vector<Waker> due;
    {
        std::lock_guard lock(s.mu);
        if (!s.paused) {
            return false;
        }
        s.move_frozen_to(t);
        due = s.take_due(false);
    }
    wake_all(due);
    return true;
}

void advance_paused_clock_to(time::Instant t) {
    if (!advance_paused_clock_if_paused(t)) {
        throw std::logic_error("pollux::detail::advance_paused_clock_to: the clock is not paused");
    }
}

RealTimeRun::RealTimeRun(boost::asio::io_context& io) : io_(&io) {
    ClockState& s = ClockState::get();
    std::lock_guard lock(s.mu);
    ClockState::link(*this, s);
}

RealTimeRun::~RealTimeRun() {
    ClockState& s = ClockState::get();
    std::lock_guard lock(s.mu);
    ClockState::unlink(*this, s);
}

namespace {

// pause() without the error: false if the clock was already paused.
bool try_pause() {
    ClockState& s = ClockState::get();
    std::lock_guard lock(s.mu);
    if (s.paused) {
        return false;
    }
    clock_altered.store(true, std::memory_order_relaxed);
    s.frozen = add_clamped(steady::now(), s.offset);
    s.paused = true;
    // io_context::stop() is thread-safe and makes run() return after the
    // handler in progress; the loop then sees the clock paused.
    for (RealTimeRun* r = s.runs; r != nullptr; r = ClockState::next_of(*r)) {
        ClockState::io_of(*r)->stop();
    }
    return true;
}

// resume() without the error: false if the clock was not paused.
bool try_resume() {
    ClockState& s = ClockState::get();
    std::vector<Waker> all;
    {
        std::lock_guard lock(s.mu);
        if (!s.paused) {
            return false;
        }
        s.paused = false;
        all = s.take_due(true);
    }
    wake_all(all);
    return true;
}

} // namespace

PauseScope::PauseScope(bool want) : paused_by_me_(want && try_pause()) {
}

PauseScope::~PauseScope() {
    if (paused_by_me_) {
        (void)try_resume();
    }
}

} // namespace pollux::detail

namespace pollux::time {

void pause() {
    if (!detail::try_pause()) {
        throw std::logic_error("pollux::time::pause: the clock is already paused");
    }
}

void resume() {
    if (!detail::try_resume()) {
        throw std::logic_error("pollux::time::resume: the clock is not paused");
    }
}

void advance(Duration d) {
    if (d < Duration::zero()) {
        throw std::invalid_argument("pollux::time::advance: negative duration");
    }
    detail::ClockState& s = detail::ClockState::get();
    std::vector<Waker> due;
    {
        std::lock_guard lock(s.mu);
        if (!s.paused) {
            throw std::logic_error("pollux::time::advance: the clock is not paused");
        }
        s.move_frozen_to(detail::add_clamped(s.frozen, d));
        due = s.take_due(false);
    }
    detail::wake_all(due);
}

bool is_paused() noexcept {
    detail::ClockState& s = detail::ClockState::get();
    std::lock_guard lock(s.mu);
    return s.paused;
}

} // namespace pollux::time
