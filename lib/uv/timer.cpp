#include <pollux/uv/timer.hpp>

#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>

#include <algorithm>
#include <chrono>
#include <utility>

namespace pollux::uv {

namespace {

// Keeps due times far from time_point overflow (about 100 years ahead).
constexpr Timer::Duration max_timeout = std::chrono::hours(24 * 365 * 100);

} // namespace

Timer::Timer(Loop& loop) : Handle(loop, HandleType::timer) {
}

Timer::~Timer() {
    destroy_handle();
}

boost::system::error_code Timer::start(Callback cb, Duration timeout, Duration repeat) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Timer started without a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    cb_ = std::move(cb);
    started_ = true;
    arm(timeout, repeat);
    return {};
}

void Timer::arm(Duration timeout, Duration repeat) {
    stop();
    repeat_ = repeat;
    auto& loop = impl();
    due_ = loop.cached_now() + std::clamp(timeout, Duration::zero(), max_timeout);
    // Timers due at the same time run in start order.
    start_id_ = ++loop.timer_seq;
    loop.add_timer(detail::LoopImpl::TimerKey{due_, start_id_}, this);
    in_heap_ = true;
    set_active(true);
}

void Timer::stop() noexcept {
    if (in_heap_) {
        impl().remove_timer(detail::LoopImpl::TimerKey{due_, start_id_});
        in_heap_ = false;
    }
    phase_node_.unlink(); // due, waiting in this iteration's ready list
    set_active(false);
}

boost::system::error_code Timer::again() {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (!started_) {
        return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    }
    if (repeat_ != Duration::zero()) {
        arm(repeat_, repeat_);
    }
    return {};
}

Timer::Duration Timer::due_in() const noexcept {
    if (!in_heap_) {
        return Duration::zero();
    }
    auto left = due_ - loop().now();
    return std::max(Duration::zero(), std::chrono::duration_cast<Duration>(left));
}

void Timer::fire() {
    // libuv: stop, re-arm a repeating timer (from the loop time), then call.
    stop();
    if (repeat_ != Duration::zero()) {
        arm(repeat_, repeat_);
    }
    (void)invoke(cb_);
}

} // namespace pollux::uv
