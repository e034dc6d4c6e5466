#include <pollux/uv/udp.hpp>

#include "../detail/readiness.hpp"
#include "../detail/retry_eintr.hpp"
#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>

#include <utility>

// Readiness-based, like tcp.cpp (see the comment at its top): sends and
// receives try the non-blocking call first and start a readiness wait only after
// EAGAIN; every kick, wait and deferred callback is counted in flight.

namespace pollux::uv {

namespace {

constexpr int max_io_per_turn = 32;
constexpr std::size_t recv_buffer_size = 64 * 1024;

bool would_block(const boost::system::error_code& ec) {
    return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}

} // namespace

Udp::Udp(Loop& loop) : Handle(loop, HandleType::udp), socket_(loop.io_context()) {
}

Udp::~Udp() {
    destroy_handle();
    pollux::detail::drop_callback_readiness(ready_); // before the socket closes
}

// The readiness waits of the socket (lib/detail/readiness.hpp: no
// epoll_ctl per wait), made on first use.
void Udp::start_wait(int direction) {
    pollux::detail::start_callback_wait(
        ready_, socket_, static_cast<pollux::detail::Direction>(direction), &Udp::on_ready, this);
}

// A readiness wait completed (or was aborted by a close).
void Udp::on_ready(void* p, int direction) {
    Udp* self = static_cast<Udp*>(p);
    const auto d = static_cast<pollux::detail::Direction>(direction);
    self->wait_failed_[direction] = pollux::detail::wait_failure(self->ready_->error(d));
    self->ready_->consume(d);
    self->op_finished();
    if (d == pollux::detail::Direction::write) {
        self->send_in_flight_ = false;
        if (!self->is_closing()) {
            self->flush_sends();
        }
    } else {
        self->recv_in_flight_ = false;
        self->do_recv();
    }
}

boost::system::error_code Udp::bind(const Endpoint& ep, bool reuse_address) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    if (!socket_.is_open()) {
        socket_.open(ep.protocol(), ec);
        if (!ec) {
            socket_.non_blocking(true, ec);
        }
        if (ec) {
            return ec;
        }
    }
    if (reuse_address) {
        socket_.set_option(boost::asio::socket_base::reuse_address(true), ec);
        if (ec) {
            return ec;
        }
    }
    socket_.bind(ep, ec);
    return ec;
}

// ---- sending ------------------------------------------------------------

boost::system::error_code Udp::send(std::string data, const Endpoint& to, SendCallback cb) {
    SendReq req;
    req.owned_string = std::move(data);
    req.to = to;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code Udp::send(std::vector<char> data, const Endpoint& to, SendCallback cb) {
    SendReq req;
    req.owned_vector = std::move(data);
    req.to = to;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code
Udp::send(boost::asio::const_buffer data, const Endpoint& to, SendCallback cb) {
    SendReq req;
    req.data = data;
    req.to = to;
    req.cb = std::move(cb);
    return queue_send(std::move(req));
}

boost::system::error_code Udp::queue_send(SendReq req) {
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    boost::system::error_code ec;
    if (!socket_.is_open()) {
        // libuv binds an unbound socket on first send.
        socket_.open(req.to.protocol(), ec);
        if (!ec) {
            socket_.non_blocking(true, ec);
        }
        if (ec) {
            return ec;
        }
    }
    sends_.push_back(std::move(req));
    // Point at the owned bytes in their final place (see Tcp::queue_write).
    SendReq& s = sends_.back();
    if (!s.owned_string.empty()) {
        s.data = boost::asio::buffer(s.owned_string);
    } else if (!s.owned_vector.empty()) {
        s.data = boost::asio::buffer(s.owned_vector);
    }
    send_queue_size_ += s.data.size();
    req_started();
    if (!send_in_flight_ && sends_.size() == 1) {
        flush_sends();
    }
    return {};
}

void Udp::flush_sends() {
    while (!sends_.empty()) {
        SendReq& s = sends_.front();
        boost::system::error_code ec;
        // EINTR is retried: a signal is no fault of this datagram.
        pollux::detail::retry_eintr(
            ec, [&](boost::system::error_code& e) { return socket_.send_to(s.data, s.to, 0, e); });
        if (would_block(ec)) {
            ec =
                std::exchange(wait_failed_[static_cast<int>(pollux::detail::Direction::write)], {});
            if (!ec) {
                start_wait(static_cast<int>(pollux::detail::Direction::write));
                send_in_flight_ = true;
                op_started();
                return;
            }
        }
        // A datagram is sent whole or not at all; an error belongs to this
        // datagram only.
        send_queue_size_ -= s.data.size();
        SendCallback cb = std::move(s.cb);
        sends_.pop_front();
        complete_send(std::move(cb), ec);
    }
}

void Udp::complete_send(SendCallback cb, boost::system::error_code ec) {
    defer([this, cb = std::move(cb), ec] {
        req_finished();
        if (cb) {
            (void)guarded([&] { cb(ec); });
        }
    });
}

// ---- receiving ----------------------------------------------------------

boost::system::error_code Udp::recv_start(RecvCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::Udp::recv_start needs a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    // libuv's uv_udp_recv_start: EALREADY while receiving; an unbound
    // handle is bound to 0.0.0.0, port 0, first.
    if (receiving_) {
        return boost::asio::error::already_started;
    }
    if (!socket_.is_open()) {
        if (const auto ec = bind(Endpoint(boost::asio::ip::udp::v4(), 0))) {
            return ec;
        }
    }
    recv_cb_ = std::move(cb);
    if (!recv_buf_) {
        recv_buf_ = std::make_unique<char[]>(recv_buffer_size);
    }
    receiving_ = true;
    set_active(true);
    if (!recv_in_flight_) {
        kick_recv();
    }
    return {};
}

void Udp::recv_stop() noexcept {
    receiving_ = false;
    set_active(false);
}

void Udp::kick_recv() {
    recv_in_flight_ = true;
    op_started();
    boost::asio::post(loop().io_context(), [a = anchor()] {
        Udp* self = from_anchor<Udp>(a);
        if (self == nullptr) {
            return;
        }
        self->op_finished();
        self->recv_in_flight_ = false;
        self->do_recv();
    });
}

void Udp::arm_recv() {
    start_wait(static_cast<int>(pollux::detail::Direction::read));
    recv_in_flight_ = true;
    op_started();
}

void Udp::do_recv() {
    for (int i = 0; i < max_io_per_turn; ++i) {
        if (!receiving_ || is_closing() || recv_in_flight_) {
            return;
        }
        Endpoint from;
        boost::system::error_code ec;
        const std::size_t n = pollux::detail::retry_eintr(ec, [&](boost::system::error_code& e) {
            return socket_.receive_from(
                boost::asio::buffer(recv_buf_.get(), recv_buffer_size), from, 0, e);
        });
        if (would_block(ec)) {
            ec = std::exchange(wait_failed_[static_cast<int>(pollux::detail::Direction::read)], {});
            if (!ec) {
                arm_recv();
                return;
            }
            // Every wait would fail the same way: report it and stop, or
            // the handle would report it again and again.
            receiving_ = false;
            set_active(false);
        }
        std::span<const char> data;
        if (!ec) {
            data = std::span<const char>(recv_buf_.get(), n);
        }
        if (!invoke(recv_cb_, ec, data, from)) {
            return;
        }
        if (ec) {
            // Report once, then wait for the socket to become readable again.
            if (receiving_ && !is_closing() && !recv_in_flight_) {
                arm_recv();
            }
            return;
        }
    }
    if (receiving_ && !is_closing() && !recv_in_flight_) {
        kick_recv();
    }
}

// ---- closing ------------------------------------------------------------

void Udp::on_close() noexcept {
    receiving_ = false;
    set_active(false);
    boost::system::error_code ignored;
    socket_.close(ignored);
}

void Udp::on_closed() {
    while (!sends_.empty()) {
        SendCallback cb = std::move(sends_.front().cb);
        send_queue_size_ -= sends_.front().data.size();
        sends_.pop_front();
        req_finished();
        if (cb && !guarded([&] { cb(boost::asio::error::operation_aborted); })) {
            return;
        }
    }
}

Result<Udp::Endpoint> Udp::getsockname() const {
    boost::system::error_code ec;
    Endpoint ep = socket_.local_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

} // namespace pollux::uv
