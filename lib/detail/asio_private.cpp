// What pollux reads of Asio's private state on the epoll fast path
// (readiness_path.hpp): the reactor registrations of acceptors and
// descriptors (Registration in readiness.hpp), a registration's
// try_speculative_[except_op], which the read waits take (read and clear:
// readiness.hpp, "A drained read"), and the front of the scheduler's queue
// (scheduler_peek.hpp). Names in an explicit
// instantiation are not access-checked ([temp.spec.general]/6), so each
// instantiation of Thief below hands a pointer to a private member to the
// friend function its tag declares. They live in this one file: a program
// may hold each explicit instantiation definition once.
//
// On the portable path nothing private is read: the readiness waits are
// async_wait (readiness.hpp) and there is no scheduler to peek at, so the
// uv loop drains up to a marker (lib/uv/loop.cpp).

#include "readiness.hpp"
#include "scheduler_peek.hpp"

#include <boost/asio/detail/scheduler.hpp>

#include <cstdlib>
#include <utility>

namespace pollux::detail {

#if POLLUX_EPOLL_FAST_PATH

namespace {

namespace ad = boost::asio::detail;

template <class Tag, typename Tag::type M>
struct Thief {
    friend typename Tag::type member(Tag) noexcept { return M; }
};

template <class Protocol>
using AcceptorImpl =
    ad::io_object_impl<ad::reactive_socket_service<Protocol>, boost::asio::any_io_executor>;

struct TcpAcceptorImpl {
    using type = AcceptorImpl<boost::asio::ip::tcp> boost::asio::ip::tcp::acceptor::*;
    friend type member(TcpAcceptorImpl) noexcept;
};
template struct Thief<TcpAcceptorImpl, &boost::asio::ip::tcp::acceptor::impl_>;

struct LocalAcceptorImpl {
    using type = AcceptorImpl<boost::asio::local::stream_protocol>
        boost::asio::local::stream_protocol::acceptor::*;
    friend type member(LocalAcceptorImpl) noexcept;
};
template struct Thief<LocalAcceptorImpl, &boost::asio::local::stream_protocol::acceptor::impl_>;

struct DescriptorRegistration {
    using type =
        Reactor::per_descriptor_data ad::reactive_descriptor_service::implementation_type::*;
    friend type member(DescriptorRegistration) noexcept;
};
template struct Thief<DescriptorRegistration,
                      &ad::reactive_descriptor_service::implementation_type::reactor_data_>;

template <class Tag, auto M>
struct AutoThief {
    friend constexpr auto member(Tag) noexcept { return M; }
};

struct SchedulerQueue {
    friend constexpr auto member(SchedulerQueue) noexcept;
};
template struct AutoThief<SchedulerQueue, &ad::scheduler::op_queue_>;

struct SchedulerTaskOperation {
    friend constexpr auto member(SchedulerTaskOperation) noexcept;
};
template struct AutoThief<SchedulerTaskOperation, &ad::scheduler::task_operation_>;

struct TrySpeculative {
    friend constexpr auto member(TrySpeculative) noexcept;
};
template struct AutoThief<TrySpeculative, &Reactor::descriptor_state::try_speculative_>;

} // namespace

// Without the scheduler's lock: the caller is the one thread that runs this
// scheduler, so the reactor's turn is in the queue (nobody else can be
// running it) and the queue is not empty. Other threads only push (posts,
// wakes): to a queue that is not empty, a push writes the last element's
// link and `back_`, never `front_`, which only the running thread writes
// (as it pops). So this read has no concurrent writer.
bool reactor_is_next(ad::scheduler& s) noexcept {
    const ad::scheduler_operation* task = &(s.*member(SchedulerTaskOperation{}));
    return (s.*member(SchedulerQueue{})).front() == task;
}

ad::scheduler* scheduler_with_reactor(boost::asio::io_context& io) {
    // Making the reactor does not queue its turn; an I/O object's service
    // does that when it is made (init_task), so do it here, for an
    // io_context that may never have one.
    boost::asio::use_service<Reactor>(io).init_task();
    return &boost::asio::use_service<ad::scheduler>(io);
}

// The caller holds the descriptor's mutex (it is a perform() of the
// descriptor's reactor operation), as every writer of the flag does.
bool take_hangup_edge(Reactor::per_descriptor_data d) noexcept {
    bool& flag = (d->*member(TrySpeculative{}))[Reactor::except_op];
    return std::exchange(flag, false);
}

Reactor::per_descriptor_data&
Registration<boost::asio::ip::tcp::acceptor>::of(boost::asio::ip::tcp::acceptor& a) noexcept {
    return (a.*member(TcpAcceptorImpl{})).get_implementation().reactor_data_;
}

Reactor::per_descriptor_data& Registration<boost::asio::local::stream_protocol::acceptor>::of(
    boost::asio::local::stream_protocol::acceptor& a) noexcept {
    return (a.*member(LocalAcceptorImpl{})).get_implementation().reactor_data_;
}

Reactor::per_descriptor_data& Registration<boost::asio::posix::stream_descriptor>::of(
    boost::asio::posix::stream_descriptor& d) noexcept {
    return (d.*(&Registration::impl_)).get_implementation().*member(DescriptorRegistration{});
}

#else // the portable path

boost::asio::detail::scheduler* scheduler_with_reactor(boost::asio::io_context&) {
    return nullptr;
}

bool reactor_is_next(boost::asio::detail::scheduler&) noexcept {
    // No caller has a scheduler to pass on this path.
    std::abort();
}

#endif

} // namespace pollux::detail
