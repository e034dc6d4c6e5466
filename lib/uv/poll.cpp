#include <pollux/uv/poll.hpp>

#include "../detail/epoll_check.hpp"
#include "../detail/readiness.hpp"
#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <poll.h>
#include <unistd.h>

// Level-like readiness over the edge-triggered readiness layer
// (lib/detail/readiness.hpp). The user, not the handle, does the I/O, so no
// would-block syscall of ours tells when to wait. Instead every check reads
// the descriptor's level with poll(2) and a zero timeout:
//
// - something watched holds: the callback runs, and another check is posted
//   for the next loop turn (a callback that did not drain is called again);
// - nothing holds: the readiness waits are started. poll(2) plays the role of
//   the would-block syscall in readiness.hpp's "no readiness is lost": data
//   that arrives after it raises a new edge, which completes the wait. A wait
//   may complete spuriously (an edge whose data the callback already read);
//   the check then finds nothing and waits again without calling back, so a
//   callback that drains is not woken until new readiness.
//
// Every posted check and every wait in flight counts as an operation
// (op_started), so the close callback runs after the last of them.

namespace pollux::uv {

namespace {

using pollux::detail::Direction;

boost::system::error_code sys_error(int e) noexcept {
    return boost::system::error_code(e, boost::asio::error::get_system_category());
}

} // namespace

// A constructor that throws after Handle's must call destroy_handle() first
// (Handle's destructor asserts it), so the descriptor is checked and
// registered here, not in a member initializer.
Poll::Poll(Loop& loop, int fd) : Handle(loop, HandleType::poll), desc_(loop.io_context()), fd_(fd) {
    boost::system::error_code ec = pollux::detail::epoll_add_error(fd);
    if (!ec) {
        desc_.assign(fd, ec);
    }
    if (!ec) {
        desc_.non_blocking(true, ec); // as uv_poll_init
    }
    if (ec) {
        destroy_handle(); // releases the descriptor (on_close)
        throw boost::system::system_error(ec, "uv::Poll");
    }
}

Poll::~Poll() {
    destroy_handle();
    // on_close released the descriptor, which aborted the waits in flight;
    // those not run yet complete into a sink that calls no one.
    pollux::detail::drop_callback_readiness(ready_);
}

boost::system::error_code Poll::start(int events, Callback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Poll::start needs a callback");
    POLLUX_ASSERT((events & ~(readable | writable | disconnect | prioritized)) == 0,
                  "uv::Poll::start: unknown event bits");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (events == 0) {
        stop();
        return {};
    }
    events_ = events;
    cb_ = std::move(cb);
    started_ = true;
    set_active(true);
    kick();
    return {};
}

void Poll::stop() noexcept {
    started_ = false;
    set_active(false);
}

// A check on the next loop turn; at most one is pending.
void Poll::kick() {
    if (kick_pending_) {
        return;
    }
    kick_pending_ = true;
    op_started();
    boost::asio::post(loop().io_context(), [a = anchor()] {
        Poll* self = from_anchor<Poll>(a);
        if (self == nullptr) {
            return;
        }
        self->op_finished();
        self->kick_pending_ = false;
        self->check();
    });
}

void Poll::check() {
    if (!started_ || is_closing()) {
        return;
    }
    ::pollfd p{};
    p.fd = fd_;
    p.events = 0;
    if ((events_ & readable) != 0) {
        p.events |= POLLIN;
    }
    if ((events_ & writable) != 0) {
        p.events |= POLLOUT;
    }
    if ((events_ & disconnect) != 0) {
        p.events |= POLLRDHUP;
    }
    if ((events_ & prioritized) != 0) {
        p.events |= POLLPRI;
    }
    int r = 0;
    do {
        r = ::poll(&p, 1, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        // Only ENOMEM is left: report it and stop, as a failed wait.
        const auto ec = sys_error(errno);
        stop();
        (void)invoke(cb_, ec, 0);
        return;
    }
    const short rev = p.revents;
    // As libuv's uv__poll_io: POLLERR without POLLPRI (sysfs raises both) is
    // EBADF and stops the handle; so is a descriptor closed under it.
    if ((rev & POLLNVAL) != 0 || ((rev & POLLERR) != 0 && (rev & POLLPRI) == 0)) {
        stop();
        (void)invoke(cb_, boost::system::error_code(boost::asio::error::bad_descriptor), 0);
        return;
    }
    int ev = 0;
    if ((rev & POLLIN) != 0) {
        ev |= readable;
    }
    if ((rev & POLLOUT) != 0) {
        ev |= writable;
    }
    if ((rev & POLLRDHUP) != 0) {
        ev |= disconnect;
    }
    if ((rev & POLLPRI) != 0) {
        ev |= prioritized;
    }
    // As libuv's epoll backend: a hang-up alone is given as every watched
    // event, so the user's read or write sees it.
    if (rev == POLLHUP) {
        ev = events_;
    }
    ev &= events_;
    if (ev == 0) {
        arm();
        return;
    }
    if (!invoke(cb_, boost::system::error_code(), ev)) {
        return;
    }
    // Level-like: look again next turn (the callback may have drained).
    if (started_ && !is_closing()) {
        kick();
    }
}

// Starts the waits the watched events need that are not in flight yet
// (marked only once started: the portable path's start may throw).
void Poll::arm() {
    const bool want[2] = {(events_ & (readable | disconnect | prioritized)) != 0,
                          (events_ & writable) != 0};
    for (int i = 0; i < 2; ++i) {
        if (want[i] && !in_flight_[i]) {
            pollux::detail::start_callback_wait(
                ready_, desc_, static_cast<Direction>(i), &Poll::on_ready, this);
            in_flight_[i] = true;
            op_started();
        }
    }
}

// A readiness wait completed, or was aborted by the close.
void Poll::on_ready(void* p, int direction) {
    Poll* self = static_cast<Poll*>(p);
    const auto d = static_cast<Direction>(direction);
    const auto failed = pollux::detail::wait_failure(self->ready_->error(d));
    self->ready_->consume(d);
    self->in_flight_[direction] = false;
    self->op_finished();
    if (!self->started_ || self->is_closing()) {
        return;
    }
    if (failed) {
        // Every wait would fail the same way: report it once and stop.
        self->stop();
        (void)self->invoke(self->cb_, failed, 0);
        return;
    }
    self->check();
}

void Poll::on_close() noexcept {
    stop();
    // release(), not close(): the descriptor is the caller's. Releasing
    // deregisters it, which aborts the waits in flight.
    (void)desc_.release();
}

} // namespace pollux::uv
