#include <pollux/uv/signal.hpp>

#include "loop_impl.hpp"

#include <boost/asio/error.hpp>

#include <utility>

namespace pollux::uv {

Signal::Signal(Loop& loop) : Handle(loop, HandleType::signal), set_(loop.io_context()) {
}

Signal::~Signal() {
    destroy_handle();
}

boost::system::error_code Signal::start(Callback cb, int signum) {
    return start(std::move(cb), signum, false);
}

boost::system::error_code Signal::start_oneshot(Callback cb, int signum) {
    return start(std::move(cb), signum, true);
}

boost::system::error_code Signal::start(Callback cb, int signum, bool oneshot) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Signal started without a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (is_active() && signum == signum_) {
        cb_ = std::move(cb);
        oneshot_ = oneshot;
        return {};
    }
    stop();
    boost::system::error_code ec;
    set_.add(signum, ec);
    if (ec) {
        return ec;
    }
    cb_ = std::move(cb);
    signum_ = signum;
    oneshot_ = oneshot;
    set_active(true);
    arm();
    return {};
}

void Signal::stop() noexcept {
    if (!is_active()) {
        return;
    }
    // Waits already in flight come back with operation_aborted, or with a
    // signal for an old generation: both are ignored.
    ++generation_;
    boost::system::error_code ignored;
    set_.cancel(ignored);
    set_.clear(ignored);
    signum_ = 0;
    set_active(false);
}

void Signal::arm() {
    op_started();
    set_.async_wait(
        [a = anchor(), gen = generation_](const boost::system::error_code& ec, int signum) {
            Signal* self = from_anchor<Signal>(a);
            if (self == nullptr) {
                return;
            }
            self->op_finished();
            if (ec || gen != self->generation_ || !self->is_active()) {
                return;
            }
            if (self->oneshot_) {
                // libuv stops a one-shot handle before its callback, which
                // may start it again.
                self->stop();
                Callback cb = std::move(self->cb_);
                self->cb_ = nullptr;
                (void)self->guarded([&] { cb(signum); });
                return;
            }
            if (!self->invoke(self->cb_, signum)) {
                return;
            }
            if (gen == self->generation_ && self->is_active()) {
                self->arm();
            }
        });
}

} // namespace pollux::uv
